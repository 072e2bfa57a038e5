//! Console pages for issue 8 (field): being built.

use axum::Router;
use wangge_domain::role::Role;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}

/// Navigation entries (path, message key) for a role.
pub fn nav_entries(_role: Role) -> Vec<(&'static str, &'static str)> {
    Vec::new()
}
