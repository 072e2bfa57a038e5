//! The registered base data as an application service: who may see and change which records,
//! how a record's fields become stored rows (the grid resolved from the position, personal
//! fields sealed, masked forms and blind indexes beside them), and how a proposed change is
//! reviewed and applied with a new version of the record — all in one transaction.
//!
//! Invariants:
//! - every read and write is scoped by the caller's jurisdiction (a grid code prefix); a record
//!   outside it answers "not found", so its existence does not leak;
//! - identity numbers and phones leave the server masked unless the caller's role is granted
//!   full reads and states a purpose, and every full read or export writes an access-log line
//!   in the same transaction as nothing else: the log is written before the answer is sent;
//! - people and organisations are stored sealed; nothing personal is stored in clear except the
//!   name (searched) and masked numbers.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use uuid::Uuid;
use wangge_domain::case_loop::Actor;
use wangge_domain::identity::MobileNumber;
use wangge_domain::registry::{
    Change, ChangeOp, ChangeState, Component, FieldErrors, Fields, House, Organisation, Person,
    RecordKind, Residence, ResidenceKind, Stay,
};
use wangge_domain::role::Role;
use wangge_store::registry::{
    AccessRow, ChangeRow, ComponentRow, HouseRow, OrganisationRow, PersonRow, Put, Registry,
    RegistryWrite, ResidenceRow, VersionRow,
};
use wangge_store::vault::Vault;

use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a district sets about its base data (`--base-data FILE`, JSON; every key optional).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BaseDataSettings {
    /// The tags a person may carry.
    pub tags: Vec<String>,
    /// Roles that may read identity numbers and phones in full, for a stated purpose.
    pub full_read_roles: Vec<String>,
    /// People who moved away longer ago than this may be anonymised.
    pub retention_days: u32,
}

impl Default for BaseDataSettings {
    fn default() -> Self {
        BaseDataSettings {
            tags: wangge_domain::registry::PersonSettings::default().tags,
            full_read_roles: ["community", "street", "district"]
                .map(String::from)
                .to_vec(),
            retention_days: 730,
        }
    }
}

impl BaseDataSettings {
    pub fn from_json(text: &str) -> Result<Self, String> {
        let s: BaseDataSettings = serde_json::from_str(text).map_err(|e| e.to_string())?;
        for (i, r) in s.full_read_roles.iter().enumerate() {
            if r.parse::<Role>().is_err() {
                return Err(format!("full_read_roles[{i}]: '{r}' is not a role"));
            }
        }
        for (i, t) in s.tags.iter().enumerate() {
            if t.is_empty() || t.len() > 40 || t.contains([',', '，', '、', ';', '|']) {
                return Err(format!(
                    "tags[{i}]: a tag is 1–40 characters without separators, not '{t}'"
                ));
            }
        }
        if !(1..=36_500).contains(&s.retention_days) {
            return Err(format!(
                "retention_days: expected 1 to 36500 days, not {}",
                s.retention_days
            ));
        }
        Ok(s)
    }

    pub fn person_settings(&self) -> wangge_domain::registry::PersonSettings {
        wangge_domain::registry::PersonSettings {
            tags: self.tags.clone(),
        }
    }

    pub fn may_read_full(&self, role: Role) -> bool {
        self.full_read_roles.iter().any(|r| r == role.as_str())
    }
}

/// Who asks and from where: the access log records both.
#[derive(Debug, Clone)]
pub struct Reader {
    pub user_id: Option<Uuid>,
    pub username: String,
    pub actor: Actor,
    pub client: Option<String>,
}

impl Reader {
    pub fn of(user: &CurrentUser, client: Option<String>) -> Reader {
        Reader {
            user_id: Some(user.user_id),
            username: user.username.clone(),
            actor: user.actor.clone(),
            client,
        }
    }

    /// The access-log line of this reader doing `action` on a record (or a list).
    pub fn log(
        &self,
        district: &str,
        action: &str,
        kind: RecordKind,
        key: Option<String>,
        purpose: Option<&str>,
    ) -> AccessRow {
        AccessRow {
            district_code: district.to_owned(),
            id: wangge_domain::new_id(),
            at: Utc::now(),
            user_id: self.user_id,
            username: self.username.clone(),
            role: self.actor.role.as_str().to_owned(),
            action: action.to_owned(),
            kind: kind.as_str().to_owned(),
            record_key: key,
            purpose: purpose.map(str::to_owned),
            client: self.client.clone(),
        }
    }
}

/// The part of the city a reader sees: a grid-code prefix (and the district it lies in), or
/// everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub district: Option<String>,
    pub prefix: Option<String>,
}

/// A prefix no grid code has: a request narrowed outside the reader's jurisdiction sees nothing.
const NOWHERE: &str = "-";

