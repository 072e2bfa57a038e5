//! Open311 GeoReport v2 under `/open311/v2` (issue 8): being built.

use axum::Router;

use crate::state::AppState;

/// Routes nested under `/open311/v2`.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Routes under `/api/v1` (API keys, issued by an administrator).
pub fn api_routes() -> Router<AppState> {
    Router::new()
}

/// What a demo database holds for Open311 clients (the key `demo-open311-key`).
pub async fn seed_demo(_state: &AppState) -> Result<(), wangge_store::StoreError> {
    Ok(())
}

/// This module's part of `/api/openapi.json` (merged into `api::ApiDoc`).
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;
