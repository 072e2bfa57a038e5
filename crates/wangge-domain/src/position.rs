//! A point on the earth in WGS-84 / CGCS2000, the storage system.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    lon: f64,
    lat: f64,
}

#[derive(Debug, Clone, PartialEq, Error)]
pub enum PositionError {
    #[error("{field} is not a number")]
    NotFinite { field: &'static str },
    #[error(
        "lon {lon} and lat {lat} look swapped: lat must be within -90..90, lon within -180..180"
    )]
    Swapped { lon: f64, lat: f64 },
    #[error("{field} {value} is out of range {min}..{max}")]
    OutOfRange {
        field: &'static str,
        value: f64,
        min: f64,
        max: f64,
    },
}

impl Position {
    pub fn new(lon: f64, lat: f64) -> Result<Self, PositionError> {
        if !lon.is_finite() {
            return Err(PositionError::NotFinite { field: "lon" });
        }
        if !lat.is_finite() {
            return Err(PositionError::NotFinite { field: "lat" });
        }
        if !(-90.0..=90.0).contains(&lat) && (-90.0..=90.0).contains(&lon) && lat.abs() <= 180.0 {
            return Err(PositionError::Swapped { lon, lat });
        }
        if !(-180.0..=180.0).contains(&lon) {
            return Err(PositionError::OutOfRange {
                field: "lon",
                value: lon,
                min: -180.0,
                max: 180.0,
            });
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(PositionError::OutOfRange {
                field: "lat",
                value: lat,
                min: -90.0,
                max: 90.0,
            });
        }
        Ok(Position { lon, lat })
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    pub fn lat(self) -> f64 {
        self.lat
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_nan_range_and_swaps() {
        assert!(matches!(
            Position::new(f64::NAN, 1.0),
            Err(PositionError::NotFinite { field: "lon" })
        ));
        assert!(matches!(
            Position::new(1.0, f64::INFINITY),
            Err(PositionError::NotFinite { field: "lat" })
        ));
        assert!(matches!(
            Position::new(39.9, 116.4),
            Err(PositionError::Swapped { .. })
        ));
        assert!(matches!(
            Position::new(181.0, 10.0),
            Err(PositionError::OutOfRange { field: "lon", .. })
        ));
        assert!(matches!(
            Position::new(10.0, 190.0),
            Err(PositionError::OutOfRange { field: "lat", .. })
        ));
        assert_eq!(Position::new(116.4, 39.9).unwrap().lon(), 116.4);
    }

    proptest! {
        #[test]
        fn accepted_positions_are_in_range(lon in proptest::num::f64::ANY, lat in proptest::num::f64::ANY) {
            if let Ok(p) = Position::new(lon, lat) {
                prop_assert!((-180.0..=180.0).contains(&p.lon()));
                prop_assert!((-90.0..=90.0).contains(&p.lat()));
            }
        }
    }
}
