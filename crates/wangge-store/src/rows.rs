//! Row types: plain data as stored. Enumerations are kept as their snake_case names; the domain
//! parses them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct RegionRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub level: String,
    pub parent_code: Option<String>,
    pub area_class: String,
    /// A GeoJSON geometry (Polygon or MultiPolygon) in WGS-84.
    pub geometry: String,
    pub area_m2: f64,
    /// The coordinate system the geometry arrived in before conversion.
    pub source_crs: String,
    pub valid_from: DateTime<Utc>,
    pub valid_to: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRow {
    pub kind: String,
    pub code: String,
    pub class_code: String,
    pub class_name: String,
    pub name: String,
    pub registration_standard: String,
    pub closing_standard: String,
    pub deadline_amount: i64,
    pub deadline_type: String,
    pub active: bool,
    /// Checked cases of this category close without the shift leader.
    pub auto_close: bool,
    /// Node limits overriding the defaults, and the handling limit of urgent cases, as JSON
    /// (`{"confirm": {"amount": 1, "type": "working_hours"}, "urgent": {…}}`).
    pub node_limits: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub district_code: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub region_code: Option<String>,
    pub unit_id: Option<Uuid>,
    /// An argon2id PHC string; never a password.
    pub password_hash: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub district_code: String,
    pub id: Uuid,
    pub category_kind: String,
    pub category_code: String,
    pub description: String,
    pub address: Option<String>,
    pub lon: f64,
    pub lat: f64,
    pub grid_code: String,
    pub community_code: String,
    pub street_code: String,
    pub source: String,
    pub external_id: Option<String>,
    pub state: String,
    pub version: i64,
    pub reported_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The unit the case is dispatched to.
    pub unit_code: Option<String>,
    /// The level holding the case (grid, community, street, district).
    pub level: String,
    pub suspended: bool,
    pub urgent: bool,
    /// The derived loop status as JSON, a cache of the timeline.
    pub status: String,
    /// The deadline node the case is in and its clock; `warn_at`/`due_at` are None while the
    /// clock is stopped or the case is finished.
    pub node: Option<String>,
    pub node_started_at: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
    /// The city component the case is about, and its responsible unit when it was reported.
    pub component_code: Option<String>,
    pub component_unit: Option<String>,
}

/// What a map needs of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct CasePoint {
    pub id: Uuid,
    pub lon: f64,
    pub lat: f64,
    pub state: String,
    pub category_code: String,
    pub grid_code: String,
    /// The description's first 60 characters.
    pub description: String,
    /// The deadline node, None once the case is finished.
    pub node: Option<String>,
    pub warn_at: Option<DateTime<Utc>>,
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    pub district_code: String,
    pub id: Uuid,
    pub case_id: Uuid,
    pub sha256: String,
    pub media_type: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub stage: String,
    pub file_name: Option<String>,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

/// A transition to store: the case's new cached values, the version it must still have, the
/// event to append, and the units of a whistle.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseUpdate {
    pub case: CaseRow,
    pub expected_version: i64,
    pub event: CaseEventRow,
    pub new_parts: Vec<String>,
    /// Evidence recorded by this transition (an `attach`).
    pub new_attachments: Vec<AttachmentRow>,
}

/// Traffic light of the current deadline node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    Green,
    Yellow,
    Red,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CaseOrder {
    #[default]
    NewestFirst,
    OldestFirst,
    DueFirst,
}

/// Which cases to list. Every set field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub states: Vec<String>,
    pub category: Option<String>,
    /// Cases whose grid code starts with this (a region and all below it).
    pub region_prefix: Option<String>,
    /// Cases dispatched to this unit or naming it in a whistle.
    pub unit: Option<String>,
    pub source: Option<String>,
    pub reported_from: Option<DateTime<Utc>>,
    pub reported_to: Option<DateTime<Utc>>,
    pub light: Option<Light>,
    /// Only cases with an extension request waiting for a decision.
    pub pending_extension: bool,
    /// Only cases this user reported (the actor of the first event).
    pub reported_by: Option<String>,
    /// Cases in this deadline node (confirm, register, dispatch, handle, check, close).
    pub node: Option<String>,
    pub now: Option<DateTime<Utc>>,
    pub order: CaseOrder,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// SHA-256 of the token, hex; the token itself is never stored.
    pub token_hash: String,
    pub user_id: Uuid,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRuleRow {
    pub id: Uuid,
    pub category_code: Option<String>,
    pub region_code: Option<String>,
    pub component_unit: Option<String>,
    pub unit_code: String,
    pub auto_dispatch: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseEventRow {
    pub district_code: String,
    pub case_id: Uuid,
    pub seq: i64,
    pub action: String,
    pub actor: String,
    pub role: Option<String>,
    pub at: DateTime<Utc>,
    pub from_state: Option<String>,
    pub to_state: String,
    /// A JSON object with the action's fields.
    pub payload: String,
}

/// A case's evaluation-ledger record (`wangge_domain::ledger`), with the case version it was
/// made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub district_code: String,
    pub case_id: Uuid,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
    pub record: Vec<u8>,
}

/// A case's key and version, as the ledger's catch-up reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseVersion {
    pub district_code: String,
    pub id: Uuid,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}
