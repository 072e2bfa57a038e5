//! 实有法人 and 城市部件: their lists (the components' with a map of the page's components
//! coloured by status) and their pages. An organisation's contact phone is masked unless a
//! reader granted full reads states why; a handling unit sees the components it answers for.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::registry::{ComponentCode, RecordKind};
use wangge_domain::role::Role;
use wangge_store::registry::{OrganisationRow, RecordFilter, Registry, RegistryWrite};

use super::{
    ORG_KINDS, PER_PAGE, Problems, READERS, WithGrid, blank, done_text, grid_name, history, page,
    page_no, pager, place_or_problem, posted, query_string, record_path, refusal,
};
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::error::ApiError;
use crate::registry::{Place, Reader, candidate_districts, fields_of, not_found};
use crate::registry_api::{
    ClientAddr, ComponentView, OrganisationView, component_view, full_read_purpose,
    organisation_view,
};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    q: Option<String>,
    class: Option<String>,
    category: Option<String>,
    region: Option<String>,
    page: Option<String>,
    done: Option<String>,
}

impl ListQuery {
    fn pairs(&self, category: bool) -> Vec<(&'static str, Option<String>)> {
        let mut pairs = vec![
            ("q", blank(&self.q)),
            ("class", blank(&self.class)),
            ("region", blank(&self.region)),
        ];
        if category {
            pairs.push(("category", blank(&self.category)));
        }
        pairs
    }

    fn filter(&self, place: &Place, page_no: i64) -> RecordFilter {
        RecordFilter {
            district: place.district.clone(),
            region_prefix: place.prefix.clone(),
            q: blank(&self.q),
            class: blank(&self.class),
            category: blank(&self.category),
            offset: (page_no - 1) * PER_PAGE,
            limit: PER_PAGE,
            count: true,
            ..Default::default()
        }
    }
}

