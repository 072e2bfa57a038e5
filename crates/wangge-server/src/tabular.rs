//! The tables departments send for the base-data import (houses, people, organisations,
//! components): CSV or Excel `.xlsx`, read into rows of trimmed text fields, and the mapping of
//! their headers onto a record kind's field names.
//!
//! Nothing here knows HTTP or storage. Problems come in two sizes: a [`TableError`] means the
//! file as a whole cannot be read; a [`CellError`] sits on its row, so an import's dry run can
//! list every bad cell at once and still import the rest.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Cursor;

use calamine::{DataRef, ExcelDateTime, Reader, SheetType, SheetVisible, Xlsx};
use wangge_domain::registry::Fields;

/// Cells (rows × columns) one table may hold. A zipped workbook of a few megabytes can expand
/// into gigabytes of sheet XML, and every row is padded to the header's width, so the bound is
/// on what we hold in memory, not on the upload's size. 24 million cells hold a district's
/// million people with a dozen columns each (about 1 GB in memory).
pub const MAX_CELLS: usize = 24_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

impl Format {
    /// The format of an upload: the content decides, the name only breaks ties. `None` for what
    /// we cannot read: an old `.xls` (or a password-protected workbook, which is also an OLE
    /// file), another zip format, a workbook name on bytes that are not a workbook, binary data.
    pub fn sniff(bytes: &[u8], file_name: Option<&str>) -> Option<Format> {
        let ext = file_name
            .and_then(|n| n.trim().rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase());
        let ext = ext.as_deref();
        if bytes.starts_with(b"PK\x03\x04") {
            return match ext {
                Some("ods" | "odt" | "docx" | "pptx" | "zip" | "numbers") => None,
                _ => Some(Format::Xlsx),
            };
        }
        if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
            return None;
        }
        if matches!(ext, Some("xlsx" | "xlsm" | "xls" | "et" | "ods")) {
            return None;
        }
        let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
        let head = &bytes[..bytes.len().min(8192)];
        if !utf16 && head.contains(&0) {
            return None;
        }
        Some(Format::Csv)
    }
}

/// A cell-level problem found while reading: the 1-based row number as a spreadsheet user sees
/// it (the header is row 1), the column header, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    pub row: usize,
    pub column: String,
    pub message: String,
}

impl fmt::Display for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {}, column “{}”: {}",
            self.row, self.column, self.message
        )
    }
}

/// A header name used by more than one column, with the columns' letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateHeader {
    pub name: String,
    pub columns: Vec<String>,
}

/// Whole-file problems: nothing of the table can be used.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("the file is empty; expected a table whose first row names the columns")]
    Empty,
    #[error(
        "the table has no header row: every row is empty; expected the column names in the first \
         non-empty row"
    )]
    NoHeader,
    #[error(
        "the file is neither UTF-8 (an invalid byte on line {line}) nor GB18030/GBK; save the \
         table as “CSV UTF-8” or as an Excel workbook (.xlsx)"
    )]
    Encoding { line: usize },
    #[error(
        "the file starts with a UTF-16 byte-order mark but is not valid UTF-16; save the table as \
         “CSV UTF-8” or as an Excel workbook (.xlsx)"
    )]
    Utf16,
    #[error(
        "line {line} has {found} fields but the header row has {expected}; expected the same \
         number of fields on every line (check that line's commas and quotes)"
    )]
    Ragged {
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("the CSV cannot be read at line {line}: {message}")]
    Csv { line: usize, message: String },
    #[error("{}", duplicates_message(.0))]
    DuplicateHeaders(Vec<DuplicateHeader>),
    #[error("the workbook has no sheet named “{name}”; expected one of: {}", .sheets.join(", "))]
    NoSuchSheet { name: String, sheets: Vec<String> },
    #[error("the workbook has no worksheet; expected at least one sheet holding the table")]
    NoSheets,
    #[error(
        "not a readable Excel workbook ({0}); expected an .xlsx file saved by Excel or WPS (save \
         an old .xls as .xlsx first)"
    )]
    Xlsx(String),
    #[error(
        "the table has more than {max} cells (rows × columns); split it into several files",
        max = MAX_CELLS
    )]
    TooLarge,
}

