//! The HTTP adapter: `/api/v1` (JSON), `/healthz`, `/api/openapi.json`, and the start page.

pub mod api;
pub mod atlas;
pub mod auth;
pub mod campaign;
pub mod campaign_api;
pub mod case_api;
pub mod cases;
pub mod config_api;
pub mod console;
pub mod error;
pub mod evidence;
pub mod evidence_api;
pub mod field_work;
pub mod hotline;
pub mod ledger;
pub mod local_day;
pub mod match_api;
pub mod notices;
pub mod open311;
pub mod region_import;
pub mod registry;
pub mod registry_api;
pub mod registry_import;
pub mod rules_api;
pub mod state;
pub mod stats;
pub mod tabular;

use std::net::SocketAddr;

use axum::extract::{DefaultBodyLimit, State};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;

pub use state::{AppState, Clock, Config, EvaluationSettings};

use crate::error::ApiError;

/// The whole application, apart from any listener, so tests can drive it directly.
pub fn app(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
    let policy = std::sync::Arc::new(security_policy(state.config.map_tile_url.as_deref()));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi))
        .nest("/api/v1", api::routes())
        .nest("/open311/v2", open311::routes())
        .merge(console::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            policy,
            security_headers,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO))
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .with_state(state)
}

/// The Content-Security-Policy of every answer: scripts, styles, data and workers from this
/// server only (the console vendors its libraries), images also from the configured tile
/// server, no framing, forms posting only here.
fn security_policy(tile_url: Option<&str>) -> String {
    let tiles = tile_url.and_then(tile_origin).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob: {tiles}; connect-src 'self'; worker-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
         form-action 'self'"
    )
}

/// `https://t{s}.example.cn/x/{z}/{x}/{y}.png` → `https://*.example.cn`.
fn tile_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split(['/', '?']).next()?;
    let host = match host.split_once('.') {
        Some((first, tail)) if first.contains('{') => format!("*.{tail}"),
        _ => host.to_owned(),
    };
    (!host.is_empty() && !host.contains(['{', '}', ' ', ';', '\'', '"']))
        .then(|| format!("{scheme}://{host}"))
}

async fn security_headers(
    State(policy): State<std::sync::Arc<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&policy) {
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(v);
    }
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    response
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let atlas = state.atlas();
    Json(serde_json::json!({
        "status": "ok",
        "database": state.store.backend_name(),
        "regions": atlas.region_count(),
        "grids": atlas.grid_count(),
    }))
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

/// The whole API's description: the core document with each feature module's part.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    doc.merge(hotline::ApiDoc::openapi());
    doc.merge(field_work::ApiDoc::openapi());
    doc.merge(notices::ApiDoc::openapi());
    doc.merge(open311::ApiDoc::openapi());
    doc
}

/// No such path: a page for a browser, the JSON error for everyone else.
async fn not_found(headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    let err = ApiError::not_found("not_found", "no such path");
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        console::error_page(console::Lang::from_headers(&headers), None, &err)
    } else {
        err.into_response()
    }
}

/// Serves until Ctrl-C / SIGTERM; `on_ready` gets the bound address (port 0 picks a free one).
pub async fn serve(
    state: AppState,
    addr: SocketAddr,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let refresher = state.spawn_atlas_refresher(std::time::Duration::from_secs(5));
    let workers: Vec<_> = [notices::spawn_worker(&state), hotline::spawn_worker(&state)]
        .into_iter()
        .flatten()
        .collect();
    on_ready(listener.local_addr()?);
    // The peer's address reaches handlers: the access log of personal data records it.
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    refresher.abort();
    for w in workers {
        w.abort();
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_servers_are_allowed_by_origin_only() {
        assert_eq!(
            tile_origin("https://t{s}.tianditu.gov.cn/vec_w/wmts?tk=K&x={x}").as_deref(),
            Some("https://*.tianditu.gov.cn")
        );
        assert_eq!(
            tile_origin("http://tiles.local:8080/{z}/{x}/{y}.png").as_deref(),
            Some("http://tiles.local:8080")
        );
        assert_eq!(tile_origin("javascript:alert(1)"), None);
        assert_eq!(tile_origin("https://a.b'; script-src *"), None);
        assert!(security_policy(None).contains("script-src 'self';"));
    }
}