impl Place {
    /// The reader's jurisdiction, narrowed to `asked` when it lies inside it. Unit users see no
    /// registry but the components they answer for (handled by the caller).
    pub fn of(actor: &Actor, asked: Option<&str>) -> ApiResult<Place> {
        if let Some(r) = asked
            && (r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(ApiError::invalid_field(
                "region",
                "region must be a region code (digits only)",
            ));
        }
        let prefix = match (actor.region.as_deref(), asked) {
            (Some(mine), Some(asked)) if asked.starts_with(mine) => Some(asked.to_owned()),
            (Some(mine), Some(asked)) if mine.starts_with(asked) => Some(mine.to_owned()),
            (Some(_), Some(_)) => Some(NOWHERE.to_owned()),
            (Some(mine), None) => Some(mine.to_owned()),
            (None, asked) => asked.map(str::to_owned),
        };
        let district = prefix
            .as_deref()
            .filter(|p| p.len() >= 6)
            .map(|p| p[..6].to_owned());
        Ok(Place { district, prefix })
    }

    pub fn contains(&self, grid_code: &str) -> bool {
        self.prefix
            .as_deref()
            .is_none_or(|p| grid_code.starts_with(p))
    }
}

/// The district a grid (or any region code of district level or below) lies in.
pub fn district_of(code: &str) -> &str {
    code.get(..6).unwrap_or(code)
}

/// Records of the registry are for the region roles; unit users see only components.
pub fn require_registry_reader(actor: &Actor, kind: RecordKind) -> ApiResult<()> {
    if actor.role == Role::UnitUser && kind != RecordKind::Component {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "handling units see the components they answer for, not the base data of people and houses",
        ));
    }
    Ok(())
}

pub fn vault(state: &AppState) -> ApiResult<&Arc<Vault>> {
    state.config.vault.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_data_key",
            "personal data is stored encrypted and this server was started without a data key: set WANGGE_DATA_KEY (or --data-key) to 64 hex characters",
        )
    })
}

/// All the bad fields of one record as a 422, each named.
pub fn invalid(errors: FieldErrors) -> ApiError {
    let first = errors
        .0
        .first()
        .map(|e| e.field.clone())
        .unwrap_or_default();
    let fields: Vec<serde_json::Value> = errors
        .0
        .iter()
        .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
        .collect();
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
        errors.to_string(),
    )
    .with_details(serde_json::json!({"field": first, "errors": fields}))
}

fn field_error(field: &str, message: impl Into<String>) -> FieldErrors {
    FieldErrors(vec![wangge_domain::registry::FieldError {
        field: field.to_owned(),
        message: message.into(),
    }])
}

fn outside(field: &str, grid: &str) -> FieldErrors {
    field_error(
        field,
        format!("grid {grid} is outside your jurisdiction: you cannot register records there"),
    )
}

/// The sealed form of a record's fields, bound to the record so it opens nowhere else.
fn seal_fields(vault: &Vault, kind: RecordKind, key: &str, fields: &Fields) -> Vec<u8> {
    let json = serde_json::to_string(fields).unwrap_or_default();
    vault.seal(kind.as_str(), key, &json)
}

pub fn open_fields(vault: &Vault, kind: RecordKind, key: &str, sealed: &[u8]) -> ApiResult<Fields> {
    let json = vault
        .open(kind.as_str(), key, sealed)
        .map_err(|e| ApiError::internal(format!("{} {key}: {e}", kind.as_str())))?;
    serde_json::from_str(&json).map_err(ApiError::internal)
}

/// A record body: sealed for personal kinds, JSON otherwise.
pub fn body_of(
    state: &AppState,
    kind: RecordKind,
    key: &str,
    fields: &Fields,
) -> ApiResult<Vec<u8>> {
    if kind.personal() {
        Ok(seal_fields(vault(state)?, kind, key, fields))
    } else {
        Ok(serde_json::to_vec(fields).unwrap_or_default())
    }
}

pub fn fields_of(state: &AppState, kind: RecordKind, key: &str, body: &[u8]) -> ApiResult<Fields> {
    if kind.personal() {
        open_fields(vault(state)?, kind, key, body)
    } else {
        serde_json::from_slice(body).map_err(ApiError::internal)
    }
}

pub fn blind_identity(vault: &Vault, identity: &str) -> Vec<u8> {
    vault
        .blind_index("identity_number", &identity.to_ascii_uppercase())
        .to_vec()
}

pub fn blind_phone(vault: &Vault, phone: &MobileNumber) -> Vec<u8> {
    vault.blind_index("phone", phone.as_str()).to_vec()
}

/// What the server resolves around a record's own fields: the grid it is in and the district.
struct Located {
    grid_code: String,
    district: String,
}

