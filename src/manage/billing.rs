//! An account's billing records (API.md §13): subscriptions, invoices and payments, listed
//! and searched (`?q=`) with `billing:read`, created, merge-patched and deleted (one, or every
//! match of a query) with `billing:write`. One generic path for the three kinds; each write
//! is one change with an audit event per record it touched.

use serde::Serialize;
use serde_json::{Value, json};

use crate::billing::{self, Billed, Invoice, Patchable, Reference, Subscription};
use crate::clock::{self, Timestamp};
use crate::ids::AccountId;
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked};
use crate::permission::Permission;
use crate::search::{self, Expr};
use crate::store::billing::{self as table, Table};
use crate::store::{Change, Position, Store};

/// How many records one delete-by-query may delete at most, and by default.
pub const MAX_DELETE: i64 = 1000;
pub const DEFAULT_DELETE: i64 = 100;

/// A record's place in its list, newest first.
pub fn position<F>(record: &Billed<F>) -> Position {
    Position {
        created_at: record.created_at.0,
        id: record.id.clone(),
    }
}

/// The account's records matching `query` (the search language of the admin lists; blank:
/// all), newest first. `after` and `query` are looked at only once the caller may know the
/// account exists.
pub async fn list<F: Table, E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: Result<Position, E>,
    query: &str,
    limit: i64,
) -> Result<Vec<Billed<F>>, E> {
    caller::authorize(store, caller, account_id, Permission::BillingRead).await?;
    let after = after?;
    let filter = parse::<F>("q", query)?;
    let rows = table::list(store.pool(), account_id, filter.as_ref(), &after, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows)
}

/// One record of the account.
pub async fn show<F: Table>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<Billed<F>, Error> {
    caller::authorize(store, caller, account_id, Permission::BillingRead).await?;
    let mut db = store.pool().acquire().await?;
    find(&mut db, account_id, id).await
}

/// Records `fields` as a new record of the account (`*.created`).
pub async fn create<F: Table>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    fields: F,
) -> Result<Billed<F>, Error> {
    let mut change = writing(store, caller, account_id).await?;
    check(&mut change, account_id, &fields).await?;
    let now = Timestamp(clock::now());
    let record = Billed {
        id: F::new_id(),
        account_id: account_id.clone(),
        fields,
        created_at: now,
        updated_at: now,
    };
    table::insert(&mut *change, &record).await?;
    let details = fields_json(&record.fields);
    let event = caller.event(Some(account_id), F::CREATED, F::NAME, &record.id, details);
    change.record(&event, now.0).await?.commit().await?;
    Ok(record)
}

/// Changes a record by what `merge` makes of its fields (a JSON merge patch, read as a new
/// record would be): `*.updated`, whose details say each changed field `{from, to}`. A patch
/// that changes nothing records nothing.
pub async fn update<F: Table + Patchable>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
    merge: impl FnOnce(&F) -> Result<F, Error>,
) -> Result<Billed<F>, Error> {
    let mut change = writing(store, caller, account_id).await?;
    let current = find::<F>(&mut change, account_id, id).await?;
    let fields = merge(&current.fields)?;
    if fields == current.fields {
        return Ok(current);
    }
    check(&mut change, account_id, &fields).await?;
    let now = clock::now();
    let details = json!({"changes": billing::changes(&current.fields, &fields)});
    let updated = Billed {
        fields,
        updated_at: Timestamp(now),
        ..current
    };
    table::update(&mut *change, &updated).await?;
    let event = caller.event(Some(account_id), F::UPDATED, F::NAME, &updated.id, details);
    change.record(&event, now).await?.commit().await?;
    Ok(updated)
}

/// Deletes one record (`*.deleted`, with its fields). Records naming it keep going without
/// the reference.
pub async fn delete<F: Table>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<(), Error> {
    let mut change = writing(store, caller, account_id).await?;
    let record = find::<F>(&mut change, account_id, id).await?;
    table::delete::<F>(&mut *change, account_id, &record.id).await?;
    let details = fields_json(&record.fields);
    let event = caller.event(Some(account_id), F::DELETED, F::NAME, &record.id, details);
    change.record(&event, clock::now()).await?.commit().await?;
    Ok(())
}

/// A delete-by-query request: which records (a non-empty query), whether only to see which,
/// and how many at most.
pub struct DeleteQuery {
    pub query: String,
    pub dry_run: bool,
    pub limit: i64,
}

