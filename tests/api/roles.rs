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

/// `/v1` as the holder of one token: a login token, an account token or an API key.
#[derive(Clone, Copy)]
pub struct Bearer<'a> {
    app: &'a TestApp,
    token: &'a str,
}

pub fn bearer<'a>(app: &'a TestApp, token: &'a str) -> Bearer<'a> {
    Bearer { app, token }
}

impl Bearer<'_> {
    /// The request, with a JSON body unless `body` is null.
    pub async fn send(self, method: Method, path: &str, body: Value) -> reqwest::Response {
        let request = self.app.api(method, path, self.token);
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        request.send().await.unwrap()
    }

    pub async fn status(self, method: Method, path: &str, body: Value) -> u16 {
        self.send(method, path, body).await.status().as_u16()
    }

    /// The JSON answer (null when there is none), which must have `status`.
    pub async fn expect(self, method: Method, path: &str, body: Value, status: u16) -> Value {
        let what = format!("{method} {path}");
        let response = self.send(method, path, body).await;
        let actual = response.status().as_u16();
        let answer = response.json().await.unwrap_or(Value::Null);
        assert_eq!(actual, status, "{what}: {answer}");
        answer
    }

    pub async fn read(self, path: &str) -> Value {
        self.expect(Method::GET, path, Value::Null, 200).await
    }

    /// A problem with `status` and `code`.
    pub async fn refused(
        self,
        method: Method,
        path: &str,
        body: Value,
        status: u16,
        code: &str,
    ) -> Value {
        expect_problem(self.send(method, path, body).await, status, code).await
    }
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
    bearer(app, &by.token)
        .expect(Method::POST, &roles_path(account), body, 201)
        .await
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
pub async fn introspect(app: &TestApp, token: &str) -> Value {
    let client = app.login_client().await;
    let response = app
        .http
        .post(app.url("/oauth2/introspect"))
        .basic_auth(client.client_id.as_str(), Some(&client.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// `POST /v1/auth/account-token` for `account` (200).
pub async fn scoped_token(app: &TestApp, user: &TestUser, account: &str) -> Value {
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

const MEMBER: [&str; 4] = ["account:read", "members:read", "files:read", "files:write"];
const VIEWER: [&str; 2] = ["account:read", "members:read"];

#[tokio::test]
async fn the_permission_catalogue_lists_its_sixteen_ids_in_order() {
    let app = TestApp::spawn().await;
    let anyone = app.user("anyone@example.com").await;
    let page = bearer(&app, &anyone.token).read("/v1/permissions").await;
    assert_eq!(ids(&page["data"]), CATALOGUE);
    assert!(page["next_cursor"].is_null());
    for permission in page["data"].as_array().unwrap() {
        let description = permission["description"].as_str().unwrap();
        assert!(!description.is_empty(), "{permission}");
    }
    assert_eq!(app.get("/v1/permissions").await.status(), 401);
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
    let page = bearer(&app, &team.viewer.token).read(&path).await;
    let roles = &page["data"];
    let listed = [
        "owner",
        "admin",
        "member",
        "viewer",
        "cc-third",
        "bb-second",
        "aa-first",
    ];
    assert_eq!(ids(roles), listed);
    let builtin = [
        CATALOGUE.to_vec(),
        all_but(&["account:delete"]),
        MEMBER.to_vec(),
        VIEWER.to_vec(),
    ];
    for (role, permissions) in roles.as_array().unwrap().iter().zip(builtin) {
        assert_eq!(role["builtin"], true, "{role}");
        assert_eq!(strings(&role["permissions"]), permissions, "{role}");
        assert!(role["name"].is_string() && role["description"].is_string());
    }
    for role in &roles.as_array().unwrap()[4..] {
        assert_eq!(role["builtin"], false, "{role}");
        assert_eq!(strings(&role["permissions"]), ["account:read"]);
    }

    // Two at a time: every role once, in the same order.
    let member = bearer(&app, &team.member.token);
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..listed.len() {
        let query = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let page = member.read(&format!("{path}?limit=2{query}")).await;
        assert!(page["data"].as_array().unwrap().len() <= 2);
        walked.extend(ids(&page["data"]).into_iter().map(str::to_owned));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(walked, listed);
    let owner = bearer(&app, &team.owner.token);
    for bad in ["?limit=0", "?limit=101", "?cursor=not-ours"] {
        let path = format!("{path}{bad}");
        owner
            .refused(Method::GET, &path, Value::Null, 400, "validation_failed")
            .await;
    }
    bearer(&app, &team.outsider.token)
        .refused(Method::GET, &path, Value::Null, 404, "not_found")
        .await;
}

#[tokio::test]
async fn a_role_is_shown_where_it_is_usable_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let team = app.team("show").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    let sibling = child_of(&app, &team.owner, &team.account).await;
    define_role(&app, &team.owner, &team.account, "support", &VIEWER).await;
    define_role(&app, &team.owner, &child, "tier-child", &VIEWER).await;
    let one = |account: &str, role: &str| format!("{}/{role}", roles_path(account));
    let admin = bearer(&app, &team.viewer.token)
        .read(&one(&team.account, "admin"))
        .await;
    assert_eq!(admin["id"], "admin");
    assert_eq!(admin["builtin"], true);
    assert_eq!(strings(&admin["permissions"]), all_but(&["account:delete"]));
    let member = bearer(&app, &team.member.token);
    let own = member.read(&one(&team.account, "support")).await;
    assert_eq!(own["builtin"], false);
    assert_eq!(own["account_id"], team.account.as_str());
    // The parent's role, seen from the child, says where it is defined.
    let owner = bearer(&app, &team.owner.token);
    let inherited = owner.read(&one(&child, "support")).await;
    assert_eq!(inherited["account_id"], team.account.as_str());
    let listed = owner.read(&roles_path(&child)).await;
    let custom = &ids(&listed["data"])[4..];
    assert_eq!(
        custom,
        ["tier-child", "support"],
        "its own, then its parent's"
    );
    // A child's role is not the parent's nor a sibling's.
    for (account, role) in [
        (&team.account, "tier-child"),
        (&sibling, "tier-child"),
        (&team.account, "nobody"),
        (&team.account, "Not A Slug"),
    ] {
        let path = one(account, role);
        owner
            .refused(Method::GET, &path, Value::Null, 404, "not_found")
            .await;
    }
    bearer(&app, &team.outsider.token)
        .refused(
            Method::GET,
            &one(&team.account, "admin"),
            Value::Null,
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
    let owner = bearer(&app, &team.owner.token);
    let body = json!({
        "id": "support",
        "name": "Support",
        "description": "Answers tickets",
        "permissions": ["app:tickets.reply", "members:read", "account:read"],
    });
    let admin = bearer(&app, &team.admin.token);
    let role = admin.expect(Method::POST, &path, body, 201).await;
    assert_eq!(role["id"], "support");
    assert_eq!(role["name"], "Support");
    assert_eq!(role["description"], "Answers tickets");
    let permissions = ["account:read", "members:read", "app:tickets.reply"];
    assert_eq!(strings(&role["permissions"]), permissions);
    assert_eq!(role["builtin"], false);
    let shown = bearer(&app, &team.viewer.token)
        .read(&format!("{path}/support"))
        .await;
    assert_eq!(shown, role);

    let new =
        |id: &str, permissions: Value| json!({"id": id, "name": "X", "permissions": permissions});
    for (body, field) in [
        (new("S", json!([])), "id"),
        (new("x", json!([])), "id"),
        (new("has space", json!([])), "id"),
        (new(&"x".repeat(33), json!([])), "id"),
        (new("admin", json!([])), "id"),
        (new("viewer", json!([])), "id"),
        // What client credentials tokens carry: a user's token must not read as a client's.
        (new("client", json!([])), "id"),
        (new("ok-id", json!(["root"])), "permissions"),
        (new("ok-id", json!(["app:"])), "permissions"),
        (new("ok-id", json!(["app:UP"])), "permissions"),
        (new("ok-id", json!(["Account:Read"])), "permissions"),
        (
            json!({"id": "ok-id", "name": "X\u{0}Y", "permissions": []}),
            "name",
        ),
    ] {
        let problem = owner
            .refused(Method::POST, &path, body.clone(), 400, "validation_failed")
            .await;
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
        owner
            .refused(Method::POST, &path, body, 400, "validation_failed")
            .await;
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
    define_role(&app, &team.owner, &child, "deep", &[]).await;
    for (account, id) in [
        (&team.account, "support"),
        (&child, "support"),
        (&team.account, "deep"),
    ] {
        let body = json!({"id": id, "name": "Again", "permissions": []});
        owner
            .refused(Method::POST, &roles_path(account), body, 409, "conflict")
            .await;
    }
    // Another tree may use it.
    let elsewhere = app
        .create_account(&team.outsider, json!({"name": "Elsewhere"}))
        .await;
    let elsewhere = elsewhere["id"].as_str().unwrap();
    define_role(&app, &team.outsider, elsewhere, "support", &[]).await;

    let body = json!({"id": "by-member", "name": "X", "permissions": []});
    for (user, status, code) in [
        (&team.member, 403, "forbidden"),
        (&team.viewer, 403, "forbidden"),
        (&team.outsider, 404, "not_found"),
    ] {
        bearer(&app, &user.token)
            .refused(Method::POST, &path, body.clone(), status, code)
            .await;
    }
    // An admin may not define what it may not do itself: `account:delete` is the owner's.
    let body = json!({"id": "closer", "name": "X", "permissions": ["account:delete"]});
    admin
        .refused(Method::POST, &path, body.clone(), 403, "forbidden")
        .await;
    owner.expect(Method::POST, &path, body, 201).await;
}

/// `PATCH` of a role with an explicit content type.
async fn patch_role(
    app: &TestApp,
    by: &TestUser,
    path: &str,
    content_type: &str,
    patch: &Value,
) -> reqwest::Response {
    app.api(Method::PATCH, path, &by.token)
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
    let support = format!("{}/support", roles_path(&team.account));
    let patched = |content_type: &'static str, patch: Value| {
        let (app, admin, path) = (&app, &team.admin, &support);
        async move {
            let response = patch_role(app, admin, path, content_type, &patch).await;
            assert_eq!(response.status(), 200, "{patch}");
            response.json::<Value>().await.unwrap()
        }
    };
    let role = patched(MERGE_PATCH, json!({"description": "Answers tickets"})).await;
    assert_eq!(role["description"], "Answers tickets");
    assert_eq!(role["name"], "Role support");
    let permissions = json!(["members:read", "account:read", "app:x"]);
    let patch = json!({"name": "Support desk", "permissions": permissions});
    let role = patched("application/json", patch).await;
    assert_eq!(role["name"], "Support desk");
    assert_eq!(role["description"], "Answers tickets");
    assert_eq!(
        strings(&role["permissions"]),
        ["account:read", "members:read", "app:x"]
    );
    let role = patched(MERGE_PATCH, json!({"description": null})).await;
    assert!(role["description"].is_null(), "{role}");

    let owner = bearer(&app, &team.owner.token);
    for patch in [
        json!({"id": "renamed"}),
        json!({"builtin": true}),
        json!({"permissions": ["root"]}),
        json!({"permissions": "account:read"}),
        json!({"name": ""}),
        json!(["name"]),
    ] {
        owner
            .refused(Method::PATCH, &support, patch, 400, "validation_failed")
            .await;
    }
    let rename = json!({"name": "Mine now"});
    for (user, path, status, code) in [
        (
            &team.owner,
            format!("{}/admin", roles_path(&team.account)),
            403,
            "forbidden",
        ),
        // The parent's role, through the child's path: changed where it is defined only.
        (
            &team.owner,
            format!("{}/support", roles_path(&child)),
            403,
            "forbidden",
        ),
        (
            &team.owner,
            format!("{}/nobody", roles_path(&team.account)),
            404,
            "not_found",
        ),
        (&team.member, support.clone(), 403, "forbidden"),
        (&team.outsider, support.clone(), 404, "not_found"),
    ] {
        bearer(&app, &user.token)
            .refused(Method::PATCH, &path, rename.clone(), status, code)
            .await;
    }
    assert_eq!(owner.read(&support).await["name"], "Support desk");
}

#[tokio::test]
async fn a_roles_new_permissions_hold_for_its_holders_at_once_and_never_widen_a_token() {
    let app = TestApp::spawn().await;
    let team = app.team("live").await;
    define_role(&app, &team.owner, &team.account, "auditor", &VIEWER).await;
    let auditor = holder(&app, &team.owner, &team.account, "auditor", "auditor").await;
    let issued = scoped_token(&app, &auditor, &team.account).await;
    let scoped = issued["access_token"].as_str().unwrap();
    let audit = format!("/v1/accounts/{}/audit-logs", team.account);
    let members = format!("/v1/accounts/{}/members", team.account);
    let role = format!("{}/auditor", roles_path(&team.account));
    let owner = bearer(&app, &team.owner.token);
    let set_permissions = |permissions: &[&str]| {
        let patch = json!({"permissions": permissions});
        owner.expect(Method::PATCH, &role, patch, 200)
    };
    let (user, token) = (bearer(&app, &auditor.token), bearer(&app, scoped));
    assert_eq!(user.status(Method::GET, &audit, Value::Null).await, 403);

    set_permissions(&["account:read", "members:read", "audit:read"]).await;
    let gained = user.status(Method::GET, &audit, Value::Null).await;
    assert_eq!(gained, 200, "the holder gains it on its next request");
    // The account token stays within what it was issued with.
    assert_eq!(token.status(Method::GET, &audit, Value::Null).await, 403);
    let seen = introspect(&app, scoped).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["role"], "auditor");
    assert_eq!(strings(&seen["permissions"]), VIEWER);

    set_permissions(&["account:read"]).await;
    for holder in [user, token] {
        let lost = holder.status(Method::GET, &members, Value::Null).await;
        assert_eq!(lost, 403, "the holder loses it on its next request");
    }
    let seen = introspect(&app, scoped).await;
    assert_eq!(seen["role"], "auditor");
    assert_eq!(strings(&seen["permissions"]), ["account:read"]);
    let actions = app.audit_actions(&team.account).await;
    let updated = actions.iter().filter(|a| *a == "role.updated").count();
    assert_eq!(updated, 2, "{actions:?}");
}

#[tokio::test]
async fn a_role_is_deleted_only_while_nobody_holds_it() {
    let app = TestApp::spawn().await;
    let team = app.team("delete").await;
    let child = child_of(&app, &team.owner, &team.account).await;
    let owner = bearer(&app, &team.owner.token);
    let role_path = |role: &str| format!("{}/{role}", roles_path(&team.account));
    let delete = |role: &str, status: u16| {
        let path = role_path(role);
        async move {
            owner
                .expect(Method::DELETE, &path, Value::Null, status)
                .await
        }
    };
    let in_use = |role: &str| {
        let path = role_path(role);
        async move {
            owner
                .refused(Method::DELETE, &path, Value::Null, 409, "role_in_use")
                .await;
        }
    };
    for role in ["held", "invited", "keyed", "lapsed", "deep"] {
        define_role(&app, &team.owner, &team.account, role, &["account:read"]).await;
    }

    // A member of the account.
    let member = holder(&app, &team.owner, &team.account, "held", "held").await;
    in_use("held").await;
    let membership = format!("/v1/accounts/{}/members/{}", team.account, member.id);
    owner
        .expect(Method::DELETE, &membership, Value::Null, 204)
        .await;
    delete("held", 204).await;

    // A pending invitation.
    let invites = format!("/v1/accounts/{}/invites", team.account);
    let body = json!({"email": "later@example.com", "role": "invited"});
    let invitation = owner.expect(Method::POST, &invites, body, 201).await;
    in_use("invited").await;
    let invitation = format!("{invites}/{}", invitation["id"].as_str().unwrap());
    owner
        .expect(Method::DELETE, &invitation, Value::Null, 204)
        .await;
    delete("invited", 204).await;

    // A live API key of a descendant.
    let key = crate::api_keys::create_key(&app, &team.owner, &child, "keyed").await;
    in_use("keyed").await;
    let key = format!(
        "/v1/accounts/{child}/api-keys/{}",
        key["id"].as_str().unwrap()
    );
    owner.expect(Method::DELETE, &key, Value::Null, 204).await;
    delete("keyed", 204).await;

    // An expired key holds nothing: it never works again, and rolling keeps its expiry.
    let key = crate::api_keys::create_key(&app, &team.owner, &team.account, "lapsed").await;
    sqlx::query("update api_keys set expires_at = $1 where id = $2")
        .bind(tessera::clock::now() - 1)
        .bind(key["id"].as_str().unwrap())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    delete("lapsed", 204).await;

    // A member of a descendant, who then leaves.
    let deep = holder(&app, &team.owner, &child, "deep", "deep").await;
    in_use("deep").await;
    let membership = format!("/v1/accounts/{child}/members/{}", deep.id);
    bearer(&app, &deep.token)
        .expect(Method::DELETE, &membership, Value::Null, 204)
        .await;
    delete("deep", 204).await;

    owner
        .refused(
            Method::GET,
            &role_path("deep"),
            Value::Null,
            404,
            "not_found",
        )
        .await;
    define_role(&app, &team.owner, &team.account, "parents", &[]).await;
    for (user, path, status, code) in [
        (&team.owner, role_path("deep"), 404, "not_found"),
        (&team.owner, role_path("owner"), 403, "forbidden"),
        (
            &team.owner,
            format!("{}/parents", roles_path(&child)),
            403,
            "forbidden",
        ),
        (&team.member, role_path("parents"), 403, "forbidden"),
    ] {
        bearer(&app, &user.token)
            .refused(Method::DELETE, &path, Value::Null, status, code)
            .await;
    }

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
        (&team.viewer, "viewer", VIEWER.to_vec()),
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
    // The child's creator owns it; the parent's owner is no member of it.
    let child = child_of(&app, &team.admin, &team.account).await;
    let rest = scoped_token(&app, &team.owner, &child).await;
    assert_eq!(rest["role"], "admin");
    assert_eq!(rest["inherited_from"], team.account.as_str());
    assert_eq!(strings(&rest["permissions"]), all_but(&["account:delete"]));
    let exchanged = exchange(&app, &team.owner.token, &child, &[]).await;
    assert_eq!(exchanged["status"], 200, "{exchanged}");
    for token in [&rest["access_token"], &exchanged["access_token"]] {
        let token = claims(token.as_str().unwrap());
        assert_eq!(token["acc"], child.as_str());
        assert_eq!(token["role"], "admin");
        assert_eq!(token["inherited_from"], team.account.as_str());
    }
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
    let own = scoped_token(&app, &team.member, &child).await;
    assert_eq!(own["role"], "owner");
    let scoped = scoped_token(&app, &team.member, &team.account).await;
    assert_eq!(scoped["role"], "member");
    let scoped = scoped["access_token"].as_str().unwrap();

    let exchanged = exchange(&app, scoped, &child, &[]).await;
    assert_eq!(exchanged["status"], 200, "{exchanged}");
    let token = claims(exchanged["access_token"].as_str().unwrap());
    assert_eq!(token["acc"], child.as_str());
    assert_eq!(token["role"], "member");
    assert_eq!(strings(&token["permissions"]), MEMBER);
    let holder = TestUser {
        token: scoped.to_owned(),
        ..team.member.clone()
    };
    let rest = scoped_token(&app, &holder, &child).await;
    assert_eq!(rest["role"], "member");
    assert_eq!(strings(&rest["permissions"]), MEMBER);
    let rename = json!({"name": "Owned"});
    bearer(&app, rest["access_token"].as_str().unwrap())
        .refused(
            Method::PATCH,
            &format!("/v1/accounts/{child}"),
            rename,
            403,
            "forbidden",
        )
        .await;
}

#[tokio::test]
async fn a_custom_roles_holder_acts_by_its_permissions() {
    let app = TestApp::spawn().await;
    let team = app.team("acts").await;
    let account = format!("/v1/accounts/{}", team.account);
    let clients = format!("{account}/clients");
    let audit = format!("{account}/audit-logs");
    let members = format!("{account}/members");
    let define = |id: &'static str, permissions: &'static [&'static str]| {
        let (app, team) = (&app, &team);
        async move {
            define_role(app, &team.owner, &team.account, id, permissions).await;
            holder(app, &team.owner, &team.account, id, id).await
        }
    };

    let reader = define("clients-reader", &["account:read", "clients:read"]).await;
    let auditor = define("auditor", &["audit:read"]).await;
    for (user, path, status) in [
        (&reader, &clients, 200),
        (&reader, &account, 200),
        (&reader, &audit, 403),
        (&reader, &members, 403),
        (&auditor, &audit, 200),
        (&auditor, &clients, 403),
        (&auditor, &account, 403),
    ] {
        let got = bearer(&app, &user.token)
            .status(Method::GET, path, Value::Null)
            .await;
        assert_eq!(got, status, "{} GET {path}", user.email);
    }
    bearer(&app, &reader.token)
        .refused(
            Method::POST,
            &clients,
            crate::clients::confidential(),
            403,
            "forbidden",
        )
        .await;

    let editor = define("editor", &["account:read", "account:write"]).await;
    let biller = define(
        "biller",
        &["account:read", "account:write", "billing:write"],
    )
    .await;
    // account:delete suspends and reactivates, without account:write.
    let closer = define("closer", &["account:read", "account:delete"]).await;
    let billing = json!({"billing_email": "billing@example.com"});
    for (user, patch, status) in [
        (&editor, json!({"name": "Renamed"}), 200),
        (&editor, billing.clone(), 403),
        (&editor, json!({"status": "suspended"}), 403),
        (&biller, billing, 200),
        (&closer, json!({"name": "Mine"}), 403),
        (&closer, json!({"status": "suspended"}), 200),
        (&closer, json!({"status": "active"}), 200),
    ] {
        let what = format!("{} PATCH {patch}", user.email);
        let got = bearer(&app, &user.token)
            .status(Method::PATCH, &account, patch)
            .await;
        assert_eq!(got, status, "{what}");
    }
    let actions = app.audit_actions(&team.account).await;
    let updated = actions.iter().filter(|a| *a == "account.updated").count();
    assert_eq!(updated, 4, "{actions:?}");
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
    let owner = bearer(&app, &team.owner.token);
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
        let problem = owner
            .refused(Method::POST, &path, body, 400, "validation_failed")
            .await;
        assert_eq!(problem["errors"][0]["field"], "role", "{path}: {problem}");
    }
    let path = format!("{}/theirs", roles_path(&team.account));
    owner
        .refused(Method::GET, &path, Value::Null, 404, "not_found")
        .await;
}
