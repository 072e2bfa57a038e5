//! The grid worker's field day (issue 8): patrols, positions, visit logs, daily quotas. Being built.

use axum::Router;

use crate::state::AppState;

/// Routes under `/api/v1`.
pub fn api_routes() -> Router<AppState> {
    Router::new()
}

/// Sample data for the demo database.
pub async fn seed_demo(_state: &AppState) -> Result<(), wangge_store::StoreError> {
    Ok(())
}

/// This module's part of `/api/openapi.json` (merged into `api::ApiDoc`).
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;
