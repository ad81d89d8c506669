//! Invitations: created by admins with a mailed single-use link, listed, revoked, accepted
//! or declined by the invitee only, once, before they expire.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, expect_problem};

async fn invite(app: &TestApp, by: &TestUser, account: &str, body: Value) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/v1/accounts/{account}/invites"),
        &by.token,
    )
    .json(&body)
    .send()
    .await
    .unwrap()
}

/// Invites `email` as `role`; returns the invitation and the token from its accept_url.
async fn invited(
    app: &TestApp,
    by: &TestUser,
    account: &str,
    email: &str,
    role: &str,
) -> (Value, String) {
    let response = invite(app, by, account, json!({"email": email, "role": role})).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let url = body["accept_url"].as_str().unwrap();
    let token = url.rsplit('/').next().unwrap().to_owned();
    (body, token)
}

async fn answer(app: &TestApp, user: &TestUser, token: &str, verb: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/v1/invites/{token}/{verb}"),
        &user.token,
    )
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_invites_by_email_and_the_link_is_mailed() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let response = invite(
        &app,
        &team.admin,
        &team.account,
        json!({"email": "Newbie@Example.com", "role": "member"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("inv_"));
    assert_eq!(body["email"], "Newbie@Example.com");
    assert_eq!(body["role"], "member");
    assert_eq!(body["status"], "pending");
    let accept_url = body["accept_url"].as_str().unwrap();
    let prefix = app.url("/invites/");
    assert!(accept_url.starts_with(&prefix), "{accept_url}");
    let token = &accept_url[prefix.len()..];
    assert!(
        token.len() >= 43
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    let expires = time::OffsetDateTime::parse(
        body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let in_days = (expires - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((167..=168).contains(&in_days), "{in_days}");

    let (recipient, text): (String, String) =
        // Test users, created without a password, were mailed set-password links too, and
        // the team's members their invitations.
        sqlx::query_as(
            "select recipient, text_body from emails \
             where subject like 'You are invited%' and text_body like '%' || $1 || '%'",
        )
            .bind(accept_url)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(recipient, "Newbie@Example.com");
    assert!(text.contains(accept_url), "{text}");
    // Only the hash is stored.
    let stored: i64 = sqlx::query_scalar("select count(*) from invitations where token_hash = $1")
        .bind(token)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
    assert_eq!(app.audit_actions(&team.account).await[0], "invite.created");

    let listed: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["id"], body["id"]);
    assert_eq!(listed["data"][0]["status"], "pending");
    assert!(listed["data"][0].get("accept_url").is_none());
    assert_eq!(listed["next_cursor"], Value::Null);
}

#[tokio::test]
async fn invitations_are_for_admins_and_owners_invite_owners() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let path = format!("/v1/accounts/{}/invites", team.account);
    for (role, user) in team.everyone() {
        let created = invite(
            &app,
            user,
            &team.account,
            json!({"email": format!("{role}-guest@example.com"), "role": "viewer"}),
        )
        .await;
        let listed = app
            .api(Method::GET, &path, &user.token)
            .send()
            .await
            .unwrap();
        match role {
            "owner" | "admin" => {
                assert_eq!(created.status(), 201, "{role}");
                assert_eq!(listed.status(), 200, "{role}");
            }
            "none" => {
                expect_problem(created, 404, "not_found").await;
                expect_problem(listed, 404, "not_found").await;
            }
            _ => {
                expect_problem(created, 403, "forbidden").await;
                expect_problem(listed, 403, "forbidden").await;
            }
        }
    }
    let response = invite(
        &app,
        &team.admin,
        &team.account,
        json!({"email": "boss@example.com", "role": "owner"}),
    )
    .await;
    expect_problem(response, 403, "forbidden").await;
    let response = invite(
        &app,
        &team.owner,
        &team.account,
        json!({"email": "boss@example.com", "role": "owner"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let response = invite(
        &app,
        &team.owner,
        &team.account,
        json!({"email": team.member.email.to_uppercase(), "role": "viewer"}),
    )
    .await;
    expect_problem(response, 409, "conflict").await;
    for bad in [
        json!({"email": "not-an-email", "role": "viewer"}),
        json!({"email": "a@example.com", "role": "king"}),
        json!({"email": "a@example.com", "role": "viewer", "ttl_seconds": 0}),
        json!({"email": "a@example.com", "role": "viewer", "ttl_seconds": 30 * 86_400 + 1}),
        json!({"email": "a@example.com", "role": "viewer", "ttl_seconds": "1"}),
        json!({"email": "a@example.com", "role": "viewer", "message": "hi"}),
    ] {
        let response = invite(&app, &team.owner, &team.account, bad.clone()).await;
        expect_problem(response, 400, "validation_failed").await;
    }
    let response = invite(
        &app,
        &team.owner,
        &team.account,
        json!({"email": "a@example.com", "role": "viewer", "ttl_seconds": 30 * 86_400}),
    )
    .await;
    assert_eq!(response.status(), 201);
}

#[tokio::test]
async fn the_invitee_accepts_once_with_a_matching_email() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let (_, token) = invited(
        &app,
        &team.admin,
        &team.account,
        "Guest@Example.com",
        "member",
    )
    .await;
    let guest = app.user("guest@example.com").await;

    let pending: Value = app
        .api(Method::GET, "/v1/me/invites", &guest.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["data"][0]["account_id"], team.account.as_str());
    assert_eq!(pending["data"][0]["account_name"], "acme Inc");
    assert_eq!(pending["data"][0]["role"], "member");

    expect_problem(
        answer(&app, &team.outsider, &token, "accept").await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        answer(&app, &guest, "not-a-token", "accept").await,
        404,
        "not_found",
    )
    .await;
    let response = app
        .http
        .post(app.url(&format!("/v1/invites/{token}/accept")))
        .send()
        .await
        .unwrap();
    expect_problem(response, 401, "unauthorized").await;

    let response = answer(&app, &guest, &token, "accept").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"status": "added", "account_id": team.account, "role": "member"})
    );
    let mine: Value = app
        .api(Method::GET, "/v1/me/accounts", &guest.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["data"][0]["account"]["id"], team.account.as_str());
    assert_eq!(mine["data"][0]["role"], "member");
    let actions = app.audit_actions(&team.account).await;
    let mut latest = actions[..2].to_vec();
    latest.sort();
    assert_eq!(latest, ["invite.accepted", "member.added"]);

    expect_problem(
        answer(&app, &guest, &token, "accept").await,
        409,
        "conflict",
    )
    .await;
    expect_problem(
        answer(&app, &guest, &token, "decline").await,
        409,
        "conflict",
    )
    .await;
    let pending: Value = app
        .api(Method::GET, "/v1/me/invites", &guest.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["data"], json!([]));
}

#[tokio::test]
async fn declined_revoked_and_expired_invitations_cannot_be_accepted() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let guest = app.user("guest@example.com").await;

    let (_, declined) = invited(&app, &team.owner, &team.account, &guest.email, "viewer").await;
    let response = answer(&app, &guest, &declined, "decline").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "declined"})
    );
    expect_problem(
        answer(&app, &guest, &declined, "accept").await,
        409,
        "conflict",
    )
    .await;
    assert_eq!(app.audit_actions(&team.account).await[0], "invite.declined");

    let (revoked, token) = invited(&app, &team.owner, &team.account, &guest.email, "viewer").await;
    let path = format!(
        "/v1/accounts/{}/invites/{}",
        team.account,
        revoked["id"].as_str().unwrap()
    );
    expect_problem(
        app.api(Method::DELETE, &path, &team.member.token)
            .send()
            .await
            .unwrap(),
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        app.api(Method::DELETE, &path, &team.outsider.token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_eq!(
        app.api(Method::DELETE, &path, &team.admin.token)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    expect_problem(
        app.api(Method::DELETE, &path, &team.admin.token)
            .send()
            .await
            .unwrap(),
        409,
        "conflict",
    )
    .await;
    assert_eq!(app.audit_actions(&team.account).await[0], "invite.revoked");
    expect_problem(
        answer(&app, &guest, &token, "accept").await,
        409,
        "conflict",
    )
    .await;
    let missing = format!(
        "/v1/accounts/{}/invites/{}",
        team.account,
        tessera::ids::InvitationId::generate()
    );
    expect_problem(
        app.api(Method::DELETE, &missing, &team.admin.token)
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;

    let (expiring, token) = invited(&app, &team.owner, &team.account, &guest.email, "viewer").await;
    sqlx::query("update invitations set expires_at = $1 where id = $2")
        .bind(tessera::clock::now() - 1)
        .bind(expiring["id"].as_str().unwrap())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    expect_problem(
        answer(&app, &guest, &token, "accept").await,
        410,
        "invite_expired",
    )
    .await;
    expect_problem(
        answer(&app, &guest, &token, "decline").await,
        410,
        "invite_expired",
    )
    .await;
    let listed: Value = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.owner.token,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    // Newest first; the team's own members joined through the (accepted) oldest ones.
    assert_eq!(statuses[..3], ["expired", "revoked", "declined"]);
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}", team.account),
            &guest.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
}

#[tokio::test]
async fn two_simultaneous_accepts_add_the_member_once() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let guest = app.user("guest@example.com").await;
    let accepted_before = app
        .audit_actions(&team.account)
        .await
        .iter()
        .filter(|a| *a == "invite.accepted")
        .count();
    for round in 0..5 {
        let (_, token) = invited(&app, &team.owner, &team.account, &guest.email, "member").await;
        let (a, b) = tokio::join!(
            answer(&app, &guest, &token, "accept"),
            answer(&app, &guest, &token, "accept"),
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}");
        let memberships: i64 = sqlx::query_scalar(
            "select count(*) from memberships where account_id = $1 and user_id = $2",
        )
        .bind(&team.account)
        .bind(&guest.id)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        assert_eq!(memberships, 1);
        let accepted = app
            .audit_actions(&team.account)
            .await
            .iter()
            .filter(|a| *a == "invite.accepted")
            .count();
        assert_eq!(accepted, accepted_before + round + 1);
        // Leave again for the next round.
        let response = app
            .api(
                Method::DELETE,
                &format!("/v1/accounts/{}/members/{}", team.account, guest.id),
                &guest.token,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
}

#[tokio::test]
async fn my_invites_lists_pending_invitations_to_an_unverified_email_without_their_secret() {
    let app = TestApp::spawn().await;
    let team = app.team("acme").await;
    let other = app.team("globex").await;
    // Invitations that are no longer pending live in an account of their own: a new one to
    // the same address and account would replace a pending one.
    let third = app.team("initech").await;
    let guest = app.user("guest@example.com").await;
    let me: Value = app
        .api(Method::GET, "/v1/me", &guest.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], false, "users start unverified");

    let (older, older_token) = invited(
        &app,
        &team.admin,
        &team.account,
        "GUEST@example.com",
        "member",
    )
    .await;
    let (newer, newer_token) =
        invited(&app, &other.owner, &other.account, &guest.email, "viewer").await;
    let (revoked, _) = invited(&app, &third.owner, &third.account, &guest.email, "admin").await;
    let response = app
        .api(
            Method::DELETE,
            &format!(
                "/v1/accounts/{}/invites/{}",
                third.account,
                revoked["id"].as_str().unwrap()
            ),
            &third.owner.token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (declined, declined_token) =
        invited(&app, &third.owner, &third.account, &guest.email, "viewer").await;
    assert_eq!(
        answer(&app, &guest, &declined_token, "decline")
            .await
            .status(),
        200
    );
    let (expired, _) = invited(&app, &third.owner, &third.account, &guest.email, "viewer").await;
    sqlx::query("update invitations set expires_at = $1 where id = $2")
        .bind(tessera::clock::now() - 1)
        .bind(expired["id"].as_str().unwrap())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    invited(
        &app,
        &team.owner,
        &team.account,
        "someone-else@example.com",
        "viewer",
    )
    .await;

    let response = app
        .api(Method::GET, "/v1/me/invites", &guest.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for secret in [&older_token, &newer_token, &declined_token] {
        assert!(!text.contains(secret.as_str()), "a token leaked: {text}");
    }
    assert!(!text.contains("/invites/"), "an accept link leaked: {text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    let data = listed["data"].as_array().unwrap();
    let ids: Vec<&Value> = data.iter().map(|invite| &invite["id"]).collect();
    assert_eq!(
        ids,
        [&newer["id"], &older["id"]],
        "pending only, newest first"
    );
    assert!(listed["next_cursor"].is_null());
    let mut fields: Vec<&str> = data[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "account_id",
            "account_name",
            "created_at",
            "email",
            "expires_at",
            "id",
            "role",
            "status"
        ]
    );
    assert_eq!(data[0]["account_id"], other.account.as_str());
    assert_eq!(data[0]["account_name"], "globex Inc");
    assert_eq!(data[0]["role"], "viewer");
    assert_eq!(data[0]["status"], "pending");
    assert_eq!(data[1]["email"], "GUEST@example.com");
    assert_eq!(data[1]["role"], "member");
    for invite in [&declined, &revoked, &expired] {
        assert!(!ids.contains(&&invite["id"]));
    }

    let response = answer(&app, &guest, &older_token, "accept").await;
    assert_eq!(response.status(), 200);
    let listed: Value = app
        .api(Method::GET, "/v1/me/invites", &guest.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["data"][0]["id"], newer["id"]);
}

#[tokio::test]
async fn a_second_invitation_to_the_same_address_replaces_the_pending_one() {
    let app = TestApp::spawn().await;
    let team = app.team("again").await;
    let guest = app.user("again-guest@example.com").await;
    let (first, first_token) = invited(
        &app,
        &team.admin,
        &team.account,
        "again-guest@example.com",
        "viewer",
    )
    .await;
    let (second, second_token) = invited(
        &app,
        &team.owner,
        &team.account,
        "Again-Guest@Example.com",
        "member",
    )
    .await;

    // The first link no longer works; the replacement is audited as a revocation.
    expect_problem(
        answer(&app, &guest, &first_token, "accept").await,
        409,
        "conflict",
    )
    .await;
    let response = app
        .api(
            Method::GET,
            &format!("/v1/accounts/{}/invites", team.account),
            &team.admin.token,
        )
        .send()
        .await
        .unwrap();
    let page: Value = response.json().await.unwrap();
    let status_of = |id: &Value| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|invite| invite["id"] == *id)
            .map(|invite| invite["status"].clone())
            .unwrap()
    };
    assert_eq!(status_of(&first["id"]), "revoked");
    assert_eq!(status_of(&second["id"]), "pending");
    let (target, details): (String, String) = sqlx::query_as(
        "select target_id, details from audit_events \
         where account_id = $1 and action = 'invite.revoked'",
    )
    .bind(&team.account)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(target, first["id"].as_str().unwrap());
    assert!(
        details.contains(second["id"].as_str().unwrap()),
        "{details}"
    );

    let response = answer(&app, &guest, &second_token, "accept").await;
    assert_eq!(response.status(), 200);
    let joined: Value = response.json().await.unwrap();
    assert_eq!(joined["role"], "member");
}
