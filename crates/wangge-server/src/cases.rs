//! Case intake: a report becomes a case in its grid with the first event of its timeline.

use chrono::Utc;
use wangge_domain::case::{CaseError, CaseState, Report, ReportInput};
use wangge_domain::region::Level;
use wangge_geo::crs::{self, Crs};
use wangge_store::{CaseEventRow, CaseRow, Store, StoreError};

use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Invalid(#[from] CaseError),
    #[error("unknown category '{0}': not in the catalogue of matters")]
    UnknownCategory(String),
    #[error("the point ({lon}, {lat}) lies outside every unit grid of this jurisdiction")]
    OutsideJurisdiction { lon: f64, lat: f64 },
    #[error("unknown coordinate system '{0}': expected wgs84, gcj02 or bd09")]
    UnknownCrs(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who did something, as recorded in the timeline.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub role: Option<String>,
}

pub async fn report_case(
    state: &AppState,
    input: ReportInput,
    crs_name: Option<&str>,
    actor: &Actor,
) -> Result<CaseRow, IntakeError> {
    let crs: Crs = match crs_name {
        None => Crs::Wgs84,
        Some(name) => name
            .parse()
            .map_err(|_| IntakeError::UnknownCrs(name.to_owned()))?,
    };
    // Convert before validating, so a GCJ-02 point is checked where it really lies.
    let mut input = input;
    if let (Some(lon), Some(lat)) = (input.lon, input.lat)
        && lon.is_finite()
        && lat.is_finite()
    {
        let (x, y) = crs::to_wgs84(crs, lon, lat);
        input.lon = Some(x);
        input.lat = Some(y);
    }
    let report = Report::parse(input)?;
    if state
        .store
        .category("matter", &report.category)
        .await?
        .is_none_or(|c| !c.active)
    {
        return Err(IntakeError::UnknownCategory(report.category));
    }
    let (lon, lat) = (report.position.lon(), report.position.lat());
    let atlas = state.atlas();
    let located = atlas
        .locate(lon, lat)
        .ok_or(IntakeError::OutsideJurisdiction { lon, lat })?;
    let code_at = |level| {
        located
            .at(level)
            .map(|r| r.code.clone())
            .unwrap_or_default()
    };
    let grid_code = code_at(Level::Grid);
    let district_code = code_at(Level::District);
    let now = Utc::now();
    let id = wangge_domain::new_id();
    let initial = CaseState::Reported;
    let case = CaseRow {
        district_code: if district_code.is_empty() {
            grid_code.get(..6).unwrap_or_default().to_owned()
        } else {
            district_code
        },
        id,
        category_kind: "matter".into(),
        category_code: report.category.clone(),
        description: report.description.clone(),
        address: report.address.clone(),
        lon,
        lat,
        community_code: code_at(Level::Community),
        street_code: code_at(Level::Street),
        grid_code,
        source: report.source.as_str().into(),
        external_id: report.external_id.clone(),
        state: initial.as_str().into(),
        version: 1,
        reported_at: now,
        updated_at: now,
    };
    let payload = serde_json::json!({
        "category": report.category,
        "source": report.source.as_str(),
        "external_id": report.external_id,
        "input_crs": crs.to_string(),
        "needs_confirmation": report.source.needs_confirmation(),
    });
    let event = CaseEventRow {
        district_code: case.district_code.clone(),
        case_id: id,
        seq: 1,
        action: "report".into(),
        actor: actor.id.clone(),
        role: actor.role.clone(),
        at: now,
        from_state: None,
        to_state: initial.as_str().into(),
        payload: payload.to_string(),
    };
    state.store.create_case(&case, &event).await?;
    Ok(case)
}
