//! `/console/base/import`: importing a department's table of houses, people, organisations or
//! components. The page is a form; its script (`base_import.js`) sends the file to the API's
//! background import (`/api/v1/import-jobs/…`, the session cookie authenticates it), shows the
//! job's progress and then its report, so a check and an import here are exactly the API's.
//! Beside it, a template CSV per kind with the headers departments use.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use wangge_domain::identity::{CreditCode, IdentityNumber};
use wangge_domain::registry::RecordKind;
use wangge_domain::role::Role;

use super::{blank, page, tr};
use crate::console::{ConsoleUser, OrPage, error_page, urlencode};
use crate::error::ApiError;
use crate::registry::Place;
use crate::registry_import::kind_fields;
use crate::state::AppState;
use crate::tabular::ALIASES;

/// Imports write the base data directly, as a reviewer's own changes do.
pub(super) const IMPORTERS: &[Role] = &[Role::Street, Role::District, Role::Admin];

/// The kinds as the API's import paths name them.
const KINDS: [(&str, RecordKind); 4] = [
    ("houses", RecordKind::House),
    ("people", RecordKind::Person),
    ("organisations", RecordKind::Organisation),
    ("components", RecordKind::Component),
];

fn parse_kind(who: &ConsoleUser, path: &str) -> Result<(&'static str, RecordKind), Response> {
    KINDS
        .iter()
        .find(|(p, _)| *p == path)
        .copied()
        .ok_or_else(|| {
            error_page(
                who.lang,
                Some(who),
                &ApiError::not_found("not_found", format!("nothing called '{path}' is imported")),
            )
        })
}

