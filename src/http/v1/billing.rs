//! `/v1/accounts/{acc}/subscriptions`, `/invoices` and `/payments`: an account's billing
//! records (API.md §13; `billing:read`, `billing:write`). Lists take `?q=` in the search
//! language of the admin lists; invoices and payments are also deleted by query.

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::billing::{self, Billed, Invoice, Payment, Resource, Subscription};
use crate::http::error::HttpError;
use crate::http::openapi;
use crate::http::v1::body::{ApiJson, MergePatch, failed_field};
use crate::http::v1::caller;
use crate::http::v1::page::{Page, PageRequest, page};
use crate::manage::Error;
use crate::manage::billing::{self as records, DEFAULT_DELETE, DeleteQuery, Deletion};
use crate::manage::caller::Caller;
use crate::state::AppState;
use crate::store::billing::Table;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/accounts/{acc}/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/v1/accounts/{acc}/subscriptions/{id}",
            get(show_subscription)
                .patch(update_subscription)
                .delete(delete_subscription),
        )
        .route(
            "/v1/accounts/{acc}/invoices",
            get(list_invoices).post(create_invoice),
        )
        .route(
            "/v1/accounts/{acc}/invoices/{id}",
            get(show_invoice).patch(update_invoice),
        )
        .route("/v1/accounts/{acc}/invoices/delete", post(delete_invoices))
        .route(
            "/v1/accounts/{acc}/payments",
            get(list_payments).post(create_payment),
        )
        .route("/v1/accounts/{acc}/payments/{id}", get(show_payment))
        .route("/v1/accounts/{acc}/payments/delete", post(delete_payments))
}

/// The list's page of records matching `?q=`.
async fn list<F: Table>(
    state: &AppState,
    caller: &Caller,
    acc: &str,
    request: &PageRequest,
    uri: &Uri,
) -> Result<Json<Page<Billed<F>>>, HttpError> {
    let account_id = caller::account_id(acc)?;
    let after = request.position(state, F::TABLE);
    let query = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "q")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let rows = records::list::<F, HttpError>(
        &state.store,
        caller,
        &account_id,
        after,
        &query,
        request.fetch_limit(),
    )
    .await?;
    Ok(page(
        state,
        F::TABLE,
        request,
        rows,
        records::position,
        |row| row,
    ))
}

async fn create<F: Table>(
    state: &AppState,
    caller: &Caller,
    acc: &str,
    fields: F,
) -> Result<Response, HttpError> {
    let account_id = caller::account_id(acc)?;
    let record = records::create(&state.store, caller, &account_id, fields).await?;
    Ok((StatusCode::CREATED, Json(record)).into_response())
}

async fn show<F: Table>(
    state: &AppState,
    caller: &Caller,
    (acc, id): &(String, String),
) -> Result<Json<Billed<F>>, HttpError> {
    let account_id = caller::account_id(acc)?;
    Ok(Json(
        records::show(&state.store, caller, &account_id, id).await?,
    ))
}

async fn update<F: Table + billing::Patchable>(
    state: &AppState,
    caller: &Caller,
    (acc, id): &(String, String),
    patch: Value,
) -> Result<Json<Billed<F>>, HttpError> {
    let account_id = caller::account_id(acc)?;
    let merge = merge_patch::<F>(patch)?;
    Ok(Json(
        records::update(&state.store, caller, &account_id, id, merge).await?,
    ))
}

