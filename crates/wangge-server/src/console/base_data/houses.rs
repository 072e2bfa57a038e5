//! 实有房屋: the list with search and export, and a house's page — its address, its place on a
//! map, who lives there today or lived there on a past day, the organisations in it, and its
//! history.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use wangge_domain::registry::{RecordKind, as_of};
use wangge_store::registry::{RecordFilter, Registry};

use super::{
    PER_PAGE, Problems, READERS, WithGrid, blank, done_text, grid_name, history, page, page_no,
    pager, place_or_problem, query_string,
};
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::local_day;
use crate::registry::{Place, candidate_districts, not_found};
use crate::registry_api::{house_view, organisation_view, person_view, versions_of};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct HouseQuery {
    q: Option<String>,
    class: Option<String>,
    region: Option<String>,
    page: Option<String>,
}

#[derive(Debug, Serialize)]
struct HouseRowView {
    house_code: String,
    address: String,
    use_kind: String,
    grid_code: String,
}

pub(super) async fn list(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<HouseQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    let page_no = page_no(&q.page);
    let filters = [
        ("q", blank(&q.q)),
        ("class", blank(&q.class)),
        ("region", blank(&q.region)),
    ];
    let (rows, total, problems) = match place_or_problem(&who, blank(&q.region).as_deref()) {
        Ok(place) => {
            let f = RecordFilter {
                district: place.district.clone(),
                region_prefix: place.prefix.clone(),
                q: blank(&q.q),
                class: blank(&q.class),
                offset: (page_no - 1) * PER_PAGE,
                limit: PER_PAGE,
                count: true,
                ..Default::default()
            };
            let (rows, total) = state.store.houses(&f).await.or_page(&who)?;
            (rows, total, Problems::default())
        }
        Err(p) => (Vec::new(), Some(0), p),
    };
    let shown = rows.len();
    let rows: Vec<WithGrid<HouseRowView>> = rows
        .into_iter()
        .map(|r| WithGrid {
            grid_name: grid_name(&state, &r.grid_code),
            row: HouseRowView {
                house_code: r.house_code,
                address: r.address,
                use_kind: r.use_kind,
                grid_code: r.grid_code,
            },
        })
        .collect();
    let path = "/console/base/houses";
    let mut export = filters.to_vec();
    export.insert(0, ("format", Some("xlsx".into())));
    let ctx = context! {
        rows => Value::from_serialize(&rows),
        filters => context! { q => blank(&q.q), class => blank(&q.class), region => blank(&q.region) },
        uses => wangge_domain::registry::HouseUse::ALL.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        pager => pager(path, &filters, page_no, shown, total),
        export_href => format!("/api/v1/houses?{}", query_string(&export)),
        problems => Value::from_serialize(&problems),
    };
    Ok(page(
        &state,
        &who,
        problems.status(),
        path,
        "base/houses.html",
        ctx,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct AsOfQuery {
    as_of: Option<String>,
    done: Option<String>,
}

/// The parts of a house's address in the order an address is said, then its area.
const PARTS: [&str; 12] = [
    "province",
    "city",
    "district",
    "street",
    "community",
    "road",
    "number",
    "building",
    "unit",
    "floor",
    "room",
    "area_m2",
];

/// One line of a record's fields: the field's name and its value.
#[derive(Debug, Serialize)]
struct Part {
    field: &'static str,
    value: String,
}

pub(super) async fn detail(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(code): Path<String>,
    Query(q): Query<AsOfQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    let place = Place::of(&who.user.actor, None).or_page(&who)?;
    let code = code.trim().to_ascii_uppercase();
    let mut found = None;
    for d in candidate_districts(&state, &place, Some(&code)) {
        if let Some(h) = state.store.house(&d, &code).await.or_page(&who)? {
            found = Some(h);
            break;
        }
    }
    let house = match found {
        Some(h) if place.contains(&h.grid_code) => h,
        _ => {
            return Err(error_page(
                who.lang,
                Some(&who),
                &not_found(RecordKind::House, &code),
            ));
        }
    };
    let cal = state.calendar();
    let today = local_day::day_of(&cal, Utc::now());
    let mut problems = Problems::default();
    let asked = match blank(&q.as_of) {
        Some(t) => match local_day::parse_day("as_of", &t) {
            Ok(d) if d <= today => Some(d),
            Ok(_) | Err(_) => {
                problems = Problems::field(who.lang, "as_of", "base.problem.as_of");
                None
            }
        },
        None => None,
    };
    let day = asked.unwrap_or(today);
    let district = house.district_code.clone();
    let view = house_view(house.clone());
    // On a past day the house is shown as it was then (an address corrected since shows the old
    // one); before it was registered, as it is now, saying so.
    let mut fields = serde_json::from_value::<wangge_domain::registry::Fields>(view.fields.clone())
        .unwrap_or_default();
    let mut not_yet = false;
    if let Some(d) = asked {
        let versions = versions_of(&state, RecordKind::House, &district, &code)
            .await
            .or_page(&who)?;
        match as_of(&versions, local_day::day_end(&cal, d)) {
            Some(v) => fields = v.fields.clone().unwrap_or_default(),
            None => not_yet = true,
        }
    }
    let parts: Vec<Part> = PARTS
        .iter()
        .filter_map(|name| {
            fields.get(name).map(|v| Part {
                field: name,
                value: v.to_owned(),
            })
        })
        .collect();
    // Residences are dated by when people moved, not by when the house was entered: who lived
    // there on a day before the registration is still known.
    let stays = state
        .store
        .residences_of_house(&district, &code)
        .await
        .or_page(&who)?;
    let mut residents = Vec::new();
    for s in stays
        .iter()
        .filter(|s| s.kind == "actual" && s.moved_in <= day && s.moved_out.is_none_or(|o| day < o))
    {
        if let Some(p) = state
            .store
            .person(&district, s.person_id)
            .await
            .or_page(&who)?
        {
            let mut v = person_view(&p, None);
            v.relation = s.relation.clone();
            residents.push(context! {
                person => Value::from_serialize(&v),
                moved_in => s.moved_in.to_string(),
            });
        }
    }
    let (orgs, _) = state
        .store
        .organisations(&RecordFilter {
            district: Some(district.clone()),
            house_code: Some(code.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .or_page(&who)?;
    let orgs: Vec<_> = orgs
        .into_iter()
        .filter(|o| place.contains(&o.grid_code))
        .map(|o| organisation_view(o, None))
        .collect();
    let versions = history(&state, RecordKind::House, &district, &code, true)
        .await
        .or_page(&who)?;
    let path = format!("/console/base/houses/{}", crate::console::urlencode(&code));
    let ctx = context! {
        house => Value::from_serialize(&view),
        grid_name => grid_name(&state, &view.grid_code),
        use_kind => fields.get("use").unwrap_or(&view.use_kind).to_owned(),
        parts => Value::from_serialize(&parts),
        residents => residents,
        organisations => Value::from_serialize(&orgs),
        versions => Value::from_serialize(&versions),
        as_of => asked.map(|d| d.to_string()),
        today => today.to_string(),
        not_yet => not_yet,
        problems => Value::from_serialize(&problems),
        done => done_text(who.lang, &q.done),
    };
    let status = if problems.message.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(page(&state, &who, status, &path, "base/house.html", ctx))
}
