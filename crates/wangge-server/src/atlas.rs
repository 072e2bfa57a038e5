//! The atlas: the current region tree held in memory with a point → grid index over the unit
//! grids. Locating a point is the hottest spatial operation, so it never touches the database.

use std::collections::HashMap;
use std::str::FromStr;

use geo::MultiPolygon;
use thiserror::Error;
use wangge_domain::region::{AreaClass, Level};
use wangge_geo::index::PolygonIndex;
use wangge_store::RegionRow;

#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    pub code: String,
    pub name: String,
    pub level: Level,
    pub parent_code: Option<String>,
    pub area_class: AreaClass,
    pub area_m2: f64,
}

/// A grid and its ancestors, from the grid up to the city.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<'a> {
    pub chain: Vec<&'a RegionInfo>,
}

impl<'a> Located<'a> {
    pub fn at(&self, level: Level) -> Option<&'a RegionInfo> {
        self.chain.iter().copied().find(|r| r.level == level)
    }
}

#[derive(Debug, Error)]
pub enum AtlasError {
    #[error("region {code}: stored geometry is not a polygon: {message}")]
    Geometry { code: String, message: String },
    #[error("region {code}: {message}")]
    Field { code: String, message: String },
}

/// The current regions and an index of the current unit grids.
pub struct Atlas {
    regions: HashMap<String, RegionInfo>,
    index: PolygonIndex<u32>,
    grid_codes: Vec<String>,
}

impl std::fmt::Debug for Atlas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Atlas")
            .field("regions", &self.regions.len())
            .field("grids", &self.grid_codes.len())
            .finish()
    }
}

impl Atlas {
    pub fn empty() -> Self {
        Atlas::new(Vec::new())
    }

    /// Builds the atlas from regions with their geometries; only grid geometries are indexed.
    pub fn new(regions: Vec<(RegionInfo, Option<MultiPolygon<f64>>)>) -> Self {
        let mut map = HashMap::with_capacity(regions.len());
        let mut grid_codes = Vec::new();
        let mut items = Vec::new();
        for (info, geometry) in regions {
            if info.level == Level::Grid
                && let Some(g) = geometry
            {
                let Ok(key) = u32::try_from(grid_codes.len()) else {
                    continue;
                };
                grid_codes.push(info.code.clone());
                items.push((key, g));
            }
            map.insert(info.code.clone(), info);
        }
        Atlas {
            regions: map,
            index: PolygonIndex::new(items),
            grid_codes,
        }
    }

    /// Builds the atlas from stored rows, parsing their GeoJSON geometries in parallel.
    pub fn from_rows(rows: &[RegionRow]) -> Result<Self, AtlasError> {
        use rayon::prelude::*;
        let parsed: Result<Vec<_>, AtlasError> = rows
            .par_iter()
            .map(|row| {
                let info = region_info(row)?;
                let geometry = if info.level == Level::Grid {
                    Some(
                        parse_geometry(&row.geometry).map_err(|message| AtlasError::Geometry {
                            code: row.code.clone(),
                            message,
                        })?,
                    )
                } else {
                    None
                };
                Ok((info, geometry))
            })
            .collect();
        Ok(Atlas::new(parsed?))
    }

    pub fn region(&self, code: &str) -> Option<&RegionInfo> {
        self.regions.get(code)
    }

    /// The codes of the current districts, sorted.
    pub fn districts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .regions
            .values()
            .filter(|r| r.level == Level::District)
            .map(|r| r.code.as_str())
            .collect();
        out.sort_unstable();
        out
    }

    pub fn grid_count(&self) -> usize {
        self.grid_codes.len()
    }

    pub fn region_count(&self) -> usize {
        self.regions.len()
    }

    /// The grid containing the point, by the index's boundary rule (one grid wins on a shared
    /// edge or vertex), as its code.
    pub fn locate_code(&self, lon: f64, lat: f64) -> Option<&str> {
        let key = *self.index.locate(lon, lat)?;
        self.grid_codes.get(key as usize).map(String::as_str)
    }

    /// The grid containing the point and all its ancestors.
    pub fn locate(&self, lon: f64, lat: f64) -> Option<Located<'_>> {
        let code = self.locate_code(lon, lat)?;
        Some(Located {
            chain: self.ancestry(code),
        })
    }

    /// The region and its ancestors, nearest first.
    pub fn ancestry(&self, code: &str) -> Vec<&RegionInfo> {
        let mut chain = Vec::with_capacity(5);
        let mut next = self.regions.get(code);
        while let Some(r) = next {
            chain.push(r);
            if chain.len() > Level::ALL.len() {
                break; // a cycle in stored data must not hang a request
            }
            next = r.parent_code.as_deref().and_then(|p| self.regions.get(p));
        }
        chain
    }
}

pub fn region_info(row: &RegionRow) -> Result<RegionInfo, AtlasError> {
    let field = |message: String| AtlasError::Field {
        code: row.code.clone(),
        message,
    };
    Ok(RegionInfo {
        code: row.code.clone(),
        name: row.name.clone(),
        level: Level::from_str(&row.level).map_err(|e| field(e.to_string()))?,
        parent_code: row.parent_code.clone(),
        area_class: AreaClass::from_str(&row.area_class).map_err(|e| field(e.to_string()))?,
        area_m2: row.area_m2,
    })
}

/// Parses a stored GeoJSON Polygon or MultiPolygon.
pub fn parse_geometry(json: &str) -> Result<MultiPolygon<f64>, String> {
    let geometry = geojson::Geometry::from_str(json).map_err(|e| e.to_string())?;
    match geo::Geometry::<f64>::try_from(&geometry).map_err(|e| e.to_string())? {
        geo::Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(mp) => Ok(mp),
        other => Err(format!("expected Polygon or MultiPolygon, found {other:?}")),
    }
}

/// GeoJSON text of a geometry, for storage.
pub fn geometry_json(mp: &MultiPolygon<f64>) -> String {
    let geometry = if mp.0.len() == 1 {
        geojson::Geometry::from(&mp.0[0])
    } else {
        geojson::Geometry::from(mp)
    };
    geometry.to_string()
}
