//! Excel export of a desk's list as filtered: a real .xlsx with a bold frozen header row, an
//! autofilter and readable column widths, headed in the user's language.

use axum::response::Response;
use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, XlsxError};

use super::ConsoleUser;
use super::desks::{Desk, DeskRow, xlsx_response};
use super::i18n::catalogues;
use crate::error::ApiError;

fn beijing(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        (t + chrono::Duration::hours(8))
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_default()
}

pub fn desk_xlsx(who: &ConsoleUser, desk: Desk, rows: &[DeskRow]) -> Result<Response, ApiError> {
    let bytes = workbook(who, desk, rows).map_err(ApiError::internal)?;
    let file = format!(
        "wangge-{}-{}.xlsx",
        desk.name(),
        (Utc::now() + chrono::Duration::hours(8)).format("%Y%m%d-%H%M")
    );
    Ok(xlsx_response(bytes, &file))
}

fn workbook(who: &ConsoleUser, desk: Desk, rows: &[DeskRow]) -> Result<Vec<u8>, XlsxError> {
    let cat = catalogues();
    let t = |key: &str| cat.text(who.lang, key).to_owned();
    let label = |prefix: &str, value: &str| {
        let key = format!("{prefix}.{value}");
        if cat.has(who.lang, &key) || cat.has(super::Lang::ZhCn, &key) {
            cat.text(who.lang, &key).to_owned()
        } else {
            value.to_owned()
        }
    };
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    // Sheet names are at most 31 characters and may not contain []:*?/\
    let name: String = t(&format!("desk.title.{}", desk.name()))
        .chars()
        .filter(|c| !"[]:*?/\\".contains(*c))
        .take(31)
        .collect();
    sheet.set_name(if name.is_empty() {
        "cases".to_owned()
    } else {
        name
    })?;
    let header = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xE3F2FD))
        .set_border(FormatBorder::Thin);
    let columns: [(&str, f64); 13] = [
        ("desk.col.id", 38.0),
        ("desk.col.category", 18.0),
        ("desk.col.description", 48.0),
        ("desk.col.address", 24.0),
        ("desk.col.grid", 22.0),
        ("desk.col.source", 12.0),
        ("desk.col.state", 10.0),
        ("desk.col.unit", 20.0),
        ("desk.col.node", 8.0),
        ("desk.col.due", 17.0),
        ("desk.col.light", 8.0),
        ("desk.col.reported", 17.0),
        ("desk.col.external_id", 16.0),
    ];
    for (col, (key, width)) in columns.iter().enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, t(key), &header)?;
        sheet.set_column_width(col, *width)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = (i + 1) as u32;
        let cells = [
            r.id.clone(),
            format!("{} {}", r.category_code, r.category_name),
            r.description.clone(),
            r.address.clone().unwrap_or_default(),
            format!("{} {}", r.grid_name, r.grid_code),
            label("source", &r.source),
            label("state", &r.state),
            r.unit_name
                .clone()
                .or_else(|| r.unit_code.clone())
                .unwrap_or_default(),
            r.node
                .as_deref()
                .map(|n| label("node", n))
                .unwrap_or_default(),
            beijing(r.due_at),
            r.light.map(|l| label("light", l)).unwrap_or_default(),
            beijing(Some(r.reported_at)),
            r.external_id.clone().unwrap_or_default(),
        ];
        for (col, text) in cells.iter().enumerate() {
            sheet.write_string(row, col as u16, text)?;
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, (columns.len() - 1) as u16)?;
    book.save_to_buffer()
}
