//! The `subscriptions`, `invoices` and `payments` tables: one [`Table`] description each
//! (its columns, how a record binds and reads, what `?q=` may search), and the SQL they
//! share, every query bound to the account.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::billing::{
    Amount, Billed, Currency, Invoice, InvoiceStatus, Metadata, Payment, PaymentStatus, Resource,
    Subscription, SubscriptionStatus, Text,
};
use crate::clock::Timestamp;
use crate::ids::{AccountId, InvoiceId, SubscriptionId};
use crate::search::{self, Expr, Schema};
use crate::store::{Position, json_or_default, to_json};

/// A column's value to bind.
pub enum Column {
    Text(Option<String>),
    Int(Option<i64>),
}

/// How a kind of record lives in its table.
pub trait Table: Resource {
    const TABLE: &'static str;
    /// The field columns, in the order of [`Table::binds`].
    const COLUMNS: &'static [&'static str];
    /// What `?q=` and delete-by-query may name: only these fixed column names reach SQL.
    const SEARCH: Schema;

    fn binds(&self) -> Vec<Column>;

    fn read(row: &AnyRow) -> Result<Self, sqlx::Error>;
}

fn text<T>(value: Option<T>) -> Column
where
    String: From<T>,
{
    Column::Text(value.map(String::from))
}

fn time(value: Option<Timestamp>) -> Column {
    Column::Int(value.map(|at| at.0))
}

fn get<T>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(column)
}

fn get_text<const MAX: usize>(
    row: &AnyRow,
    column: &str,
) -> Result<Option<Text<MAX>>, sqlx::Error> {
    Ok(get::<Option<String>>(row, column)?.map(Text))
}

fn get_time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
    Ok(get::<Option<i64>>(row, column)?.map(Timestamp))
}

fn get_status<S>(row: &AnyRow, parse: fn(&str) -> Option<S>) -> Result<S, sqlx::Error> {
    let status: String = get(row, "status")?;
    parse(&status).ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status}").into()))
}

fn get_metadata(row: &AnyRow) -> Result<Metadata, sqlx::Error> {
    Ok(Metadata(json_or_default(&get::<String>(row, "metadata")?)))
}

/// The search fields every kind shares.
macro_rules! search_fields {
    ($($extra:literal),*) => {
        Schema {
            fields: &[
                ("external_id", "external_id"),
                ("external_customer_id", "external_customer_id"),
                ("status", "status"),
                $(($extra, $extra),)*
            ],
            text_columns: &["external_id", "external_customer_id", "status", $($extra,)*],
        }
    };
}

impl Table for Subscription {
    const TABLE: &'static str = "subscriptions";
    const COLUMNS: &'static [&'static str] = &[
        "plan",
        "status",
        "quantity",
        "current_period_start",
        "current_period_end",
        "cancel_at",
        "external_id",
        "external_customer_id",
        "metadata",
    ];
    const SEARCH: Schema = search_fields!("plan");

    fn binds(&self) -> Vec<Column> {
        vec![
            text(Some(self.plan.clone())),
            Column::Text(Some(self.status.as_str().to_owned())),
            Column::Int(Some(self.quantity.0)),
            time(self.current_period_start),
            time(self.current_period_end),
            time(self.cancel_at),
            text(self.external_id.clone()),
            text(self.external_customer_id.clone()),
            Column::Text(Some(to_json(&self.metadata))),
        ]
    }

    fn read(row: &AnyRow) -> Result<Subscription, sqlx::Error> {
        Ok(Subscription {
            plan: Text(get(row, "plan")?),
            status: get_status(row, SubscriptionStatus::parse)?,
            quantity: Amount(get(row, "quantity")?),
            current_period_start: get_time(row, "current_period_start")?,
            current_period_end: get_time(row, "current_period_end")?,
            cancel_at: get_time(row, "cancel_at")?,
            external_id: get_text(row, "external_id")?,
            external_customer_id: get_text(row, "external_customer_id")?,
            metadata: get_metadata(row)?,
        })
    }
}