fn duplicates_message(duplicates: &[DuplicateHeader]) -> String {
    let list: Vec<String> = duplicates
        .iter()
        .map(|d| format!("“{}” (columns {})", d.name, d.columns.join(", ")))
        .collect();
    format!(
        "the header row names {} more than once; expected every column to have its own name",
        list.join(", ")
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Trimmed, unique. A column whose header cell is empty is called `(column C)` after its
    /// spreadsheet letter, so it can still be reported and mapped.
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The spreadsheet row number: the header's row is 1 when the table starts at the top.
    pub number: usize,
    /// One trimmed text per header, `""` for an empty cell.
    pub cells: Vec<String>,
    pub errors: Vec<CellError>,
}

pub fn read_table(bytes: &[u8], format: Format, sheet: Option<&str>) -> Result<Table, TableError> {
    match format {
        Format::Csv => read_csv(bytes),
        Format::Xlsx => read_xlsx(bytes, sheet),
    }
}

const BEYOND_LAST: &str = "a value beyond the last named column";
const BEFORE_FIRST: &str = "a value before the first named column";

/// `0` → `A`, `26` → `AA`: how a spreadsheet user finds a column.
fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

fn placeholder(index: usize) -> String {
    format!("(column {})", column_letter(index))
}

fn clean(s: &str) -> &str {
    // A BOM can survive in a cell pasted from another file; it is never meant as content.
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

/// How many non-empty rows may precede the header as titles.
const TITLE_LOOKAHEAD: usize = 5;

/// Which of the first non-empty rows is the header, given how many non-empty cells each has.
/// Department tables usually open with a title row ("XX社区实有人口登记表", merged across the
/// table, so one cell) above the header; a header names at least two columns. A table without
/// such a row within reach has only one column, and its first row is the header.
fn header_position(non_empty_cells: &[usize]) -> usize {
    non_empty_cells
        .iter()
        .take(TITLE_LOOKAHEAD)
        .position(|&n| n >= 2)
        .unwrap_or(0)
}

/// Header names from the header row's cells (`first_column` is the spreadsheet index of the
/// first), rejecting duplicates so a mapping is never ambiguous about which column it reads.
fn name_headers(raw: Vec<String>, first_column: usize) -> Result<Vec<String>, TableError> {
    let headers: Vec<String> = raw
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            if h.is_empty() {
                placeholder(first_column + i)
            } else {
                h
            }
        })
        .collect();
    let mut seen: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        seen.entry(h.as_str()).or_default().push(i);
    }
    let mut duplicates: Vec<DuplicateHeader> = seen
        .into_iter()
        .filter(|(_, cols)| cols.len() > 1)
        .map(|(name, cols)| DuplicateHeader {
            name: name.to_owned(),
            columns: cols
                .iter()
                .map(|&c| column_letter(first_column + c))
                .collect(),
        })
        .collect();
    if !duplicates.is_empty() {
        duplicates.sort_by_key(|d| d.columns.first().map(|c| (c.len(), c.clone())));
        return Err(TableError::DuplicateHeaders(duplicates));
    }
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// CSV

/// The file's text, the encoding decided once for the whole file: a Chinese Excel saves "CSV"
/// in the system code page (GBK), newer ones "CSV UTF-8" with a BOM, and "Unicode text" as
/// UTF-16 with a BOM.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, TableError> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return encoding_rs::UTF_16LE
            .decode_without_bom_handling_and_without_replacement(rest)
            .ok_or(TableError::Utf16);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return encoding_rs::UTF_16BE
            .decode_without_bom_handling_and_without_replacement(rest)
            .ok_or(TableError::Utf16);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first_bad = match std::str::from_utf8(bytes) {
        Ok(text) => return Ok(Cow::Borrowed(text)),
        Err(e) => e.valid_up_to(),
    };
    let line = 1 + bytes[..first_bad].iter().filter(|&&b| b == b'\n').count();
    // GB18030 accepts most byte pairs, so a UTF-8 file with a damaged byte would decode as
    // mojibake without complaint. Real GBK text hardly ever forms valid multi-byte UTF-8, so a
    // file that mostly does is UTF-8, damaged.
    let (mut non_ascii, mut invalid) = (0usize, 0usize);
    for chunk in bytes.utf8_chunks() {
        non_ascii += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        invalid += usize::from(!chunk.invalid().is_empty());
    }
    if non_ascii > invalid {
        return Err(TableError::Encoding { line });
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .ok_or(TableError::Encoding { line })
}

fn read_csv(bytes: &[u8]) -> Result<Table, TableError> {
    let text = decode(bytes)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return Err(TableError::Empty);
    }
    // The first line with a separator on it is the header or a title padded by Excel with
    // empty cells; a title alone on its line has none and says nothing.
    let separated = text.lines().find(|l| l.contains([',', '\t'])).unwrap_or("");
    let delimiter = if separated.contains('\t') && !separated.contains(',') {
        b'\t'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());

    let mut record = csv::StringRecord::new();
    // Spreadsheet rows are records, text lines are not: a quoted cell may hold line breaks.
    let mut newlines_inside_cells = 0usize;
    let mut records: Vec<CsvRecord> = Vec::new();
    let mut fields_held = 0usize;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                return Err(TableError::Csv {
                    line,
                    message: e.to_string(),
                });
            }
        }
        // csv reports where it started looking, before the empty lines it skips.
        let (line, start) = record
            .position()
            .map_or((0, 0), |p| (p.line() as usize, p.byte() as usize));
        let skipped = text.as_bytes()[start.min(text.len())..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .filter(|&&b| b == b'\n')
            .count();
        let line = line + skipped;
        let number = line.saturating_sub(newlines_inside_cells).max(1);
        newlines_inside_cells += record
            .iter()
            .map(|f| f.bytes().filter(|&b| b == b'\n').count())
            .sum::<usize>();
        if record.iter().all(|f| clean(f).is_empty()) {
            continue;
        }
        fields_held += record.len();
        if fields_held > MAX_CELLS {
            return Err(TableError::TooLarge);
        }
        records.push(CsvRecord {
            line,
            number,
            fields: record.iter().map(|f| clean(f).to_owned()).collect(),
        });
    }

    let counts: Vec<usize> = records
        .iter()
        .take(TITLE_LOOKAHEAD)
        .map(|r| r.fields.iter().filter(|f| !f.is_empty()).count())
        .collect();
    let mut records = records.into_iter().skip(header_position(&counts));
    let Some(header) = records.next() else {
        return Err(TableError::NoHeader);
    };
    let width = header.fields.len();
    let named = header
        .fields
        .iter()
        .rposition(|h| !h.is_empty())
        .map_or(0, |i| i + 1);
    let headers = name_headers(header.fields.into_iter().take(named).collect(), 0)?;

    let mut rows = Vec::new();
    for CsvRecord {
        line,
        number,
        fields,
    } in records
    {
        if fields.len() != width {
            return Err(TableError::Ragged {
                line,
                expected: width,
                found: fields.len(),
            });
        }
        let mut errors = Vec::new();
        for (i, value) in fields.iter().enumerate().skip(named) {
            if !value.is_empty() {
                errors.push(CellError {
                    row: number,
                    column: placeholder(i),
                    message: BEYOND_LAST.to_owned(),
                });
            }
        }
        let mut cells = fields;
        cells.truncate(named);
        rows.push(Row {
            number,
            cells,
            errors,
        });
    }
    Ok(Table { headers, rows })
}