/// A merge patch (RFC 7396) of a record's fields, read afterwards as a new record would be:
/// read-only fields are refused at once, and `null` on a field that cannot be empty (a
/// status, an amount) is refused rather than reset to its default; `metadata: null` empties
/// it.
fn merge_patch<F: Resource>(
    patch: Value,
) -> Result<impl FnOnce(&F) -> Result<F, Error>, HttpError> {
    let Value::Object(members) = &patch else {
        return Err(HttpError::invalid_field("body", "must be a JSON object"));
    };
    if let Some(field) = members
        .keys()
        .find(|key| billing::READ_ONLY.contains(&key.as_str()))
    {
        return Err(HttpError::invalid_field(field.clone(), "is read-only"));
    }
    Ok(move |current: &F| {
        let mut merged = serde_json::to_value(current)
            .map_err(|error| Error::conflict(format!("the record cannot be read: {error}")))?;
        json_patch::merge(&mut merged, &patch);
        let fields: F = serde_path_to_error::deserialize(merged).map_err(|error| {
            let (field, message) = failed_field(&error);
            Error::InvalidAt { field, message }
        })?;
        let shown = serde_json::to_value(&fields).unwrap_or_default();
        let removed = patch.as_object().into_iter().flatten();
        for (field, _) in removed.filter(|(_, value)| value.is_null()) {
            let emptied = match &shown[field] {
                Value::Null => true,
                Value::Object(members) => members.is_empty(),
                _ => false,
            };
            if !emptied {
                return Err(Error::InvalidAt {
                    field: field.clone(),
                    message: "must not be null".to_owned(),
                });
            }
        }
        Ok(fields)
    })
}

/// The body of `POST …/invoices/delete` and `…/payments/delete`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    /// Which records, in the search language of the lists; must not be empty.
    query: String,
    /// Only say what would be deleted.
    #[serde(default)]
    dry_run: bool,
    /// At most this many (1 to 1000, default 100), newest first.
    #[serde(default = "default_delete")]
    #[schema(minimum = 1, maximum = 1000)]
    limit: i64,
}

fn default_delete() -> i64 {
    DEFAULT_DELETE
}

async fn delete_matching<F: Table>(
    state: &AppState,
    caller: &Caller,
    acc: &str,
    body: DeleteBody,
) -> Result<Json<Deletion>, HttpError> {
    let account_id = caller::account_id(acc)?;
    let request = DeleteQuery {
        query: body.query,
        dry_run: body.dry_run,
        limit: body.limit,
    };
    Ok(Json(
        records::delete_matching::<F>(&state.store, caller, &account_id, &request).await?,
    ))
}

/// List an account's subscriptions.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/subscriptions",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::BillingSearchParams),
    responses(
        (status = 200, description = "The matching subscriptions, newest first", body = Page<Billed<Subscription>>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
    uri: Uri,
) -> Result<Json<Page<Billed<Subscription>>>, HttpError> {
    list(&state, &caller, &acc, &request, &uri).await
}

/// Record a subscription.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/subscriptions",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = Subscription, content_type = "application/json"),
    responses(
        (status = 201, description = "The subscription", body = Billed<Subscription>),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(fields): ApiJson<Subscription>,
) -> Result<Response, HttpError> {
    create(&state, &caller, &acc, fields).await
}

/// Show a subscription.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/subscriptions/{id}",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Subscription id (sub_...)")),
    responses(
        (status = 200, description = "The subscription", body = Billed<Subscription>),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
) -> Result<Json<Billed<Subscription>>, HttpError> {
    show(&state, &caller, &path).await
}

/// Update a subscription (JSON merge patch).
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/subscriptions/{id}",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Subscription id (sub_...)")),
    request_body(
        description = "JSON Merge Patch (RFC 7396) of the subscription's fields",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The changed subscription", body = Billed<Subscription>),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn update_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    MergePatch(patch): MergePatch,
) -> Result<Json<Billed<Subscription>>, HttpError> {
    update(&state, &caller, &path, patch).await
}

