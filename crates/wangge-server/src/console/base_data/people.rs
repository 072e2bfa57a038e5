//! 实有人口: the list with search (masked, exported masked), and a person's page — masked
//! unless a reader granted full reads states why (the read is logged before the page is made),
//! with their residence history and the forms that move them out, move them into another home
//! and correct their record. A grid worker's or community's change is a proposal.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Utc;
use minijinja::{Value, context};
use serde::Deserialize;
use wangge_domain::identity::{IdentityNumber, MobileNumber};
use wangge_domain::registry::{ChangeOp, Fields, RecordKind};
use wangge_store::registry::{PeopleFilter, PersonRow, Registry, RegistryWrite};

use super::{
    PER_PAGE, Problems, READERS, WithGrid, blank, done_text, grid_name, history, may_submit, page,
    page_no, pager, place_or_problem, posted, query_string, record_path, refusal, see_other,
};
use crate::console::{ConsoleUser, OrPage, error_page};
use crate::error::ApiError;
use crate::local_day;
use crate::registry::{
    self as reg, Outcome, Place, Reader, blind_identity, blind_phone, load_person, not_found, vault,
};
use crate::registry_api::{
    ClientAddr, PersonView, find_person, full_read_purpose, person_view, residence_views,
};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PeopleQuery {
    name: Option<String>,
    identity_number: Option<String>,
    phone: Option<String>,
    tag: Option<String>,
    address: Option<String>,
    status: Option<String>,
    floating: Option<String>,
    region: Option<String>,
    page: Option<String>,
}

impl PeopleQuery {
    fn pairs(&self) -> Vec<(&'static str, Option<String>)> {
        vec![
            ("name", blank(&self.name)),
            ("identity_number", blank(&self.identity_number)),
            ("phone", blank(&self.phone)),
            ("tag", blank(&self.tag)),
            ("address", blank(&self.address)),
            ("status", blank(&self.status)),
            ("floating", self.floating()),
            ("region", blank(&self.region)),
        ]
    }

    fn floating(&self) -> Option<String> {
        blank(&self.floating).filter(|f| f == "true" || f == "false")
    }
}

/// The identity-number part of a search, as the API reads it: the full number (by its blind
/// index), its masked form, its first digits, or its last four.
fn identity_filter(state: &AppState, f: &mut PeopleFilter, text: &str) -> Result<(), ApiError> {
    let t = text.trim().to_ascii_uppercase();
    let today = Utc::now().date_naive();
    if t.len() == 18 && !t.contains('*') {
        let n = IdentityNumber::parse(&t, today)
            .map_err(|e| ApiError::invalid_field("identity_number", e.to_string()))?;
        f.id_index = Some(blind_identity(vault(state)?, n.as_str()));
    } else if t.chars().count() == 18 && t.contains('*') {
        f.id_masked = Some(t);
    } else if (1..=4).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit() || b == b'X') {
        if t.len() == 4 {
            f.id_tail = Some(t);
        } else {
            f.id_head = Some(t);
        }
    } else {
        return Err(ApiError::invalid_field(
            "identity_number",
            "give the full 18-character number, its masked form (1101**********002X), its first 1–3 digits or its last four",
        ));
    }
    Ok(())
}

fn people_filter(
    state: &AppState,
    place: &Place,
    q: &PeopleQuery,
    page_no: i64,
) -> Result<PeopleFilter, ApiError> {
    let mut f = PeopleFilter {
        district: place.district.clone(),
        region_prefix: place.prefix.clone(),
        name: blank(&q.name),
        tag: blank(&q.tag),
        address: blank(&q.address),
        status: blank(&q.status),
        floating: q.floating().map(|f| f == "true"),
        offset: (page_no - 1) * PER_PAGE,
        limit: PER_PAGE,
        count: true,
        ..Default::default()
    };
    if let Some(t) = blank(&q.identity_number) {
        identity_filter(state, &mut f, &t)?;
    }
    if let Some(p) = blank(&q.phone) {
        if p.len() == 4 && p.bytes().all(|b| b.is_ascii_digit()) {
            f.phone_tail = Some(p);
        } else {
            let n = MobileNumber::parse(&p).map_err(|e| {
                ApiError::invalid_field("phone", format!("{e}, or give its last four digits"))
            })?;
            f.phone_index = Some(blind_phone(vault(state)?, &n));
        }
    }
    Ok(f)
}