/// The grid of a position or a given grid code, checked against each other and the atlas.
fn locate(
    state: &AppState,
    position: Option<wangge_domain::position::Position>,
    given: Option<&str>,
) -> Result<Located, FieldErrors> {
    let atlas = state.atlas();
    let grid = match (position, given) {
        (Some(p), given) => {
            let Some(found) = atlas.locate_code(p.lon(), p.lat()) else {
                return Err(field_error(
                    "lon",
                    format!(
                        "the position {:.6}, {:.6} is in no grid of the city",
                        p.lon(),
                        p.lat()
                    ),
                ));
            };
            if let Some(g) = given
                && g != found
            {
                return Err(field_error(
                    "grid_code",
                    format!("the position lies in grid {found}, not {g}"),
                ));
            }
            found.to_owned()
        }
        (None, Some(g)) => {
            let is_grid = atlas
                .region(g)
                .is_some_and(|r| r.level == wangge_domain::region::Level::Grid);
            if !is_grid {
                return Err(field_error(
                    "grid_code",
                    format!("{g} is not a current grid of the city"),
                ));
            }
            g.to_owned()
        }
        (None, None) => {
            return Err(field_error(
                "grid_code",
                "give the grid code or the position (lon, lat)",
            ));
        }
    };
    Ok(Located {
        district: district_of(&grid).to_owned(),
        grid_code: grid,
    })
}

/// One record made ready to store: its rows and the fields its version keeps.
pub struct Prepared {
    pub kind: RecordKind,
    pub key: String,
    pub district: String,
    pub grid_code: String,
    pub write: RegistryWrite,
}

/// The context a record is prepared in.
pub struct Ctx<'a> {
    pub state: &'a AppState,
    pub actor: &'a Actor,
    pub place: &'a Place,
    pub now: DateTime<Utc>,
    pub change_id: Option<Uuid>,
    pub op: ChangeOp,
    /// An import's view of the district's houses (house code → grid), so a million rows do
    /// not ask the database one by one; houses of the same import are added as they pass.
    pub houses: Option<&'a std::collections::HashMap<String, String>>,
}

impl Ctx<'_> {
    fn today(&self) -> NaiveDate {
        crate::local_day::day_of(&self.state.calendar(), self.now)
    }

    fn version(
        &self,
        kind: RecordKind,
        district: &str,
        key: &str,
        version: i64,
        body: Vec<u8>,
    ) -> VersionRow {
        VersionRow {
            district_code: district.to_owned(),
            kind: kind.as_str().to_owned(),
            record_key: key.to_owned(),
            version,
            at: self.now,
            actor: self.actor.id.clone(),
            op: self.op.as_str().to_owned(),
            change_id: self.change_id,
            body: Some(body),
        }
    }
}

/// The stored version of a record about to be written: `None` when it is new.
pub type Existing = Option<i64>;

