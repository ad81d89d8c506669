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
use crate::http::v1::page::{Page, PageRequest, page, query_param};
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
    let query = query_param(uri, "q").unwrap_or_default();
    // A cursor belongs to one search: under another it is a cursor of another list.
    let list = match query.trim() {
        "" => F::TABLE.to_owned(),
        query => format!("{}?q={query}", F::TABLE),
    };
    let after = request.position(state, &list);
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
        &list,
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

/// The handlers of one kind of record (list, create, show, and the update and
/// delete-by-query the kind has), each with its OpenAPI description. Fragments are `tt`, so
/// the attribute macros see plain literals.
macro_rules! handlers {
    (
        $kind:ident at $collection:tt and $item:tt, id $id:tt;
        list $list:ident $list_doc:tt;
        create $create:ident $create_doc:tt;
        show $show:ident $show_doc:tt;
        $(update $update:ident $update_doc:tt;)?
        $(delete $delete:ident at $delete_path:tt $delete_doc:tt;)?
    ) => {
        #[doc = $list_doc]
        #[utoipa::path(
            get,
            path = $collection,
            tag = "billing",
            params(("acc" = String, Path, description = "Account id (acc_...)"), openapi::BillingSearchParams),
            responses(
                (status = 200, description = "The matching records, newest first", body = Page<Billed<$kind>>),
                openapi::QueryErrors,
                openapi::NotFound
            )
        )]
        async fn $list(
            State(state): State<AppState>,
            caller: Caller,
            Path(acc): Path<String>,
            request: PageRequest,
            uri: Uri,
        ) -> Result<Json<Page<Billed<$kind>>>, HttpError> {
            list(&state, &caller, &acc, &request, &uri).await
        }

        #[doc = $create_doc]
        #[utoipa::path(
            post,
            path = $collection,
            tag = "billing",
            params(("acc" = String, Path, description = "Account id (acc_...)")),
            request_body(content = $kind, content_type = "application/json"),
            responses(
                (status = 201, description = "The new record", body = Billed<$kind>),
                openapi::BodyErrors,
                openapi::NotFound
            )
        )]
        async fn $create(
            State(state): State<AppState>,
            caller: Caller,
            Path(acc): Path<String>,
            ApiJson(fields): ApiJson<$kind>,
        ) -> Result<Response, HttpError> {
            create(&state, &caller, &acc, fields).await
        }

        #[doc = $show_doc]
        #[utoipa::path(
            get,
            path = $item,
            tag = "billing",
            params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = $id)),
            responses(
                (status = 200, description = "The record", body = Billed<$kind>),
                openapi::AuthErrors,
                openapi::NotFound
            )
        )]
        async fn $show(
            State(state): State<AppState>,
            caller: Caller,
            Path(path): Path<(String, String)>,
        ) -> Result<Json<Billed<$kind>>, HttpError> {
            show(&state, &caller, &path).await
        }

        $(
            #[doc = $update_doc]
            #[utoipa::path(
                patch,
                path = $item,
                tag = "billing",
                params(("acc" = String, Path, description = "Account id (acc_...)"), ("id" = String, Path, description = $id)),
                request_body(
                    description = "JSON Merge Patch (RFC 7396) of the record's fields",
                    content(
                        (serde_json::Value = "application/merge-patch+json"),
                        (serde_json::Value = "application/json")
                    )
                ),
                responses(
                    (status = 200, description = "The changed record", body = Billed<$kind>),
                    openapi::BodyErrors,
                    openapi::NotFound
                )
            )]
            async fn $update(
                State(state): State<AppState>,
                caller: Caller,
                Path(path): Path<(String, String)>,
                MergePatch(patch): MergePatch,
            ) -> Result<Json<Billed<$kind>>, HttpError> {
                update(&state, &caller, &path, patch).await
            }
        )?

        $(
            #[doc = $delete_doc]
            #[utoipa::path(
                post,
                path = $delete_path,
                tag = "billing",
                params(("acc" = String, Path, description = "Account id (acc_...)")),
                request_body(content = DeleteBody, content_type = "application/json"),
                responses(
                    (status = 200, description = "What matched and what was deleted", body = Deletion),
                    openapi::BodyErrors,
                    openapi::NotFound
                )
            )]
            async fn $delete(
                State(state): State<AppState>,
                caller: Caller,
                Path(acc): Path<String>,
                ApiJson(body): ApiJson<DeleteBody>,
            ) -> Result<Json<Deletion>, HttpError> {
                delete_matching::<$kind>(&state, &caller, &acc, body).await
            }
        )?
    };
}

handlers! {
    Subscription at "/v1/accounts/{acc}/subscriptions" and "/v1/accounts/{acc}/subscriptions/{id}",
        id "Subscription id (sub_...)";
    list list_subscriptions "List an account's subscriptions.";
    create create_subscription "Record a subscription.";
    show show_subscription "Show a subscription.";
    update update_subscription "Update a subscription (JSON merge patch).";
}

handlers! {
    Invoice at "/v1/accounts/{acc}/invoices" and "/v1/accounts/{acc}/invoices/{id}",
        id "Invoice id (invc_...)";
    list list_invoices "List an account's invoices.";
    create create_invoice "Record an invoice.";
    show show_invoice "Show an invoice.";
    update update_invoice "Update an invoice (JSON merge patch).";
    delete delete_invoices at "/v1/accounts/{acc}/invoices/delete"
        "Delete the invoices a query matches.";
}

handlers! {
    Payment at "/v1/accounts/{acc}/payments" and "/v1/accounts/{acc}/payments/{id}",
        id "Payment id (pay_...)";
    list list_payments "List an account's payments.";
    create create_payment "Record a payment.";
    show show_payment "Show a payment.";
    delete delete_payments at "/v1/accounts/{acc}/payments/delete"
        "Delete the payments a query matches.";
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