pub(super) async fn list(
    State(state): State<AppState>,
    who: ConsoleUser,
    Query(q): Query<PeopleQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    let page_no = page_no(&q.page);
    let filters = q.pairs();
    let filter = place_or_problem(&who, blank(&q.region).as_deref()).and_then(|place| {
        people_filter(&state, &place, &q, page_no).map_err(|e| Problems::of(who.lang, &e))
    });
    let (rows, total, problems) = match filter {
        Ok(f) => {
            let (rows, total) = state.store.people(&f).await.or_page(&who)?;
            (rows, total, Problems::default())
        }
        Err(p) => (Vec::new(), Some(0), p),
    };
    let shown = rows.len();
    let rows: Vec<WithGrid<PersonView>> = rows
        .iter()
        .map(|p| WithGrid {
            grid_name: grid_name(&state, &p.grid_code),
            row: person_view(p, None),
        })
        .collect();
    let path = "/console/base/people";
    let mut export = filters.clone();
    export.insert(0, ("format", Some("xlsx".into())));
    let typed: BTreeMap<&str, Option<String>> = filters.iter().cloned().collect();
    let ctx = context! {
        rows => Value::from_serialize(&rows),
        filters => Value::from_serialize(&typed),
        statuses => super::PERSON_STATUSES,
        pager => pager(path, &filters, page_no, shown, total),
        export_href => format!("/api/v1/people?{}", query_string(&export)),
        problems => Value::from_serialize(&problems),
    };
    Ok(page(
        &state,
        &who,
        problems.status(),
        path,
        "base/people.html",
        ctx,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct DoneQuery {
    done: Option<String>,
}

/// What a person's page shows besides the record: which form failed and how, what was typed
/// in it, the flash of the last post, and the purpose of a full read.
#[derive(Debug, Default)]
struct Shown {
    form: Option<&'static str>,
    problems: Problems,
    typed: BTreeMap<String, String>,
    done: Option<String>,
    purpose: Option<String>,
}

/// The person in the reader's jurisdiction, or the page saying there is none.
async fn find(state: &AppState, who: &ConsoleUser, id: &str) -> Result<PersonRow, Response> {
    let place = Place::of(&who.user.actor, None).or_page(who)?;
    find_person(state, &place, id).await.or_page(who)
}

pub(super) async fn detail(
    State(state): State<AppState>,
    who: ConsoleUser,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, Response> {
    who.require(READERS)?;
    let p = find(&state, &who, &id).await?;
    let shown = Shown {
        done: done_text(who.lang, &q.done),
        ..Default::default()
    };
    show(&state, &who, &p, None, shown).await
}

async fn show(
    state: &AppState,
    who: &ConsoleUser,
    p: &PersonRow,
    full: Option<&Fields>,
    shown: Shown,
) -> Result<Response, Response> {
    let view = person_view(p, full);
    let rows = state
        .store
        .residences_of_person(&p.district_code, p.id)
        .await
        .or_page(who)?;
    let open_home = rows
        .iter()
        .any(|r| r.kind == "actual" && r.moved_out.is_none());
    let residences = residence_views(state, rows).await.or_page(who)?;
    let versions = history(
        state,
        RecordKind::Person,
        &p.district_code,
        &p.id.to_string(),
        false,
    )
    .await
    .or_page(who)?;
    let today = local_day::day_of(&state.calendar(), Utc::now());
    let id = p.id.to_string();
    let path = record_path(RecordKind::Person, &id);
    let changeable = may_submit(who.role()) && p.status != "anonymised";
    let typed_tags: Vec<String> = shown
        .typed
        .get("tags")
        .map(|t| t.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let ctx = context! {
        person => Value::from_serialize(&view),
        grid_name => grid_name(state, &p.grid_code),
        residences => Value::from_serialize(&residences),
        versions => Value::from_serialize(&versions),
        today => today.to_string(),
        changeable => changeable,
        open_home => open_home,
        failed_form => shown.form,
        problems => Value::from_serialize(&shown.problems),
        typed => Value::from_serialize(&shown.typed),
        typed_tags => typed_tags,
        done => shown.done,
        purpose => shown.purpose,
    };
    Ok(page(
        state,
        who,
        shown.problems.status(),
        &path,
        "base/person.html",
        ctx,
    ))
}

/// `POST /console/base/people/{id}/full`: the full record, for a purpose, logged first.
pub(super) async fn full(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(READERS)?;
    let p = find(&state, &who, &id).await?;
    let purpose = match full_read_purpose(&state, &who.user, posted.get("purpose")) {
        Ok(purpose) => purpose,
        Err(e) => {
            let shown = Shown {
                form: Some("full"),
                problems: refusal(&who, e)?,
                typed: posted.typed(),
                ..Default::default()
            };
            return show(&state, &who, &p, None, shown).await;
        }
    };
    let Some(loaded) = load_person(&state, &p.district_code, p.id)
        .await
        .or_page(&who)?
    else {
        return Err(error_page(
            who.lang,
            Some(&who),
            &not_found(RecordKind::Person, &id),
        ));
    };
    let reader = Reader::of(&who.user, client);
    // Logged before the page is made: a full read that cannot be logged is not shown.
    state
        .store
        .registry_write(&RegistryWrite {
            access: vec![reader.log(
                &p.district_code,
                "read_full",
                RecordKind::Person,
                Some(p.id.to_string()),
                Some(purpose),
            )],
            ..Default::default()
        })
        .await
        .or_page(&who)?;
    let shown = Shown {
        purpose: Some(purpose.to_owned()),
        ..Default::default()
    };
    show(&state, &who, &loaded.row, Some(&loaded.fields), shown).await
}

/// A change of a person through `registry::submit`: applied (the page shows the new record) or
/// proposed for review; a refused field shows the form again with its message.
#[allow(clippy::too_many_arguments)]
async fn change(
    state: &AppState,
    who: &ConsoleUser,
    client: Option<String>,
    p: &PersonRow,
    op: ChangeOp,
    fields: Fields,
    form: &'static str,
    typed: BTreeMap<String, String>,
) -> Result<Response, Response> {
    let id = p.id.to_string();
    let reader = Reader::of(&who.user, client);
    match reg::submit(state, &reader, RecordKind::Person, op, Some(&id), fields).await {
        Ok(Outcome::Applied { .. }) => {
            let done = match form {
                "move_out" => "moved_out",
                "move_in" => "moved_in",
                _ => "applied",
            };
            Ok(see_other(&record_path(RecordKind::Person, &id), done))
        }
        Ok(Outcome::Proposed { .. }) => {
            Ok(see_other(&record_path(RecordKind::Person, &id), "proposed"))
        }
        Err(e) => {
            let shown = Shown {
                form: Some(form),
                problems: refusal(who, e)?,
                typed,
                ..Default::default()
            };
            show(state, who, p, None, shown).await
        }
    }
}

pub(super) async fn move_out(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(READERS)?;
    let p = find(&state, &who, &id).await?;
    let fields = posted.fields(&["moved_out"], false);
    let typed = posted.typed();
    change(
        &state,
        &who,
        client,
        &p,
        ChangeOp::MoveOut,
        fields,
        "move_out",
        typed,
    )
    .await
}

pub(super) async fn move_in(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(READERS)?;
    let p = find(&state, &who, &id).await?;
    // Without a house the service would take the post for a plain update and move no one.
    for required in ["house_code", "moved_in"] {
        if posted.get(required).is_none() {
            let shown = Shown {
                form: Some("move_in"),
                problems: Problems::field(who.lang, required, "base.problem.required"),
                typed: posted.typed(),
                ..Default::default()
            };
            return show(&state, &who, &p, None, shown).await;
        }
    }
    let fields = posted.fields(
        &["house_code", "moved_in", "residence_kind", "relation"],
        false,
    );
    let typed = posted.typed();
    change(
        &state,
        &who,
        client,
        &p,
        ChangeOp::Update,
        fields,
        "move_in",
        typed,
    )
    .await
}

/// Name, phone, household and tags: a phone or household left blank stays as it is (the form
/// cannot show them, masked), the tags are the boxes ticked.
pub(super) async fn edit(
    State(state): State<AppState>,
    who: ConsoleUser,
    ClientAddr(client): ClientAddr,
    Path(id): Path<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, Response> {
    let posted = posted(&who, form)?;
    who.require(READERS)?;
    let p = find(&state, &who, &id).await?;
    let fields = posted.fields(&["name", "phone", "household", "tags"], true);
    let typed = posted.typed();
    change(
        &state,
        &who,
        client,
        &p,
        ChangeOp::Update,
        fields,
        "edit",
        typed,
    )
    .await
}