fn typed(pairs: &[(&'static str, Option<String>)]) -> Value {
    let map: std::collections::BTreeMap<&str, Option<String>> = pairs.iter().cloned().collect();
    Value::from_serialize(&map)
}

// ---------------------------------------------------------------- organisations

pub(super) async fn organisations(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    let page_no = page_no(&q.page);
    let filters = q.pairs(false);
    let (rows, total, problems) = match place_or_problem(&who, blank(&q.region).as_deref()) {
        Ok(place) => {
            let (rows, total) = state
                .store
                .organisations(&q.filter(&place, page_no))
                .await
                .or_page(&who)?;
            (rows, total, Problems::default())
        }
        Err(p) => (Vec::new(), Some(0), p),
    };
    let shown = rows.len();
    let rows: Vec<WithGrid<OrganisationView>> = rows
        .into_iter()
        .map(|o| WithGrid {
            grid_name: grid_name(&state, &o.grid_code),
            row: organisation_view(o, None),
        })
        .collect();
    let path = "/console/base/organisations";
    let mut export = filters.clone();
    export.insert(0, ("format", Some("xlsx".into())));
    let ctx = context! {
        rows => Value::from_serialize(&rows),
        filters => typed(&filters),
        kinds => ORG_KINDS,
        pager => pager(path, &filters, page_no, shown, total),
        export_href => format!("/api/v1/organisations?{}", query_string(&export)),
        problems => Value::from_serialize(&problems),
    };
    Ok(page(
        &state,
        &who,
        problems.status(),
        path,
        "base/organisations.html",
        ctx,
    ))
}

/// The organisation in the reader's jurisdiction, or the page saying there is none.
async fn find_organisation(
    state: &AppState,
    who: &ConsoleUser,
    code: &str,
) -> Result<OrganisationRow, Response> {
    let place = Place::of(&who.user.actor, None).or_page(who)?;
    for d in candidate_districts(state, &place, Some(code)) {
        if let Some(o) = state.store.organisation(&d, code).await.or_page(who)? {
            if place.contains(&o.grid_code) {
                return Ok(o);
            }
            break;
        }
    }
    Err(error_page(
        who.lang,
        Some(who),
        &not_found(RecordKind::Organisation, code),
    ))
}

pub(super) async fn organisation(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(code): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    let code = code.trim().to_ascii_uppercase();
    let o = find_organisation(&state, &who, &code).await?;
    let done = done_text(who.lang, &q.done);
    show_organisation(&state, &who, o, None, Problems::default(), done).await
}

async fn show_organisation(
    state: &AppState,
    who: &ConsoleUser,
    o: OrganisationRow,
    full: Option<(&wangge_domain::registry::Fields, &str)>,
    problems: Problems,
    done: Option<String>,
) -> Result<Response, Response> {
    let district = o.district_code.clone();
    let code = o.credit_code.clone();
    let house = match &o.house_code {
        Some(h) => state
            .store
            .house(&district, h)
            .await
            .or_page(who)?
            .map(|h| h.address),
        None => None,
    };
    let view = organisation_view(o, full.map(|(f, _)| f));
    let versions = history(state, RecordKind::Organisation, &district, &code, true)
        .await
        .or_page(who)?;
    let path = record_path(RecordKind::Organisation, &code);
    let ctx = context! {
        org => Value::from_serialize(&view),
        full => full.is_some(),
        purpose => full.map(|(_, p)| p.to_owned()),
        house_address => house,
        grid_name => grid_name(state, &view.grid_code),
        versions => Value::from_serialize(&versions),
        problems => Value::from_serialize(&problems),
        done => done,
    };
    Ok(page(
        state,
        who,
        problems.status(),
        &path,
        "base/organisation.html",
        ctx,
    ))
}

/// `POST /console/base/organisations/{code}/full`: the contact phone in full, for a purpose,
/// logged first.
pub(super) async fn organisation_full(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(code): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(READERS)?;
    let code = code.trim().to_ascii_uppercase();
    let o = find_organisation(&state, &who, &code).await?;
    let purpose = match full_read_purpose(&state, &who.user, posted.get("purpose")) {
        Ok(p) => p,
        Err(e) => {
            let problems = refusal(&who, e)?;
            return show_organisation(&state, &who, o, None, problems, None).await;
        }
    };
    let fields = fields_of(&state, RecordKind::Organisation, &code, &o.body).or_page(&who)?;
    let reader = Reader::of(&who.user, client);
    state
        .store
        .registry_write(&RegistryWrite {
            access: vec![reader.log(
                &o.district_code,
                "read_full",
                RecordKind::Organisation,
                Some(code.clone()),
                Some(purpose),
            )],
            ..Default::default()
        })
        .await
        .or_page(&who)?;
    show_organisation(
        &state,
        &who,
        o,
        Some((&fields, purpose)),
        Problems::default(),
        None,
    )
    .await
}

// ---------------------------------------------------------------- components

/// The place and unit of a component list: a handling unit sees the components it answers for,
/// wherever they are.
fn component_place(
    who: &ConsoleUser,
    region: Option<&str>,
) -> Result<(Place, Option<String>), ApiError> {
    if who.role() == Role::UnitUser {
        let unit = who
            .user
            .actor
            .unit
            .clone()
            .unwrap_or_else(|| "-".to_owned());
        let anywhere = wangge_domain::case_loop::Actor {
            region: None,
            ..who.user.actor.clone()
        };
        return Ok((Place::of(&anywhere, region)?, Some(unit)));
    }
    Ok((Place::of(&who.user.actor, region)?, None))
}

/// A component as the map draws it.
#[derive(Debug, Serialize)]
struct Marker {
    code: String,
    name: Option<String>,
    lon: f64,
    lat: f64,
    status: String,
    label: String,
    href: String,
}

/// The component subcategories of the catalogue, for the list's filter.
fn component_categories(state: &AppState) -> Vec<Value> {
    let reference = state.reference();
    let mut cats: Vec<_> = reference
        .categories()
        .filter(|c| c.kind == "component")
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    cats.sort();
    cats.into_iter()
        .map(|(code, name)| context! { code => code, name => name })
        .collect()
}

pub(super) async fn components(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let page_no = page_no(&q.page);
    let filters = q.pairs(true);
    let scope =
        component_place(&who, blank(&q.region).as_deref()).map_err(|e| Problems::of(who.lang, &e));
    let (rows, total, problems) = match scope {
        Ok((place, unit)) => {
            let mut f = q.filter(&place, page_no);
            if unit.is_some() {
                f.unit = unit;
            }
            let (rows, total) = state.store.components(&f).await.or_page(&who)?;
            (rows, total, Problems::default())
        }
        Err(p) => (Vec::new(), Some(0), p),
    };
    let shown = rows.len();
    let views: Vec<ComponentView> = rows
        .into_iter()
        .map(|c| component_view(&state, c))
        .collect();
    let catalogues = crate::console::i18n::catalogues();
    let markers: Vec<Marker> = views
        .iter()
        .map(|c| Marker {
            code: c.component_code.clone(),
            name: c.name.clone().or_else(|| c.category_name.clone()),
            lon: c.lon,
            lat: c.lat,
            status: c.status.clone(),
            label: catalogues
                .text(who.lang, &format!("base.status.{}", c.status))
                .to_owned(),
            href: record_path(RecordKind::Component, &c.component_code),
        })
        .collect();
    let rows: Vec<WithGrid<ComponentView>> = views
        .into_iter()
        .map(|c| WithGrid {
            grid_name: grid_name(&state, &c.grid_code),
            row: c,
        })
        .collect();
    let path = "/console/base/components";
    let mut export = filters.clone();
    export.insert(0, ("format", Some("xlsx".into())));
    let ctx = context! {
        rows => Value::from_serialize(&rows),
        markers => Value::from_serialize(&markers),
        filters => typed(&filters),
        statuses => super::COMPONENT_STATUSES,
        categories => component_categories(&state),
        pager => pager(path, &filters, page_no, shown, total),
        export_href => format!("/api/v1/components?{}", query_string(&export)),
        problems => Value::from_serialize(&problems),
    };
    Ok(page(
        &state,
        &who,
        problems.status(),
        path,
        "base/components.html",
        ctx,
    ))
}

pub(super) async fn component(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(code): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Response> {
    let (place, unit) = component_place(&who, None).or_page(&who)?;
    let missing = || {
        error_page(
            who.lang,
            Some(&who),
            &not_found(RecordKind::Component, &code),
        )
    };
    let key = ComponentCode::parse(&code)
        .map(|c| c.as_str().to_owned())
        .map_err(|_| missing())?;
    let mut found = None;
    for d in candidate_districts(&state, &place, Some(&key)) {
        if let Some(c) = state.store.component(&d, &key).await.or_page(&who)? {
            let visible = place.contains(&c.grid_code)
                && unit
                    .as_ref()
                    .is_none_or(|u| c.responsible_unit.as_ref() == Some(u));
            if visible {
                found = Some(c);
            }
            break;
        }
    }
    let Some(c) = found else {
        return Err(missing());
    };
    let district = c.district_code.clone();
    let view = component_view(&state, c);
    let reference = state.reference();
    let unit_name = |u: &Option<String>| {
        u.as_deref()
            .and_then(|u| reference.unit(u))
            .map(|u| u.name.clone())
    };
    let units = context! {
        owner_unit => unit_name(&view.owner_unit),
        maintenance_unit => unit_name(&view.maintenance_unit),
        responsible_unit => unit_name(&view.responsible_unit),
    };
    let attributes: Vec<(String, String)> = match &view.attributes {
        Some(serde_json::Value::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
        _ => Vec::new(),
    };
    let versions = history(&state, RecordKind::Component, &district, &key, true)
        .await
        .or_page(&who)?;
    let path = record_path(RecordKind::Component, &key);
    let ctx = context! {
        component => Value::from_serialize(&view),
        grid_name => grid_name(&state, &view.grid_code),
        unit_names => units,
        attributes => attributes,
        versions => Value::from_serialize(&versions),
        done => done_text(who.lang, &q.done),
    };
    Ok(page(
        &state,
        &who,
        axum::http::StatusCode::OK,
        &path,
        "base/component.html",
        ctx,
    ))
}
