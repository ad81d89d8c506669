//! Billing records (API.md §13): subscriptions, invoices and payments of an account, their
//! validation, `?q=` searches, delete-by-query, the `billing:*` permissions, the audit events
//! (and so the webhooks) they cause, and their end with the account.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, expect_problem};
use crate::roles::{define_role, holder};
use crate::webhooks::{Receiver, create_webhook, spawn_allowing_loopback};

fn path(account: &str, rest: &str) -> String {
    format!("/v1/accounts/{account}/{rest}")
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    by: &TestUser,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.api(method.clone(), path, &by.token);
    if let Some(body) = body {
        request = if method == Method::PATCH {
            request
                .header("content-type", "application/merge-patch+json")
                .body(body.to_string())
        } else {
            request.json(&body)
        };
    }
    request.send().await.unwrap()
}

/// `method path` as `by`, expecting `status`; the answer's JSON.
async fn expect(
    app: &TestApp,
    method: Method,
    path: &str,
    by: &TestUser,
    body: Option<Value>,
    status: u16,
) -> Value {
    let response = send(app, method.clone(), path, by, body).await;
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Creates a record of `kind` (`subscriptions`, `invoices`, `payments`) as `by` (201).
pub(crate) async fn create(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    kind: &str,
    body: Value,
) -> Value {
    expect(app, Method::POST, &path(account, kind), by, Some(body), 201).await
}

/// The ids a list answers for `?q=`.
pub(crate) async fn search(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    kind: &str,
    q: &str,
) -> Vec<String> {
    let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let page = expect(
        app,
        Method::GET,
        &format!("{}?q={encoded}", path(account, kind)),
        by,
        None,
        200,
    )
    .await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn id(record: &Value) -> String {
    record["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_subscription_is_created_shown_listed_patched_and_deleted() {
    let app = TestApp::spawn().await;
    let team = app.team("subs").await;
    let a = &team.account;
    let owner = &team.owner;
    let created = create(
        &app,
        owner,
        a,
        "subscriptions",
        json!({
            "plan": "pro",
            "status": "trialing",
            "quantity": 3,
            "current_period_start": "2026-01-01T00:00:00Z",
            "current_period_end": "2026-02-01T00:00:00+00:00",
            "external_id": "sub_stripe_1",
            "external_customer_id": "cus_1",
            "metadata": {"team": "red"}
        }),
    )
    .await;
    let sub = id(&created);
    assert!(sub.starts_with("sub_"), "{created}");
    assert_eq!(created["account_id"], a.as_str());
    assert_eq!(created["status"], "trialing");
    assert_eq!(created["quantity"], 3);
    assert_eq!(created["current_period_end"], "2026-02-01T00:00:00Z");
    assert_eq!(created["cancel_at"], Value::Null);
    assert_eq!(created["metadata"], json!({"team": "red"}));
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    let minimal = create(&app, owner, a, "subscriptions", json!({"plan": "free"})).await;
    assert_eq!(minimal["status"], "active");
    assert_eq!(minimal["quantity"], 1);
    assert_eq!(minimal["metadata"], json!({}));

    let one = path(a, &format!("subscriptions/{sub}"));
    assert_eq!(
        expect(&app, Method::GET, &one, owner, None, 200).await,
        created
    );
    let list = expect(
        &app,
        Method::GET,
        &path(a, "subscriptions"),
        owner,
        None,
        200,
    )
    .await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id(&minimal).as_str(), sub.as_str()], "newest first");

    let patched = expect(
        &app,
        Method::PATCH,
        &one,
        owner,
        Some(json!({
            "status": "canceled",
            "cancel_at": "2026-03-01T00:00:00Z",
            "external_customer_id": null,
            "metadata": {"team": null, "reason": "too expensive"}
        })),
        200,
    )
    .await;
    assert_eq!(patched["status"], "canceled");
    assert_eq!(patched["plan"], "pro");
    assert_eq!(patched["cancel_at"], "2026-03-01T00:00:00Z");
    assert_eq!(patched["external_customer_id"], Value::Null);
    assert_eq!(patched["metadata"], json!({"reason": "too expensive"}));
    assert_eq!(
        expect(&app, Method::GET, &one, owner, None, 200).await,
        patched
    );
    // `application/json` means the same; an unchanged record records nothing.
    let response = app
        .api(Method::PATCH, &one, &owner.token)
        .json(&json!({"plan": "pro"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    expect(&app, Method::DELETE, &one, owner, None, 204).await;
    expect_problem(
        send(&app, Method::GET, &one, owner, None).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        send(&app, Method::DELETE, &one, owner, None).await,
        404,
        "not_found",
    )
    .await;
    let actions: Vec<String> = app
        .audit_actions(a)
        .await
        .into_iter()
        .filter(|action| action.starts_with("subscription."))
        .collect();
    assert_eq!(
        actions,
        [
            "subscription.deleted",
            "subscription.updated",
            "subscription.created",
            "subscription.created"
        ]
    );
    let details: String = sqlx::query_scalar(
        "select details from audit_events where action = 'subscription.updated' and target_id = $1",
    )
    .bind(&sub)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        details["changes"]["status"],
        json!({"from": "trialing", "to": "canceled"})
    );
}

#[tokio::test]
async fn invoices_and_payments_name_records_of_their_own_account() {
    let app = TestApp::spawn().await;
    let team = app.team("inv").await;
    let other = app.team("inv-other").await;
    let (a, owner) = (&team.account, &team.owner);
    let sub = id(&create(&app, owner, a, "subscriptions", json!({"plan": "pro"})).await);
    let invoice = create(
        &app,
        owner,
        a,
        "invoices",
        json!({
            "number": "INV-0001",
            "status": "open",
            "currency": "eur",
            "amount_due": 1999,
            "period_start": "2026-01-01T00:00:00Z",
            "period_end": "2026-02-01T00:00:00Z",
            "due_at": "2026-02-15T00:00:00Z",
            "subscription_id": sub,
        }),
    )
    .await;
    let invc = id(&invoice);
    assert!(invc.starts_with("invc_"));
    assert_eq!(invoice["amount_paid"], 0);
    assert_eq!(invoice["subscription_id"], sub.as_str());
    let payment = create(
        &app,
        owner,
        a,
        "payments",
        json!({"amount": 1999, "currency": "eur", "status": "succeeded",
               "payment_method": "card", "invoice_id": invc}),
    )
    .await;
    let pay = id(&payment);
    assert!(pay.starts_with("pay_"));
    assert_eq!(
        expect(
            &app,
            Method::GET,
            &path(a, &format!("payments/{pay}")),
            owner,
            None,
            200
        )
        .await,
        payment
    );
    let invoice_path = path(a, &format!("invoices/{invc}"));
    let paid = expect(
        &app,
        Method::PATCH,
        &invoice_path,
        owner,
        Some(json!({"status": "paid", "amount_paid": 1999})),
        200,
    )
    .await;
    assert_eq!(paid["status"], "paid");

    // A record of another account, or none, is not a record to name (400, not 404).
    let foreign_sub = id(&create(
        &app,
        &other.owner,
        &other.account,
        "subscriptions",
        json!({"plan": "x"}),
    )
    .await);
    let foreign_invoice = id(&create(
        &app,
        &other.owner,
        &other.account,
        "invoices",
        json!({"currency": "eur"}),
    )
    .await);
    for (kind, body, field) in [
        (
            "invoices",
            json!({"currency": "eur", "subscription_id": foreign_sub}),
            "subscription_id",
        ),
        (
            "payments",
            json!({"amount": 1, "currency": "eur", "invoice_id": foreign_invoice}),
            "invoice_id",
        ),
        (
            "payments",
            json!({"amount": 1, "currency": "usd", "invoice_id": invc}),
            "currency",
        ),
    ] {
        let problem = expect_problem(
            send(&app, Method::POST, &path(a, kind), owner, Some(body)).await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let problem = expect_problem(
        send(
            &app,
            Method::PATCH,
            &invoice_path,
            owner,
            Some(json!({"subscription_id": foreign_sub})),
        )
        .await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "subscription_id");
    // Payments are kept as they were: no PATCH, no DELETE of one.
    let payment_path = path(a, &format!("payments/{pay}"));
    for method in [Method::PATCH, Method::DELETE] {
        let response = send(&app, method, &payment_path, owner, Some(json!({}))).await;
        assert_eq!(response.status(), 405);
    }

    // Deleting the subscription leaves its invoice, without the reference.
    expect(
        &app,
        Method::DELETE,
        &path(a, &format!("subscriptions/{sub}")),
        owner,
        None,
        204,
    )
    .await;
    let invoice = expect(&app, Method::GET, &invoice_path, owner, None, 200).await;
    assert_eq!(invoice["subscription_id"], Value::Null);
    assert_eq!(invoice["status"], "paid");
}

#[tokio::test]
async fn invalid_records_and_patches_are_refused_naming_the_field() {
    let app = TestApp::spawn().await;
    let team = app.team("val").await;
    let (a, owner) = (&team.account, &team.owner);
    for (kind, body, field) in [
        ("subscriptions", json!({}), "plan"),
        ("subscriptions", json!({"plan": ""}), "plan"),
        (
            "subscriptions",
            json!({"plan": "pro", "status": "paused"}),
            "status",
        ),
        (
            "subscriptions",
            json!({"plan": "pro", "quantity": -1}),
            "quantity",
        ),
        (
            "subscriptions",
            json!({"plan": "pro", "colour": "red"}),
            "colour",
        ),
        (
            "subscriptions",
            json!({"plan": "pro", "cancel_at": "tomorrow"}),
            "cancel_at",
        ),
        ("subscriptions", json!({"plan": "pro", "id": "sub_x"}), "id"),
        (
            "subscriptions",
            json!({"plan": "pro", "current_period_start": "2026-02-01T00:00:00Z",
                   "current_period_end": "2026-01-01T00:00:00Z"}),
            "current_period_end",
        ),
        (
            "subscriptions",
            json!({"plan": "pro", "metadata": {"n": 1}}),
            "metadata.n",
        ),
        (
            "subscriptions",
            json!({"plan": "pro", "metadata": {"k".repeat(41): "v"}}),
            "metadata",
        ),
        ("invoices", json!({}), "currency"),
        ("invoices", json!({"currency": "USD"}), "currency"),
        ("invoices", json!({"currency": "xyz"}), "currency"),
        (
            "invoices",
            json!({"currency": "eur", "amount_due": -100}),
            "amount_due",
        ),
        (
            "invoices",
            json!({"currency": "eur", "amount_paid": 1.5}),
            "amount_paid",
        ),
        (
            "invoices",
            json!({"currency": "eur", "status": "pending"}),
            "status",
        ),
        (
            "invoices",
            json!({"currency": "eur", "subscription_id": "sub_nope"}),
            "subscription_id",
        ),
        ("payments", json!({"currency": "eur"}), "amount"),
        (
            "payments",
            json!({"amount": -5, "currency": "eur"}),
            "amount",
        ),
        (
            "payments",
            json!({"amount": 5, "currency": "eur", "status": "paid"}),
            "status",
        ),
        (
            "payments",
            json!({"amount": 5, "currency": "eur", "payment_method": "a\u{7}b"}),
            "payment_method",
        ),
    ] {
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                &path(a, kind),
                owner,
                Some(body.clone()),
            )
            .await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(
            problem["errors"][0]["field"], field,
            "{kind} {body}: {problem}"
        );
    }
    let sub = id(&create(&app, owner, a, "subscriptions", json!({"plan": "pro"})).await);
    let one = path(a, &format!("subscriptions/{sub}"));
    for (patch, field) in [
        (json!({"id": "sub_other"}), "id"),
        (json!({"account_id": "acc_other"}), "account_id"),
        (json!({"created_at": "2026-01-01T00:00:00Z"}), "created_at"),
        (json!({"updated_at": "2026-01-01T00:00:00Z"}), "updated_at"),
        (json!({"colour": "red"}), "colour"),
        (json!({"status": "paused"}), "status"),
        (json!({"status": null}), "status"),
        (json!({"quantity": -2}), "quantity"),
        (json!({"plan": null}), "plan"),
        (json!({"metadata": {"v": true}}), "metadata.v"),
    ] {
        let problem = expect_problem(
            send(&app, Method::PATCH, &one, owner, Some(patch.clone())).await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{patch}: {problem}");
    }
    let problem = expect_problem(
        send(&app, Method::PATCH, &one, owner, Some(json!(["plan"]))).await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body");
    // Nothing of that was written.
    let shown = expect(&app, Method::GET, &one, owner, None, 200).await;
    assert_eq!(shown["status"], "active");
    assert_eq!(
        app.audit_actions(a)
            .await
            .iter()
            .filter(|action| action.starts_with("subscription."))
            .count(),
        1
    );
    // Ids of another kind, or no id, are simply not found.
    for other in ["invc_01JD2Z3X4Y5V6W7T8S9R0Q1P2N", "nope"] {
        let response = send(
            &app,
            Method::GET,
            &path(a, &format!("subscriptions/{other}")),
            owner,
            None,
        )
        .await;
        expect_problem(response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn lists_are_searched_with_the_admin_search_language() {
    let app = TestApp::spawn().await;
    let team = app.team("q").await;
    let (a, owner) = (&team.account, &team.owner);
    let mut ids = Vec::new();
    for (kind, body) in [
        (
            "invoices",
            json!({"status": "paid", "currency": "eur", "external_customer_id": "cus_alpha", "external_id": "in_1"}),
        ),
        (
            "invoices",
            json!({"status": "open", "currency": "eur", "external_customer_id": "cus_beta", "external_id": "in_2"}),
        ),
        (
            "invoices",
            json!({"status": "paid", "currency": "usd", "external_customer_id": "cus_alpha", "external_id": "in_3"}),
        ),
        (
            "subscriptions",
            json!({"plan": "enterprise", "external_id": "s_1"}),
        ),
        (
            "subscriptions",
            json!({"plan": "starter", "status": "past_due"}),
        ),
        (
            "payments",
            json!({"amount": 5, "currency": "eur", "payment_method": "card"}),
        ),
        (
            "payments",
            json!({"amount": 5, "currency": "eur", "payment_method": "sepa_debit"}),
        ),
    ] {
        ids.push(id(&create(&app, owner, a, kind, body).await));
    }
    let [paid_eur, open_eur, paid_usd, _, starter, card, _] = &ids[..] else {
        unreachable!()
    };
    for (kind, q, expected) in [
        ("invoices", "status:paid", vec![paid_usd, paid_eur]),
        ("invoices", "status:paid currency:EUR", vec![paid_eur]),
        (
            "invoices",
            "external_customer_id:cus_b* OR currency:usd",
            vec![paid_usd, open_eur],
        ),
        ("invoices", "NOT status:paid", vec![open_eur]),
        ("invoices", "in_2", vec![open_eur]),
        ("invoices", "", vec![paid_usd, open_eur, paid_eur]),
        (
            "subscriptions",
            "plan:start* status:past_due",
            vec![starter],
        ),
        ("payments", "payment_method:card", vec![card]),
    ] {
        assert_eq!(
            &search(&app, owner, a, kind, q)
                .await
                .iter()
                .collect::<Vec<_>>(),
            &expected,
            "{kind} {q}"
        );
    }
    // A page of a search, then the next one; the cursor is the search's only.
    let invoices = path(a, "invoices");
    let first = expect(
        &app,
        Method::GET,
        &format!("{invoices}?q=cus_alpha&limit=1"),
        owner,
        None,
        200,
    )
    .await;
    assert_eq!(first["data"][0]["id"], paid_usd.as_str());
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect(
        &app,
        Method::GET,
        &format!("{invoices}?q=cus_alpha&limit=1&cursor={cursor}"),
        owner,
        None,
        200,
    )
    .await;
    assert_eq!(second["data"][0]["id"], paid_eur.as_str());
    assert_eq!(second["next_cursor"], Value::Null);
    let elsewhere = send(
        &app,
        Method::GET,
        &format!("{invoices}?q=eur&cursor={cursor}"),
        owner,
        None,
    )
    .await;
    expect_problem(elsewhere, 400, "validation_failed").await;

    // Malformed or naming a field the list does not have: 400 naming the position.
    for (kind, q, position) in [
        ("invoices", "status:paid AND", "16"),
        ("invoices", "(status:paid", "1"),
        ("invoices", "plan:pro", "1"),
        ("subscriptions", "currency:eur", "1"),
        ("payments", "status:\"paid", "8"),
    ] {
        let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
        let problem = expect_problem(
            send(
                &app,
                Method::GET,
                &format!("{}?q={encoded}", path(a, kind)),
                owner,
                None,
            )
            .await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "q");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.ends_with(&format!("at position {position}")),
            "{q}: {message}"
        );
    }
}

#[tokio::test]
async fn records_are_deleted_by_query_in_one_change_with_an_event_each() {
    let app = TestApp::spawn().await;
    let team = app.team("del").await;
    let (a, owner) = (&team.account, &team.owner);
    let mut voided = Vec::new();
    for n in 0..5 {
        let invoice = create(
            &app,
            owner,
            a,
            "invoices",
            json!({"currency": "eur", "status": "void", "external_id": format!("v{n}")}),
        )
        .await;
        voided.push(id(&invoice));
    }
    let kept = id(&create(
        &app,
        owner,
        a,
        "invoices",
        json!({"currency": "eur", "status": "paid"}),
    )
    .await);
    voided.reverse(); // newest first
    let delete = path(a, "invoices/delete");

    // A dry run says what would go, and deletes nothing.
    let dry = expect(
        &app,
        Method::POST,
        &delete,
        owner,
        Some(json!({"query": "status:void", "dry_run": true, "limit": 2})),
        200,
    )
    .await;
    assert_eq!(dry, json!({"matched": 5, "deleted": 0, "ids": voided[..2]}));
    assert_eq!(search(&app, owner, a, "invoices", "").await.len(), 6);
    let deleted_events = |actions: Vec<String>| {
        actions
            .iter()
            .filter(|action| *action == "invoice.deleted")
            .count()
    };
    assert_eq!(deleted_events(app.audit_actions(a).await), 0);

    // With a limit, the newest that many go; the count says how many matched in all.
    let first = expect(
        &app,
        Method::POST,
        &delete,
        owner,
        Some(json!({"query": "status:void", "limit": 2})),
        200,
    )
    .await;
    assert_eq!(
        first,
        json!({"matched": 5, "deleted": 2, "ids": voided[..2]})
    );
    assert_eq!(deleted_events(app.audit_actions(a).await), 2);
    let rest = expect(
        &app,
        Method::POST,
        &delete,
        owner,
        Some(json!({"query": "status:void"})),
        200,
    )
    .await;
    assert_eq!(
        rest,
        json!({"matched": 3, "deleted": 3, "ids": voided[2..]})
    );
    assert_eq!(deleted_events(app.audit_actions(a).await), 5);
    assert_eq!(
        search(&app, owner, a, "invoices", "").await,
        [kept.as_str()]
    );
    let none = expect(
        &app,
        Method::POST,
        &delete,
        owner,
        Some(json!({"query": "status:void"})),
        200,
    )
    .await;
    assert_eq!(none, json!({"matched": 0, "deleted": 0, "ids": []}));

    // Every event names its record and the query.
    let details: Vec<String> =
        sqlx::query_scalar("select details from audit_events where action = 'invoice.deleted'")
            .fetch_all(app.state.store.pool())
            .await
            .unwrap();
    assert!(
        details
            .iter()
            .all(|d| d.contains("\"query\":\"status:void\""))
    );

    // An empty query is not "everything"; the limit is 1 to 1000; the query is checked.
    for (body, field) in [
        (json!({"query": ""}), "query"),
        (json!({"query": "   "}), "query"),
        (json!({}), "query"),
        (json!({"query": "status:paid", "limit": 0}), "limit"),
        (json!({"query": "status:paid", "limit": 1001}), "limit"),
        (json!({"query": "status:paid OR"}), "query"),
        (json!({"query": "payment_method:card"}), "query"),
        (json!({"query": "status:paid", "force": true}), "force"),
    ] {
        let problem = expect_problem(
            send(&app, Method::POST, &delete, owner, Some(body.clone())).await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }
    assert_eq!(search(&app, owner, a, "invoices", "").await, [kept]);

    // Payments the same way, by `payment_method` too.
    let card = id(&create(
        &app,
        owner,
        a,
        "payments",
        json!({"amount": 1, "currency": "usd", "payment_method": "card"}),
    )
    .await);
    let sepa = id(&create(
        &app,
        owner,
        a,
        "payments",
        json!({"amount": 1, "currency": "eur", "payment_method": "sepa"}),
    )
    .await);
    let gone = expect(
        &app,
        Method::POST,
        &path(a, "payments/delete"),
        owner,
        Some(json!({"query": "payment_method:card currency:usd"})),
        200,
    )
    .await;
    assert_eq!(gone, json!({"matched": 1, "deleted": 1, "ids": [card]}));
    assert_eq!(search(&app, owner, a, "payments", "").await, [sepa]);
    assert!(
        app.audit_actions(a)
            .await
            .contains(&"payment.deleted".to_owned())
    );
}

#[tokio::test]
async fn reading_needs_billing_read_and_changing_billing_write() {
    let app = TestApp::spawn().await;
    let team = app.team("perm").await;
    let (a, owner) = (&team.account, &team.owner);
    define_role(
        &app,
        owner,
        a,
        "bookkeeper",
        &["account:read", "billing:read"],
    )
    .await;
    let reader = holder(&app, owner, a, "bookkeeper-user", "bookkeeper").await;
    let sub = id(&create(&app, owner, a, "subscriptions", json!({"plan": "pro"})).await);
    let invoice = id(&create(&app, owner, a, "invoices", json!({"currency": "eur"})).await);

    // billing:read reads every list and record.
    for rest in ["subscriptions", "invoices", "payments"] {
        expect(&app, Method::GET, &path(a, rest), &reader, None, 200).await;
    }
    expect(
        &app,
        Method::GET,
        &path(a, &format!("subscriptions/{sub}")),
        &reader,
        None,
        200,
    )
    .await;
    expect(
        &app,
        Method::GET,
        &path(a, &format!("invoices/{invoice}")),
        &reader,
        None,
        200,
    )
    .await;
    // ... and changes nothing.
    let writes = [
        (
            Method::POST,
            path(a, "subscriptions"),
            json!({"plan": "pro"}),
        ),
        (
            Method::PATCH,
            path(a, &format!("subscriptions/{sub}")),
            json!({"plan": "max"}),
        ),
        (
            Method::DELETE,
            path(a, &format!("subscriptions/{sub}")),
            Value::Null,
        ),
        (
            Method::POST,
            path(a, "invoices"),
            json!({"currency": "eur"}),
        ),
        (
            Method::PATCH,
            path(a, &format!("invoices/{invoice}")),
            json!({"status": "void"}),
        ),
        (
            Method::POST,
            path(a, "invoices/delete"),
            json!({"query": "status:draft", "dry_run": true}),
        ),
        (
            Method::POST,
            path(a, "payments"),
            json!({"amount": 1, "currency": "eur"}),
        ),
        (
            Method::POST,
            path(a, "payments/delete"),
            json!({"query": "status:pending"}),
        ),
    ];
    for (method, target, body) in &writes {
        let body = (!body.is_null()).then(|| body.clone());
        let response = send(&app, method.clone(), target, &reader, body).await;
        expect_problem(response, 403, "forbidden").await;
    }
    // Built-in members and viewers read no billing; admins do everything.
    for user in [&team.member, &team.viewer] {
        for rest in ["subscriptions", "invoices", "payments"] {
            expect_problem(
                send(&app, Method::GET, &path(a, rest), user, None).await,
                403,
                "forbidden",
            )
            .await;
        }
    }
    for (method, target, body) in writes {
        let body = (!body.is_null()).then_some(body);
        let response = send(&app, method.clone(), &target, &team.admin, body).await;
        assert!(
            response.status().is_success(),
            "{method} {target}: {}",
            response.status()
        );
    }
    // A superadmin's user-level token acts as an owner would, and is audited as itself.
    let root = crate::admin::superadmin(&app).await;
    let created = create(
        &app,
        &root,
        a,
        "payments",
        json!({"amount": 7, "currency": "chf"}),
    )
    .await;
    expect(
        &app,
        Method::GET,
        &path(a, &format!("payments/{}", id(&created))),
        &root,
        None,
        200,
    )
    .await;
    let actor: String = sqlx::query_scalar(
        "select actor_id from audit_events where action = 'payment.created' and target_id = $1",
    )
    .bind(id(&created))
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(actor, root.id);
    // An outsider learns nothing.
    expect_problem(
        send(
            &app,
            Method::GET,
            &path(a, "invoices"),
            &team.outsider,
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn an_api_key_with_billing_write_records_an_invoice_and_the_webhook_hears_it() {
    let app = spawn_allowing_loopback().await;
    let team = app.team("hook").await;
    let (a, owner) = (&team.account, &team.owner);
    let receiver = Receiver::start().await;
    create_webhook(
        &app,
        owner,
        a,
        json!({"url": receiver.url, "events": ["invoice.created"]}),
    )
    .await;
    define_role(
        &app,
        owner,
        a,
        "billing-sync",
        &["billing:read", "billing:write"],
    )
    .await;
    let key = expect(
        &app,
        Method::POST,
        &path(a, "api-keys"),
        owner,
        Some(json!({"name": "sync", "role": "billing-sync"})),
        201,
    )
    .await;
    let machine = TestUser {
        id: String::new(),
        email: String::new(),
        token: key["token"].as_str().unwrap().to_owned(),
    };
    let invoice = create(
        &app,
        &machine,
        a,
        "invoices",
        json!({"currency": "gbp", "amount_due": 500, "number": "A-1"}),
    )
    .await;
    let delivery = receiver.wait_for_event("invoice.created").await.json();
    assert_eq!(delivery["data"]["account_id"], a.as_str());
    assert_eq!(
        delivery["data"]["target"],
        json!({"type": "invoice", "id": invoice["id"]})
    );
    assert_eq!(delivery["data"]["actor"]["type"], "api_key");
    assert_eq!(delivery["data"]["details"]["amount_due"], 500);
    assert_eq!(delivery["data"]["details"]["currency"], "gbp");
}

#[tokio::test]
async fn deleting_the_account_deletes_its_billing_records() {
    let app = TestApp::spawn().await;
    let team = app.team("gone").await;
    let (a, owner) = (&team.account, &team.owner);
    let child = app
        .create_account(owner, json!({"name": "Child", "parent_id": a}))
        .await;
    let child = child["id"].as_str().unwrap().to_owned();
    for account in [a, &child] {
        let sub = id(&create(
            &app,
            owner,
            account,
            "subscriptions",
            json!({"plan": "pro"}),
        )
        .await);
        let invoice = id(&create(
            &app,
            owner,
            account,
            "invoices",
            json!({"currency": "eur", "subscription_id": sub}),
        )
        .await);
        create(
            &app,
            owner,
            account,
            "payments",
            json!({"amount": 1, "currency": "eur", "invoice_id": invoice}),
        )
        .await;
    }
    let count = |table: &'static str| {
        let pool = app.state.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(&format!("select count(*) from {table}"))
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count("payments").await, 2);
    expect(
        &app,
        Method::DELETE,
        &format!("/v1/accounts/{a}?cascade=true"),
        owner,
        None,
        204,
    )
    .await;
    for table in ["subscriptions", "invoices", "payments"] {
        assert_eq!(count(table).await, 0, "{table}");
    }
}