struct CsvRecord {
    line: usize,
    number: usize,
    fields: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// XLSX

/// A cell as text, or what is wrong with it (the text then is what the user sees, if anything).
struct CellText {
    text: String,
    error: Option<String>,
}

impl CellText {
    fn ok(text: impl Into<String>) -> Self {
        CellText {
            text: text.into(),
            error: None,
        }
    }

    fn bad(text: impl Into<String>, error: impl Into<String>) -> Self {
        CellText {
            text: text.into(),
            error: Some(error.into()),
        }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.error.is_none()
    }
}

fn cell_text(value: &DataRef<'_>) -> CellText {
    match value {
        DataRef::Empty => CellText::ok(""),
        DataRef::String(s) => CellText::ok(clean(s)),
        DataRef::SharedString(s) => CellText::ok(clean(s)),
        DataRef::Bool(b) => CellText::ok(if *b { "true" } else { "false" }),
        DataRef::Int(i) => CellText::ok(i.to_string()),
        DataRef::Float(f) => number_text(*f),
        DataRef::DateTime(dt) => datetime_text(dt),
        DataRef::DateTimeIso(s) => CellText::ok(iso_text(clean(s))),
        DataRef::DurationIso(s) => CellText::ok(clean(s)),
        DataRef::Error(e) => CellText::bad(
            "",
            format!("the cell holds the Excel error {e}; expected a value"),
        ),
    }
}

/// What Excel shows for a number in the General format: at most 15 significant digits, whole
/// numbers without a decimal point.
fn number_text(v: f64) -> CellText {
    if !v.is_finite() {
        return CellText::bad("", "not a finite number");
    }
    if v.abs() >= 1e15 {
        // Excel keeps 15 significant digits: an 18-digit identity number typed as a number has
        // already lost its last three when it reaches us, and no reading can bring them back.
        let shown = fifteen_digit_integer(v);
        let message = format!(
            "Excel stored this as a number and lost its last digits ({shown}); format the column \
             as text and enter it again"
        );
        return CellText::bad(shown, message);
    }
    let rounded: f64 = format!("{v:.14e}").parse().unwrap_or(v);
    if rounded.fract() == 0.0 {
        // |rounded| < 1e15, so the conversion is exact.
        CellText::ok((rounded as i64).to_string())
    } else {
        CellText::ok(rounded.to_string())
    }
}

/// `1.10101199003071e17` → `110101199003071000`, the digits Excel displays.
fn fifteen_digit_integer(v: f64) -> String {
    let sci = format!("{:.14e}", v.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: usize = exponent.parse().unwrap_or(14);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    digits.extend(std::iter::repeat_n('0', exponent.saturating_sub(14)));
    if v < 0.0 {
        digits.insert(0, '-');
    }
    digits
}

fn datetime_text(dt: &ExcelDateTime) -> CellText {
    let v = dt.as_f64();
    if dt.is_duration() {
        if !v.is_finite() || v.abs() > 1e9 {
            return CellText::bad("", "not a valid Excel duration");
        }
        let seconds = (v * 86_400.0).round() as i64;
        let sign = if seconds < 0 { "-" } else { "" };
        let s = seconds.abs();
        return CellText::ok(format!(
            "{sign}{}:{:02}:{:02}",
            s / 3600,
            s / 60 % 60,
            s % 60
        ));
    }
    // Excel's own range: 1900-01-00 up to 9999-12-31; calamine would clamp anything outside it
    // to a plausible-looking but wrong date.
    if !v.is_finite() || !(0.0..2_958_466.0).contains(&v) {
        return CellText::bad(
            "",
            "not a valid Excel date; expected a date from 1900 to 9999",
        );
    }
    let (year, month, day, hour, minute, second, _) = dt.to_ymd_hms_milli();
    let time = format!("{hour:02}:{minute:02}:{second:02}");
    if v < 1.0 {
        // A time of day without a date.
        CellText::ok(time)
    } else if (hour, minute, second) == (0, 0, 0) {
        CellText::ok(format!("{year:04}-{month:02}-{day:02}"))
    } else {
        CellText::ok(format!("{year:04}-{month:02}-{day:02} {time}"))
    }
}

/// `2024-03-01T00:00:00` → `2024-03-01`; `2024-03-01T08:30:00.000Z` → `2024-03-01 08:30:00`.
fn iso_text(s: &str) -> String {
    match s.split_once('T') {
        Some((date, time)) => {
            let time = time.trim_end_matches('Z');
            let time = time.split('.').next().unwrap_or(time);
            if time.chars().all(|c| c == '0' || c == ':') {
                date.to_owned()
            } else {
                format!("{date} {time}")
            }
        }
        None => s.to_owned(),
    }
}

fn read_xlsx(bytes: &[u8], sheet: Option<&str>) -> Result<Table, TableError> {
    if bytes.is_empty() {
        return Err(TableError::Empty);
    }
    let mut workbook: Xlsx<_> =
        Xlsx::new(Cursor::new(bytes)).map_err(|e| TableError::Xlsx(e.to_string()))?;
    let name = match sheet {
        Some(wanted) => {
            let names = workbook.sheet_names();
            let wanted_t = wanted.trim();
            names
                .iter()
                .find(|n| n.as_str() == wanted)
                .or_else(|| names.iter().find(|n| n.trim() == wanted_t))
                .cloned()
                .ok_or_else(|| TableError::NoSuchSheet {
                    name: wanted.to_owned(),
                    sheets: names.clone(),
                })?
        }
        None => {
            // The sheet a user sees first when opening the file: hidden sheets and chart sheets
            // are typically lookup lists and charts, not the table.
            let sheets = workbook.sheets_metadata();
            sheets
                .iter()
                .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
                .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet))
                .or_else(|| sheets.first())
                .map(|s| s.name.clone())
                .ok_or(TableError::NoSheets)?
        }
    };

