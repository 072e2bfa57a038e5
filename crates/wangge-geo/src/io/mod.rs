//! Reading boundary files (GeoJSON, Shapefile) and writing GeoJSON.
//!
//! Readers separate whole-file problems ([`ReadError`], nothing usable was
//! read) from per-feature problems ([`FeatureError`], stored in
//! [`RawFeature::geometry`]) so that an import can report every bad feature
//! of a file at once instead of stopping at the first.
//!
//! Readers do not transform coordinates: they return what the file holds
//! (see [`crate::crs`] for GCJ-02 / BD-09 input). They do check that
//! coordinates are plausible lon/lat degrees, which also catches files in a
//! projected CRS (metres).

use std::fmt;
use std::path::PathBuf;

use geo::{Coord, LineString, MultiPolygon, Polygon};

mod geojson;
mod shp;

pub use self::geojson::{read_geojson, write_geojson};
pub use self::shp::read_shapefile;

/// One feature read from a GeoJSON FeatureCollection or a Shapefile.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeature {
    /// 0-based position of the feature in the file (record number for shapefiles).
    pub index: usize,
    /// Attributes of the feature (GeoJSON `properties`, or the .dbf record).
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// The polygon geometry, or why it could not be used.
    pub geometry: Result<MultiPolygon<f64>, FeatureError>,
}

/// A problem with a whole file: nothing could be read from it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is not valid JSON: {message} (line {line}, column {column})")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("expected a GeoJSON FeatureCollection but the file holds {found}")]
    NotFeatureCollection { found: String },
    #[error("the FeatureCollection has no \"features\" array")]
    MissingFeatures,
    #[error("the file contains no features")]
    NoFeatures,
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the .dbf attribute file is missing: expected {} next to the .shp file", path.display())]
    MissingDbf { path: PathBuf },
    #[error("{} is not a readable shapefile: {message}", path.display())]
    Shapefile { path: PathBuf, message: String },
    #[error("{} is not a readable .dbf attribute table: {message}", path.display())]
    Dbf { path: PathBuf, message: String },
    #[error(
        "the .shp file has {shapes} shapes but the .dbf file has {records} records; they must match one to one"
    )]
    RecordCountMismatch { shapes: usize, records: usize },
    #[error(
        "{} declares the text encoding {label:?}, which cannot be decoded: name UTF-8, GBK (or 936, \
         GB18030), Big5 or another Windows / ISO-8859 code page there, or re-save the attribute \
         table as UTF-8 (for example `ogr2ogr -lco ENCODING=UTF-8 out.shp in.shp`) and import again",
        path.display()
    )]
    UnsupportedEncoding { path: PathBuf, label: String },
    #[error("the attribute text in {} {detail}", path.display())]
    InvalidText { path: PathBuf, detail: String },
}

/// Identifies a ring inside a feature's geometry, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingRef {
    /// 0-based polygon within the multipolygon.
    pub polygon: usize,
    /// 0 for the outer ring, `n` for the n-th hole (1-based).
    pub ring: usize,
}

impl fmt::Display for RingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ring == 0 {
            write!(f, "the outer ring of polygon {}", self.polygon + 1)
        } else {
            write!(f, "hole {} of polygon {}", self.ring, self.polygon + 1)
        }
    }
}

/// A problem with one feature; the other features of the file are unaffected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    #[error("not a GeoJSON Feature object")]
    NotAFeature,
    #[error("properties must be a JSON object or null")]
    InvalidProperties,
    #[error("the feature has no geometry")]
    MissingGeometry,
    #[error("geometry type {0} is not supported: only Polygon and MultiPolygon are accepted")]
    UnsupportedGeometryType(String),
    #[error("the geometry is malformed: {0}")]
    Malformed(String),
    #[error("the geometry contains no polygon")]
    EmptyGeometry,
    #[error(
        "position {position} of {ring} is not a pair of finite numbers (NaN, Infinity, null or text found)"
    )]
    NotANumber { ring: RingRef, position: usize },
    #[error(
        "position {position} of {ring} is out of range ({lon}, {lat}): longitude must be within [-180, 180] \
         and latitude within [-90, 90] degrees; is the file in a projected coordinate system?"
    )]
    OutOfRange {
        ring: RingRef,
        position: usize,
        lon: f64,
        lat: f64,
    },
    #[error(
        "{ring} has {count} positions; a ring needs at least 4 (3 corners plus the closing position)"
    )]
    TooFewPositions { ring: RingRef, count: usize },
    #[error("{ring} is not closed: its first and last positions differ")]
    RingNotClosed { ring: RingRef },
}

/// Checks one ring read from a file and turns it into a [`LineString`].
///
/// Rings are taken as given (never silently closed), so that an unclosed ring
/// is reported instead of being guessed at.
pub(crate) fn check_ring(
    ring: RingRef,
    coords: Vec<Coord<f64>>,
) -> Result<LineString<f64>, FeatureError> {
    for (position, c) in coords.iter().enumerate() {
        if !c.x.is_finite() || !c.y.is_finite() {
            return Err(FeatureError::NotANumber { ring, position });
        }
        if !(-180.0..=180.0).contains(&c.x) || !(-90.0..=90.0).contains(&c.y) {
            return Err(FeatureError::OutOfRange {
                ring,
                position,
                lon: c.x,
                lat: c.y,
            });
        }
    }
    if coords.len() < 4 {
        return Err(FeatureError::TooFewPositions {
            ring,
            count: coords.len(),
        });
    }
    if coords.first() != coords.last() {
        return Err(FeatureError::RingNotClosed { ring });
    }
    Ok(LineString(coords))
}

pub(crate) fn polygon_from_rings(
    exterior: LineString<f64>,
    holes: Vec<LineString<f64>>,
) -> Polygon<f64> {
    // Rings were checked closed, so `Polygon::new` does not alter them.
    Polygon::new(exterior, holes)
}