/// What a delete-by-query matched and deleted.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deletion {
    /// Every record of the account the query matches.
    pub matched: i64,
    /// How many were deleted: 0 for a dry run.
    pub deleted: i64,
    /// The records deleted (a dry run: that would be), newest first, at most `limit`.
    pub ids: Vec<String>,
}

/// Deletes the newest `limit` records matching the query, in one change with one
/// `*.deleted` event each; a dry run deletes nothing and records nothing.
pub async fn delete_matching<F: Table>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    request: &DeleteQuery,
) -> Result<Deletion, Error> {
    let mut change = writing(store, caller, account_id).await?;
    if !(1..=MAX_DELETE).contains(&request.limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be an integer from 1 to {MAX_DELETE}"),
        ));
    }
    // An empty query would match everything: deleting all asks for a query that says so.
    let filter = parse::<F>("query", &request.query)?.ok_or_else(|| {
        Error::invalid("query", "must not be empty: it names the records to delete")
    })?;
    let matched = table::count::<F>(&mut *change, account_id, &filter).await?;
    let records = table::list::<F>(
        &mut *change,
        account_id,
        Some(&filter),
        &Position::start(),
        request.limit,
    )
    .await?;
    let ids: Vec<String> = records.iter().map(|record| record.id.clone()).collect();
    if request.dry_run || records.is_empty() {
        return Ok(Deletion {
            matched,
            deleted: 0,
            ids,
        });
    }
    let deleted = table::delete_all::<F>(&mut *change, account_id, &ids).await?;
    let now = clock::now();
    let events: Vec<_> = records
        .iter()
        .map(|record| {
            let mut details = fields_json(&record.fields);
            details["query"] = json!(request.query);
            caller.event(Some(account_id), F::DELETED, F::NAME, &record.id, details)
        })
        .collect();
    record_all(change, &events, now).await?;
    Ok(Deletion {
        matched,
        deleted: i64::try_from(deleted).unwrap_or(i64::MAX),
        ids,
    })
}

async fn record_all(
    change: Change<'_>,
    events: &[crate::audit::NewEvent<'_>],
    now: i64,
) -> Result<(), Error> {
    let Some((first, rest)) = events.split_first() else {
        return Ok(());
    };
    let mut recorded = change.record(first, now).await?;
    for event in rest {
        recorded.record(event, now).await?;
    }
    recorded.commit().await?;
    Ok(())
}

/// A change holding the account's lock, for a caller with `billing:write` there.
async fn writing<'s>(
    store: &'s Store,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Change<'s>, Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::BillingWrite).await?;
    Ok(change)
}

/// A search of the kind's fields; `field` names the request's member in errors.
fn parse<F: Table>(field: &'static str, query: &str) -> Result<Option<Expr>, Error> {
    search::parse(query, &F::SEARCH).map_err(|error| Error::invalid(field, error.to_string()))
}

async fn find<F: Table>(
    db: &mut sqlx::AnyConnection,
    account_id: &AccountId,
    id: &str,
) -> Result<Billed<F>, Error> {
    let id = F::parse_id(id).ok_or(Error::NotFound(F::NAME))?;
    table::find(db, account_id, &id)
        .await?
        .ok_or(Error::NotFound(F::NAME))
}

/// The rules a record's fields must keep beyond their own: across fields, and a named
/// record of the same account (an invoice's subscription; a payment's invoice, in its
/// currency).
async fn check<F: Table>(
    db: &mut sqlx::AnyConnection,
    account_id: &AccountId,
    fields: &F,
) -> Result<(), Error> {
    let errors = fields.check();
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    match fields.reference() {
        None => Ok(()),
        Some(Reference::Subscription(id)) => {
            table::find::<Subscription>(db, account_id, id.as_str())
                .await?
                .map(|_| ())
                .ok_or_else(|| {
                    Error::invalid("subscription_id", "names no subscription of this account")
                })
        }
        Some(Reference::Invoice(id, currency)) => {
            let invoice = table::find::<Invoice>(db, account_id, id.as_str())
                .await?
                .ok_or_else(|| Error::invalid("invoice_id", "names no invoice of this account"))?;
            if invoice.fields.currency == *currency {
                Ok(())
            } else {
                Err(Error::invalid(
                    "currency",
                    format!(
                        "must be the invoice's currency, {}",
                        invoice.fields.currency.0
                    ),
                ))
            }
        }
    }
}

fn fields_json<F: Table>(fields: &F) -> Value {
    serde_json::to_value(fields).unwrap_or_default()
}