    // Cells are collected sparsely rather than through a `Range`, which allocates the bounding
    // box: one stray cell at XFD1048576 would otherwise cost gigabytes.
    let mut grid: BTreeMap<u32, BTreeMap<u32, CellText>> = BTreeMap::new();
    let mut held = 0usize;
    {
        let mut reader = workbook
            .worksheet_cells_reader(&name)
            .map_err(|e| TableError::Xlsx(e.to_string()))?;
        while let Some(cell) = reader
            .next_cell()
            .map_err(|e| TableError::Xlsx(e.to_string()))?
        {
            let text = cell_text(cell.get_value());
            if text.is_empty() {
                continue;
            }
            held += 1;
            if held > MAX_CELLS {
                return Err(TableError::TooLarge);
            }
            let (row, column) = cell.get_position();
            grid.entry(row).or_default().insert(column, text);
        }
    }

    let counts: Vec<usize> = grid
        .values()
        .take(TITLE_LOOKAHEAD)
        .map(BTreeMap::len)
        .collect();
    let mut rows_iter = grid.into_iter().skip(header_position(&counts));
    let Some((_, header_cells)) = rows_iter.next() else {
        return Err(TableError::NoHeader);
    };
    let (Some(&first), Some(&last)) = (header_cells.keys().next(), header_cells.keys().last())
    else {
        return Err(TableError::NoHeader);
    };
    let (first, last) = (first as usize, last as usize);
    let width = last - first + 1;
    let mut raw = vec![String::new(); width];
    for (column, cell) in header_cells {
        raw[column as usize - first] = cell.text;
    }
    let headers = name_headers(raw, first)?;

    let mut rows = Vec::new();
    let mut padded = 0usize;
    for (row, cells_in_row) in rows_iter {
        padded += width;
        if padded > MAX_CELLS {
            return Err(TableError::TooLarge);
        }
        let number = row as usize + 1;
        let mut cells = vec![String::new(); width];
        let mut errors = Vec::new();
        for (column, cell) in cells_in_row {
            let column = column as usize;
            let slot = column.checked_sub(first).filter(|&i| i < width);
            let Some(i) = slot else {
                errors.push(CellError {
                    row: number,
                    column: placeholder(column),
                    message: if column < first {
                        BEFORE_FIRST
                    } else {
                        BEYOND_LAST
                    }
                    .to_owned(),
                });
                continue;
            };
            if let Some(message) = cell.error {
                errors.push(CellError {
                    row: number,
                    column: headers[i].clone(),
                    message,
                });
            }
            cells[i] = cell.text;
        }
        rows.push(Row {
            number,
            cells,
            errors,
        });
    }
    Ok(Table { headers, rows })
}

// ---------------------------------------------------------------------------------------------
// Column mapping

/// The headers departments use for each field. An alias only applies when its field is one the
/// record kind accepts, which is what settles `联系电话` (a person's `phone`, an organisation's
/// `contact_phone`).
pub const ALIASES: &[(&str, &[&str])] = &[
    ("house_code", &["房屋编码", "房屋编号", "房屋代码"]),
    (
        "grid_code",
        &["网格编码", "所属网格", "网格编号", "网格代码"],
    ),
    ("province", &["省", "省份"]),
    ("city", &["市", "城市"]),
    ("district", &["区", "区县", "县区"]),
    ("street", &["街道", "乡镇", "街道乡镇", "乡镇街道"]),
    ("community", &["社区", "村", "社区村", "村社区"]),
    ("road", &["路", "街路巷", "道路"]),
    ("number", &["门牌号", "门牌"]),
    ("building", &["楼栋", "楼号", "幢", "楼栋号"]),
    ("unit", &["单元", "单元号"]),
    ("floor", &["楼层"]),
    ("room", &["室", "房间号", "户室号", "室号"]),
    ("use", &["房屋用途", "用途"]),
    ("lon", &["经度"]),
    ("lat", &["纬度"]),
    ("area_m2", &["面积", "建筑面积"]),
    (
        "identity_number",
        &["身份证号", "公民身份号码", "身份证号码", "身份证"],
    ),
    ("name", &["姓名", "名称"]),
    ("phone", &["联系电话", "手机号", "手机号码", "电话", "手机"]),
    ("tags", &["标签", "人员类别"]),
    ("household", &["户号"]),
    ("registered_address", &["户籍地址", "户籍地"]),
    ("residence_kind", &["居住类型", "人户关系"]),
    ("moved_in", &["迁入日期", "入住日期"]),
    ("moved_out", &["迁出日期", "注销日期"]),
    ("relation", &["与户主关系"]),
    ("credit_code", &["统一社会信用代码", "信用代码"]),
    ("org_kind", &["单位类型", "法人类型"]),
    ("responsible_person", &["负责人", "法定代表人"]),
    ("contact_phone", &["联系电话"]),
    ("component_code", &["部件编码", "部件标识码"]),
    ("owner_unit", &["权属单位"]),
    ("maintenance_unit", &["养护单位"]),
    ("responsible_unit", &["责任单位"]),
    ("status", &["状态"]),
    ("attributes", &["属性"]),
];

