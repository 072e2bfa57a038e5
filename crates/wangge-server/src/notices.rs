//! Announcements and personal notifications (issue 8): being built.

use axum::Router;
use wangge_store::{CaseEventRow, CaseRow};

use crate::state::AppState;

/// Routes under `/api/v1`.
pub fn api_routes() -> Router<AppState> {
    Router::new()
}

/// Called after every stored change to a case (never fails the change).
pub fn on_case_change(_state: &AppState, _case: &CaseRow, _event: &CaseEventRow) {}

/// Background work started with the server, if any (due-soon and overdue notices).
pub fn spawn_worker(_state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    None
}

/// Sample data for the demo database.
pub async fn seed_demo(_state: &AppState) -> Result<(), wangge_store::StoreError> {
    Ok(())
}

/// This module's part of `/api/openapi.json` (merged into `api::ApiDoc`).
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;