pub async fn prepare_house(
    ctx: &Ctx<'_>,
    fields: &Fields,
    existing: Existing,
) -> ApiResult<Result<Prepared, FieldErrors>> {
    let house = match House::from_fields(fields) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    let located = match locate(ctx.state, house.position, house.grid_code.as_deref()) {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    if !ctx.place.contains(&located.grid_code) {
        return Ok(Err(outside("grid_code", &located.grid_code)));
    }
    let building_key = house.address.building_key();
    if let Some(b) = &building_key
        && ctx.houses.is_none()
        && let Some(g) = ctx.state.store.building_grid(&located.district, b).await?
        && g != located.grid_code
        && existing.is_none()
    {
        return Ok(Err(field_error(
            "grid_code",
            format!(
                "the other rooms of this building are in grid {g}, this one would be in {}",
                located.grid_code
            ),
        )));
    }
    Ok(Ok(house_prepared(
        ctx,
        &house,
        located,
        building_key,
        existing,
    )))
}

fn house_prepared(
    ctx: &Ctx<'_>,
    house: &House,
    located: Located,
    building_key: Option<String>,
    existing: Existing,
) -> Prepared {
    let mut stored = house.clone();
    stored.grid_code = Some(located.grid_code.clone());
    let fields = stored.to_fields();
    let key = house.code.as_str().to_owned();
    let version = existing.unwrap_or(0) + 1;
    let body = serde_json::to_vec(&fields).unwrap_or_default();
    let row = HouseRow {
        district_code: located.district.clone(),
        house_code: key.clone(),
        grid_code: located.grid_code.clone(),
        building_key,
        address: house.address.line(),
        use_kind: house.usage.as_str().to_owned(),
        lon: house.position.map(|p| p.lon()),
        lat: house.position.map(|p| p.lat()),
        body: body.clone(),
        version,
        updated_at: ctx.now,
    };
    Prepared {
        kind: RecordKind::House,
        district: located.district.clone(),
        grid_code: located.grid_code,
        write: RegistryWrite {
            houses: vec![Put {
                row,
                expected: existing,
            }],
            versions: vec![ctx.version(RecordKind::House, &located.district, &key, version, body)],
            ..Default::default()
        },
        key,
    }
}

pub async fn prepare_component(
    ctx: &Ctx<'_>,
    fields: &Fields,
    existing: Existing,
) -> ApiResult<Result<Prepared, FieldErrors>> {
    let c = match Component::from_fields(fields) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let located = match locate(ctx.state, Some(c.position), c.grid_code.as_deref()) {
        Ok(l) => l,
        Err(e) => return Ok(Err(e)),
    };
    if !ctx.place.contains(&located.grid_code) {
        return Ok(Err(outside("grid_code", &located.grid_code)));
    }
    let mut errors = Vec::new();
    if c.code.division_code() != located.district {
        errors.push(format!(
            "starts with division {} but the position lies in district {}",
            c.code.division_code(),
            located.district
        ));
    }
    let reference = ctx.state.reference();
    if reference
        .category("component", c.code.category_code())
        .is_none()
    {
        errors.push(format!(
            "digits 7–11 ({}) are not a component subcategory of the catalogue",
            c.code.category_code()
        ));
    }
    if let Some(e) = errors.into_iter().next() {
        return Ok(Err(field_error("component_code", e)));
    }
    for (name, unit) in [
        ("owner_unit", &c.owner_unit),
        ("maintenance_unit", &c.maintenance_unit),
        ("responsible_unit", &c.responsible_unit),
    ] {
        if let Some(u) = unit
            && reference.unit(u).is_none()
        {
            return Ok(Err(field_error(
                name,
                format!("'{u}' is not a handling unit's code"),
            )));
        }
    }
    let mut stored = c.clone();
    stored.grid_code = Some(located.grid_code.clone());
    let fields = stored.to_fields();
    let key = c.code.as_str().to_owned();
    let version = existing.unwrap_or(0) + 1;
    let body = serde_json::to_vec(&fields).unwrap_or_default();
    let row = ComponentRow {
        district_code: located.district.clone(),
        component_code: key.clone(),
        category_code: c.code.category_code().to_owned(),
        name: c.name.clone(),
        grid_code: located.grid_code.clone(),
        lon: c.position.lon(),
        lat: c.position.lat(),
        owner_unit: c.owner_unit.clone(),
        maintenance_unit: c.maintenance_unit.clone(),
        responsible_unit: c.responsible_unit.clone(),
        status: c.status.as_str().to_owned(),
        body: body.clone(),
        version,
        updated_at: ctx.now,
    };
    Ok(Ok(Prepared {
        kind: RecordKind::Component,
        district: located.district.clone(),
        grid_code: located.grid_code.clone(),
        write: RegistryWrite {
            components: vec![Put {
                row,
                expected: existing,
            }],
            versions: vec![ctx.version(
                RecordKind::Component,
                &located.district,
                &key,
                version,
                body,
            )],
            ..Default::default()
        },
        key,
    }))
}

pub async fn prepare_organisation(
    ctx: &Ctx<'_>,
    fields: &Fields,
    existing: Existing,
) -> ApiResult<Result<Prepared, FieldErrors>> {
    let vault = vault(ctx.state)?;
    let org = match Organisation::from_fields(fields) {
        Ok(o) => o,
        Err(e) => return Ok(Err(e)),
    };
    let located = match &org.house_code {
        Some(h) => match house_grid(ctx, h.as_str()).await? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        },
        None => match locate(ctx.state, None, org.grid_code.as_deref()) {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        },
    };
    if !ctx.place.contains(&located.grid_code) {
        return Ok(Err(outside("grid_code", &located.grid_code)));
    }
    let mut stored = org.clone();
    stored.grid_code = Some(located.grid_code.clone());
    let fields = stored.to_fields();
    let key = org.credit_code.as_str().to_owned();
    let version = existing.unwrap_or(0) + 1;
    let body = seal_fields(vault, RecordKind::Organisation, &key, &fields);
    let row = OrganisationRow {
        district_code: located.district.clone(),
        credit_code: key.clone(),
        name: org.name.clone(),
        org_kind: org.kind.as_str().to_owned(),
        house_code: org.house_code.as_ref().map(|h| h.as_str().to_owned()),
        grid_code: located.grid_code.clone(),
        responsible_person: org.responsible_person.clone(),
        contact_masked: org.contact_phone.as_ref().map(MobileNumber::masked),
        body: body.clone(),
        version,
        updated_at: ctx.now,
    };
    Ok(Ok(Prepared {
        kind: RecordKind::Organisation,
        district: located.district.clone(),
        grid_code: located.grid_code.clone(),
        write: RegistryWrite {
            organisations: vec![Put {
                row,
                expected: existing,
            }],
            versions: vec![ctx.version(
                RecordKind::Organisation,
                &located.district,
                &key,
                version,
                body,
            )],
            ..Default::default()
        },
        key,
    }))
}