/// How headers are compared: case, spaces, underscores and the asterisks templates put on
/// required columns do not count.
fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '*' | '＊' | '\u{feff}'))
        .flat_map(char::to_lowercase)
        .collect()
}

fn aliases_of(field: &str) -> impl Iterator<Item = &'static str> {
    ALIASES
        .iter()
        .filter(move |(f, _)| *f == field)
        .flat_map(|(_, headers)| headers.iter().copied())
}

/// Maps the table's headers to the field names of a record kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// (field, column index), in the order of the record kind's fields.
    columns: Vec<(String, usize)>,
    headers: Vec<String>,
}

impl Mapping {
    /// `fields`: the field names the record kind accepts. `explicit`: (field, header) pairs the
    /// user chose, which win over automatic matching; an empty header leaves the field unmapped
    /// on purpose. The rest match automatically: a header equal to a field name (case, spaces
    /// and underscores ignored) or to one of its [`ALIASES`].
    ///
    /// Every problem is returned at once, each naming the header or field.
    pub fn new(
        headers: &[String],
        fields: &[&str],
        explicit: &[(String, String)],
    ) -> Result<Mapping, Vec<String>> {
        let mut errors = Vec::new();
        let mut chosen: Vec<Option<usize>> = vec![None; fields.len()];
        let mut decided = vec![false; fields.len()];
        let mut taken = vec![false; headers.len()];

        for (field, header) in explicit {
            let field = field.trim();
            let header = header.trim();
            let Some(fi) = fields.iter().position(|f| *f == field) else {
                errors.push(format!(
                    "unknown field “{field}” (mapped to “{header}”); expected one of: {}",
                    fields.join(", ")
                ));
                continue;
            };
            let hi = if header.is_empty() {
                None
            } else {
                let found = find_header(headers, header);
                if found.is_none() {
                    errors.push(format!(
                        "no column “{header}” in the table (chosen for the field “{field}”); the \
                         columns are: {}",
                        headers.join(", ")
                    ));
                    continue;
                }
                found
            };
            if decided[fi] {
                if chosen[fi] != hi {
                    errors.push(format!(
                        "the field “{field}” is mapped to two columns; expected one"
                    ));
                }
                continue;
            }
            decided[fi] = true;
            chosen[fi] = hi;
            if let Some(hi) = hi {
                taken[hi] = true;
            }
        }

        let normal_fields: Vec<String> = fields.iter().map(|f| normalise(f)).collect();
        let mut automatic: Vec<Vec<usize>> = vec![Vec::new(); fields.len()];
        for (hi, header) in headers.iter().enumerate() {
            if taken[hi] {
                continue;
            }
            let h = normalise(header);
            if h.is_empty() {
                continue;
            }
            let open = || (0..fields.len()).filter(|&fi| !decided[fi]);
            let mut candidates: Vec<usize> = open().filter(|&fi| normal_fields[fi] == h).collect();
            if candidates.is_empty() {
                candidates = open()
                    .filter(|&fi| aliases_of(fields[fi]).any(|a| normalise(a) == h))
                    .collect();
            }
            match candidates.as_slice() {
                [] => {}
                [fi] => automatic[*fi].push(hi),
                several => {
                    let names: Vec<&str> = several.iter().map(|&fi| fields[fi]).collect();
                    errors.push(format!(
                        "the column “{header}” could be any of the fields {}; choose one for it",
                        names.join(", ")
                    ));
                }
            }
        }
        for (fi, his) in automatic.into_iter().enumerate() {
            match his.as_slice() {
                [] => {}
                [hi] => chosen[fi] = Some(*hi),
                several => {
                    let names: Vec<String> = several
                        .iter()
                        .map(|&hi| format!("“{}”", headers[hi]))
                        .collect();
                    errors.push(format!(
                        "the columns {} all match the field “{}”; choose one of them for it",
                        names.join(", "),
                        fields[fi]
                    ));
                }
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let columns = fields
            .iter()
            .zip(chosen)
            .filter_map(|(f, c)| c.map(|c| ((*f).to_owned(), c)))
            .collect();
        Ok(Mapping {
            columns,
            headers: headers.to_vec(),
        })
    }

    /// The row's values for the mapped fields; empty cells are left out.
    pub fn fields(&self, row: &Row) -> Fields {
        let mut out = Fields::new();
        for (field, column) in &self.columns {
            if let Some(value) = row.cells.get(*column)
                && !value.is_empty()
            {
                out.set(field.clone(), value.clone());
            }
        }
        out
    }

    /// Headers no field reads, in table order: worth telling the user, not an error.
    pub fn unmapped_headers(&self) -> Vec<String> {
        self.headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.columns.iter().any(|(_, c)| c == i))
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// (field, header) for every mapped field, in the order of the record kind's fields.
    pub fn mapped(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .filter_map(|(f, c)| self.headers.get(*c).map(|h| (f.clone(), h.clone())))
            .collect()
    }
}

/// A header as the user typed it: exact first, then ignoring case and spacing if that is
/// unambiguous.
fn find_header(headers: &[String], wanted: &str) -> Option<usize> {
    if let Some(i) = headers.iter().position(|h| h == wanted) {
        return Some(i);
    }
    let w = normalise(wanted);
    let mut matches = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| normalise(h) == w);
    match (matches.next(), matches.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    fn csv(text: &str) -> Table {
        read_table(text.as_bytes(), Format::Csv, None).unwrap()
    }

    #[test]
    fn csv_utf8_with_and_without_bom() {
        let plain = "房屋编码, 姓名 ,电话\n990101001001001000123,张三, 13800000000 \n";
        let with_bom = format!("\u{feff}{plain}");
        for text in [plain, with_bom.as_str()] {
            let t = csv(text);
            assert_eq!(t.headers, s(&["房屋编码", "姓名", "电话"]));
            assert_eq!(t.rows.len(), 1);
            assert_eq!(t.rows[0].number, 2);
            assert_eq!(
                t.rows[0].cells,
                s(&["990101001001001000123", "张三", "13800000000"])
            );
            assert!(t.rows[0].errors.is_empty());
        }
    }

    #[test]
    fn csv_gb18030_is_decoded() {
        let text = "姓名,身份证号\r\n李四,11010519491231002X\r\n";
        let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        assert!(std::str::from_utf8(&bytes).is_err());
        let t = read_table(&bytes, Format::Csv, None).unwrap();
        assert_eq!(t.headers, s(&["姓名", "身份证号"]));
        assert_eq!(t.rows[0].cells, s(&["李四", "11010519491231002X"]));
    }

    #[test]
    fn damaged_utf8_is_not_taken_for_gbk() {
        let mut bytes = "姓名,地址\n王五,北京市朝阳区\n赵六,上海市\n"
            .as_bytes()
            .to_vec();
        bytes.push(0xFF);
        let err = read_table(&bytes, Format::Csv, None).unwrap_err();
        assert!(matches!(err, TableError::Encoding { line: 4 }), "{err}");
    }

    #[test]
    fn csv_utf16_from_unicode_text() {
        let text = "姓名\t电话\r\n张三\t138\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        assert_eq!(Format::sniff(&bytes, Some("a.txt")), Some(Format::Csv));
        let t = read_table(&bytes, Format::Csv, None).unwrap();
        assert_eq!(t.headers, s(&["姓名", "电话"]));
        assert_eq!(t.rows[0].cells, s(&["张三", "138"]));
    }

    #[test]
    fn csv_tab_separated() {
        let t = csv("姓名\t电话\n张三\t138, 1\n");
        assert_eq!(t.headers, s(&["姓名", "电话"]));
        assert_eq!(t.rows[0].cells, s(&["张三", "138, 1"]));
    }

    #[test]
    fn csv_blank_lines_are_skipped_and_numbering_follows_the_sheet() {
        let t = csv("a,b\n\n1,2\n,,\n\"x\ny\",3\n4, \n");
        let numbers: Vec<usize> = t.rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, vec![3, 5, 6]);
        assert_eq!(t.rows[1].cells, s(&["x\ny", "3"]));
        assert_eq!(t.rows[2].cells, s(&["4", ""]));
    }

    #[test]
    fn a_title_row_above_the_header_is_skipped() {
        let t = csv("XX社区实有人口登记表,,\n姓名,电话,\n张三,1,\n");
        assert_eq!(t.headers, s(&["姓名", "电话"]));
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.rows[0].number, 3);
        // With a single column there is no telling a title from the header.
        let t = csv("房屋编码\n9901\n9902\n");
        assert_eq!(t.headers, s(&["房屋编码"]));
        assert_eq!(t.rows.len(), 2);
    }