/// Delete a subscription.
#[utoipa::path(
    delete,
    path = "/v1/accounts/{acc}/subscriptions/{id}",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Subscription id (sub_...)")),
    responses(
        (status = 204, description = "Deleted; its invoices keep going without `subscription_id`"),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    Path((acc, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    let account_id = caller::account_id(&acc)?;
    records::delete::<Subscription>(&state.store, &caller, &account_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List an account's invoices.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/invoices",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::BillingSearchParams),
    responses(
        (status = 200, description = "The matching invoices, newest first", body = Page<Billed<Invoice>>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_invoices(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
    uri: Uri,
) -> Result<Json<Page<Billed<Invoice>>>, HttpError> {
    list(&state, &caller, &acc, &request, &uri).await
}

/// Record an invoice.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/invoices",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = Invoice, content_type = "application/json"),
    responses(
        (status = 201, description = "The invoice", body = Billed<Invoice>),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(fields): ApiJson<Invoice>,
) -> Result<Response, HttpError> {
    create(&state, &caller, &acc, fields).await
}

/// Show an invoice.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/invoices/{id}",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Invoice id (invc_...)")),
    responses(
        (status = 200, description = "The invoice", body = Billed<Invoice>),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
) -> Result<Json<Billed<Invoice>>, HttpError> {
    show(&state, &caller, &path).await
}

/// Update an invoice (JSON merge patch).
#[utoipa::path(
    patch,
    path = "/v1/accounts/{acc}/invoices/{id}",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Invoice id (invc_...)")),
    request_body(
        description = "JSON Merge Patch (RFC 7396) of the invoice's fields",
        content(
            (serde_json::Value = "application/merge-patch+json"),
            (serde_json::Value = "application/json")
        )
    ),
    responses(
        (status = 200, description = "The changed invoice", body = Billed<Invoice>),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn update_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
    MergePatch(patch): MergePatch,
) -> Result<Json<Billed<Invoice>>, HttpError> {
    update(&state, &caller, &path, patch).await
}

/// Delete the invoices a query matches.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/invoices/delete",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = DeleteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "What matched and what was deleted", body = Deletion),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn delete_invoices(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Json<Deletion>, HttpError> {
    delete_matching::<Invoice>(&state, &caller, &acc, body).await
}

/// List an account's payments.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/payments",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::BillingSearchParams),
    responses(
        (status = 200, description = "The matching payments, newest first", body = Page<Billed<Payment>>),
        openapi::QueryErrors,
        openapi::NotFound
    )
)]
async fn list_payments(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    request: PageRequest,
    uri: Uri,
) -> Result<Json<Page<Billed<Payment>>>, HttpError> {
    list(&state, &caller, &acc, &request, &uri).await
}

/// Record a payment.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/payments",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = Payment, content_type = "application/json"),
    responses(
        (status = 201, description = "The payment", body = Billed<Payment>),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn create_payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(fields): ApiJson<Payment>,
) -> Result<Response, HttpError> {
    create(&state, &caller, &acc, fields).await
}

/// Show a payment.
#[utoipa::path(
    get,
    path = "/v1/accounts/{acc}/payments/{id}",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = "Payment id (pay_...)")),
    responses(
        (status = 200, description = "The payment", body = Billed<Payment>),
        openapi::AuthErrors,
        openapi::NotFound
    )
)]
async fn show_payment(
    State(state): State<AppState>,
    caller: Caller,
    Path(path): Path<(String, String)>,
) -> Result<Json<Billed<Payment>>, HttpError> {
    show(&state, &caller, &path).await
}

/// Delete the payments a query matches.
#[utoipa::path(
    post,
    path = "/v1/accounts/{acc}/payments/delete",
    tag = "billing",
    params(("acc" = String, Path, description = "Account id (acc_...)")),
    request_body(content = DeleteBody, content_type = "application/json"),
    responses(
        (status = 200, description = "What matched and what was deleted", body = Deletion),
        openapi::BodyErrors,
        openapi::NotFound
    )
)]
async fn delete_payments(
    State(state): State<AppState>,
    caller: Caller,
    Path(acc): Path<String>,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Json<Deletion>, HttpError> {
    delete_matching::<Payment>(&state, &caller, &acc, body).await
}

/// The OpenAPI paths of this module.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_subscriptions,
    create_subscription,
    show_subscription,
    update_subscription,
    delete_subscription,
    list_invoices,
    create_invoice,
    show_invoice,
    update_invoice,
    delete_invoices,
    list_payments,
    create_payment,
    show_payment,
    delete_payments
))]
pub struct Api;
