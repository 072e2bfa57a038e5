//! Spatial core of wangge: coordinate systems, boundary file I/O, geometry
//! and hierarchy validation, and fast point → grid lookup.
//!
//! All stored geometry is WGS-84 lon/lat degrees ([`crs`] converts GCJ-02 and
//! BD-09 input). This crate knows nothing of the domain model: it works on
//! plain geometries, codes and JSON properties.

pub mod crs;
pub mod index;
pub mod io;
pub mod validate;

#[cfg(test)]
mod testutil;

pub use geo::{Coord, LineString, MultiPolygon, Point, Polygon, Rect};

pub use crate::crs::Crs;
pub use crate::index::PolygonIndex;
pub use crate::io::{
    FeatureError, RawFeature, ReadError, read_geojson, read_shapefile, write_geojson,
};
pub use crate::validate::{LayerFeature, Problem, ProblemKind, validate_geometry, validate_tree};
