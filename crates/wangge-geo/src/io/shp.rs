//! ESRI Shapefile reading (.shp geometry + .dbf attributes).
//!
//! Text encoding of the .dbf (attribute values and field names) is chosen as
//! follows:
//!
//! 1. A .cpg file beside the .shp wins. It may name UTF-8, GBK / GB2312 /
//!    GB18030 / CP936 / 936, or any other code page that `encoding_rs` can
//!    decode (Big5, Shift_JIS, EUC-KR, windows-125x, ISO-8859-x, KOI8-R, ...),
//!    as a name or as a Windows code page number, case-insensitively and with
//!    or without a `CP` or `ANSI ` prefix (`UTF-8`, `gbk`, `CP936`,
//!    `ANSI 936`, `54936`, `88591`, `ISO-8859-1`). A .cpg naming something
//!    that cannot be decoded fails the read with
//!    [`ReadError::UnsupportedEncoding`]. An empty .cpg, or a bare `ANSI`
//!    (the writer's system code page, unknown here), declares nothing.
//! 2. Otherwise the .dbf language-driver byte (header byte 29), when it names
//!    a code page `encoding_rs` can decode (0x4D / 0x7A: GBK, 0x78: Big5,
//!    0x13 / 0x7B: Shift_JIS, 0x79: EUC-KR, 0x03: windows-1252, 0xC8-0xCB
//!    and 0x7C-0x7E: other windows code pages, 0x65: CP866). Bytes naming no
//!    code page (0x00, Esri's "ANSI" 0x57, unknown values), the UTF-8 mark
//!    0xF0, and old DOS code pages `encoding_rs` lacks (437, 850, ...)
//!    declare nothing.
//! 3. With nothing declared, the table is read as UTF-8 if all of its text is
//!    valid UTF-8, and otherwise **as GBK** (decoded as GB18030, its
//!    superset): undeclared non-UTF-8 text is taken as GBK because that is
//!    what Chinese boundary files are in practice (ArcGIS and most Chinese GIS
//!    software write GBK on Chinese Windows, often without a .cpg).
//!
//! Text declared as UTF-8 must be valid UTF-8, else the read fails with
//! [`ReadError::InvalidText`] (a wrong .cpg would otherwise turn every
//! Chinese name into replacement characters). In the legacy code pages, as in
//! GIS software, a byte sequence that is not valid (for example a character
//! cut in half by a too-narrow field) becomes U+FFFD.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use geo::{Coord, LineString, MultiPolygon};
use serde_json::{Map, Number, Value};
use shapefile::dbase::encoding::EncodingRs;
use shapefile::dbase::encoding_rs::{self as enc, Encoding};
use shapefile::dbase::{self, CodePageMark, FieldValue};
use shapefile::{PolygonRing, Shape, ShapeReader};

