//! Photos as evidence: upload to a case (`multipart/form-data`), list, download and thumbnails —
//! all only for users who can read the case.

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use wangge_store::{AttachmentRow, Store};

use crate::api::parse_case_id;
use crate::auth::CurrentUser;
use crate::cases::{attach_evidence, readable_case};
use crate::error::{ApiError, ApiResult};
use crate::evidence::EvidenceError;
use crate::state::AppState;

/// When in the loop a photo was taken: before handling (report), after (handling), at the check.
const STAGES: &[&str] = &["report", "handling", "verification", "other"];

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    id: Uuid,
    sha256: String,
    media_type: String,
    size: i64,
    width: Option<i64>,
    height: Option<i64>,
    /// report, handling, verification or other
    stage: String,
    file_name: Option<String>,
    uploaded_by: String,
    uploaded_at: DateTime<Utc>,
    url: String,
    thumbnail_url: String,
}

pub fn attachment_view(a: AttachmentRow) -> AttachmentView {
    let base = format!("/api/v1/cases/{}/attachments/{}", a.case_id, a.id);
    AttachmentView {
        url: base.clone(),
        thumbnail_url: format!("{base}/thumbnail"),
        id: a.id,
        sha256: a.sha256,
        media_type: a.media_type,
        size: a.size,
        width: a.width,
        height: a.height,
        stage: a.stage,
        file_name: a.file_name,
        uploaded_by: a.uploaded_by,
        uploaded_at: a.uploaded_at,
    }
}

impl From<EvidenceError> for ApiError {
    fn from(e: EvidenceError) -> Self {
        let message = e.to_string();
        match e {
            EvidenceError::Empty => ApiError::invalid_field("file", message),
            EvidenceError::TooLarge { .. } | EvidenceError::ImageTooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large", message)
            }
            EvidenceError::NotAnImage | EvidenceError::Undecodable(_) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not_an_image", message)
                    .with_details(serde_json::json!({ "field": "file" }))
            }
            EvidenceError::Io(_) => ApiError::internal(message),
        }
    }
}

pub fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        crate::error::payload_too_large()
    } else {
        ApiError::bad_request(
            "bad_multipart",
            format!("the upload could not be read: {}", e.body_text()),
        )
    }
}

/// Attaches a photo to a case. Form fields: `file` (the image; JPEG, PNG, WebP or GIF, checked
/// by content) and `stage` (report, handling, verification or other; default other).
#[utoipa::path(post, path = "/api/v1/cases/{id}/attachments", params(("id" = Uuid, Path)),
    request_body(content_type = "multipart/form-data", content = Object),
    responses((status = 201, body = AttachmentView), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 413, body = crate::error::ErrorBody),
              (status = 415, description = "not_an_image", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    let id = parse_case_id(&id)?;
    // Refuse early, before reading a large body, when the caller cannot see the case.
    readable_case(&state, &user.actor, id).await?;
    let mut file: Option<(Vec<u8>, Option<String>)> = None;
    let mut stage = "other".to_owned();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                let name = field.file_name().map(str::to_owned);
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((bytes.to_vec(), name));
            }
            Some("stage") => {
                stage = field
                    .text()
                    .await
                    .map_err(multipart_error)?
                    .trim()
                    .to_owned();
            }
            _ => {}
        }
    }
    if !STAGES.contains(&stage.as_str()) {
        return Err(ApiError::invalid_field(
            "stage",
            format!("unknown stage '{stage}': expected report, handling, verification or other"),
        ));
    }
    let (bytes, file_name) =
        file.ok_or_else(|| ApiError::invalid_field("file", "the form has no 'file' field"))?;
    let store = state.evidence.clone();
    let stored = tokio::task::spawn_blocking(move || store.put(&bytes))
        .await
        .map_err(ApiError::internal)??;
    let file_name = file_name.map(|n| n.chars().take(200).collect());
    let (_, attachment) =
        attach_evidence(&state, &user.actor, id, &stored, &stage, file_name).await?;
    Ok((StatusCode::CREATED, Json(attachment_view(attachment))))
}

/// The photos of a case.
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<AttachmentView>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AttachmentView>>> {
    let id = parse_case_id(&id)?;
    let (row, _) = readable_case(&state, &user.actor, id).await?;
    let rows = state.store.attachments(&row.district_code, id).await?;
    Ok(Json(rows.into_iter().map(attachment_view).collect()))
}

async fn find(
    state: &AppState,
    user: &CurrentUser,
    case: &str,
    attachment: Uuid,
) -> ApiResult<AttachmentRow> {
    let id = parse_case_id(case)?;
    let (row, _) = readable_case(state, &user.actor, id).await?;
    state
        .store
        .attachments(&row.district_code, id)
        .await?
        .into_iter()
        .find(|a| a.id == attachment)
        .ok_or_else(|| {
            ApiError::not_found(
                "attachment_not_found",
                format!("case {id} has no attachment {attachment}"),
            )
        })
}

fn file_response(bytes: Vec<u8>, media_type: &str, cache_key: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, media_type.to_owned()),
            // Content-addressed: the bytes behind this URL never change.
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_owned(),
            ),
            (header::ETAG, format!("\"{cache_key}\"")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        ],
        Body::from(bytes),
    )
        .into_response()
}

/// Reads an attachment's file (or its thumbnail) for a user who can read the case.
async fn serve_file(
    state: &AppState,
    user: &CurrentUser,
    case: &str,
    attachment: Uuid,
    thumbnail: bool,
) -> ApiResult<Response> {
    let a = find(state, user, case, attachment).await?;
    let store = state.evidence.clone();
    let sha = a.sha256.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        if thumbnail {
            store.thumbnail(&sha)
        } else {
            store.get(&sha)
        }
    })
    .await
    .map_err(ApiError::internal)??;
    match (bytes, thumbnail) {
        (Some(b), false) => Ok(file_response(b, &a.media_type, &a.sha256)),
        (Some(b), true) => Ok(file_response(
            b,
            "image/jpeg",
            &format!("{}-thumb", a.sha256),
        )),
        (None, false) => Err(ApiError::internal(format!(
            "evidence file {} is missing",
            a.sha256
        ))),
        (None, true) => Err(ApiError::not_found(
            "thumbnail_not_found",
            "this attachment has no thumbnail",
        )),
    }
}

/// Downloads a photo.
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments/{attachment}", params(("id" = Uuid, Path), ("attachment" = Uuid, Path)),
    responses((status = 200, content_type = "image/*", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((case, attachment)): Path<(String, Uuid)>,
) -> ApiResult<Response> {
    serve_file(&state, &user, &case, attachment, false).await
}

/// A JPEG thumbnail of a photo.
#[utoipa::path(get, path = "/api/v1/cases/{id}/attachments/{attachment}/thumbnail", params(("id" = Uuid, Path), ("attachment" = Uuid, Path)),
    responses((status = 200, content_type = "image/jpeg", body = Vec<u8>), (status = 404, body = crate::error::ErrorBody)), security(("bearer" = [])))]
pub async fn thumbnail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((case, attachment)): Path<(String, Uuid)>,
) -> ApiResult<Response> {
    serve_file(&state, &user, &case, attachment, true).await
}
