//! Statistics reports as Excel workbooks: one sheet per table, headed in the reader's language,
//! counts and rates as numbers (so Excel can sum and chart them), codes and names as text.

use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, XlsxError};

use super::Lang;
use super::i18n::catalogues;

/// Columns that are labels, never numbers: a code like 09009 must keep its leading zero.
const TEXT_COLUMNS: &[&str] = &[
    "unit",
    "unit_name",
    "code",
    "name",
    "level",
    "username",
    "display_name",
    "role",
    "region_code",
    // The hotline outcome export (`hotline.rs`): numbers that are names, not quantities.
    "工单编号 ticket_no",
    "小类 category",
    "网格 grid",
    "案件 case_id",
];

/// A table for download: `csv` as written (UTF-8 with a BOM, so Excel reads the Chinese), or any
/// other format as a one-sheet workbook headed in `lang`. The file is `{file}.{csv|xlsx}`.
pub fn download(
    format: &str,
    file: &str,
    sheet: &str,
    csv_bytes: Vec<u8>,
    lang: Lang,
) -> Result<axum::response::Response, crate::error::ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    if format == "csv" {
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(csv_bytes);
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{file}.csv\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            body,
        )
            .into_response());
    }
    let bytes = workbook(lang, &[(sheet, csv_bytes)]).map_err(crate::error::ApiError::internal)?;
    Ok(super::desks::xlsx_response(bytes, &format!("{file}.xlsx")))
}

/// A workbook of `sheets`: (sheet key, the table as CSV with a header of indicator names).
pub fn workbook(lang: Lang, sheets: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, String> {
    build(lang, sheets).map_err(|e| e.to_string())
}

fn build(lang: Lang, sheets: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, XlsxError> {
    let cat = catalogues();
    let text = |key: &str, fallback: &str| {
        if cat.has(lang, key) || cat.has(Lang::ZhCn, key) {
            cat.text(lang, key).to_owned()
        } else {
            fallback.to_owned()
        }
    };
    let header = Format::new()
        .set_bold()
        .set_text_wrap()
        .set_background_color(Color::RGB(0xE3F2FD))
        .set_border(FormatBorder::Thin);
    let mut book = Workbook::new();
    for (key, csv_bytes) in sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(text(&format!("stats.sheet.{key}"), key))?;
        let mut reader = csv::Reader::from_reader(csv_bytes.as_slice());
        let names: Vec<String> = reader
            .headers()
            .map(|h| h.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        for (col, name) in names.iter().enumerate() {
            let col = col as u16;
            sheet.write_string_with_format(
                0,
                col,
                text(&format!("stats.col.{name}"), name),
                &header,
            )?;
            sheet.set_column_width(
                col,
                if TEXT_COLUMNS.contains(&name.as_str()) {
                    20.0
                } else {
                    12.0
                },
            )?;
        }
        sheet.set_row_height(0, 32)?;
        let mut rows = 0u32;
        for record in reader.records().flatten() {
            rows += 1;
            for (col, value) in record.iter().enumerate() {
                let is_text = names
                    .get(col)
                    .is_some_and(|n| TEXT_COLUMNS.contains(&n.as_str()));
                match value.parse::<f64>() {
                    Ok(n) if !is_text => sheet.write_number(rows, col as u16, n)?,
                    _ if value.is_empty() => sheet,
                    _ => sheet.write_string(rows, col as u16, value)?,
                };
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        if !names.is_empty() {
            sheet.autofilter(0, 0, rows, (names.len() - 1) as u16)?;
        }
    }
    book.save_to_buffer()
}
