//! Permissions and roles (API.md §11): the catalogue, the roles an account may use (built-in
//! first, then its own and its ancestors' custom ones), custom roles created, changed and
//! deleted under `roles:write`, what their holders may do on `/v1`, and what account tokens
//! say of them. The escalation attacks are in `attacks.rs`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::account_tokens::account_token;
use crate::attacks::{claims, exchange};
use crate::helpers::{TestApp, TestUser, expect_problem};

/// The catalogue, in the order API.md §11 lists it.
const CATALOGUE: [&str; 16] = [
    "account:read",
    "account:write",
    "account:delete",
    "members:read",
    "members:write",
    "invites:write",
    "roles:write",
    "clients:read",
    "clients:write",
    "api_keys:write",
    "audit:read",
    "webhooks:write",
    "billing:read",
    "billing:write",
    "files:read",
    "files:write",
];

pub fn roles_path(account: &str) -> String {
    format!("/v1/accounts/{account}/roles")
}

/// A `/v1` request as the holder of `token` (a login token, an account token or an API key),
/// with a JSON body unless `body` is null.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    let request = app.api(method, path, token);
    let request = if body.is_null() {
        request
    } else {
        request.json(&body)
    };
    request.send().await.unwrap()
}

pub async fn status(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> u16 {
    call(app, method, path, token, body).await.status().as_u16()
}

/// Defines the custom role `id` allowing `permissions` on `account`, as `by` (201).
pub async fn define_role(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    id: &str,
    permissions: &[&str],
) -> Value {
    let body = json!({"id": id, "name": format!("Role {id}"), "permissions": permissions});
    let response = call(app, Method::POST, &roles_path(account), &by.token, body).await;
    assert_eq!(response.status(), 201, "define {id}");
    response.json().await.unwrap()
}

/// A new user who holds `role` on `account`, added by `by` (and accepting the invitation).
pub async fn holder(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    name: &str,
    role: &str,
) -> TestUser {
    let user = app.user(&format!("{name}@example.com")).await;
    app.add_member(by, account, &user, role).await;
    user
}

/// A child of `parent`, created by `by`.
async fn child_of(app: &TestApp, by: &TestUser, parent: &str) -> String {
    let child = app
        .create_account(by, json!({"name": "Child", "parent_id": parent}))
        .await;
    child["id"].as_str().unwrap().to_owned()
}

/// RFC 7662 introspection by the login client (tokens are issued to it).
async fn introspect(app: &TestApp, token: &str) -> Value {
    let client = app.login_client().await;
    app.http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn scoped_token(app: &TestApp, user: &TestUser, account: &str) -> Value {
    let response = account_token(app, user, json!({"account_id": account})).await;
    assert_eq!(response.status(), 200, "account token");
    response.json().await.unwrap()
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect()
}

fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap())
        .collect()
}

fn all_but<'a>(left_out: &[&str]) -> Vec<&'a str> {
    CATALOGUE
        .into_iter()
        .filter(|id| !left_out.contains(id))
        .collect()
}