/// The grid of a stored house, found in the reader's jurisdiction.
async fn house_grid(ctx: &Ctx<'_>, code: &str) -> ApiResult<Result<Located, FieldErrors>> {
    if let (Some(houses), Some(district)) = (ctx.houses, &ctx.place.district) {
        return Ok(match houses.get(code) {
            Some(grid) if ctx.place.contains(grid) => Ok(Located {
                district: district.clone(),
                grid_code: grid.clone(),
            }),
            _ => Err(field_error(
                "house_code",
                format!("{code} is not a registered house of district {district}"),
            )),
        });
    }
    let districts: Vec<String> = match &ctx.place.district {
        Some(d) => vec![d.clone()],
        None => ctx
            .state
            .atlas()
            .districts()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    for d in districts {
        if let Some(h) = ctx.state.store.house(&d, code).await? {
            if !ctx.place.contains(&h.grid_code) {
                break;
            }
            return Ok(Ok(Located {
                district: h.district_code,
                grid_code: h.grid_code,
            }));
        }
    }
    Ok(Err(field_error(
        "house_code",
        format!("{code} is not a registered house in your jurisdiction"),
    )))
}

/// A person's stored state that a change builds on.
pub struct PersonState {
    pub row: PersonRow,
    pub fields: Fields,
    pub residences: Vec<ResidenceRow>,
}

pub async fn load_person(
    state: &AppState,
    district: &str,
    id: Uuid,
) -> ApiResult<Option<PersonState>> {
    let Some(row) = state.store.person(district, id).await? else {
        return Ok(None);
    };
    let fields = match &row.body {
        Some(b) => open_fields(vault(state)?, RecordKind::Person, &id.to_string(), b)?,
        None => Fields::new(),
    };
    let residences = state.store.residences_of_person(district, id).await?;
    Ok(Some(PersonState {
        row,
        fields,
        residences,
    }))
}

fn residence_of(row: &ResidenceRow) -> Option<Stay<Uuid>> {
    Some(Stay {
        key: row.id,
        residence: Residence {
            house_code: wangge_domain::registry::HouseCode::parse(&row.house_code).ok()?,
            kind: ResidenceKind::parse(&row.kind)?,
            moved_in: row.moved_in,
            moved_out: row.moved_out,
            relation: row.relation.clone(),
        },
    })
}

/// A person created, updated (their fields; a `house_code` with `moved_in` moves them into a
/// new home), or moved out (`moved_out`).
pub async fn prepare_person(
    ctx: &Ctx<'_>,
    fields: &Fields,
    current: Option<&PersonState>,
) -> ApiResult<Result<Prepared, FieldErrors>> {
    let vault = vault(ctx.state)?;
    let settings = ctx.state.config.base_data.person_settings();
    let today = ctx.today();
    let person_fields: Fields = fields
        .iter()
        .filter(|(k, _)| Person::FIELDS.contains(k))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let merged = match current {
        Some(c) => c.fields.overlaid(&person_fields),
        None => person_fields,
    };
    if ctx.op == ChangeOp::MoveOut {
        return Ok(move_out(ctx, vault, fields, current, today));
    }
    let person = match Person::from_fields(&merged, &settings, today) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    if let Some(c) = current
        && c.fields.get("identity_number") != Some(person.identity.as_str())
    {
        return Ok(Err(field_error(
            "identity_number",
            "an identity number does not change: register the right person and move this one out",
        )));
    }
    let moving_in = fields.get("house_code").is_some();
    let residence = if moving_in || current.is_none() {
        match Residence::from_fields(fields, today) {
            Ok(r) => Some(r),
            Err(e) => return Ok(Err(e)),
        }
    } else {
        None
    };
    let id = current.map_or_else(wangge_domain::new_id, |c| c.row.id);
    let key = id.to_string();
    let mut residences: Vec<ResidenceRow> = Vec::new();
    let (mut grid, mut district, mut house_code) = match current {
        Some(c) => (
            c.row.grid_code.clone(),
            c.row.district_code.clone(),
            c.row.house_code.clone(),
        ),
        None => (String::new(), String::new(), None),
    };
    let mut open_actual = current.is_some_and(|c| {
        c.residences
            .iter()
            .any(|r| r.kind == "actual" && r.moved_out.is_none())
    });
    let mut left_on = current.and_then(|c| c.row.left_on);
    if let Some(r) = &residence {
        let located = match house_grid(ctx, r.house_code.as_str()).await? {
            Ok(l) => l,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(c) = current
            && c.row.district_code != located.district
        {
            return Ok(Err(field_error(
                "house_code",
                "a move to another district is a move out here and a registration there",
            )));
        }
        let history: Vec<Stay<Uuid>> = current
            .map(|c| c.residences.iter().filter_map(residence_of).collect())
            .unwrap_or_default();
        // The same home again (an import run twice, a form sent twice) is no move: at most it
        // records the move out the row now carries.
        let same = history.iter().find(|s| {
            s.residence.kind == r.kind
                && s.residence.moved_out.is_none()
                && s.residence.house_code == r.house_code
        });
        let plan = match same {
            Some(s) => Err(s.key),
            None => Ok(Stay::move_in(&history, r)),
        };
        match plan {
            Err(same) => {
                if let Some(out) = r.moved_out
                    && let Some(old) = current
                        .and_then(|c| c.residences.iter().find(|x| x.id == same))
                        .cloned()
                {
                    residences.push(ResidenceRow {
                        moved_out: Some(out),
                        ..old
                    });
                }
            }
            Ok(Err(e)) => return Ok(Err(field_error("moved_in", e.to_string()))),
            Ok(Ok(Some(closing))) => {
                if let Some(old) = current
                    .and_then(|c| c.residences.iter().find(|x| x.id == closing))
                    .cloned()
                {
                    residences.push(ResidenceRow {
                        moved_out: Some(r.moved_in),
                        ..old
                    });
                }
            }
            Ok(Ok(None)) => {}
        }
        if same.is_none() {
            residences.push(ResidenceRow {
                district_code: located.district.clone(),
                id: wangge_domain::new_id(),
                person_id: id,
                house_code: r.house_code.as_str().to_owned(),
                kind: r.kind.as_str().to_owned(),
                moved_in: r.moved_in,
                moved_out: r.moved_out,
                relation: r.relation.clone(),
            });
        }
        if r.kind == ResidenceKind::Actual || house_code.is_none() {
            grid = located.grid_code.clone();
            house_code = Some(r.house_code.as_str().to_owned());
        }
        if r.kind == ResidenceKind::Actual {
            open_actual = r.moved_out.is_none();
            left_on = r.moved_out;
        }
        district = located.district;
    }
    if !ctx.place.contains(&grid) {
        return Ok(Err(outside("house_code", &grid)));
    }
    let stored = person.to_fields();
    let body = seal_fields(vault, RecordKind::Person, &key, &stored);
    let version = current.map_or(0, |c| c.row.version) + 1;
    let row = PersonRow {
        district_code: district.clone(),
        id,
        name: person.name.clone(),
        id_index: Some(blind_identity(vault, person.identity.as_str())),
        id_masked: person.identity.masked(),
        id_tail: person.identity.as_str()[14..].to_owned(),
        phone_index: person.phone.as_ref().map(|p| blind_phone(vault, p)),
        phone_masked: person.phone.as_ref().map(MobileNumber::masked),
        phone_tail: person.phone.as_ref().map(|p| p.as_str()[7..].to_owned()),
        gender: Some(person.gender().as_str().to_owned()),
        birth_date: Some(person.birth_date()),
        tags: format!(",{},", person.tags.join(",")),
        grid_code: grid.clone(),
        house_code,
        floating: person.registered_address.is_some(),
        status: if open_actual { "active" } else { "moved_out" }.to_owned(),
        left_on: if open_actual { None } else { left_on },
        body: Some(body.clone()),
        version,
        updated_at: ctx.now,
    };
    Ok(Ok(Prepared {
        kind: RecordKind::Person,
        district: district.clone(),
        grid_code: grid,
        write: RegistryWrite {
            people: vec![Put {
                row,
                expected: current.map(|c| c.row.version),
            }],
            residences,
            versions: vec![ctx.version(RecordKind::Person, &district, &key, version, body)],
            ..Default::default()
        },
        key,
    }))
}

fn move_out(
    ctx: &Ctx<'_>,
    vault: &Vault,
    fields: &Fields,
    current: Option<&PersonState>,
    today: NaiveDate,
) -> Result<Prepared, FieldErrors> {
    let Some(c) = current else {
        return Err(field_error("id", "only a registered person moves out"));
    };
    let day = match fields.get("moved_out") {
        None => today,
        Some(t) => match wangge_domain::registry::parse_date(t) {
            Some(d) if d <= today => d,
            Some(d) => return Err(field_error("moved_out", format!("{d} is in the future"))),
            None => {
                return Err(field_error(
                    "moved_out",
                    format!("'{t}' is not a date: expected YYYY-MM-DD"),
                ));
            }
        },
    };
    let history: Vec<Stay<Uuid>> = c.residences.iter().filter_map(residence_of).collect();
    let closing = Stay::move_out(&history, ResidenceKind::Actual, day)
        .map_err(|e| field_error("moved_out", e.to_string()))?;
    let residences: Vec<ResidenceRow> = c
        .residences
        .iter()
        .filter(|r| r.id == closing)
        .map(|r| ResidenceRow {
            moved_out: Some(day),
            ..r.clone()
        })
        .collect();
    let key = c.row.id.to_string();
    let version = c.row.version + 1;
    let body = seal_fields(vault, RecordKind::Person, &key, &c.fields);
    let row = PersonRow {
        status: "moved_out".into(),
        left_on: Some(day),
        version,
        updated_at: ctx.now,
        body: Some(body.clone()),
        ..c.row.clone()
    };
    Ok(Prepared {
        kind: RecordKind::Person,
        district: c.row.district_code.clone(),
        grid_code: c.row.grid_code.clone(),
        write: RegistryWrite {
            people: vec![Put {
                row,
                expected: Some(c.row.version),
            }],
            residences,
            versions: vec![ctx.version(
                RecordKind::Person,
                &c.row.district_code,
                &key,
                version,
                body,
            )],
            ..Default::default()
        },
        key,
    })
}

/// Where a record named by its key is stored: the district is part of the key of every table,
/// so a reader's district is tried first and then (city-wide readers) every district.
pub fn candidate_districts(state: &AppState, place: &Place, key_hint: Option<&str>) -> Vec<String> {
    if let Some(d) = &place.district {
        return vec![d.clone()];
    }
    let mut all: Vec<String> = state
        .atlas()
        .districts()
        .into_iter()
        .map(str::to_owned)
        .collect();
    // Component codes and house codes usually start with the district's code: try it first.
    if let Some(h) = key_hint.and_then(|k| k.get(..6))
        && let Some(i) = all.iter().position(|d| d == h)
    {
        all.swap(0, i);
    }
    all
}

/// Applies a change now (a reviewer's own edit or an accepted proposal): the record's rows,
/// its new version and, when it came from a proposal, the decision, in one transaction.
pub async fn prepare_change(
    ctx: &Ctx<'_>,
    kind: RecordKind,
    key: Option<&str>,
    fields: &Fields,
) -> ApiResult<Result<Prepared, FieldErrors>> {
    let (state, place) = (ctx.state, ctx.place);
    match kind {
        RecordKind::Person => {
            let current = match key {
                Some(k) => {
                    let id = Uuid::parse_str(k).map_err(|_| not_found(kind, k))?;
                    let mut found = None;
                    for d in candidate_districts(state, place, None) {
                        if let Some(p) = load_person(state, &d, id).await? {
                            found = Some(p);
                            break;
                        }
                    }
                    match found {
                        Some(p) if place.contains(&p.row.grid_code) => Some(p),
                        _ => return Err(not_found(kind, k)),
                    }
                }
                None => None,
            };
            if current.is_none() {
                // A second registration of one identity number is refused by name.
                if let Some(n) = fields.get("identity_number")
                    && let Some(d) = located_district(state, fields, place).await?
                {
                    let index = blind_identity(vault(state)?, n.trim());
                    if let Some((_, id, _)) =
                        state.store.people_by_index(&d, &[index]).await?.first()
                    {
                        return Ok(Err(field_error(
                            "identity_number",
                            format!(
                                "this person is registered already (id {id}): update them instead"
                            ),
                        )));
                    }
                }
            }
            prepare_person(ctx, fields, current.as_ref()).await
        }
        _ => {
            let (merged, existing) = match key {
                Some(k) => {
                    let (stored, version) = load_fields(state, place, kind, k).await?;
                    (stored.overlaid(fields), Some(version))
                }
                None => {
                    let natural = natural_key(kind, fields);
                    if let Some(k) = &natural
                        && load_fields(state, place, kind, k).await.is_ok()
                    {
                        return Ok(Err(field_error(
                            key_field(kind),
                            format!("{k} is registered already: update it instead"),
                        )));
                    }
                    (fields.clone(), None)
                }
            };
            if let (Some(k), Some(n)) = (key, natural_key(kind, &merged))
                && k != n
            {
                return Ok(Err(field_error(
                    key_field(kind),
                    "the key of a record does not change",
                )));
            }
            match kind {
                RecordKind::House => prepare_house(ctx, &merged, existing).await,
                RecordKind::Organisation => prepare_organisation(ctx, &merged, existing).await,
                _ => prepare_component(ctx, &merged, existing).await,
            }
        }
    }
}

/// The district a new person's house is in, when the house is found.
async fn located_district(
    state: &AppState,
    fields: &Fields,
    place: &Place,
) -> ApiResult<Option<String>> {
    let Some(h) = fields.get("house_code") else {
        return Ok(None);
    };
    let h = h.trim().to_ascii_uppercase();
    for d in candidate_districts(state, place, Some(&h)) {
        if state.store.house(&d, &h).await?.is_some() {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

pub fn key_field(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::House => "house_code",
        RecordKind::Person => "identity_number",
        RecordKind::Organisation => "credit_code",
        RecordKind::Component => "component_code",
    }
}

fn natural_key(kind: RecordKind, fields: &Fields) -> Option<String> {
    let raw = fields.get(key_field(kind))?;
    Some(match kind {
        RecordKind::Component => wangge_domain::registry::ComponentCode::parse(raw)
            .map(|c| c.as_str().to_owned())
            .unwrap_or_else(|_| raw.to_owned()),
        _ => raw.trim().to_ascii_uppercase(),
    })
}

pub fn not_found(kind: RecordKind, key: &str) -> ApiError {
    ApiError::not_found(
        "record_not_found",
        format!("no {} '{key}' in your jurisdiction", kind.as_str()),
    )
}

/// The stored fields and version of a house, organisation or component in the reader's place.
pub async fn load_fields(
    state: &AppState,
    place: &Place,
    kind: RecordKind,
    key: &str,
) -> ApiResult<(Fields, i64)> {
    for d in candidate_districts(state, place, Some(key)) {
        let found = match kind {
            RecordKind::House => state
                .store
                .house(&d, key)
                .await?
                .map(|r| (r.grid_code, r.body, r.version)),
            RecordKind::Organisation => state
                .store
                .organisation(&d, key)
                .await?
                .map(|r| (r.grid_code, r.body, r.version)),
            RecordKind::Component => state
                .store
                .component(&d, key)
                .await?
                .map(|r| (r.grid_code, r.body, r.version)),
            RecordKind::Person => None,
        };
        if let Some((grid, body, version)) = found {
            if !place.contains(&grid) {
                break;
            }
            return Ok((fields_of(state, kind, key, &body)?, version));
        }
    }
    Err(not_found(kind, key))
}

/// The outcome of a write asked for through the API or the console.
pub enum Outcome {
    /// Written now, as this version.
    Applied { key: String, version: i64 },
    /// Waiting for a reviewer.
    Proposed { change: Uuid },
}

/// A create, update or move out by `reader`: applied at once for reviewers, a proposal for
/// everyone else (checked now, so the grid worker hears of a bad field on the doorstep).
pub async fn submit(
    state: &AppState,
    reader: &Reader,
    kind: RecordKind,
    op: ChangeOp,
    key: Option<&str>,
    fields: Fields,
) -> ApiResult<Outcome> {
    require_registry_reader(&reader.actor, kind)?;
    if reader.actor.role == Role::UnitUser || matches!(reader.actor.role, Role::Supervisor) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role reads the base data but does not change it",
        ));
    }
    let place = Place::of(&reader.actor, None)?;
    let change = Change::propose(kind, op, key.map(str::to_owned), fields, &reader.actor.id)
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_change",
                e.to_string(),
            )
        })?;
    let ctx = Ctx {
        state,
        actor: &reader.actor,
        place: &place,
        now: Utc::now(),
        change_id: None,
        op,
        houses: None,
    };
    let prepared = match prepare_change(&ctx, kind, key, &change.fields).await? {
        Ok(p) => p,
        Err(e) => return Err(invalid(e)),
    };
    if Change::needs_review(reader.actor.role) {
        let id = wangge_domain::new_id();
        let body = body_of(state, kind, &id.to_string(), &change.fields)?;
        let row = ChangeRow {
            district_code: prepared.district.clone(),
            id,
            kind: kind.as_str().into(),
            op: op.as_str().into(),
            record_key: key.map(str::to_owned),
            grid_code: prepared.grid_code.clone(),
            state: ChangeState::Pending.as_str().into(),
            proposed_by: reader.actor.id.clone(),
            proposed_at: Utc::now(),
            reviewed_by: None,
            reviewed_at: None,
            reason: None,
            body: Some(body),
        };
        state
            .store
            .registry_write(&RegistryWrite {
                changes: vec![Put {
                    row,
                    expected: None,
                }],
                ..Default::default()
            })
            .await?;
        return Ok(Outcome::Proposed { change: id });
    }
    let version = prepared.write.versions.first().map_or(1, |v| v.version);
    state.store.registry_write(&prepared.write).await?;
    Ok(Outcome::Applied {
        key: prepared.key,
        version,
    })
}

