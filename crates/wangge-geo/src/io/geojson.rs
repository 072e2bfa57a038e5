//! GeoJSON FeatureCollection reading and streaming writing.

use std::borrow::Cow;
use std::io::{self, Write};

use geo::{Coord, LineString, MultiPolygon};
use serde_json::{Map, Value};

use super::{FeatureError, RawFeature, ReadError, RingRef, check_ring, polygon_from_rings};

/// Reads a GeoJSON FeatureCollection whose features carry Polygon or
/// MultiPolygon geometries.
///
/// A leading UTF-8 byte-order mark is accepted. The bare tokens `NaN`,
/// `Infinity` and `-Infinity` (invalid JSON, but written by Python's `json`
/// module) are read as `null`, so such coordinates are reported per feature
/// instead of failing the whole file. Extra position members (altitude) are
/// ignored.
pub fn read_geojson(bytes: &[u8]) -> Result<Vec<RawFeature>, ReadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::Empty);
    }
    let root = parse_json(bytes)?;
    let Value::Object(mut root) = root else {
        return Err(ReadError::NotFeatureCollection {
            found: describe_json(&root),
        });
    };
    match root.get("type") {
        Some(Value::String(t)) if t == "FeatureCollection" => {}
        Some(Value::String(t)) => {
            return Err(ReadError::NotFeatureCollection {
                found: format!("a {t} object"),
            });
        }
        _ => {
            return Err(ReadError::NotFeatureCollection {
                found: "a JSON object without a GeoJSON \"type\"".into(),
            });
        }
    }
    let Some(Value::Array(features)) = root.remove("features") else {
        return Err(ReadError::MissingFeatures);
    };
    if features.is_empty() {
        return Err(ReadError::NoFeatures);
    }
    Ok(features
        .into_iter()
        .enumerate()
        .map(|(index, f)| read_feature(index, f))
        .collect())
}

/// Parses JSON, retrying once with non-standard number tokens replaced by `null`.
fn parse_json(bytes: &[u8]) -> Result<Value, ReadError> {
    let first = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let Some((sanitized, shifts)) = replace_non_finite_tokens(bytes) else {
        return Err(json_error(&first, &[]));
    };
    serde_json::from_slice::<Value>(&sanitized).map_err(|e| json_error(&e, &shifts))
}

/// A column shift caused by replacing a token: on `line`, columns after
/// `column` (in the rewritten text) are `delta` bytes further right than in
/// the original.
struct Shift {
    line: usize,
    column: usize,
    delta: isize,
}

fn json_error(e: &serde_json::Error, shifts: &[Shift]) -> ReadError {
    let line = e.line();
    let mut column = e.column() as isize;
    let at = e.column();
    for s in shifts.iter().filter(|s| s.line == line && s.column < at) {
        column -= s.delta;
    }
    // serde_json's message ends with " at line L column C" (in rewritten
    // coordinates); the position is reported separately.
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    ReadError::Json {
        line,
        column: column.max(0) as usize,
        message,
    }
}

/// Replaces `NaN`, `Infinity` and `-Infinity` outside strings by `null`.
/// Returns `None` when there is nothing to replace.
fn replace_non_finite_tokens(bytes: &[u8]) -> Option<(Vec<u8>, Vec<Shift>)> {
    const TOKENS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];
    let mut out = Vec::with_capacity(bytes.len());
    let mut shifts = Vec::new();
    let (mut line, mut column) = (1usize, 0usize);
    let mut in_string = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            out.push(b);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1]);
                column += 1;
                i += 1;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if let Some(tok) = TOKENS.iter().find(|t| bytes[i..].starts_with(t)) {
            out.extend_from_slice(b"null");
            column += 4;
            shifts.push(Shift {
                line,
                column,
                delta: 4 - tok.len() as isize,
            });
            i += tok.len();
            continue;
        } else {
            out.push(b);
        }
        if b == b'\n' {
            line += 1;
            column = 0;
        } else {
            column += 1;
        }
        i += 1;
    }
    (!shifts.is_empty()).then_some((out, shifts))
}

