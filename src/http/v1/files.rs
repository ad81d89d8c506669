//! `/v1/accounts/{acc}/files`: an account's files (API.md §13): list, presigned upload and
//! download URLs, multipart uploads, deletion (`files:read` / `files:write`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::ApiJson;
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::caller::Caller;
use crate::manage::files::{
    self, CompletedPart, DownloadView, FileView, MultipartView, PartsView, UploadView,
};
use crate::state::AppState;
use crate::store::Position;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts/{acc}/files", get(list_files))
        // A file may be named like these routes: DELETE on them deletes that file.
        .route(
            "/v1/accounts/{acc}/files/uploads",
            post(create_upload).delete(delete_named),
        )
        .route(
            "/v1/accounts/{acc}/files/downloads",
            post(create_download).delete(delete_named),
        )
        .route(
            "/v1/accounts/{acc}/files/multipart",
            post(start_multipart).delete(delete_named),
        )
        .route(
            "/v1/accounts/{acc}/files/multipart/{upload_id}",
            delete(abort_multipart),
        )
        .route(
            "/v1/accounts/{acc}/files/multipart/{upload_id}/parts",
            post(create_part_urls),
        )
        .route(
            "/v1/accounts/{acc}/files/multipart/{upload_id}/complete",
            post(complete_multipart),
        )
        .route("/v1/accounts/{acc}/files/{*key}", delete(delete_file))
}

#[derive(Deserialize, utoipa::IntoParams)]
struct ListQuery {
    /// Only keys that start with this string.
    #[serde(default)]
    prefix: String,
}

/// The list's name, which its cursors are sealed for: one per account.
fn list_name(acc: &str) -> String {
    format!("files:{acc}")
}

/// List an account's files, in key order.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/files",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ListQuery, openapi::ListParams),
    responses(
        (status = 200, description = "The account's files, in key order", body = Page<FileView>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_files(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    Query(query): Query<ListQuery>,
    request: PageRequest,
) -> Result<Json<Page<FileView>>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let name = list_name(account_id.as_str());
    let after = request
        .position(&state, &name)
        .map(|after| (!after.id.is_empty()).then_some(after.id));
    let limit = usize::try_from(request.fetch_limit()).unwrap_or(usize::MAX);
    let rows = files::list(
        &state.store,
        &state.files,
        &caller,
        &account_id,
        &query.prefix,
        after,
        limit,
    )
    .await?;
    Ok(page(
        &state,
        &name,
        &request,
        rows,
        |file| Position {
            created_at: 0,
            id: file.key.clone(),
        },
        |file| file,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUpload {
    /// `[A-Za-z0-9!_.*'()/-]{1,1024}`, no `..` segment, no leading `/`.
    key: String,
    content_type: String,
    /// The body's exact size in bytes, enforced when given.
    size: Option<u64>,
}

/// A presigned URL to upload a file with.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/files/uploads",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewUpload, content_type = "application/json"),
    responses(
        (status = 200, description = "PUT the file to `url` with `headers` before `expires_at`", body = UploadView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewUpload>,
) -> Result<Json<UploadView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        files::create_upload(
            &state.store,
            &state.file_storage(),
            &caller,
            &account_id,
            &new.key,
            &new.content_type,
            new.size,
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewDownload {
    key: String,
}

/// A presigned URL to download a file with.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/files/downloads",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewDownload, content_type = "application/json"),
    responses(
        (status = 200, description = "GET `url` (ranges allowed) before `expires_at`", body = DownloadView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_download(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewDownload>,
) -> Result<Json<DownloadView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        files::create_download(
            &state.store,
            &state.file_storage(),
            &caller,
            &account_id,
            &new.key,
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewMultipart {
    key: String,
    content_type: String,
}

/// Start a multipart upload.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/files/multipart",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = NewMultipart, content_type = "application/json"),
    responses(
        (status = 201, description = "The upload", body = MultipartView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn start_multipart(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(new): ApiJson<NewMultipart>,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let view = files::start_multipart(
        &state.store,
        &state.file_storage(),
        &caller,
        &account_id,
        &new.key,
        &new.content_type,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PartNumbers {
    /// 1 to 10000, at most 1000 per request.
    part_numbers: Vec<u32>,
}

/// Presigned URLs to upload parts with.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/files/multipart/{upload_id}/parts",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("upload_id" = String, Path, description = "The upload")),
    request_body(content = PartNumbers, content_type = "application/json"),
    responses(
        (status = 200, description = "PUT each part to its `url`; the answer's `ETag` completes it", body = PartsView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_part_urls(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, upload_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<PartNumbers>,
) -> Result<Json<PartsView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        files::part_urls(
            &state.store,
            &state.file_storage(),
            &caller,
            &account_id,
            &upload_id,
            &body.part_numbers,
        )
        .await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Completion {
    /// Ascending part numbers, each with the `ETag` its PUT answered.
    parts: Vec<CompletedPart>,
}

/// Join the uploaded parts into the file.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/files/multipart/{upload_id}/complete",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("upload_id" = String, Path, description = "The upload")),
    request_body(content = Completion, content_type = "application/json"),
    responses(
        (status = 200, description = "The file", body = FileView),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn complete_multipart(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, upload_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Completion>,
) -> Result<Json<FileView>, HttpError> {
    let account_id = caller::account_id(&acc)?;
    Ok(Json(
        files::complete_multipart(
            &state.store,
            &state.file_storage(),
            &caller,
            &account_id,
            &upload_id,
            &body.parts,
        )
        .await?,
    ))
}

/// Abandon a multipart upload and its parts.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/files/multipart/{upload_id}",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("upload_id" = String, Path, description = "The upload")),
    responses(
        (status = 204, description = "Aborted"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn abort_multipart(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, upload_id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    // Upload ids are sealed values (`v1.…`); anything else names the file `multipart/…`.
    if !upload_id.starts_with("v1.") {
        let key = format!("multipart/{upload_id}");
        files::delete(&state.store, &state.files, &caller, &account_id, &key).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    files::abort_multipart(
        &state.store,
        &state.file_storage(),
        &caller,
        &account_id,
        &upload_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a file.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/files/{key}",
    tag = "files",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("key" = String, Path, description = "The file's key (may hold /)")),
    responses(
        (status = 204, description = "Deleted"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, key)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    files::delete(&state.store, &state.files, &caller, &account_id, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DELETE on `…/files/uploads`, `…/downloads` or `…/multipart`: the file of that name.
async fn delete_named(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    uri: axum::http::Uri,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    let key = uri.path().rsplit('/').next().unwrap_or_default();
    files::delete(&state.store, &state.files, &caller, &account_id, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_files,
    create_upload,
    create_download,
    start_multipart,
    create_part_urls,
    complete_multipart,
    abort_multipart,
    delete_file
))]
pub struct Api;