/// Accepts or rejects a pending proposal; an accepted one is applied to the record as it is now.
pub async fn review(
    state: &AppState,
    reader: &Reader,
    district: &str,
    id: Uuid,
    accept: bool,
    reason: Option<&str>,
) -> ApiResult<ChangeRow> {
    let place = Place::of(&reader.actor, None)?;
    let Some(row) = state.store.change(district, id).await? else {
        return Err(ApiError::not_found(
            "change_not_found",
            format!("no change {id}"),
        ));
    };
    if !place.contains(&row.grid_code) {
        return Err(ApiError::not_found(
            "change_not_found",
            format!("no change {id}"),
        ));
    }
    let kind = RecordKind::parse(&row.kind).ok_or_else(|| ApiError::internal("bad change kind"))?;
    let op = ChangeOp::parse(&row.op).ok_or_else(|| ApiError::internal("bad change op"))?;
    let fields = match &row.body {
        Some(b) => fields_of(state, kind, &id.to_string(), b)?,
        None => Fields::new(),
    };
    let mut change = Change {
        kind,
        op,
        record_key: row.record_key.clone(),
        fields,
        state: ChangeState::parse(&row.state).unwrap_or(ChangeState::Pending),
        proposed_by: row.proposed_by.clone(),
        reviewed_by: None,
        reason: None,
    };
    change
        .review(accept, &reader.actor.id, reader.actor.role, reason)
        .map_err(|e| match e {
            wangge_domain::registry::ChangeError::NoReason => {
                ApiError::invalid_field("reason", e.to_string())
            }
            wangge_domain::registry::ChangeError::NotReviewer(_)
            | wangge_domain::registry::ChangeError::OwnChange => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            _ => ApiError::new(StatusCode::CONFLICT, "already_reviewed", e.to_string()),
        })?;
    let mut write = RegistryWrite::default();
    let mut record_key = row.record_key.clone();
    if accept {
        let ctx = Ctx {
            state,
            actor: &reader.actor,
            place: &place,
            now: Utc::now(),
            change_id: Some(id),
            op,
            houses: None,
        };
        let prepared =
            match prepare_change(&ctx, kind, row.record_key.as_deref(), &change.fields).await? {
                Ok(p) => p,
                Err(e) => return Err(invalid(e)),
            };
        record_key = Some(prepared.key.clone());
        write = prepared.write;
    }
    let decided = ChangeRow {
        state: change.state.as_str().into(),
        record_key,
        reviewed_by: change.reviewed_by.clone(),
        reviewed_at: Some(Utc::now()),
        reason: change.reason.clone(),
        ..row
    };
    write.changes.push(Put {
        row: decided.clone(),
        expected: Some(0),
    });
    state.store.registry_write(&write).await?;
    Ok(decided)
}