fn describe_json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "a boolean".into(),
        Value::Number(_) => "a number".into(),
        Value::String(_) => "a string".into(),
        Value::Array(_) => "a JSON array".into(),
        Value::Object(_) => "a JSON object".into(),
    }
}

fn read_feature(index: usize, feature: Value) -> RawFeature {
    let Value::Object(mut obj) = feature else {
        return RawFeature {
            index,
            properties: Map::new(),
            geometry: Err(FeatureError::NotAFeature),
        };
    };
    if obj.get("type").and_then(Value::as_str) != Some("Feature") {
        return RawFeature {
            index,
            properties: Map::new(),
            geometry: Err(FeatureError::NotAFeature),
        };
    }
    let (properties, props_ok) = match obj.remove("properties") {
        None | Some(Value::Null) => (Map::new(), true),
        Some(Value::Object(m)) => (m, true),
        Some(_) => (Map::new(), false),
    };
    let geometry = if props_ok {
        read_geometry(obj.get("geometry"))
    } else {
        Err(FeatureError::InvalidProperties)
    };
    RawFeature {
        index,
        properties,
        geometry,
    }
}

fn read_geometry(geometry: Option<&Value>) -> Result<MultiPolygon<f64>, FeatureError> {
    let geom = match geometry {
        None | Some(Value::Null) => return Err(FeatureError::MissingGeometry),
        Some(Value::Object(g)) => g,
        Some(_) => {
            return Err(FeatureError::Malformed(
                "\"geometry\" must be an object".into(),
            ));
        }
    };
    let Some(kind) = geom.get("type").and_then(Value::as_str) else {
        return Err(FeatureError::Malformed(
            "the geometry has no \"type\"".into(),
        ));
    };
    match kind {
        "Polygon" | "MultiPolygon" => {}
        other => return Err(FeatureError::UnsupportedGeometryType(other.to_owned())),
    }
    let Some(Value::Array(coords)) = geom.get("coordinates") else {
        return Err(FeatureError::Malformed(format!(
            "the {kind} has no \"coordinates\" array"
        )));
    };
    let polygons: Vec<&Vec<Value>> = if kind == "Polygon" {
        vec![coords]
    } else {
        coords
            .iter()
            .map(|p| match p {
                Value::Array(rings) => Ok(rings),
                _ => Err(FeatureError::Malformed(
                    "each polygon of a MultiPolygon must be an array of rings".into(),
                )),
            })
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::with_capacity(polygons.len());
    for (pi, rings) in polygons.into_iter().enumerate() {
        let mut checked: Vec<LineString<f64>> = Vec::with_capacity(rings.len());
        for (ri, ring) in rings.iter().enumerate() {
            let r = RingRef {
                polygon: pi,
                ring: ri,
            };
            checked.push(check_ring(r, read_positions(r, ring)?)?);
        }
        let mut it = checked.into_iter();
        match it.next() {
            Some(exterior) => out.push(polygon_from_rings(exterior, it.collect())),
            None => {
                if kind == "Polygon" {
                    return Err(FeatureError::EmptyGeometry);
                }
                return Err(FeatureError::Malformed(format!(
                    "polygon {} has no rings",
                    pi + 1
                )));
            }
        }
    }
    if out.is_empty() {
        return Err(FeatureError::EmptyGeometry);
    }
    Ok(MultiPolygon(out))
}

fn read_positions(ring: RingRef, v: &Value) -> Result<Vec<Coord<f64>>, FeatureError> {
    let Value::Array(positions) = v else {
        return Err(FeatureError::Malformed(format!(
            "{ring} is not an array of positions"
        )));
    };
    positions
        .iter()
        .enumerate()
        .map(|(position, p)| match p {
            Value::Array(xy) if xy.len() >= 2 => match (xy[0].as_f64(), xy[1].as_f64()) {
                (Some(x), Some(y)) => Ok(Coord { x, y }),
                _ => Err(FeatureError::NotANumber { ring, position }),
            },
            Value::Array(_) => Err(FeatureError::Malformed(format!(
                "position {position} of {ring} has fewer than 2 coordinates"
            ))),
            _ => Err(FeatureError::Malformed(format!(
                "position {position} of {ring} is not an array"
            ))),
        })
        .collect()
}

/// Writes a GeoJSON FeatureCollection, one feature per line, as MultiPolygon
/// geometries.
///
/// Streams: features are written as the iterator yields them, so memory use
/// does not grow with the number of features. Coordinates are rounded to
/// 7 decimals (~1 cm) with trailing zeros dropped; since rounding is
/// deterministic, vertices shared by adjacent polygons stay identical.
/// Non-finite coordinates are rejected with [`io::ErrorKind::InvalidInput`]
/// because GeoJSON cannot represent them.
pub fn write_geojson<'a, W: Write>(
    w: W,
    features: impl Iterator<Item = (Map<String, Value>, &'a MultiPolygon<f64>)>,
) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, w);
    w.write_all(b"{\"type\":\"FeatureCollection\",\"features\":[")?;
    let mut num = String::with_capacity(32);
    for (i, (properties, geometry)) in features.enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        w.write_all(b"{\"type\":\"Feature\",\"properties\":")?;
        serde_json::to_writer(&mut w, &properties)?;
        w.write_all(b",\"geometry\":{\"type\":\"MultiPolygon\",\"coordinates\":[")?;
        for (pi, polygon) in geometry.0.iter().enumerate() {
            if pi > 0 {
                w.write_all(b",")?;
            }
            w.write_all(b"[")?;
            for (ri, ring) in std::iter::once(polygon.exterior())
                .chain(polygon.interiors())
                .enumerate()
            {
                if ri > 0 {
                    w.write_all(b",")?;
                }
                w.write_all(b"[")?;
                for (ci, c) in ring.0.iter().enumerate() {
                    if ci > 0 {
                        w.write_all(b",")?;
                    }
                    w.write_all(b"[")?;
                    w.write_all(format_coord(c.x, &mut num)?.as_bytes())?;
                    w.write_all(b",")?;
                    w.write_all(format_coord(c.y, &mut num)?.as_bytes())?;
                    w.write_all(b"]")?;
                }
                w.write_all(b"]")?;
            }
            w.write_all(b"]")?;
        }
        w.write_all(b"]}}")?;
    }
    w.write_all(b"\n]}\n")?;
    w.flush()
}

