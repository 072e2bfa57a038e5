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
