//! `POST /api/v1/match`: free-text addresses → house codes, for small batches. Each address is
//! matched against the houses the caller may see (their jurisdiction, narrowed by `region`);
//! the matcher and its address bases are in `campaign.rs` and `wangge_address`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wangge_domain::registry::RecordKind;

use crate::api::ApiJson;
use crate::auth::CurrentUser;
use crate::campaign::{match_texts, scopes};
use crate::error::{ApiError, ApiResult};
use crate::registry::{Place, require_registry_reader};
use crate::state::AppState;

/// Most addresses one request may carry; larger lists are a campaign (or `wangge match`).
pub const MAX_MATCH_ADDRESSES: usize = 1_000;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchRequest {
    /// Free-text addresses (at most 1,000).
    pub addresses: Vec<String>,
    /// Below this confidence an address is unmatched (0–1; the matcher's default when absent).
    pub threshold: Option<f64>,
    /// Narrow to a region within your jurisdiction.
    pub region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandidateView {
    pub house_code: String,
    pub grid_code: String,
    pub address: String,
    pub confidence: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatchView {
    /// The address as sent.
    pub address: String,
    /// None when unmatched.
    pub house_code: Option<String>,
    pub grid_code: Option<String>,
    pub confidence: f64,
    pub reason: String,
    /// The nearest houses (up to 3), also when matched.
    pub candidates: Vec<CandidateView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MatchAnswer {
    pub threshold: f64,
    pub matched: usize,
    pub unmatched: usize,
    pub results: Vec<MatchView>,
}

/// Matches free-text addresses to the house codes you may see.
#[utoipa::path(post, path = "/api/v1/match", request_body = MatchRequest,
    responses((status = 200, body = MatchAnswer), (status = 413, body = crate::error::ErrorBody),
              (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn match_addresses(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiJson(req): ApiJson<MatchRequest>,
) -> ApiResult<Json<MatchAnswer>> {
    require_registry_reader(&user.actor, RecordKind::House)?;
    if req.addresses.len() > MAX_MATCH_ADDRESSES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_addresses",
            format!(
                "at most {MAX_MATCH_ADDRESSES} addresses per request, not {}: send them in batches or start a campaign",
                req.addresses.len()
            ),
        )
        .with_details(serde_json::json!({"field": "addresses", "limit": MAX_MATCH_ADDRESSES})));
    }
    if let Some((i, _)) = req
        .addresses
        .iter()
        .enumerate()
        .find(|(_, a)| a.chars().count() > 500)
    {
        return Err(ApiError::invalid_field(
            &format!("addresses[{i}]"),
            "an address is at most 500 characters",
        ));
    }
    let threshold = req.threshold.unwrap_or(wangge_address::DEFAULT_THRESHOLD);
    if !(threshold.is_finite() && (0.0..=1.0).contains(&threshold)) {
        return Err(ApiError::invalid_field(
            "threshold",
            format!("threshold must be between 0 and 1, not {threshold}"),
        ));
    }
    let place = Place::of(&user.actor, req.region.as_deref())?;
    let scopes = scopes(&state, &place);
    let matches = match_texts(&state, &scopes, req.addresses.clone(), threshold).await?;
    let results: Vec<MatchView> = req
        .addresses
        .into_iter()
        .zip(matches)
        .map(|(address, m)| MatchView {
            address,
            house_code: m.house_code,
            grid_code: m.grid_code,
            confidence: m.confidence,
            reason: m.reason,
            candidates: m
                .candidates
                .into_iter()
                .map(|c| CandidateView {
                    house_code: c.house_code,
                    grid_code: c.grid_code,
                    address: c.address,
                    confidence: c.confidence,
                })
                .collect(),
        })
        .collect();
    let matched = results.iter().filter(|r| r.house_code.is_some()).count();
    Ok(Json(MatchAnswer {
        threshold,
        matched,
        unmatched: results.len() - matched,
        results,
    }))
}
