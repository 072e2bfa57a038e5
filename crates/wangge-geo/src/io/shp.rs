//! ESRI Shapefile reading (.shp geometry + .dbf attributes).
//!
//! Text encoding of the .dbf: attribute text is decoded as strict UTF-8. No
//! GBK decoder is available to this crate without a new dependency, so when
//! the .cpg file (or the .dbf language-driver byte) declares GBK/CP936 or any
//! other non-UTF-8 code page, only ASCII text is accepted, and any non-ASCII
//! text fails the read with [`ReadError::UnsupportedEncoding`] telling the
//! operator how to re-save the file as UTF-8. Text that is not valid UTF-8
//! without such a declaration fails the same way (it is almost always GBK).
//! Silently decoding GBK bytes as UTF-8 would corrupt grid names.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use geo::{Coord, LineString, MultiPolygon};
use serde_json::{Map, Number, Value};
use shapefile::dbase::{self, FieldValue};
use shapefile::{PolygonRing, Shape, ShapeReader};

use super::{FeatureError, RawFeature, ReadError, RingRef, check_ring, polygon_from_rings};
use crate::index::ring_contains;

/// dBase language-driver IDs meaning GBK (CP936).
const LDID_GBK: [u8; 2] = [0x4D, 0x7A];

/// Reads a shapefile: `shp_path` names the .shp; the .dbf (and optional .cpg)
/// must sit beside it with the same stem.
///
/// Polygon, PolygonM and PolygonZ shapes are read (M and Z are dropped); a
/// null shape is [`FeatureError::MissingGeometry`], any other shape type is
/// [`FeatureError::UnsupportedGeometryType`]. Holes are attached to the outer
/// ring that contains them. dBase numbers become JSON numbers (integers when
/// integral), text becomes strings, logicals booleans, dates `YYYY-MM-DD`
/// strings, empty values `null`. See the module docs for text encoding.
pub fn read_shapefile(shp_path: &Path) -> Result<Vec<RawFeature>, ReadError> {
    let shp_file = File::open(shp_path).map_err(|source| ReadError::Io {
        path: shp_path.to_owned(),
        source,
    })?;
    let mut shapes =
        ShapeReader::new(BufReader::new(shp_file)).map_err(|e| ReadError::Shapefile {
            path: shp_path.to_owned(),
            message: e.to_string(),
        })?;

    let dbf_path = sibling(shp_path, "dbf").ok_or_else(|| ReadError::MissingDbf {
        path: shp_path.with_extension("dbf"),
    })?;
    let declared = declared_code_page(shp_path, &dbf_path)?;
    let dbf_file = File::open(&dbf_path).map_err(|source| ReadError::Io {
        path: dbf_path.clone(),
        source,
    })?;
    let builder = match &declared {
        Some(_) => dbase::ReaderBuilder::new().with_encoding(dbase::encoding::Ascii),
        None => dbase::ReaderBuilder::new().with_encoding(dbase::encoding::Unicode),
    };
    let mut records = builder
        .build(BufReader::new(dbf_file))
        .map_err(|e| dbf_error(&dbf_path, &declared, &e))?;

    let mut features = Vec::new();
    let mut shape_iter = shapes.iter_shapes();
    let mut record_iter = records.iter_records();
    loop {
        let index = features.len();
        match (shape_iter.next(), record_iter.next()) {
            (None, None) => break,
            (Some(shape), Some(record)) => {
                let shape = shape.map_err(|e| ReadError::Shapefile {
                    path: shp_path.to_owned(),
                    message: format!("shape {index}: {e}"),
                })?;
                let record = record.map_err(|e| dbf_error(&dbf_path, &declared, &e))?;
                features.push(RawFeature {
                    index,
                    properties: record_to_json(record),
                    geometry: shape_to_multipolygon(shape),
                });
            }
            (shape, record) => {
                // Count what remains on the longer side for the message.
                let shapes = index + usize::from(shape.is_some()) + shape_iter.count();
                let records = index + usize::from(record.is_some()) + record_iter.count();
                return Err(ReadError::RecordCountMismatch { shapes, records });
            }
        }
    }
    if features.is_empty() {
        return Err(ReadError::NoFeatures);
    }
    Ok(features)
}

