//! Any bytes offered as a regions file: an error, never a panic; accepted polygons validate
//! without panicking either.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(features) = wangge_geo::io::read_geojson(data) {
        for f in features.iter().take(16) {
            if let Ok(g) = &f.geometry {
                let _ = wangge_geo::validate::validate_geometry(Some(f.index), None, g);
            }
        }
    }
});
