//! Switching accounts without a new login (API.md §11): `grant_type=refresh_token` with
//! `account_id` scopes the new pair to another account of the user's, under the exchange's
//! rules, and the refresh family follows it.

use oauth2::TokenResponse;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::superadmin;
use crate::authorization_code::{Rp, introspect, log_in_through_code_flow, verify};
use crate::helpers::{Deployment, TestApp, TestUser};

const SCOPES: [&str; 2] = ["openid", "offline_access"];

/// The admin's relying party, the first account (the admin owns it) and a second one where
/// the admin is a `member`.
struct Switching {
    app: TestApp,
    rp: Rp,
    admin: TestUser,
    own: String,
    other: String,
    // Last: the server stops before its database goes.
    deployment: Deployment,
}

async fn switching() -> Switching {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let admin = superadmin(&app).await;
    let own = crate::discovery::first_account_id(&app).await;
    let team = app.team("other").await;
    app.add_member(&team.owner, &team.account, &admin, "member")
        .await;
    Switching {
        app,
        rp,
        admin,
        own,
        other: team.account,
        deployment,
    }
}

impl Switching {
    /// A refresh-token family of the admin's, bound to `account` when one is named.
    async fn log_in(&self, account: Option<&str>) -> String {
        let extra: Vec<(&str, &str)> = account.map(|id| ("account_id", id)).into_iter().collect();
        let tokens = log_in_through_code_flow(&self.app, &self.rp, &SCOPES, &extra).await;
        tokens.refresh_token().unwrap().secret().clone()
    }

    /// `grant_type=refresh_token` by the relying party, with `account_id` when `account`
    /// names one: the status and the JSON body.
    async fn refresh(&self, token: &str, account: Option<&str>) -> (u16, Value) {
        refresh_as(&self.app, &self.rp, token, account).await
    }

    /// The access token's claims of a successful token response, verified against the JWKS.
    async fn access_claims(&self, body: &Value) -> Value {
        let token = body["access_token"].as_str().unwrap();
        verify(&self.app, token, "at+jwt", &self.rp.registered.client_id).await
    }

    /// A new account the admin owns, with `patch` applied.
    async fn own_account(&self, name: &str, patch: Value) -> String {
        let account = self
            .app
            .create_account(&self.admin, json!({"name": name}))
            .await;
        let id = account["id"].as_str().unwrap().to_owned();
        let patched = self
            .app
            .api(
                Method::PATCH,
                &format!("/v1/accounts/{id}"),
                &self.admin.token,
            )
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(patched.status(), 200, "patch {name}");
        id
    }

    /// An account of someone else's, where the admin is no member.
    async fn strangers_account(&self) -> String {
        let account = self
            .deployment
            .cli(&[
                "accounts",
                "create",
                "--name",
                "Stranger",
                "--owner",
                "stranger@example.com",
            ])
            .json();
        account["id"].as_str().unwrap().to_owned()
    }

    async fn userinfo_status(&self, body: &Value) -> u16 {
        self.app
            .http
            .get(self.app.url("/oauth2/userinfo"))
            .bearer_auth(body["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// `grant_type=refresh_token` by `rp`, switching to `account` when it names one.
pub async fn refresh_as(
    app: &TestApp,
    rp: &Rp,
    token: &str,
    account: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend(account.map(|id| ("account_id", id)));
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&rp.registered.client_id, rp.registered.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_refresh_with_account_id_switches_the_family_to_that_account() {
    let s = switching().await;
    // From a user-level family into an account, then from that account to another.
    let login = s.log_in(None).await;
    let (status, into_own) = s.refresh(&login, Some(&s.own)).await;
    assert_eq!(status, 200, "{into_own}");
    let claims = s.access_claims(&into_own).await;
    assert_eq!(claims["acc"], s.own.as_str());
    assert_eq!(claims["role"], "owner");

    let (status, into_other) = s
        .refresh(into_own["refresh_token"].as_str().unwrap(), Some(&s.other))
        .await;
    assert_eq!(status, 200, "{into_other}");
    let claims = s.access_claims(&into_other).await;
    assert_eq!(claims["acc"], s.other.as_str());
    assert_eq!(
        claims["role"], "member",
        "the role in the account switched to"
    );
    assert_eq!(claims["sub"], s.admin.id.as_str());
    let id_token = into_other["id_token"]
        .as_str()
        .expect("an ID token for openid");
    let id = verify(&s.app, id_token, "JWT", &s.rp.registered.client_id).await;
    assert_eq!(id["sub"], s.admin.id.as_str());
    assert_eq!(s.userinfo_status(&into_other).await, 200);

    // The family stays on the account it was switched to.
    let (status, stays) = s
        .refresh(into_other["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, 200, "{stays}");
    let claims = s.access_claims(&stays).await;
    assert_eq!(claims["acc"], s.other.as_str());
    assert_eq!(claims["role"], "member");
    let introspected = introspect(&s.app, &s.rp, stays["refresh_token"].as_str().unwrap()).await;
    assert_eq!(introspected["acc"], s.other.as_str(), "{introspected}");
}

#[tokio::test]
async fn a_refused_switch_leaves_the_refresh_token_unspent() {
    let s = switching().await;
    let stranger = s.strangers_account().await;
    let suspended = s
        .own_account("Suspended", json!({"status": "suspended"}))
        .await;
    let strict = s
        .own_account("Strict", json!({"settings": {"require_mfa": true}}))
        .await;
    let unknown = tessera::ids::AccountId::generate().to_string();
    let cases = [
        ("not a member", stranger.as_str(), "invalid_target"),
        ("no such account", unknown.as_str(), "invalid_target"),
        ("a suspended account", suspended.as_str(), "invalid_target"),
        ("not an account id", "acc_nope", "invalid_target"),
        (
            "an account requiring a second factor, after a password login",
            strict.as_str(),
            "insufficient_user_authentication",
        ),
    ];
    let mut token = s.log_in(Some(&s.own)).await;
    for (rule, account, error) in cases {
        let (status, body) = s.refresh(&token, Some(account)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{rule}: {body}"
        );
        assert!(body.get("access_token").is_none(), "{rule}");
        // Nothing was spent: the same token refreshes, on the family's own account.
        let (status, body) = s.refresh(&token, None).await;
        assert_eq!(status, 200, "{rule}: {body}");
        assert_eq!(
            s.access_claims(&body).await["acc"],
            s.own.as_str(),
            "{rule}"
        );
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }
}

#[tokio::test]
async fn replaying_a_token_from_before_the_switch_revokes_the_family() {
    let s = switching().await;
    let stranger = s.strangers_account().await;
    let before = s.log_in(Some(&s.own)).await;
    let (status, switched) = s.refresh(&before, Some(&s.other)).await;
    assert_eq!(status, 200, "{switched}");

    // Reuse is detected before the target is looked at, whatever account it names.
    let (status, body) = s.refresh(&before, Some(&stranger)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = s
        .refresh(switched["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert_eq!(
        s.userinfo_status(&switched).await,
        401,
        "the switched pair died with its family"
    );
}

#[tokio::test]
async fn another_client_cannot_switch_a_refresh_token() {
    let s = switching().await;
    let thief = Rp::register(&s.deployment, &s.app, &[]).await;
    let token = s.log_in(None).await;
    let (status, body) = refresh_as(&s.app, &thief, &token, Some(&s.own)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let (status, body) = s.refresh(&token, Some(&s.other)).await;
    assert_eq!(status, 200, "the token stays its client's: {body}");
}