fn format_coord(v: f64, buf: &mut String) -> io::Result<Cow<'_, str>> {
    use std::fmt::Write as _;
    if !v.is_finite() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot write non-finite coordinate {v} to GeoJSON"),
        ));
    }
    buf.clear();
    // Writing to a String cannot fail.
    let _ = write!(buf, "{v:.7}");
    let trimmed = buf.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        return Ok(Cow::Borrowed("0"));
    }
    Ok(Cow::Borrowed(trimmed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use geo::polygon;

    fn fc(features: &str) -> Vec<u8> {
        format!("{{\"type\":\"FeatureCollection\",\"features\":[{features}]}}").into_bytes()
    }

    const SQUARE: &str = r#"{"type":"Feature","properties":{"code":"A","n":3},"geometry":{"type":"Polygon","coordinates":[[[116.0,39.0],[116.1,39.0],[116.1,39.1],[116.0,39.1],[116.0,39.0]]]}}"#;

    #[test]
    fn reads_polygon_and_multipolygon() {
        let multi = r#"{"type":"Feature","properties":null,"geometry":{"type":"MultiPolygon","coordinates":[[[[1,1,5],[2,1,5],[2,2,5],[1,1,5]]],[[[3,3],[4,3],[4,4],[3,3]],[[3.5,3.2],[3.8,3.2],[3.8,3.5],[3.5,3.2]]]]}}"#;
        let out = read_geojson(&fc(&format!("{SQUARE},{multi}"))).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].index, 0);
        assert_eq!(out[0].properties["code"], "A");
        let g0 = out[0].geometry.as_ref().unwrap();
        assert_eq!(g0.0.len(), 1);
        assert_eq!(g0.0[0].exterior().0.len(), 5);
        let g1 = out[1].geometry.as_ref().unwrap();
        assert_eq!(out[1].index, 1);
        assert!(out[1].properties.is_empty());
        assert_eq!(g1.0.len(), 2);
        assert_eq!(g1.0[1].interiors().len(), 1);
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let text = b"{\"type\": \"FeatureCollection\",\n  \"features\": [\n    {\"type\": \"Feature\",, }\n  ]}";
        match read_geojson(text) {
            Err(ReadError::Json {
                line,
                column,
                message,
            }) => {
                assert_eq!(line, 3);
                // The second comma is the 24th character of the line.
                assert_eq!(column, 24);
                assert!(!message.contains("at line"), "{message}");
                let shown = ReadError::Json {
                    line,
                    column,
                    message,
                }
                .to_string();
                assert!(shown.contains("line 3, column 24"), "{shown}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn empty_and_non_collections() {
        assert!(matches!(read_geojson(b""), Err(ReadError::Empty)));
        assert!(matches!(read_geojson(b" \n\t "), Err(ReadError::Empty)));
        assert!(matches!(
            read_geojson(b"\xEF\xBB\xBF\n"),
            Err(ReadError::Empty)
        ));
        assert!(matches!(read_geojson(&fc("")), Err(ReadError::NoFeatures)));
        assert!(matches!(
            read_geojson(br#"{"type":"FeatureCollection"}"#),
            Err(ReadError::MissingFeatures)
        ));
        match read_geojson(SQUARE.as_bytes()) {
            Err(e @ ReadError::NotFeatureCollection { .. }) => {
                assert!(e.to_string().contains("a Feature object"), "{e}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            read_geojson(b"[1,2]"),
            Err(ReadError::NotFeatureCollection { .. })
        ));
    }

    #[test]
    fn bom_is_accepted() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend(fc(SQUARE));
        assert!(read_geojson(&bytes).unwrap()[0].geometry.is_ok());
    }

    #[test]
    fn per_feature_errors() {
        let point = r#"{"type":"Feature","properties":{"code":"P"},"geometry":{"type":"Point","coordinates":[116,39]}}"#;
        let no_geom = r#"{"type":"Feature","properties":{},"geometry":null}"#;
        let out_of_range = r#"{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[500000,4300000],[500100,4300000],[500100,4300100],[500000,4300000]]]}}"#;
        let null_coord = r#"{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,null],[2,2],[1,1]]]}}"#;
        let short = r#"{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[1,1]]]}}"#;
        let open = r#"{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[1,1],[2,1],[2,2],[1,2]]]}}"#;
        let not_feature = r#"{"type":"Polygon","coordinates":[]}"#;
        let text = fc(&[
            SQUARE,
            point,
            no_geom,
            out_of_range,
            null_coord,
            short,
            open,
            not_feature,
        ]
        .join(","));
        let out = read_geojson(&text).unwrap();
        assert_eq!(out.len(), 8);
        assert!(out[0].geometry.is_ok());
        let errs: Vec<FeatureError> = out[1..]
            .iter()
            .map(|f| f.geometry.clone().unwrap_err())
            .collect();
        assert_eq!(
            errs[0],
            FeatureError::UnsupportedGeometryType("Point".into())
        );
        assert!(errs[0].to_string().contains("Point"));
        assert_eq!(out[1].properties["code"], "P");
        assert_eq!(errs[1], FeatureError::MissingGeometry);
        assert!(matches!(
            errs[2],
            FeatureError::OutOfRange { position: 0, .. }
        ));
        assert!(errs[2].to_string().contains("projected"), "{}", errs[2]);
        assert_eq!(
            errs[3],
            FeatureError::NotANumber {
                ring: RingRef {
                    polygon: 0,
                    ring: 0
                },
                position: 1
            }
        );
        assert!(matches!(
            errs[4],
            FeatureError::TooFewPositions { count: 3, .. }
        ));
        assert!(matches!(errs[5], FeatureError::RingNotClosed { .. }));
        assert_eq!(errs[6], FeatureError::NotAFeature);
    }

    #[test]
    fn python_nan_tokens_become_per_feature_errors() {
        let nan = "{\"type\":\"Feature\",\"properties\":{\"s\":\"NaN in a string\",\"v\":NaN},\n\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[[[1,1],[NaN,1],[2,-Infinity],[1,1]]]}}";
        let out = read_geojson(&fc(&format!("{SQUARE},{nan}"))).unwrap();
        assert!(out[0].geometry.is_ok());
        assert_eq!(out[1].properties["s"], "NaN in a string");
        assert_eq!(out[1].properties["v"], Value::Null);
        assert!(matches!(
            out[1].geometry,
            Err(FeatureError::NotANumber { position: 1, .. })
        ));
        assert!(
            out[1]
                .geometry
                .clone()
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
    }

    #[test]
    fn json_error_position_survives_nan_rewrite() {
        // Line 2 has a NaN (rewritten, 1 byte longer) before the real error.
        let text =
            b"{\"type\":\"FeatureCollection\",\"features\":[\n{\"a\":NaN, \"b\":-Infinity, }]}";
        match read_geojson(text) {
            Err(ReadError::Json { line, column, .. }) => {
                assert_eq!(line, 2);
                // The stray '}' is the 26th character of the original line.
                assert_eq!(column, 26);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn write_then_read_round_trip() {
        let geoms: Vec<MultiPolygon<f64>> = read_geojson(&fc(SQUARE))
            .unwrap()
            .into_iter()
            .map(|f| f.geometry.unwrap())
            .collect();
        let mut extra = geoms[0].clone();
        extra.0[0].exterior_mut(|r| r.0[1].x = 116.123_456_789_9);
        let mut props = Map::new();
        props.insert("code".into(), "X".into());
        let mut buf = Vec::new();
        write_geojson(
            &mut buf,
            [(props.clone(), &geoms[0]), (Map::new(), &extra)].into_iter(),
        )
        .unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains("[116.1234568,39]"), "{text}");
        assert!(text.contains("[116,39]"), "{text}");
        let back = read_geojson(&buf).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].properties, props);
        assert_eq!(back[0].geometry.as_ref().unwrap(), &geoms[0]);
    }

    #[test]
    fn write_empty_collection_and_reject_nan() {
        let mut buf = Vec::new();
        write_geojson(&mut buf, std::iter::empty()).unwrap();
        let v: Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["features"].as_array().unwrap().len(), 0);
        let bad = MultiPolygon(vec![
            polygon![(x: f64::NAN, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0)],
        ]);
        let err = write_geojson(Vec::new(), [(Map::new(), &bad)].into_iter()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn coordinate_formatting() {
        let mut b = String::new();
        assert_eq!(format_coord(1.0, &mut b).unwrap(), "1");
        assert_eq!(format_coord(-0.000_000_01, &mut b).unwrap(), "0");
        assert_eq!(format_coord(-12.5, &mut b).unwrap(), "-12.5");
        assert_eq!(format_coord(0.123_456_75, &mut b).unwrap(), "0.1234568");
        assert_eq!(format_coord(180.0, &mut b).unwrap(), "180");
    }
}