use super::{FeatureError, RawFeature, ReadError, RingRef, check_ring, polygon_from_rings};
use crate::index::ring_contains;

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
    let records = match declared_encoding(shp_path, &dbf_path)? {
        Some(declared) => read_records(&dbf_path, declared.encoding)?
            .map_err(|e| dbf_error(&dbf_path, Some(&declared), &e))?,
        None => match read_records(&dbf_path, enc::UTF_8)? {
            Err(e) if matches!(e.kind(), dbase::ErrorKind::StringDecodeError(_)) => {
                read_records(&dbf_path, enc::GBK)?
            }
            utf8 => utf8,
        }
        .map_err(|e| dbf_error(&dbf_path, None, &e))?,
    };

    let mut features = Vec::with_capacity(records.len());
    let mut shape_iter = shapes.iter_shapes();
    let mut record_iter = records.into_iter();
    loop {
        let index = features.len();
        match (shape_iter.next(), record_iter.next()) {
            (None, None) => break,
            (Some(shape), Some(record)) => {
                let shape = shape.map_err(|e| ReadError::Shapefile {
                    path: shp_path.to_owned(),
                    message: format!("shape {index}: {e}"),
                })?;
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

/// A text encoding declared by the .cpg file or the .dbf language driver.
struct Declared {
    encoding: &'static Encoding,
    /// Where the declaration comes from, for messages.
    origin: String,
}

/// The encoding the files declare, if they declare a usable one (see the
/// module docs).
fn declared_encoding(shp_path: &Path, dbf_path: &Path) -> Result<Option<Declared>, ReadError> {
    if let Some(cpg) = sibling(shp_path, "cpg") {
        let mut bytes = Vec::new();
        File::open(&cpg)
            .and_then(|f| f.take(1024).read_to_end(&mut bytes))
            .map_err(|source| ReadError::Io {
                path: cpg.clone(),
                source,
            })?;
        let text = String::from_utf8_lossy(&bytes);
        let label = text.trim().trim_start_matches('\u{feff}').trim();
        match cpg_encoding(label) {
            CpgLabel::Encoding(encoding) => {
                return Ok(Some(Declared {
                    encoding,
                    origin: file_name(&cpg),
                }));
            }
            CpgLabel::Nothing => {}
            CpgLabel::Unsupported => {
                return Err(ReadError::UnsupportedEncoding {
                    path: cpg,
                    label: label.chars().take(64).collect(),
                });
            }
        }
    }
    let mut header = [0u8; 32];
    let mut f = File::open(dbf_path).map_err(|source| ReadError::Io {
        path: dbf_path.to_owned(),
        source,
    })?;
    if f.read_exact(&mut header).is_ok()
        && let Some(encoding) = ldid_encoding(header[29])
    {
        return Ok(Some(Declared {
            encoding,
            origin: format!("the language-driver byte of {}", file_name(dbf_path)),
        }));
    }
    Ok(None)
}

/// What a .cpg label says.
#[derive(Debug, PartialEq, Eq)]
enum CpgLabel {
    Encoding(&'static Encoding),
    /// Empty, or the writer's unknown system code page (`ANSI`).
    Nothing,
    /// Names an encoding that cannot be decoded (or nothing recognisable).
    Unsupported,
}

/// Interprets the contents of a .cpg file (already trimmed).
fn cpg_encoding(label: &str) -> CpgLabel {
    let upper = label.to_ascii_uppercase();
    let is_sep = |c: char| matches!(c, ' ' | '-' | '_');
    let mut rest = upper.as_str();
    if let Some(r) = rest.strip_prefix("ANSI") {
        rest = r.trim_start_matches(is_sep);
    }
    if rest.is_empty() {
        return CpgLabel::Nothing;
    }
    for prefix in ["CP", "WINDOWS", "IBM"] {
        if let Some(r) = rest.strip_prefix(prefix) {
            let r = r.trim_start_matches(is_sep);
            if r.starts_with(|c: char| c.is_ascii_digit()) {
                rest = r;
                break;
            }
        }
    }
    // Esri and GDAL write ISO-8859-n as "88591", "8859-1", "ISO 88591".
    let iso_8859 = rest
        .strip_prefix("ISO")
        .unwrap_or(rest)
        .trim_start_matches(is_sep)
        .strip_prefix("8859")
        .map(|p| p.trim_start_matches(is_sep))
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let found = if let Some(part) = iso_8859 {
        Encoding::for_label_no_replacement(format!("iso-8859-{part}").as_bytes())
    } else if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        rest.parse().ok().and_then(code_page_encoding)
    } else {
        Encoding::for_label_no_replacement(label.as_bytes())
    };
    match found {
        // dBase text is padded with single-byte spaces: UTF-16 cannot be stored.
        Some(e) if e != enc::UTF_16LE && e != enc::UTF_16BE => CpgLabel::Encoding(e),
        _ => CpgLabel::Unsupported,
    }
}

/// The encoding of a Windows code page number, for those `encoding_rs` decodes.
fn code_page_encoding(code_page: u16) -> Option<&'static Encoding> {
    Some(match code_page {
        65001 => enc::UTF_8,
        // GB2312 (20936) is a subset of GBK; encoding_rs decodes GBK as GB18030.
        936 | 20936 => enc::GBK,
        54936 => enc::GB18030,
        950 => enc::BIG5,
        932 => enc::SHIFT_JIS,
        949 | 51949 => enc::EUC_KR,
        20932 | 51932 => enc::EUC_JP,
        50220..=50222 => enc::ISO_2022_JP,
        866 => enc::IBM866,
        874 => enc::WINDOWS_874,
        1250 => enc::WINDOWS_1250,
        1251 => enc::WINDOWS_1251,
        1252 | 28591 => enc::WINDOWS_1252,
        1253 => enc::WINDOWS_1253,
        1254 | 28599 => enc::WINDOWS_1254,
        1255 => enc::WINDOWS_1255,
        1256 => enc::WINDOWS_1256,
        1257 => enc::WINDOWS_1257,
        1258 => enc::WINDOWS_1258,
        28592 => enc::ISO_8859_2,
        28593 => enc::ISO_8859_3,
        28594 => enc::ISO_8859_4,
        28595 => enc::ISO_8859_5,
        28596 => enc::ISO_8859_6,
        28597 => enc::ISO_8859_7,
        28598 => enc::ISO_8859_8,
        38598 => enc::ISO_8859_8_I,
        28600 => enc::ISO_8859_10,
        28603 => enc::ISO_8859_13,
        28604 => enc::ISO_8859_14,
        28605 => enc::ISO_8859_15,
        28606 => enc::ISO_8859_16,
        20866 => enc::KOI8_R,
        21866 => enc::KOI8_U,
        10000 => enc::MACINTOSH,
        10007 => enc::X_MAC_CYRILLIC,
        _ => return None,
    })
}

/// The encoding a dBase language-driver byte names, when it names a code page
/// that can be decoded. The UTF-8 mark (0xF0, written by the `dbase` crate
/// itself, not by GIS software) is treated as no declaration: UTF-8 is tried
/// first anyway, and GBK is then the better guess than an error.
fn ldid_encoding(ldid: u8) -> Option<&'static Encoding> {
    let code_page = match CodePageMark::from(ldid) {
        CodePageMark::CP936 => 936,
        CodePageMark::CP950 => 950,
        CodePageMark::CP932 => 932,
        CodePageMark::CP949 => 949,
        CodePageMark::CP866 => 866,
        CodePageMark::CP874 => 874,
        CodePageMark::CP1250 => 1250,
        CodePageMark::CP1251 => 1251,
        CodePageMark::CP1252 => 1252,
        CodePageMark::CP1253 => 1253,
        CodePageMark::CP1254 => 1254,
        CodePageMark::CP1255 => 1255,
        CodePageMark::CP1256 => 1256,
        _ => return None,
    };
    code_page_encoding(code_page)
}

/// Reads every record of the .dbf with the given text encoding (UTF-8 is
/// decoded strictly, other encodings replace invalid bytes). The outer error
/// is the file not opening; the inner one is the dBase reader's.
fn read_records(
    dbf_path: &Path,
    encoding: &'static Encoding,
) -> Result<Result<Vec<dbase::Record>, dbase::Error>, ReadError> {
    let file = File::open(dbf_path).map_err(|source| ReadError::Io {
        path: dbf_path.to_owned(),
        source,
    })?;
    let builder = if encoding == enc::UTF_8 {
        dbase::ReaderBuilder::new().with_encoding(dbase::encoding::Unicode)
    } else {
        dbase::ReaderBuilder::new().with_encoding(EncodingRs::from(encoding))
    };
    Ok(builder
        .build(BufReader::new(file))
        .and_then(|mut reader| reader.read()))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn dbf_error(path: &Path, declared: Option<&Declared>, e: &dbase::Error) -> ReadError {
    if let dbase::ErrorKind::StringDecodeError(_) = e.kind() {
        // Only strict UTF-8 fails to decode, and an undeclared table that is
        // not UTF-8 is re-read as GBK, so this is text declared as UTF-8.
        let place = e
            .record_index()
            .map(|r| format!("record {}", r.0))
            .unwrap_or_else(|| "the field names".into());
        let detail = match declared {
            Some(d) => format!(
                "is declared as UTF-8 by {} but {place} is not valid UTF-8; if the file is really \
                 in another encoding (GBK for most Chinese files), correct the .cpg file (for \
                 example to `GBK`) or delete it",
                d.origin
            ),
            None => format!("is not valid UTF-8 ({place})"),
        };
        return ReadError::InvalidText {
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

    const GRID: &str = "东城区第一网格";

    fn gbk(s: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = enc::GBK.encode(s);
        assert!(!unmappable);
        bytes.into_owned()
    }

    /// Replaces the first occurrence of `from` in `bytes` by `to` (same length).
    fn patch(bytes: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let pos = bytes.windows(from.len()).position(|w| w == from).unwrap();
        bytes[pos..pos + to.len()].copy_from_slice(to);
    }

    /// The sample with GBK text: record 0's NAME is [`GRID`] and the CODE
    /// field is named "编码"; the language-driver byte is set to `ldid`.
    fn write_gbk_sample(dir: &Path, ldid: u8) -> PathBuf {
        let placeholder = "x".repeat(gbk(GRID).len());
        let shp = write_sample(dir, &[&placeholder, "west"]);
        let dbf = shp.with_extension("dbf");
        let mut bytes = std::fs::read(&dbf).unwrap();
        patch(&mut bytes, placeholder.as_bytes(), &gbk(GRID));
        patch(&mut bytes, b"CODE", &gbk("编码"));
        bytes[29] = ldid;
        std::fs::write(&dbf, bytes).unwrap();
        shp
    }

    fn assert_gbk_read(shp: &Path) {
        let out = read_shapefile(shp).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].properties["NAME"], GRID);
        assert_eq!(out[0].properties["编码"], "G0");
        assert_eq!(out[1].properties["NAME"], "west");
        assert_eq!(out[1].properties["POP"], serde_json::json!(1001));
    }

    #[test]
    fn gbk_declared_by_cpg_gbk() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_gbk_sample(dir.path(), 0);
        std::fs::write(shp.with_extension("cpg"), "GBK\n").unwrap();
        assert_gbk_read(&shp);
    }

    #[test]
    fn gbk_declared_by_cpg_936() {
        let dir = tempfile::tempdir().unwrap();
        // The .cpg wins over a language-driver byte saying windows-1252.
        let shp = write_gbk_sample(dir.path(), 0x03);
        std::fs::write(shp.with_extension("CPG"), "\u{feff}936\r\n").unwrap();
        assert_gbk_read(&shp);
    }

    #[test]
    fn gbk_declared_by_language_driver() {
        for ldid in [0x4D, 0x7A] {
            let dir = tempfile::tempdir().unwrap();
            assert_gbk_read(&write_gbk_sample(dir.path(), ldid));
        }
    }

    #[test]
    fn undeclared_non_utf8_is_read_as_gbk() {
        // 0x00: no language driver; 0xF0: the UTF-8 mark the dbase crate writes;
        // 0x57: Esri "ANSI"; 0x01: CP437, which encoding_rs cannot decode.
        for ldid in [0x00, 0xF0, 0x57, 0x01] {
            let dir = tempfile::tempdir().unwrap();
            assert_gbk_read(&write_gbk_sample(dir.path(), ldid));
        }
        // An empty .cpg or a bare "ANSI" declares nothing either.
        for cpg in ["", "ANSI\n"] {
            let dir = tempfile::tempdir().unwrap();
            let shp = write_gbk_sample(dir.path(), 0);
            std::fs::write(shp.with_extension("cpg"), cpg).unwrap();
            assert_gbk_read(&shp);
        }
    }

    #[test]
    fn utf8_declared_by_cpg() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &[GRID, "west"]);
        std::fs::write(shp.with_extension("cpg"), "UTF-8").unwrap();
        let out = read_shapefile(&shp).unwrap();
        assert_eq!(out[0].properties["NAME"], GRID);
        assert_eq!(out[1].properties["NAME"], "west");
        // Undeclared valid UTF-8 stays UTF-8 (not GBK mojibake).
        std::fs::remove_file(shp.with_extension("cpg")).unwrap();
        assert_eq!(read_shapefile(&shp).unwrap()[0].properties["NAME"], GRID);
    }

    #[test]
    fn gbk_text_declared_as_utf8_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_gbk_sample(dir.path(), 0);
        std::fs::write(shp.with_extension("cpg"), "utf8").unwrap();
        let err = read_shapefile(&shp).unwrap_err();
        assert!(matches!(err, ReadError::InvalidText { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("grids.cpg") && msg.contains("not valid UTF-8") && msg.contains("GBK"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_cpg_label_is_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_gbk_sample(dir.path(), 0x4D);
        std::fs::write(shp.with_extension("cpg"), "KLINGON-7\n").unwrap();
        let err = read_shapefile(&shp).unwrap_err();
        match &err {
            ReadError::UnsupportedEncoding { path, label } => {
                assert_eq!(label, "KLINGON-7");
                assert!(path.ends_with("grids.cpg"));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("\"KLINGON-7\""), "{err}");
    }

    #[test]
    fn other_declared_code_pages_decode() {
        let dir = tempfile::tempdir().unwrap();
        let shp = write_sample(dir.path(), &["caf?", "ab"]);
        let dbf = shp.with_extension("dbf");
        let mut bytes = std::fs::read(&dbf).unwrap();
        patch(&mut bytes, b"caf?", b"caf\xE9");
        std::fs::write(&dbf, bytes).unwrap();
        std::fs::write(shp.with_extension("cpg"), "ANSI 1252").unwrap();
        assert_eq!(read_shapefile(&shp).unwrap()[0].properties["NAME"], "café");
        std::fs::write(shp.with_extension("cpg"), "88591").unwrap();
        assert_eq!(read_shapefile(&shp).unwrap()[0].properties["NAME"], "café");
    }

    #[test]
    fn cpg_labels() {
        use CpgLabel::*;
        for label in [
            "GBK", "gbk", "CP936", "cp 936", "936", "ANSI 936", "GB2312", "gb_2312", "CP-936",
        ] {
            assert_eq!(cpg_encoding(label), Encoding(enc::GBK), "{label}");
        }
        for label in ["GB18030", "54936", "CP54936"] {
            assert_eq!(cpg_encoding(label), Encoding(enc::GB18030), "{label}");
        }
        for label in ["UTF-8", "utf8", "65001", "CP65001"] {
            assert_eq!(cpg_encoding(label), Encoding(enc::UTF_8), "{label}");
        }
        for (label, e) in [
            ("Big5", enc::BIG5),
            ("950", enc::BIG5),
            ("Shift_JIS", enc::SHIFT_JIS),
            ("1251", enc::WINDOWS_1251),
            ("windows-1250", enc::WINDOWS_1250),
            ("ISO-8859-1", enc::WINDOWS_1252),
            ("8859-2", enc::ISO_8859_2),
            ("ISO 88595", enc::ISO_8859_5),
            ("885915", enc::ISO_8859_15),
            ("KOI8-R", enc::KOI8_R),
            ("ISO-2022-JP", enc::ISO_2022_JP),
        ] {
            assert_eq!(cpg_encoding(label), Encoding(e), "{label}");
        }
        assert_eq!(cpg_encoding(""), Nothing);
        assert_eq!(cpg_encoding("ANSI"), Nothing);
        for label in [
            "437",
            "CP850",
            "UTF-16",
            "hz-gb-2312",
            "x",
            "8859-99",
            "99999999",
        ] {
            assert_eq!(cpg_encoding(label), Unsupported, "{label}");
        }
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