impl Table for Invoice {
    const TABLE: &'static str = "invoices";
    const COLUMNS: &'static [&'static str] = &[
        "number",
        "status",
        "currency",
        "amount_due",
        "amount_paid",
        "period_start",
        "period_end",
        "due_at",
        "external_id",
        "external_customer_id",
        "subscription_id",
        "metadata",
    ];
    const SEARCH: Schema = search_fields!("currency");

    fn binds(&self) -> Vec<Column> {
        vec![
            text(self.number.clone()),
            Column::Text(Some(self.status.as_str().to_owned())),
            text(Some(self.currency.clone())),
            Column::Int(Some(self.amount_due.0)),
            Column::Int(Some(self.amount_paid.0)),
            time(self.period_start),
            time(self.period_end),
            time(self.due_at),
            text(self.external_id.clone()),
            text(self.external_customer_id.clone()),
            text(self.subscription_id.clone()),
            Column::Text(Some(to_json(&self.metadata))),
        ]
    }

    fn read(row: &AnyRow) -> Result<Invoice, sqlx::Error> {
        Ok(Invoice {
            number: get_text(row, "number")?,
            status: get_status(row, InvoiceStatus::parse)?,
            currency: Currency(get(row, "currency")?),
            amount_due: Amount(get(row, "amount_due")?),
            amount_paid: Amount(get(row, "amount_paid")?),
            period_start: get_time(row, "period_start")?,
            period_end: get_time(row, "period_end")?,
            due_at: get_time(row, "due_at")?,
            external_id: get_text(row, "external_id")?,
            external_customer_id: get_text(row, "external_customer_id")?,
            subscription_id: get::<Option<String>>(row, "subscription_id")?
                .and_then(|id| SubscriptionId::parse(&id)),
            metadata: get_metadata(row)?,
        })
    }
}

impl Table for Payment {
    const TABLE: &'static str = "payments";
    const COLUMNS: &'static [&'static str] = &[
        "amount",
        "currency",
        "status",
        "payment_method",
        "invoice_id",
        "external_id",
        "external_customer_id",
        "metadata",
    ];
    const SEARCH: Schema = search_fields!("currency", "payment_method");

    fn binds(&self) -> Vec<Column> {
        vec![
            Column::Int(Some(self.amount.0)),
            text(Some(self.currency.clone())),
            Column::Text(Some(self.status.as_str().to_owned())),
            text(self.payment_method.clone()),
            text(self.invoice_id.clone()),
            text(self.external_id.clone()),
            text(self.external_customer_id.clone()),
            Column::Text(Some(to_json(&self.metadata))),
        ]
    }

    fn read(row: &AnyRow) -> Result<Payment, sqlx::Error> {
        Ok(Payment {
            amount: Amount(get(row, "amount")?),
            currency: Currency(get(row, "currency")?),
            status: get_status(row, PaymentStatus::parse)?,
            payment_method: get_text(row, "payment_method")?,
            invoice_id: get::<Option<String>>(row, "invoice_id")?
                .and_then(|id| InvoiceId::parse(&id)),
            external_id: get_text(row, "external_id")?,
            external_customer_id: get_text(row, "external_customer_id")?,
            metadata: get_metadata(row)?,
        })
    }
}

fn read<F: Table>(row: &AnyRow) -> Result<Billed<F>, sqlx::Error> {
    Ok(Billed {
        id: get(row, "id")?,
        account_id: AccountId::parse(&get::<String>(row, "account_id")?)
            .ok_or_else(|| sqlx::Error::Decode("not an account id".into()))?,
        fields: F::read(row)?,
        created_at: Timestamp(get(row, "created_at")?),
        updated_at: Timestamp(get(row, "updated_at")?),
    })
}

/// Binds `columns` to `query` in order.
fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    columns: Vec<Column>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for column in columns {
        query = match column {
            Column::Text(value) => query.bind(value),
            Column::Int(value) => query.bind(value),
        };
    }
    query
}

fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn insert<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    record: &Billed<F>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "insert into {} (id, account_id, {}, created_at, updated_at) values ({})",
        F::TABLE,
        F::COLUMNS.join(", "),
        placeholders(1, F::COLUMNS.len() + 4),
    );
    let mut columns = vec![
        Column::Text(Some(record.id.clone())),
        Column::Text(Some(record.account_id.to_string())),
    ];
    columns.extend(record.fields.binds());
    columns.push(Column::Int(Some(record.created_at.0)));
    columns.push(Column::Int(Some(record.updated_at.0)));
    bind_all(sqlx::query(&sql), columns)
        .execute(db)
        .await
        .map(|_| ())
}

/// Writes a record's fields and `updated_at`.
pub async fn update<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    record: &Billed<F>,
) -> Result<(), sqlx::Error> {
    let assignments: Vec<String> = F::COLUMNS
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ${}", index + 3))
        .collect();
    let sql = format!(
        "update {} set {}, updated_at = ${} where id = $1 and account_id = $2",
        F::TABLE,
        assignments.join(", "),
        F::COLUMNS.len() + 3,
    );
    let mut columns = vec![
        Column::Text(Some(record.id.clone())),
        Column::Text(Some(record.account_id.to_string())),
    ];
    columns.extend(record.fields.binds());
    columns.push(Column::Int(Some(record.updated_at.0)));
    bind_all(sqlx::query(&sql), columns)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn find<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &str,
) -> Result<Option<Billed<F>>, sqlx::Error> {
    let sql = format!(
        "select * from {} where id = $1 and account_id = $2",
        F::TABLE
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(account_id.as_str())
        .fetch_optional(db)
        .await?;
    row.as_ref().map(read).transpose()
}

/// The account's records matching `filter` (all without one), newest first, after `after`.
pub async fn list<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    filter: Option<&Expr>,
    after: &Position,
    limit: i64,
) -> Result<Vec<Billed<F>>, sqlx::Error> {
    let condition = filter.map(|expr| search::to_sql(expr, &F::SEARCH, 5));
    let sql = format!(
        "select * from {} where account_id = $1 \
         and (created_at < $2 or (created_at = $2 and id < $3)) and {} \
         order by created_at desc, id desc limit $4",
        F::TABLE,
        condition
            .as_ref()
            .map_or("1 = 1", |condition| &condition.sql),
    );
    let mut query = sqlx::query(&sql)
        .bind(account_id.as_str())
        .bind(after.created_at)
        .bind(&after.id)
        .bind(limit);
    for value in condition.iter().flat_map(|condition| &condition.binds) {
        query = query.bind(value);
    }
    query.fetch_all(db).await?.iter().map(read).collect()
}

/// How many of the account's records match `filter`.
pub async fn count<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    filter: &Expr,
) -> Result<i64, sqlx::Error> {
    let condition = search::to_sql(filter, &F::SEARCH, 2);
    let sql = format!(
        "select count(*) from {} where account_id = $1 and {}",
        F::TABLE,
        condition.sql
    );
    let mut query = sqlx::query_scalar(&sql).bind(account_id.as_str());
    for value in &condition.binds {
        query = query.bind(value);
    }
    query.fetch_one(db).await
}

/// Deletes one record; false when the account has no such record.
pub async fn delete<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let sql = format!("delete from {} where id = $1 and account_id = $2", F::TABLE);
    let done = sqlx::query(&sql)
        .bind(id)
        .bind(account_id.as_str())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes the account's records among `ids`.
pub async fn delete_all<'e, F: Table>(
    db: impl Executor<'e, Database = Any>,
    account_id: &AccountId,
    ids: &[String],
) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "delete from {} where account_id = $1 and id in ({})",
        F::TABLE,
        placeholders(2, ids.len())
    );
    let mut query = sqlx::query(&sql).bind(account_id.as_str());
    for id in ids {
        query = query.bind(id);
    }
    Ok(query.execute(db).await?.rows_affected())
}