/// The header a template gives a field: the first of the names departments use for it (the
/// headers an import recognises by itself).
fn template_header(kind: RecordKind, field: &'static str) -> &'static str {
    // 姓名 is a person's; an organisation or a component has a 名称.
    if field == "name" && kind != RecordKind::Person {
        return "名称";
    }
    ALIASES
        .iter()
        .find(|(f, _)| *f == field)
        .and_then(|(_, headers)| headers.first().copied())
        .unwrap_or(field)
}

/// The districts the reader may import into, with their names.
fn districts(state: &AppState, who: &ConsoleUser) -> Vec<(String, String)> {
    let atlas = state.atlas();
    atlas
        .districts()
        .into_iter()
        .filter(|d| {
            Place::of(&who.user.actor, Some(d))
                .ok()
                .and_then(|p| p.district)
                .as_deref()
                == Some(*d)
        })
        .map(|d| {
            let name = atlas.region(d).map(|r| r.name.clone()).unwrap_or_default();
            (d.to_owned(), name)
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct FieldLine {
    name: &'static str,
    header: &'static str,
}

#[derive(Debug, Serialize)]
struct KindLine {
    path: &'static str,
    title: String,
    list_href: String,
    template_href: String,
    fields: Vec<FieldLine>,
}

#[derive(Debug, Serialize)]
struct DistrictLine {
    code: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct ImportQuery {
    kind: Option<String>,
}

pub(super) async fn form(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<ImportQuery>,
) -> Result<Response, Response> {
    who.require(IMPORTERS)?;
    let chosen = blank(&q.kind)
        .filter(|k| KINDS.iter().any(|(p, _)| p == k))
        .unwrap_or_else(|| "people".to_owned());
    let kinds: Vec<KindLine> = KINDS
        .iter()
        .map(|(path, kind)| KindLine {
            path,
            title: tr(who.lang, &format!("base.tab.{path}"), &[]),
            list_href: format!("/console/base/{path}"),
            template_href: format!("/console/base/import/template/{path}"),
            fields: kind_fields(*kind)
                .into_iter()
                .map(|name| FieldLine {
                    name,
                    header: template_header(*kind, name),
                })
                .collect(),
        })
        .collect();
    let districts: Vec<DistrictLine> = districts(&state, &who)
        .into_iter()
        .map(|(code, name)| DistrictLine { code, name })
        .collect();
    let ctx = context! {
        kinds => minijinja::Value::from_serialize(&kinds),
        kind => chosen,
        districts => minijinja::Value::from_serialize(&districts),
        max_bytes => crate::registry_api::MAX_IMPORT_BYTES,
        max_mb => crate::registry_api::MAX_IMPORT_BYTES / (1024 * 1024),
    };
    Ok(page(
        &state,
        &who,
        StatusCode::OK,
        "/console/base/import",
        "base/import.html",
        ctx,
    ))
}

/// A value of the template's example row: made up, but each one passes its field's check, so
/// the row shows the form every column expects.
fn example(kind: RecordKind, field: &str, district: &str) -> String {
    let text = match field {
        "house_code" => "H-0001-0501",
        "province" => "广东省",
        "city" => "深圳市",
        "district" => "示例区",
        "street" => "示例街道",
        "community" => "示例社区",
        "road" => "和平路",
        "number" => "12号",
        "building" => "3栋",
        "unit" => "1单元",
        "floor" => "5",
        "room" => "501",
        "use" => "出租屋",
        "lon" => "114.057868",
        "lat" => "22.543099",
        "area_m2" => "68.5",
        "identity_number" => return identity_example(),
        "name" if kind == RecordKind::Person => "张三",
        "name" if kind == RecordKind::Organisation => "示例便利店",
        "name" => "井盖",
        "phone" => "13800138000",
        "tags" => "elderly",
        "household" => "HH-0001",
        "residence_kind" => "实际居住",
        "moved_in" => "2024-01-01",
        "relation" => "户主",
        "credit_code" => return credit_example(),
        "org_kind" => "个体工商户",
        "responsible_person" => "李四",
        "contact_phone" => "13900139000",
        "component_code" => return format!("{district}01001000001"),
        "status" => "完好",
        _ => "",
    };
    text.to_owned()
}

/// GB 11643's own example number.
fn identity_example() -> String {
    let first17 = "11010519491231002";
    format!("{first17}{}", IdentityNumber::check_char(first17))
}

fn credit_example() -> String {
    let first17 = "91110108MA01A2B3C";
    format!("{first17}{}", CreditCode::check_char(first17))
}

/// `GET /console/base/import/template/{kind}`: a CSV with the kind's columns under the headers
/// departments use and one example row; UTF-8 with a BOM, which Excel needs to read Chinese.
pub(super) async fn template(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(kind): Path<String>,
) -> Result<Response, Response> {
    who.require(IMPORTERS)?;
    let (path, kind) = parse_kind(&who, &kind)?;
    let district = districts(&state, &who)
        .into_iter()
        .next()
        .map(|(code, _)| code)
        .unwrap_or_else(|| "440303".to_owned());
    let fields = kind_fields(kind);
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    out.write_record(fields.iter().map(|f| template_header(kind, f)))
        .map_err(ApiError::internal)
        .or_page(&who)?;
    out.write_record(fields.iter().map(|f| example(kind, f, &district)))
        .map_err(ApiError::internal)
        .or_page(&who)?;
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::internal(e.into_error()))
        .or_page(&who)?;
    let title = tr(who.lang, &format!("base.tab.{path}"), &[]);
    let disposition = format!(
        "attachment; filename=\"{path}-template.csv\"; filename*=UTF-8''{}",
        urlencode(&format!("{title}-{path}-template.csv"))
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tabular::Mapping;

    /// A template read back maps every column to its own field, by itself.
    #[test]
    fn a_templates_headers_map_back_to_their_fields() {
        for (_, kind) in KINDS {
            let fields = kind_fields(kind);
            let headers: Vec<String> = fields
                .iter()
                .map(|f| template_header(kind, f).to_owned())
                .collect();
            let mapping =
                Mapping::new(&headers, &fields, &[]).unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
            let mapped: Vec<String> = mapping.mapped().into_iter().map(|(f, _)| f).collect();
            assert_eq!(mapped, fields, "{kind:?}");
            assert!(
                headers.iter().all(|h| !h.is_ascii()),
                "{kind:?}: every header is a department's word: {headers:?}"
            );
        }
    }

    #[test]
    fn the_example_numbers_pass_their_checks() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert!(IdentityNumber::parse(&identity_example(), today).is_ok());
        assert!(CreditCode::parse(&credit_example()).is_ok());
    }
}