/// Finds `stem.ext` beside `path`, accepting an upper-case extension too.
fn sibling(path: &Path, ext: &str) -> Option<PathBuf> {
    [
        path.with_extension(ext),
        path.with_extension(ext.to_ascii_uppercase()),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The non-UTF-8 code page the files declare, if any.
fn declared_code_page(shp_path: &Path, dbf_path: &Path) -> Result<Option<String>, ReadError> {
    if let Some(cpg) = sibling(shp_path, "cpg") {
        let mut label = String::new();
        let read = File::open(&cpg).and_then(|f| f.take(1024).read_to_string(&mut label));
        if read.is_ok() {
            let name = label.trim().trim_start_matches('\u{feff}').trim();
            let utf8 = ["UTF-8", "UTF8", "65001", "CP65001"]
                .iter()
                .any(|u| name.eq_ignore_ascii_case(u));
            if !name.is_empty() {
                return Ok((!utf8).then(|| format!("{name} (from {})", file_name(&cpg))));
            }
        }
    }
    let mut header = [0u8; 32];
    let mut f = File::open(dbf_path).map_err(|source| ReadError::Io {
        path: dbf_path.to_owned(),
        source,
    })?;
    if f.read_exact(&mut header).is_ok() && LDID_GBK.contains(&header[29]) {
        return Ok(Some(format!(
            "GBK (from the language driver of {})",
            file_name(dbf_path)
        )));
    }
    Ok(None)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn dbf_error(path: &Path, declared: &Option<String>, e: &dbase::Error) -> ReadError {
    if let dbase::ErrorKind::StringDecodeError(_) = e.kind() {
        let record = e
            .record_index()
            .map(|r| format!(" (record {})", r.0))
            .unwrap_or_else(|| " (field names)".into());
        let detail = match declared {
            Some(cp) => format!("is declared as {cp} and contains non-ASCII text{record}"),
            None => format!("is not valid UTF-8{record}; it is probably GBK-encoded"),
        };
        return ReadError::UnsupportedEncoding {
            path: path.to_owned(),
            detail,
        };
    }
    ReadError::Dbf {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn number(v: f64) -> Value {
    // Integral values (codes, counts) read back as integers, as a user would expect.
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        Value::Number(Number::from(v as i64))
    } else {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

fn field_to_json(v: FieldValue) -> Value {
    match v {
        FieldValue::Character(s) => s.map_or(Value::Null, Value::String),
        FieldValue::Memo(s) => Value::String(s),
        FieldValue::Numeric(n) => n.map_or(Value::Null, number),
        FieldValue::Float(n) => n.map_or(Value::Null, |f| number(f64::from(f))),
        FieldValue::Integer(i) => Value::Number(Number::from(i)),
        FieldValue::Currency(f) | FieldValue::Double(f) => number(f),
        FieldValue::Logical(b) => b.map_or(Value::Null, Value::Bool),
        FieldValue::Date(d) => d.map_or(Value::Null, |d| {
            Value::String(format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
        }),
        FieldValue::DateTime(dt) => {
            let (d, t) = (dt.date(), dt.time());
            Value::String(format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                d.year(),
                d.month(),
                d.day(),
                t.hours(),
                t.minutes(),
                t.seconds()
            ))
        }
    }
}

fn record_to_json(record: dbase::Record) -> Map<String, Value> {
    record
        .into_iter()
        .map(|(k, v)| (k, field_to_json(v)))
        .collect()
}

fn shape_to_multipolygon(shape: Shape) -> Result<MultiPolygon<f64>, FeatureError> {
    match shape {
        Shape::Polygon(p) => rings_to_multipolygon(p.rings(), |pt| Coord { x: pt.x, y: pt.y }),
        Shape::PolygonM(p) => rings_to_multipolygon(p.rings(), |pt| Coord { x: pt.x, y: pt.y }),
        Shape::PolygonZ(p) => rings_to_multipolygon(p.rings(), |pt| Coord { x: pt.x, y: pt.y }),
        Shape::NullShape => Err(FeatureError::MissingGeometry),
        other => Err(FeatureError::UnsupportedGeometryType(
            other.shapetype().to_string(),
        )),
    }
}

/// Groups shapefile rings into polygons. The format marks outer rings by
/// clockwise order and does not say which outer ring a hole belongs to, so a
/// hole goes to the first outer ring containing it, else to the preceding
/// outer ring (validation will then report it as outside its shell). Files
/// written with reversed winding (every ring "inner") get every ring read as
/// an outer ring rather than being rejected.
fn rings_to_multipolygon<P>(
    rings: &[PolygonRing<P>],
    to_coord: impl Fn(&P) -> Coord<f64>,
) -> Result<MultiPolygon<f64>, FeatureError> {
    let all_inner = rings.iter().all(|r| matches!(r, PolygonRing::Inner(_)));
    let mut outers: Vec<(LineString<f64>, Vec<LineString<f64>>)> = Vec::new();
    let mut holes: Vec<(LineString<f64>, Option<usize>)> = Vec::new();
    for ring in rings {
        let coords: Vec<Coord<f64>> = ring.points().iter().map(&to_coord).collect();
        let is_outer = all_inner || matches!(ring, PolygonRing::Outer(_));
        let r = if is_outer {
            RingRef {
                polygon: outers.len(),
                ring: 0,
            }
        } else {
            RingRef {
                polygon: outers.len().saturating_sub(1),
                ring: holes.len() + 1,
            }
        };
        let ls = check_ring(r, coords)?;
        if is_outer {
            outers.push((ls, Vec::new()));
        } else {
            holes.push((ls, outers.len().checked_sub(1)));
        }
    }
    if outers.is_empty() {
        return Err(FeatureError::EmptyGeometry);
    }
    for (hole, preceding) in holes {
        let probe = hole.0[0];
        let owner = outers
            .iter()
            .position(|(shell, _)| ring_contains(&shell.0, probe.x, probe.y))
            .or(preceding)
            .unwrap_or(0);
        outers[owner].1.push(hole);
    }
    Ok(MultiPolygon(
        outers
            .into_iter()
            .map(|(shell, holes)| polygon_from_rings(shell, holes))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use shapefile::dbase::{FieldName, TableWriterBuilder};
    use shapefile::{Point, Polygon as ShpPolygon};

    fn square(x0: f64, y0: f64, s: f64) -> Vec<Point> {
        // Clockwise, as the format wants for outer rings.
        vec![
            Point::new(x0, y0),
            Point::new(x0, y0 + s),
            Point::new(x0 + s, y0 + s),
            Point::new(x0 + s, y0),
            Point::new(x0, y0),
        ]
    }

    fn write_sample(dir: &Path, names: &[&str]) -> PathBuf {
        let shp = dir.join("grids.shp");
        let table = TableWriterBuilder::new()
            .add_character_field(FieldName::try_from("CODE").unwrap(), 20)
            .add_character_field(FieldName::try_from("NAME").unwrap(), 40)
            .add_numeric_field(FieldName::try_from("POP").unwrap(), 10, 0)
            .add_numeric_field(FieldName::try_from("RATIO").unwrap(), 10, 3);
        let mut writer = shapefile::Writer::from_path(&shp, table).unwrap();
        let mut hole: Vec<Point> = square(116.02, 39.02, 0.02);
        hole.reverse();
        let shapes = [
            ShpPolygon::new(PolygonRing::Outer(square(116.0, 39.0, 0.1))),
            ShpPolygon::with_rings(vec![
                PolygonRing::Outer(square(116.1, 39.0, 0.1)),
                PolygonRing::Outer(square(116.0, 39.0, 0.06)),
                PolygonRing::Inner(hole),
            ]),
        ];
        for (i, shape) in shapes.iter().enumerate() {
            let mut record = dbase::Record::default();
            record.insert("CODE".into(), FieldValue::Character(Some(format!("G{i}"))));
            record.insert(
                "NAME".into(),
                FieldValue::Character(Some(names[i].to_owned())),
            );
            record.insert("POP".into(), FieldValue::Numeric(Some(1000.0 + i as f64)));
            record.insert(
                "RATIO".into(),
                FieldValue::Numeric(if i == 0 { Some(0.25) } else { None }),
            );
            writer.write_shape_and_record(shape, &record).unwrap();
        }
        drop(writer);
        shp
    }

    #[test]
    fn shapefile_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &["东城网格", "west"]);
        let out = read_shapefile(&shp).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].index, 0);
        assert_eq!(out[0].properties["CODE"], "G0");
        assert_eq!(out[0].properties["NAME"], "东城网格");
        assert_eq!(out[0].properties["POP"], serde_json::json!(1000));
        assert_eq!(out[0].properties["RATIO"], serde_json::json!(0.25));
        assert_eq!(out[1].properties["RATIO"], Value::Null);
        let g0 = out[0].geometry.as_ref().unwrap();
        assert_eq!(g0.0.len(), 1);
        assert_eq!(g0.0[0].exterior().0.len(), 5);
        let g1 = out[1].geometry.as_ref().unwrap();
        assert_eq!(g1.0.len(), 2);
        // The hole follows the second outer ring but lies in the second one.
        assert_eq!(g1.0[0].interiors().len(), 0);
        assert_eq!(g1.0[1].interiors().len(), 1);
    }

    #[test]
    fn declared_gbk_with_non_ascii_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &["东城网格", "west"]);
        std::fs::write(shp.with_extension("cpg"), "GBK\n").unwrap();
        let err = read_shapefile(&shp).unwrap_err();
        assert!(
            matches!(err, ReadError::UnsupportedEncoding { .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("GBK") && msg.contains("UTF-8"), "{msg}");
    }

    #[test]
    fn declared_gbk_ascii_only_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &["east", "west"]);
        std::fs::write(shp.with_extension("cpg"), "936").unwrap();
        let out = read_shapefile(&shp).unwrap();
        assert_eq!(out[1].properties["NAME"], "west");
    }

    #[test]
    fn undeclared_invalid_utf8_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &["abcd", "west"]);
        let dbf = shp.with_extension("dbf");
        let mut bytes = std::fs::read(&dbf).unwrap();
        // "东城" in GBK replaces "abcd".
        let pos = bytes.windows(4).position(|w| w == b"abcd").unwrap();
        bytes[pos..pos + 4].copy_from_slice(&[0xB6, 0xAB, 0xB3, 0xC7]);
        std::fs::write(&dbf, bytes).unwrap();
        let err = read_shapefile(&shp).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("not valid UTF-8") && msg.contains("record 0"),
            "{msg}"
        );
    }

    #[test]
    fn missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &["a", "b"]);
        std::fs::remove_file(shp.with_extension("dbf")).unwrap();
        assert!(matches!(
            read_shapefile(&shp),
            Err(ReadError::MissingDbf { .. })
        ));
        let err = read_shapefile(&dir.path().join("nope.shp")).unwrap_err();
        assert!(matches!(err, ReadError::Io { .. }));
        assert!(err.to_string().contains("nope.shp"));
        let junk = dir.path().join("junk.shp");
        std::fs::write(&junk, b"definitely not a shapefile, just text......................................................................................").unwrap();
        assert!(matches!(
            read_shapefile(&junk),
            Err(ReadError::Shapefile { .. })
        ));
    }

    #[test]
    fn point_shapes_are_per_feature_errors() {
        let dir = tempfile::tempdir().unwrap();
        let shp = dir.path().join("pts.shp");
        let table =
            TableWriterBuilder::new().add_character_field(FieldName::try_from("CODE").unwrap(), 10);
        let mut writer = shapefile::Writer::from_path(&shp, table).unwrap();
        let mut record = dbase::Record::default();
        record.insert("CODE".into(), FieldValue::Character(Some("P".into())));
        writer
            .write_shape_and_record(&Point::new(116.0, 39.0), &record)
            .unwrap();
        drop(writer);
        let out = read_shapefile(&shp).unwrap();
        assert_eq!(out.len(), 1);
        let err = out[0].geometry.clone().unwrap_err();
        assert!(
            matches!(err, FeatureError::UnsupportedGeometryType(ref t) if t == "Point"),
            "{err:?}"
        );
    }
}
