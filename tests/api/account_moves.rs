//! `POST /v1/accounts/{acc}/move`: a subtree changes parents; who may move it where, no
//! cycles (also when two moves race), the three logs, and tokens that follow the new tree.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};
use tessera::clock;
use tessera::tokens;

use crate::helpers::{TestApp, TestUser};
use crate::roles::{Bearer, bearer, introspect, scoped_token};

fn move_path(account: &str) -> String {
    format!("/v1/accounts/{account}/move")
}

/// Moves `account` under `parent` (null: a root) as the holder of `api` (200); the account.
async fn move_to(api: Bearer<'_>, account: &str, parent: Value) -> Value {
    let body = json!({"parent_id": parent});
    api.expect(Method::POST, &move_path(account), body, 200)
        .await
}

async fn root(app: &TestApp, owner: &TestUser, name: &str) -> String {
    let account = app.create_account(owner, json!({"name": name})).await;
    account["id"].as_str().unwrap().to_owned()
}

async fn child(app: &TestApp, owner: &TestUser, parent: &str, name: &str) -> String {
    let account = app
        .create_account(owner, json!({"name": name, "parent_id": parent}))
        .await;
    account["id"].as_str().unwrap().to_owned()
}

/// The `account.moved` events of an account's log, newest first: their details.
async fn moves(app: &TestApp, owner: &TestUser, account: &str) -> Vec<Value> {
    let path = format!("/v1/accounts/{account}/audit-logs?action=account.moved");
    let page = bearer(app, &owner.token).read(&path).await;
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| {
            assert_eq!(event["target"]["type"], "account");
            event["details"].clone()
        })
        .collect()
}

#[tokio::test]
async fn a_moved_account_has_its_new_parent_in_three_logs() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let old = root(&app, &ada, "Old").await;
    let new = root(&app, &ada, "New").await;
    let moved = child(&app, &ada, &old, "Moved").await;
    let grandchild = child(&app, &ada, &moved, "Grandchild").await;
    let ada_api = bearer(&app, &ada.token);

    let answer = move_to(ada_api, &moved, json!(new)).await;
    assert_eq!(answer["id"], moved);
    assert_eq!(answer["parent_id"], new);
    assert_eq!(answer["name"], "Moved");
    let shown = ada_api.read(&format!("/v1/accounts/{moved}")).await;
    assert_eq!(shown, answer);
    let details = json!({"from": old, "to": new});
    for log in [&moved, &old, &new] {
        let events = moves(&app, &ada, log).await;
        assert_eq!(events, std::slice::from_ref(&details), "log of {log}");
    }
    assert!(moves(&app, &ada, &grandchild).await.is_empty());
    let children = ada_api.read(&format!("/v1/accounts/{new}/children")).await;
    assert_eq!(children["data"][0]["id"], moved);
    let children = ada_api.read(&format!("/v1/accounts/{old}/children")).await;
    assert_eq!(children["data"], json!([]));

    // The same parent again: nothing happens, nothing is logged.
    let again = move_to(ada_api, &moved, json!(new)).await;
    assert_eq!(again, answer);
    assert_eq!(moves(&app, &ada, &moved).await.len(), 1);

    // A root, by its owner.
    let rooted = move_to(ada_api, &moved, Value::Null).await;
    assert_eq!(rooted["parent_id"], Value::Null);
    assert_eq!(
        moves(&app, &ada, &moved).await[0],
        json!({"from": new, "to": null})
    );
    assert_eq!(moves(&app, &ada, &new).await.len(), 2);
    assert_eq!(moves(&app, &ada, &old).await.len(), 1);
    // And back under a parent.
    move_to(ada_api, &moved, json!(old)).await;
    assert_eq!(
        moves(&app, &ada, &moved).await[0],
        json!({"from": null, "to": old})
    );
}

#[tokio::test]
async fn an_account_cannot_move_under_itself_or_its_descendants() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let top = root(&app, &ada, "Top").await;
    let middle = child(&app, &ada, &top, "Middle").await;
    let bottom = child(&app, &ada, &middle, "Bottom").await;
    let ada_api = bearer(&app, &ada.token);
    for (account, parent) in [
        (&top, &top),
        (&top, &middle),
        (&top, &bottom),
        (&middle, &bottom),
    ] {
        ada_api
            .refused(
                Method::POST,
                &move_path(account),
                json!({"parent_id": parent}),
                409,
                "cycle",
            )
            .await;
    }
    assert!(moves(&app, &ada, &top).await.is_empty());
    let shown = ada_api.read(&format!("/v1/accounts/{top}")).await;
    assert_eq!(shown["parent_id"], Value::Null);
    // Up the tree is fine.
    let moved = move_to(ada_api, &bottom, json!(top)).await;
    assert_eq!(moved["parent_id"], top);
}