    #[test]
    fn csv_ragged_line_is_named() {
        let err = read_table(b"a,b,c\n1,2,3\n\n4,5\n", Format::Csv, None).unwrap_err();
        assert!(
            matches!(
                err,
                TableError::Ragged {
                    line: 4,
                    expected: 3,
                    found: 2
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("line 4"));
    }

    #[test]
    fn csv_duplicate_headers_are_named() {
        let err = read_table("姓名,电话, 姓名\n".as_bytes(), Format::Csv, None).unwrap_err();
        let TableError::DuplicateHeaders(d) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            d,
            &vec![DuplicateHeader {
                name: "姓名".into(),
                columns: s(&["A", "C"])
            }]
        );
        assert!(err.to_string().contains("“姓名” (columns A, C)"));
    }

    #[test]
    fn csv_empty_and_headerless() {
        for bytes in [&b""[..], b"\xEF\xBB\xBF", b" \r\n\n"] {
            let err = read_table(bytes, Format::Csv, None).unwrap_err();
            assert!(matches!(err, TableError::Empty), "{err:?}");
        }
        let err = read_table(b",,\n , ,\n", Format::Csv, None).unwrap_err();
        assert!(matches!(err, TableError::NoHeader), "{err:?}");
    }

    #[test]
    fn csv_trailing_empty_headers_and_values_beyond_them() {
        let t = csv("a,,b,,\n1,2,3,,9\n");
        assert_eq!(t.headers, s(&["a", "(column B)", "b"]));
        assert_eq!(t.rows[0].cells, s(&["1", "2", "3"]));
        assert_eq!(
            t.rows[0].errors,
            vec![CellError {
                row: 2,
                column: "(column E)".into(),
                message: BEYOND_LAST.into()
            }]
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            Format::sniff(b"PK\x03\x04rest", Some("x.csv")),
            Some(Format::Xlsx)
        );
        assert_eq!(Format::sniff(b"PK\x03\x04rest", Some("x.ods")), None);
        assert_eq!(
            Format::sniff(&[0xD0, 0xCF, 0x11, 0xE0, 0, 0], Some("x.xls")),
            None
        );
        assert_eq!(Format::sniff(b"a,b\n", Some("x.xlsx")), None);
        assert_eq!(Format::sniff(b"a,b\n", None), Some(Format::Csv));
        assert_eq!(Format::sniff(b"\x89PNG\r\n\x1a\n\0\0", None), None);
    }

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(16_383), "XFD");
    }

    #[test]
    fn numbers_as_excel_shows_them() {
        assert_eq!(number_text(12.0).text, "12");
        assert_eq!(number_text(12.5).text, "12.5");
        assert_eq!(number_text(-0.0).text, "0");
        assert_eq!(number_text(0.1 + 0.2).text, "0.3");
        assert_eq!(number_text(999_999_999_999_999.0).text, "999999999999999");
        let big = number_text(110_101_199_003_071_234.0);
        assert_eq!(big.text, "110101199003071000");
        assert!(big.error.is_some());
        assert!(number_text(f64::NAN).error.is_some());
        assert_eq!(iso_text("2024-03-01T00:00:00"), "2024-03-01");
        assert_eq!(iso_text("2024-03-01T08:30:00.000Z"), "2024-03-01 08:30:00");
    }

    fn workbook() -> Vec<u8> {
        use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
        let mut wb = Workbook::new();
        let date = XFormat::new().set_num_format("yyyy-mm-dd");
        let stamp = XFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        let ws = wb.add_worksheet();
        ws.set_name("人员").unwrap();
        // The table starts on row 2 (spreadsheet row 3) after a title and a blank row.
        ws.write_string(0, 0, "人员名单").unwrap();
        ws.write_string(2, 0, " 姓名 ").unwrap();
        ws.write_string(2, 1, "身份证号").unwrap();
        ws.write_string(2, 2, "楼层").unwrap();
        ws.write_string(2, 3, "迁入日期").unwrap();
        ws.write_string(2, 4, "面积").unwrap();
        ws.write_string(2, 5, "在住").unwrap();
        ws.write_string(3, 0, "  张三\u{3000}").unwrap();
        ws.write_string(3, 1, "11010519491231002X").unwrap();
        ws.write_number(3, 2, 12.0).unwrap();
        ws.write_datetime_with_format(3, 3, ExcelDateTime::from_ymd(2024, 3, 1).unwrap(), &date)
            .unwrap();
        ws.write_number(3, 4, 12.5).unwrap();
        ws.write_boolean(3, 5, true).unwrap();
        ws.write_string(4, 0, "李四").unwrap();
        ws.write_number(4, 1, 110_101_199_003_071_234.0).unwrap();
        let moment = ExcelDateTime::from_ymd(2024, 3, 1)
            .unwrap()
            .and_hms(8, 30, 0)
            .unwrap();
        ws.write_datetime_with_format(4, 3, moment, &stamp).unwrap();
        ws.write_string(4, 7, "多余").unwrap();
        // Row 6 (spreadsheet row 7) is left empty on purpose.
        ws.write_string(7, 0, "王五").unwrap();
        let other = wb.add_worksheet();
        other.set_name("房屋").unwrap();
        other.write_string(0, 0, "房屋编码").unwrap();
        other.write_string(1, 0, "9901").unwrap();
        wb.save_to_buffer().unwrap()
    }

    #[test]
    fn xlsx_cells_become_text() {
        let bytes = workbook();
        assert_eq!(Format::sniff(&bytes, Some("名单.xlsx")), Some(Format::Xlsx));
        let t = read_table(&bytes, Format::Xlsx, None).unwrap();
        assert_eq!(
            t.headers,
            s(&["姓名", "身份证号", "楼层", "迁入日期", "面积", "在住"])
        );
        let numbers: Vec<usize> = t.rows.iter().map(|r| r.number).collect();
        assert_eq!(numbers, vec![4, 5, 8]);
        assert_eq!(
            t.rows[0].cells,
            s(&[
                "张三",
                "11010519491231002X",
                "12",
                "2024-03-01",
                "12.5",
                "true"
            ])
        );
        assert!(t.rows[0].errors.is_empty(), "{:?}", t.rows[0].errors);

        let li = &t.rows[1];
        assert_eq!(
            li.cells,
            s(&[
                "李四",
                "110101199003071000",
                "",
                "2024-03-01 08:30:00",
                "",
                ""
            ])
        );
        assert_eq!(li.errors.len(), 2, "{:?}", li.errors);
        assert_eq!(li.errors[0].row, 5);
        assert_eq!(li.errors[0].column, "身份证号");
        assert!(
            li.errors[0]
                .message
                .contains("lost its last digits (110101199003071000)")
        );
        assert_eq!(
            li.errors[1],
            CellError {
                row: 5,
                column: "(column H)".into(),
                message: BEYOND_LAST.into()
            }
        );
        assert_eq!(t.rows[2].cells, s(&["王五", "", "", "", "", ""]));
    }

    #[test]
    fn xlsx_named_and_missing_sheets() {
        let bytes = workbook();
        let t = read_table(&bytes, Format::Xlsx, Some("房屋")).unwrap();
        assert_eq!(t.headers, s(&["房屋编码"]));
        assert_eq!(t.rows[0].cells, s(&["9901"]));
        assert_eq!(t.rows[0].number, 2);

        let err = read_table(&bytes, Format::Xlsx, Some("组织")).unwrap_err();
        let TableError::NoSuchSheet { name, sheets } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(name, "组织");
        assert_eq!(sheets, &s(&["人员", "房屋"]));
        assert!(err.to_string().contains("人员, 房屋"));
    }

    #[test]
    fn xlsx_garbage_and_empty() {
        let err = read_table(b"PK\x03\x04nonsense", Format::Xlsx, None).unwrap_err();
        assert!(matches!(err, TableError::Xlsx(_)), "{err:?}");
        let err = read_table(b"", Format::Xlsx, None).unwrap_err();
        assert!(matches!(err, TableError::Empty), "{err:?}");

        let mut wb = rust_xlsxwriter::Workbook::new();
        wb.add_worksheet();
        let empty = wb.save_to_buffer().unwrap();
        let err = read_table(&empty, Format::Xlsx, None).unwrap_err();
        assert!(matches!(err, TableError::NoHeader), "{err:?}");
    }

    const PERSON: &[&str] = &[
        "identity_number",
        "name",
        "phone",
        "tags",
        "house_code",
        "moved_in",
    ];

    #[test]
    fn chinese_headers_map_automatically() {
        let headers = s(&[
            "公民身份号码",
            "姓名",
            "联系电话",
            "备注",
            "房屋编号",
            "*迁入日期",
        ]);
        let m = Mapping::new(&headers, PERSON, &[]).unwrap();
        assert_eq!(
            m.mapped(),
            vec![
                ("identity_number".into(), "公民身份号码".into()),
                ("name".into(), "姓名".into()),
                ("phone".into(), "联系电话".into()),
                ("house_code".into(), "房屋编号".into()),
                ("moved_in".into(), "*迁入日期".into()),
            ]
        );
        assert_eq!(m.unmapped_headers(), s(&["备注"]));
        let row = Row {
            number: 2,
            cells: s(&["11010519491231002X", "张三", "", "x", "9901", "2024-03-01"]),
            errors: vec![],
        };
        let f = m.fields(&row);
        assert_eq!(f.get("name"), Some("张三"));
        assert_eq!(f.get("phone"), None);
        assert!(!f.names().any(|n| n == "phone"));
        assert_eq!(f.names().count(), 4);

        // The same header is an organisation's contact phone.
        let org = Mapping::new(&headers, &["name", "contact_phone"], &[]).unwrap();
        assert_eq!(
            org.mapped(),
            vec![
                ("name".into(), "姓名".into()),
                ("contact_phone".into(), "联系电话".into())
            ]
        );
    }

    #[test]
    fn field_names_match_ignoring_case_and_spacing() {
        let headers = s(&["House Code", "MOVED_IN"]);
        let m = Mapping::new(&headers, PERSON, &[]).unwrap();
        assert_eq!(
            m.mapped(),
            vec![
                ("house_code".into(), "House Code".into()),
                ("moved_in".into(), "MOVED_IN".into())
            ]
        );
    }

    #[test]
    fn explicit_choice_wins() {
        let headers = s(&["姓名", "昵称", "手机号"]);
        let explicit = vec![
            ("name".to_owned(), "昵称".to_owned()),
            ("phone".to_owned(), String::new()),
        ];
        let m = Mapping::new(&headers, PERSON, &explicit).unwrap();
        assert_eq!(m.mapped(), vec![("name".into(), "昵称".into())]);
        assert_eq!(m.unmapped_headers(), s(&["姓名", "手机号"]));
    }

    #[test]
    fn explicit_errors_name_what_is_wrong() {
        let headers = s(&["姓名"]);
        let explicit = vec![
            ("name".to_owned(), "名字".to_owned()),
            ("nickname".to_owned(), "姓名".to_owned()),
        ];
        let errors = Mapping::new(&headers, PERSON, &explicit).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("“名字”"), "{errors:?}");
        assert!(errors[1].contains("“nickname”"), "{errors:?}");
    }

    #[test]
    fn two_headers_on_one_field_is_an_error() {
        let headers = s(&["手机号", "电话", "姓名"]);
        let errors = Mapping::new(&headers, PERSON, &[]).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("“手机号”") && errors[0].contains("“电话”"));
        assert!(errors[0].contains("“phone”"));
        // Choosing one settles it.
        let m = Mapping::new(&headers, PERSON, &[("phone".into(), "电话".into())]).unwrap();
        assert_eq!(m.unmapped_headers(), s(&["手机号"]));
    }

    #[test]
    fn every_alias_names_a_distinct_header_per_field() {
        for (field, headers) in ALIASES {
            for h in *headers {
                let owners: Vec<&str> = ALIASES
                    .iter()
                    .filter(|(_, hs)| hs.contains(h))
                    .map(|(f, _)| *f)
                    .collect();
                assert!(
                    owners == [*field] || *h == "联系电话",
                    "{h} is claimed by {owners:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_table(&bytes, Format::Csv, None);
            let _ = read_table(&bytes, Format::Xlsx, None);
            let mut zipped = b"PK\x03\x04".to_vec();
            zipped.extend(&bytes);
            let _ = read_table(&zipped, Format::Xlsx, Some("Sheet1"));
            let _ = Format::sniff(&bytes, Some("x.csv"));
        }

        #[test]
        fn never_panics_on_a_damaged_workbook(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
        ) {
            let mut bytes = workbook();
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let _ = read_table(&bytes, Format::Xlsx, None);
        }

        #[test]
        fn text_csv_keeps_its_cells(cells in proptest::collection::vec("[a-z0-9 ,\"\n张]{0,6}", 2..6)) {
            let mut text = String::from("h0");
            for i in 1..cells.len() {
                text.push_str(&format!(",h{i}"));
            }
            text.push('\n');
            let quoted: Vec<String> = cells.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
            text.push_str(&quoted.join(","));
            text.push('\n');
            let t = read_table(text.as_bytes(), Format::Csv, None).unwrap();
            let trimmed: Vec<String> = cells.iter().map(|c| clean(c).to_owned()).collect();
            if trimmed.iter().all(String::is_empty) {
                prop_assert!(t.rows.is_empty());
            } else {
                prop_assert_eq!(&t.rows[0].cells, &trimmed);
            }
        }
    }
}