#[tokio::test]
async fn the_permission_catalogue_lists_its_sixteen_ids_in_order() {
    let app = TestApp::spawn().await;
    let anyone = app.user("anyone@example.com").await;
    let response = call(
        &app,
        Method::GET,
        "/v1/permissions",
        &anyone.token,
        Value::Null,
    )
    .await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    assert_eq!(ids(&page["data"]), CATALOGUE);
    assert!(page["next_cursor"].is_null());
    for permission in page["data"].as_array().unwrap() {
        let description = permission["description"].as_str().unwrap();
        assert!(!description.is_empty(), "{permission}");
    }
    let anonymous = app.get("/v1/permissions").await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn roles_list_built_in_first_then_custom_ones_and_page_through_all_once() {
    let app = TestApp::spawn().await;
    let team = app.team("list").await;
    // Ids that sort as they were created, so that newest first is one order in any second.
    for id in ["aa-first", "bb-second", "cc-third"] {
        define_role(&app, &team.owner, &team.account, id, &["account:read"]).await;
    }
    let path = roles_path(&team.account);
    let response = call(&app, Method::GET, &path, &team.viewer.token, Value::Null).await;
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    let roles = &page["data"];
    assert_eq!(
        ids(roles),
        [
            "owner",
            "admin",
            "member",
            "viewer",
            "cc-third",
            "bb-second",
            "aa-first"
        ]
    );
    let expected: [Vec<&str>; 4] = [
        CATALOGUE.to_vec(),
        all_but(&["account:delete"]),
        vec!["account:read", "members:read", "files:read", "files:write"],
        vec!["account:read", "members:read"],
    ];
    for (role, permissions) in roles.as_array().unwrap().iter().zip(expected) {
        assert_eq!(role["builtin"], true, "{role}");
        assert_eq!(strings(&role["permissions"]), permissions, "{role}");
        assert!(role["name"].is_string() && role.get("description").is_some());
    }
    for role in &roles.as_array().unwrap()[4..] {
        assert_eq!(role["builtin"], false, "{role}");
        assert_eq!(strings(&role["permissions"]), ["account:read"]);
    }

    // Two at a time: every role once, in the same order.
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let query = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let url = format!("{path}?limit=2{query}");
        let page: Value = call(&app, Method::GET, &url, &team.member.token, Value::Null)
            .await
            .json()
            .await
            .unwrap();
        assert!(page["data"].as_array().unwrap().len() <= 2);
        walked.extend(ids(&page["data"]).into_iter().map(str::to_owned));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(walked, ids(roles));
    for bad in ["?limit=0", "?limit=101", "?cursor=not-ours"] {
        let response = call(
            &app,
            Method::GET,
            &format!("{path}{bad}"),
            &team.owner.token,
            Value::Null,
        )
        .await;
        expect_problem(response, 400, "validation_failed").await;
    }
    let outsider = call(&app, Method::GET, &path, &team.outsider.token, Value::Null).await;
    expect_problem(outsider, 404, "not_found").await;
}

#[tokio::test]
async fn a_role_is_shown_where_it_is_usable_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let team = app.team("show").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    let sibling = child_of(&app, &team.owner, &team.account).await;
    define_role(
        &app,
        &team.owner,
        &team.account,
        "support",
        &["account:read"],
    )
    .await;
    define_role(&app, &team.owner, &child, "tier-child", &["members:read"]).await;
    let show = |account: &str, role: &str, user: &TestUser| {
        let path = format!("{}/{role}", roles_path(account));
        let token = user.token.clone();
        let app = &app;
        async move { call(app, Method::GET, &path, &token, Value::Null).await }
    };
    let admin: Value = show(&team.account, "admin", &team.viewer)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(admin["id"], "admin");
    assert_eq!(admin["builtin"], true);
    assert_eq!(strings(&admin["permissions"]), all_but(&["account:delete"]));
    let own: Value = show(&team.account, "support", &team.member)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["builtin"], false);
    assert_eq!(own["account_id"], team.account.as_str());
    // The parent's role, seen from the child, says where it is defined.
    let inherited = show(&child, "support", &team.owner).await;
    assert_eq!(inherited.status(), 200);
    let inherited: Value = inherited.json().await.unwrap();
    assert_eq!(inherited["account_id"], team.account.as_str());
    let listed: Value = call(
        &app,
        Method::GET,
        &roles_path(&child),
        &team.owner.token,
        Value::Null,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        ids(&listed["data"])[4..],
        ["tier-child", "support"],
        "the child's own, then its parent's"
    );
    // A child's role is not the parent's nor a sibling's.
    for (account, role) in [
        (&team.account, "tier-child"),
        (&sibling, "tier-child"),
        (&team.account, "nobody"),
        (&team.account, "Not A Slug"),
    ] {
        expect_problem(show(account, role, &team.owner).await, 404, "not_found").await;
    }
    expect_problem(
        show(&team.account, "admin", &team.outsider).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn creating_a_role_checks_its_fields_and_its_id_along_the_lineage() {
    let app = TestApp::spawn().await;
    let team = app.team("create").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    let path = roles_path(&team.account);
    let body = json!({
        "id": "support",
        "name": "Support",
        "description": "Answers tickets",
        "permissions": ["app:tickets.reply", "members:read", "account:read"],
    });
    let response = call(&app, Method::POST, &path, &team.admin.token, body).await;
    assert_eq!(response.status(), 201);
    let role: Value = response.json().await.unwrap();
    assert_eq!(role["id"], "support");
    assert_eq!(role["name"], "Support");
    assert_eq!(role["description"], "Answers tickets");
    assert_eq!(
        strings(&role["permissions"]),
        ["account:read", "members:read", "app:tickets.reply"]
    );
    assert_eq!(role["builtin"], false);
    let shown: Value = call(
        &app,
        Method::GET,
        &format!("{path}/support"),
        &team.viewer.token,
        Value::Null,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(shown, role);

    let refused =
        |id: &str, permissions: Value| json!({"id": id, "name": "X", "permissions": permissions});
    for (body, field) in [
        (refused("S", json!([])), "id"),
        (refused("x", json!([])), "id"),
        (refused("has space", json!([])), "id"),
        (refused(&"x".repeat(33), json!([])), "id"),
        (refused("admin", json!([])), "id"),
        (refused("viewer", json!([])), "id"),
        // What client credentials tokens carry: a user's token must not read as a client's.
        (refused("client", json!([])), "id"),
        (refused("ok-id", json!(["root"])), "permissions"),
        (refused("ok-id", json!(["app:"])), "permissions"),
        (refused("ok-id", json!(["app:UP"])), "permissions"),
        (refused("ok-id", json!(["Account:Read"])), "permissions"),
        (
            json!({"id": "ok-id", "name": "X\u{0}Y", "permissions": []}),
            "name",
        ),
    ] {
        let response = call(&app, Method::POST, &path, &team.owner.token, body.clone()).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|error| error["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body}: {problem}");
    }
    for body in [
        json!({"id": "ok-id", "name": "X", "permissions": [], "builtin": true}),
        json!({"id": "ok-id", "name": "X", "permissions": "account:read"}),
        json!({"id": "ok-id", "permissions": []}),
    ] {
        let response = call(&app, Method::POST, &path, &team.owner.token, body).await;
        expect_problem(response, 400, "validation_failed").await;
    }
    let plain_text = app
        .api(Method::POST, &path, &team.owner.token)
        .header("content-type", "text/plain")
        .body(r#"{"id":"ok-id","name":"X","permissions":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain_text.status(), 415);

    // One id names one role along a lineage: the account's, an ancestor's or a descendant's.
    define_role(&app, &team.owner, &child, "deep", &["account:read"]).await;
    for (account, id) in [
        (&team.account, "support"),
        (&child, "support"),
        (&team.account, "deep"),
    ] {
        let body = json!({"id": id, "name": "Again", "permissions": []});
        let response = call(
            &app,
            Method::POST,
            &roles_path(account),
            &team.owner.token,
            body,
        )
        .await;
        expect_problem(response, 409, "conflict").await;
    }
    // Another tree may use it.
    let elsewhere = app
        .create_account(&team.outsider, json!({"name": "Elsewhere"}))
        .await;
    define_role(
        &app,
        &team.outsider,
        elsewhere["id"].as_str().unwrap(),
        "support",
        &[],
    )
    .await;

    let body = json!({"id": "by-member", "name": "X", "permissions": []});
    for (user, expected) in [(&team.member, 403), (&team.viewer, 403)] {
        let response = call(&app, Method::POST, &path, &user.token, body.clone()).await;
        expect_problem(response, expected, "forbidden").await;
    }
    let response = call(&app, Method::POST, &path, &team.outsider.token, body).await;
    expect_problem(response, 404, "not_found").await;
    // An admin may not define what it may not do itself: `account:delete` is the owner's.
    let body = json!({"id": "closer", "name": "X", "permissions": ["account:delete"]});
    let response = call(&app, Method::POST, &path, &team.admin.token, body.clone()).await;
    expect_problem(response, 403, "forbidden").await;
    let response = call(&app, Method::POST, &path, &team.owner.token, body).await;
    assert_eq!(response.status(), 201);
}

async fn patch_role(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    role: &str,
    content_type: &str,
    patch: &Value,
) -> reqwest::Response {
    app.api(
        Method::PATCH,
        &format!("{}/{role}", roles_path(account)),
        &by.token,
    )
    .header("content-type", content_type)
    .body(patch.to_string())
    .send()
    .await
    .unwrap()
}

const MERGE_PATCH: &str = "application/merge-patch+json";

#[tokio::test]
async fn a_role_changes_by_merge_patch_where_it_is_defined_only() {
    let app = TestApp::spawn().await;
    let team = app.team("patch").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    define_role(
        &app,
        &team.owner,
        &team.account,
        "support",
        &["account:read"],
    )
    .await;
    let patched = patch_role(
        &app,
        &team.admin,
        &team.account,
        "support",
        MERGE_PATCH,
        &json!({"description": "Answers tickets"}),
    )
    .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["description"], "Answers tickets");
    assert_eq!(patched["name"], "Role support");
    let patched = patch_role(
        &app,
        &team.admin,
        &team.account,
        "support",
        "application/json",
        &json!({"name": "Support desk", "permissions": ["members:read", "account:read", "app:x"]}),
    )
    .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["name"], "Support desk");
    assert_eq!(patched["description"], "Answers tickets");
    assert_eq!(
        strings(&patched["permissions"]),
        ["account:read", "members:read", "app:x"]
    );
    let cleared: Value = patch_role(
        &app,
        &team.owner,
        &team.account,
        "support",
        MERGE_PATCH,
        &json!({"description": null}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(cleared["description"].is_null(), "{cleared}");

    for patch in [
        json!({"id": "renamed"}),
        json!({"builtin": true}),
        json!({"permissions": ["root"]}),
        json!({"permissions": "account:read"}),
        json!({"name": ""}),
        json!(["name"]),
    ] {
        let response = patch_role(
            &app,
            &team.owner,
            &team.account,
            "support",
            MERGE_PATCH,
            &patch,
        )
        .await;
        expect_problem(response, 400, "validation_failed").await;
    }
    let rename = json!({"name": "Mine now"});
    let builtin = patch_role(
        &app,
        &team.owner,
        &team.account,
        "admin",
        MERGE_PATCH,
        &rename,
    )
    .await;
    expect_problem(builtin, 403, "forbidden").await;
    // The parent's role, through the child's path: changed where it is defined only.
    let from_child = patch_role(&app, &team.owner, &child, "support", MERGE_PATCH, &rename).await;
    expect_problem(from_child, 403, "forbidden").await;
    let unknown = patch_role(
        &app,
        &team.owner,
        &team.account,
        "nobody",
        MERGE_PATCH,
        &rename,
    )
    .await;
    expect_problem(unknown, 404, "not_found").await;
    let member = patch_role(
        &app,
        &team.member,
        &team.account,
        "support",
        MERGE_PATCH,
        &rename,
    )
    .await;
    expect_problem(member, 403, "forbidden").await;
    let outsider = patch_role(
        &app,
        &team.outsider,
        &team.account,
        "support",
        MERGE_PATCH,
        &rename,
    )
    .await;
    expect_problem(outsider, 404, "not_found").await;
    let shown: Value = call(
        &app,
        Method::GET,
        &format!("{}/support", roles_path(&team.account)),
        &team.owner.token,
        Value::Null,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(shown["name"], "Support desk");
}

#[tokio::test]
async fn a_roles_new_permissions_hold_for_its_holders_at_once_and_never_widen_a_token() {
    let app = TestApp::spawn().await;
    let team = app.team("live").await;
    define_role(
        &app,
        &team.owner,
        &team.account,
        "auditor",
        &["account:read", "members:read"],
    )
    .await;
    let auditor = holder(&app, &team.owner, &team.account, "auditor", "auditor").await;
    let issued = scoped_token(&app, &auditor, &team.account).await;
    let account_token = issued["access_token"].as_str().unwrap().to_owned();
    let audit = format!("/v1/accounts/{}/audit-logs", team.account);
    let members = format!("/v1/accounts/{}/members", team.account);
    let set_permissions = |permissions: &[&str]| {
        let patch = json!({"permissions": permissions});
        let app = &app;
        let owner = &team.owner;
        let account = &team.account;
        async move {
            let response = patch_role(app, owner, account, "auditor", MERGE_PATCH, &patch).await;
            assert_eq!(response.status(), 200);
        }
    };
    assert_eq!(
        status(&app, Method::GET, &audit, &auditor.token, Value::Null).await,
        403
    );

    set_permissions(&["account:read", "members:read", "audit:read"]).await;
    assert_eq!(
        status(&app, Method::GET, &audit, &auditor.token, Value::Null).await,
        200,
        "the holder gains it on the next request"
    );
    // The account token stays within what it was issued with.
    assert_eq!(
        status(&app, Method::GET, &audit, &account_token, Value::Null).await,
        403
    );
    let seen = introspect(&app, &account_token).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["role"], "auditor");
    assert_eq!(
        strings(&seen["permissions"]),
        ["account:read", "members:read"]
    );

    set_permissions(&["account:read"]).await;
    for token in [&auditor.token, &account_token] {
        assert_eq!(
            status(&app, Method::GET, &members, token, Value::Null).await,
            403,
            "the holder loses it on the next request"
        );
    }
    let seen = introspect(&app, &account_token).await;
    assert_eq!(seen["role"], "auditor");
    assert_eq!(strings(&seen["permissions"]), ["account:read"]);
    let actions = app.audit_actions(&team.account).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "role.updated").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_role_is_deleted_only_while_nobody_holds_it() {
    let app = TestApp::spawn().await;
    let team = app.team("delete").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    let role_path = |role: &str| format!("{}/{role}", roles_path(&team.account));
    let delete = |role: &str| {
        let path = role_path(role);
        let token = team.owner.token.clone();
        let app = &app;
        async move { call(app, Method::DELETE, &path, &token, Value::Null).await }
    };
    let in_use = |role: &str| {
        let delete = &delete;
        let role = role.to_owned();
        async move {
            expect_problem(delete(&role).await, 409, "role_in_use").await;
        }
    };
    for role in ["held", "invited", "keyed", "lapsed", "deep"] {
        define_role(&app, &team.owner, &team.account, role, &["account:read"]).await;
    }

    // A member of the account.
    let member = holder(&app, &team.owner, &team.account, "held", "held").await;
    in_use("held").await;
    let removed = call(
        &app,
        Method::DELETE,
        &format!("/v1/accounts/{}/members/{}", team.account, member.id),
        &team.owner.token,
        Value::Null,
    )
    .await;
    assert_eq!(removed.status(), 204);
    assert_eq!(delete("held").await.status(), 204);

    // A pending invitation.
    let invitation: Value = call(
        &app,
        Method::POST,
        &format!("/v1/accounts/{}/invites", team.account),
        &team.owner.token,
        json!({"email": "later@example.com", "role": "invited"}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(invitation["role"], "invited");
    in_use("invited").await;
    let revoked = call(
        &app,
        Method::DELETE,
        &format!(
            "/v1/accounts/{}/invites/{}",
            team.account,
            invitation["id"].as_str().unwrap()
        ),
        &team.owner.token,
        Value::Null,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(delete("invited").await.status(), 204);

    // A live API key of a descendant.
    let key = crate::api_keys::create_key(&app, &team.owner, &child, "keyed").await;
    in_use("keyed").await;
    let revoked = call(
        &app,
        Method::DELETE,
        &format!(
            "/v1/accounts/{child}/api-keys/{}",
            key["id"].as_str().unwrap()
        ),
        &team.owner.token,
        Value::Null,
    )
    .await;
    assert_eq!(revoked.status(), 204);
    assert_eq!(delete("keyed").await.status(), 204);

    // An expired key holds nothing: it never works again, and rolling keeps its expiry.
    let key = crate::api_keys::create_key(&app, &team.owner, &team.account, "lapsed").await;
    sqlx::query("update api_keys set expires_at = $1 where id = $2")
        .bind(tessera::clock::now() - 1)
        .bind(key["id"].as_str().unwrap())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(delete("lapsed").await.status(), 204);

    // A member of a descendant.
    let deep = holder(&app, &team.owner, &child, "deep", "deep").await;
    in_use("deep").await;
    let left = call(
        &app,
        Method::DELETE,
        &format!("/v1/accounts/{child}/members/{}", deep.id),
        &deep.token,
        Value::Null,
    )
    .await;
    assert_eq!(left.status(), 204);
    assert_eq!(delete("deep").await.status(), 204);

    let gone = call(
        &app,
        Method::GET,
        &role_path("deep"),
        &team.owner.token,
        Value::Null,
    )
    .await;
    expect_problem(gone, 404, "not_found").await;
    expect_problem(delete("deep").await, 404, "not_found").await;
    expect_problem(delete("owner").await, 403, "forbidden").await;
    define_role(&app, &team.owner, &team.account, "parents", &[]).await;
    let from_child = call(
        &app,
        Method::DELETE,
        &format!("{}/parents", roles_path(&child)),
        &team.owner.token,
        Value::Null,
    )
    .await;
    expect_problem(from_child, 403, "forbidden").await;
    let by_member = call(
        &app,
        Method::DELETE,
        &role_path("parents"),
        &team.member.token,
        Value::Null,
    )
    .await;
    expect_problem(by_member, 403, "forbidden").await;

    let actions = app.audit_actions(&team.account).await;
    for (action, count) in [("role.created", 6), ("role.deleted", 5)] {
        let found = actions.iter().filter(|a| *a == action).count();
        assert_eq!(found, count, "{action} in {actions:?}");
    }
}

#[tokio::test]
async fn account_tokens_carry_the_role_and_exactly_its_permissions() {
    let app = TestApp::spawn().await;
    let team = app.team("claims").await;
    let permissions = ["account:read", "members:read", "app:tickets.reply"];
    define_role(&app, &team.owner, &team.account, "support", &permissions).await;
    let agent = holder(&app, &team.owner, &team.account, "agent", "support").await;

    let rest = scoped_token(&app, &agent, &team.account).await;
    assert_eq!(rest["role"], "support");
    assert_eq!(strings(&rest["permissions"]), permissions);
    assert!(rest.get("inherited_from").is_none(), "{rest}");
    let token = claims(rest["access_token"].as_str().unwrap());
    assert_eq!(token["role"], "support");
    assert_eq!(strings(&token["permissions"]), permissions);
    assert!(token.get("inherited_from").is_none(), "{token}");

    let exchanged = exchange(&app, &agent.token, &team.account, &[]).await;
    assert_eq!(exchanged["status"], 200, "{exchanged}");
    let token = claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(token["acc"], team.account.as_str());
    assert_eq!(token["role"], "support");
    assert_eq!(strings(&token["permissions"]), permissions);

    for (user, role, permissions) in [
        (&team.owner, "owner", CATALOGUE.to_vec()),
        (&team.admin, "admin", all_but(&["account:delete"])),
        (&team.viewer, "viewer", vec!["account:read", "members:read"]),
    ] {
        let rest = scoped_token(&app, user, &team.account).await;
        assert_eq!(rest["role"], role);
        assert_eq!(strings(&rest["permissions"]), permissions, "{role}");
        let token = claims(rest["access_token"].as_str().unwrap());
        assert_eq!(strings(&token["permissions"]), permissions, "{role}");
    }
}

#[tokio::test]
async fn an_ancestors_owner_gets_admin_tokens_for_descendants_and_its_members_do_not() {
    let app = TestApp::spawn().await;
    let team = app.team("tree").await;
    let child = child_of(&app, &team.admin, &team.account).await;
    // The child's creator owns it; the parent's owner is no member of it.
    let rest = scoped_token(&app, &team.owner, &child).await;
    assert_eq!(rest["role"], "admin");
    assert_eq!(rest["inherited_from"], team.account.as_str());
    assert_eq!(strings(&rest["permissions"]), all_but(&["account:delete"]));
    let token = claims(rest["access_token"].as_str().unwrap());
    assert_eq!(token["acc"], child.as_str());
    assert_eq!(token["role"], "admin");
    assert_eq!(token["inherited_from"], team.account.as_str());
    let exchanged = exchange(&app, &team.owner.token, &child, &[]).await;
    assert_eq!(exchanged["status"], 200, "{exchanged}");
    let token = claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(token["role"], "admin");
    assert_eq!(token["inherited_from"], team.account.as_str());
    // The child's own owner holds its role there, not an inherited one.
    let own = scoped_token(&app, &team.admin, &child).await;
    assert_eq!(own["role"], "owner");
    assert!(own.get("inherited_from").is_none(), "{own}");

    for user in [&team.member, &team.viewer] {
        let response = account_token(&app, user, json!({"account_id": child})).await;
        expect_problem(response, 404, "not_found").await;
        let exchanged = exchange(&app, &user.token, &child, &[]).await;
        assert_eq!(exchanged["status"], 400, "{exchanged}");
        assert_eq!(exchanged["error"], "invalid_target");
    }
}

#[tokio::test]
async fn an_owners_member_scoped_token_exchanges_to_member_permissions_only() {
    let app = TestApp::spawn().await;
    let team = app.team("narrow").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    // The member of the parent owns the child as well.
    app.add_member(&team.owner, &child, &team.member, "owner")
        .await;
    assert_eq!(
        scoped_token(&app, &team.member, &child).await["role"],
        "owner"
    );
    let scoped = scoped_token(&app, &team.member, &team.account).await;
    assert_eq!(scoped["role"], "member");
    let scoped = scoped["access_token"].as_str().unwrap();
    let member_permissions = ["account:read", "members:read", "files:read", "files:write"];

    let exchanged = exchange(&app, scoped, &child, &[]).await;
    assert_eq!(exchanged["status"], 200, "{exchanged}");
    let token = claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(token["acc"], child.as_str());
    assert_eq!(token["role"], "member");
    assert_eq!(strings(&token["permissions"]), member_permissions);
    let holder = TestUser {
        token: scoped.to_owned(),
        ..team.member.clone()
    };
    let rest = scoped_token(&app, &holder, &child).await;
    assert_eq!(rest["role"], "member");
    assert_eq!(strings(&rest["permissions"]), member_permissions);
    let rename = json!({"name": "Owned"});
    let response = call(
        &app,
        Method::PATCH,
        &format!("/v1/accounts/{child}"),
        rest["access_token"].as_str().unwrap(),
        rename,
    )
    .await;
    expect_problem(response, 403, "forbidden").await;
}

#[tokio::test]
async fn a_custom_roles_holder_acts_by_its_permissions() {
    let app = TestApp::spawn().await;
    let team = app.team("acts").await;
    let account = format!("/v1/accounts/{}", team.account);
    let clients = format!("{account}/clients");
    let audit = format!("{account}/audit-logs");
    let define = |id: &'static str, permissions: &'static [&'static str]| {
        let app = &app;
        let team = &team;
        async move {
            define_role(app, &team.owner, &team.account, id, permissions).await;
            holder(app, &team.owner, &team.account, id, id).await
        }
    };
    let client = crate::clients::confidential();

    let reader = define("clients-reader", &["account:read", "clients:read"]).await;
    let get = |path: &str, user: &TestUser| {
        let path = path.to_owned();
        let token = user.token.clone();
        let app = &app;
        async move { status(app, Method::GET, &path, &token, Value::Null).await }
    };
    assert_eq!(get(&clients, &reader).await, 200);
    assert_eq!(get(&account, &reader).await, 200);
    let created = call(&app, Method::POST, &clients, &reader.token, client.clone()).await;
    expect_problem(created, 403, "forbidden").await;
    assert_eq!(get(&audit, &reader).await, 403);
    assert_eq!(get(&format!("{account}/members"), &reader).await, 403);

    let auditor = define("auditor", &["audit:read"]).await;
    assert_eq!(get(&audit, &auditor).await, 200);
    assert_eq!(get(&clients, &auditor).await, 403);
    assert_eq!(get(&account, &auditor).await, 403, "no account:read");

    let editor = define("editor", &["account:read", "account:write"]).await;
    let patch = |user: &TestUser, body: Value| {
        let token = user.token.clone();
        let app = &app;
        let account = account.clone();
        async move { call(app, Method::PATCH, &account, &token, body).await }
    };
    assert_eq!(
        patch(&editor, json!({"name": "Renamed"})).await.status(),
        200
    );
    let billing = json!({"billing_email": "billing@example.com"});
    expect_problem(patch(&editor, billing.clone()).await, 403, "forbidden").await;
    let suspend = json!({"status": "suspended"});
    expect_problem(patch(&editor, suspend.clone()).await, 403, "forbidden").await;
    let biller = define(
        "biller",
        &["account:read", "account:write", "billing:write"],
    )
    .await;
    assert_eq!(patch(&biller, billing).await.status(), 200);

    // account:delete suspends and reactivates, without account:write.
    let closer = define("closer", &["account:read", "account:delete"]).await;
    expect_problem(
        patch(&closer, json!({"name": "Mine"})).await,
        403,
        "forbidden",
    )
    .await;
    let suspended = patch(&closer, suspend).await;
    assert_eq!(suspended.status(), 200);
    let suspended: Value = suspended.json().await.unwrap();
    assert_eq!(suspended["status"], "suspended");
    let active = patch(&closer, json!({"status": "active"})).await;
    assert_eq!(active.status(), 200);
}

#[tokio::test]
async fn a_role_of_another_tree_cannot_be_granted() {
    let app = TestApp::spawn().await;
    let team = app.team("mine").await;
    let theirs = app
        .create_account(&team.outsider, json!({"name": "Theirs"}))
        .await;
    let theirs = theirs["id"].as_str().unwrap();
    define_role(&app, &team.outsider, theirs, "theirs", &["account:read"]).await;
    let newcomer = app.user("newcomer@example.com").await;
    let account = format!("/v1/accounts/{}", team.account);
    for (path, body) in [
        (
            format!("{account}/members"),
            json!({"user_id": newcomer.id, "role": "theirs"}),
        ),
        (
            format!("{account}/invites"),
            json!({"email": newcomer.email, "role": "theirs"}),
        ),
        (
            format!("{account}/api-keys"),
            json!({"name": "Key", "role": "theirs"}),
        ),
    ] {
        let response = call(&app, Method::POST, &path, &team.owner.token, body).await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "role", "{path}: {problem}");
    }
    let show = call(
        &app,
        Method::GET,
        &format!("{}/theirs", roles_path(&team.account)),
        &team.owner.token,
        Value::Null,
    )
    .await;
    expect_problem(show, 404, "not_found").await;
}