#[tokio::test]
async fn moving_needs_admin_on_the_account_and_the_new_parent_and_a_root_its_owner() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let a = &team.account;
    let sub = child(&app, &team.owner, a, "Sub").await;
    let other = app.team("globex").await;
    let target = &other.account;
    let third = root(&app, &other.owner, "Third").await;
    app.add_member(&team.owner, &sub, &team.member, "member")
        .await;
    app.add_member(&team.owner, &sub, &team.viewer, "viewer")
        .await;
    // Acme's admin administers globex, and only views the third.
    app.add_member(&other.owner, target, &team.admin, "admin")
        .await;
    app.add_member(&other.owner, &third, &team.admin, "viewer")
        .await;
    let path = move_path(&sub);
    for (user, body, status, code) in [
        // No relation to the account: it does not exist for them.
        (
            &team.outsider,
            json!({"parent_id": target}),
            404,
            "not_found",
        ),
        (&other.owner, json!({"parent_id": target}), 404, "not_found"),
        // Related, short of admin.
        (&team.member, json!({"parent_id": a}), 403, "forbidden"),
        (&team.member, json!({"parent_id": target}), 403, "forbidden"),
        (&team.viewer, json!({"parent_id": null}), 403, "forbidden"),
        // Admin on the account, a viewer on the new parent.
        (&team.admin, json!({"parent_id": third}), 403, "forbidden"),
        // A root needs the owner.
        (&team.admin, json!({"parent_id": null}), 403, "forbidden"),
        (&team.admin, json!({"parent_id": target}), 200, ""),
    ] {
        let api = bearer(&app, &user.token);
        if status == 200 {
            api.expect(Method::POST, &path, body, 200).await;
        } else {
            api.refused(Method::POST, &path, body, status, code).await;
        }
    }
    // An admin of the account who has no relation to the parent finds no such parent.
    let stranger = root(&app, &other.outsider, "Stranger's").await;
    bearer(&app, &team.admin.token)
        .refused(
            Method::POST,
            &path,
            json!({"parent_id": stranger}),
            404,
            "not_found",
        )
        .await;
    let missing = tessera::ids::AccountId::generate().to_string();
    bearer(&app, &team.owner.token)
        .refused(
            Method::POST,
            &path,
            json!({"parent_id": missing}),
            404,
            "not_found",
        )
        .await;
    for body in [
        json!({}),
        json!({"parent_id": "nope"}),
        json!({"parent_id": 7}),
    ] {
        let problem = bearer(&app, &team.admin.token)
            .refused(Method::POST, &path, body, 400, "validation_failed")
            .await;
        assert_eq!(problem["errors"][0]["field"], "parent_id");
    }
    // Its owner (the creator) makes it a root.
    let rooted = move_to(bearer(&app, &team.owner.token), &sub, Value::Null).await;
    assert_eq!(rooted["parent_id"], Value::Null);
}

#[tokio::test]
async fn tokens_follow_the_new_ancestry_at_once() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let old = root(&app, &ada, "Old").await;
    let new = root(&app, &ada, "New").await;
    let moved = child(&app, &ada, &old, "Moved").await;
    let bob = app.user("bob@example.com").await;
    let carol = app.user("carol@example.com").await;
    app.add_member(&ada, &old, &bob, "admin").await;
    app.add_member(&ada, &new, &carol, "admin").await;
    let shown = format!("/v1/accounts/{moved}");

    // Bob administers the child through the old parent, with an account token of it.
    let body = scoped_token(&app, &bob, &moved).await;
    let bob_scoped = body["access_token"].as_str().unwrap().to_owned();
    let claims = app.state.keys.verify_access_token(&bob_scoped).unwrap();
    bearer(&app, &bob_scoped).read(&shown).await;
    bearer(&app, &carol.token)
        .refused(Method::GET, &shown, json!(null), 404, "not_found")
        .await;

    move_to(bearer(&app, &ada.token), &moved, json!(new)).await;

    assert!(
        !tokens::is_live(&app.state.store, &claims, clock::now())
            .await
            .unwrap()
    );
    bearer(&app, &bob_scoped)
        .refused(Method::GET, &shown, json!(null), 401, "invalid_token")
        .await;
    bearer(&app, &bob.token)
        .refused(Method::GET, &shown, json!(null), 404, "not_found")
        .await;
    assert_eq!(introspect(&app, &bob_scoped).await["active"], false);
    // Carol administers it now, and may take an account token of it.
    assert_eq!(
        bearer(&app, &carol.token).read(&shown).await["parent_id"],
        new
    );
    let body = scoped_token(&app, &carol, &moved).await;
    bearer(&app, body["access_token"].as_str().unwrap())
        .read(&shown)
        .await;
}

#[tokio::test]
async fn two_accounts_moving_under_each_other_at_once_cannot_both_succeed() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada@example.com").await;
    let ada_api = bearer(&app, &ada.token);
    for round in 0..5 {
        let a = root(&app, &ada, &format!("A{round}")).await;
        let b = root(&app, &ada, &format!("B{round}")).await;
        let (a_path, b_path) = (move_path(&a), move_path(&b));
        let races = [
            ada_api.status(Method::POST, &a_path, json!({"parent_id": b})),
            ada_api.status(Method::POST, &b_path, json!({"parent_id": a})),
        ];
        let mut statuses = join_all(races).await;
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let a_parent = ada_api.read(&format!("/v1/accounts/{a}")).await["parent_id"].clone();
        let b_parent = ada_api.read(&format!("/v1/accounts/{b}")).await["parent_id"].clone();
        assert!(
            (a_parent == b && b_parent.is_null()) || (b_parent == a && a_parent.is_null()),
            "round {round}: {a_parent} {b_parent}"
        );
    }
}
