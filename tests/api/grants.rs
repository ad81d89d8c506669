//! The grant flows below HTTP (`tessera::tokens`) on a real store, both databases: each
//! rule a row of a table, so a failure names the rule rather than a status code.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tessera::clock;
use tessera::ids::{AccountId, UserId};
use tessera::oauth::client::Client;
use tessera::oauth::error::ErrorCode;
use tessera::oauth::scope::Scope;
use tessera::oauth::token::CodeGrant;
use tessera::secret;
use tessera::store::Backend;
use tessera::store::authorization_codes;
use tessera::tokens::{self, TokenError};

use crate::helpers::{ADMIN_EMAIL, LOGIN_SCOPE, TestApp, set_refresh_grace};

const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters-long";

fn challenge(verifier: &str) -> String {
    use aws_lc_rs::digest;
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

struct Fixture {
    app: TestApp,
    client: Client,
    user_id: UserId,
}

async fn fixture(grace_seconds: i64) -> Fixture {
    let app = TestApp::spawn().await;
    let login = app.login_client().await;
    set_refresh_grace(&app, &login.client_id, grace_seconds).await;
    let client = app
        .state
        .store
        .client(&login.client_id)
        .await
        .unwrap()
        .unwrap();
    let user = tessera::store::users::find_by_email(app.state.store.pool(), ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    Fixture {
        app,
        client,
        user_id: user.id,
    }
}

impl Fixture {
    /// A fresh code for the admin, as `/oauth2/authorize` stores one.
    async fn code(&self, expires_in: i64) -> String {
        let code = secret::generate();
        let now = clock::now();
        let grant = CodeGrant {
            client_id: self.client.client_id.clone(),
            user_id: self.user_id.clone(),
            account_id: None,
            redirect_uri: REDIRECT_URI.into(),
            scope: Scope::parse("openid offline_access").unwrap(),
            nonce: None,
            code_challenge: Some(challenge(VERIFIER)),
            auth_time: now,
            amr: vec!["pwd".to_owned()],
            session_id: None,
            expires_at: now + expires_in,
        };
        authorization_codes::insert(
            self.app.state.store.pool(),
            &secret::hash(&code),
            &grant,
            now,
        )
        .await
        .unwrap();
        code
    }

    async fn redeem(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, ErrorCode> {
        tokens::redeem_code(
            self.app.state.issuance(),
            &self.client,
            code,
            Some(redirect_uri),
            Some(verifier),
            clock::now(),
        )
        .await
        .map(|response| response.refresh_token.unwrap_or_default())
        .map_err(code_of)
    }

    async fn refresh(&self, token: &str) -> Result<String, ErrorCode> {
        self.switch(token, None).await
    }

    /// A refresh that scopes the new pair to `account` when it names one.
    async fn switch(&self, token: &str, account: Option<&AccountId>) -> Result<String, ErrorCode> {
        tokens::refresh(
            self.app.state.issuance(),
            &self.client,
            token,
            None,
            account,
            clock::now(),
        )
        .await
        .map(|response| response.refresh_token.unwrap_or_default())
        .map_err(code_of)
    }
}

/// What a rule expects: a success, or the protocol error it answers.
type Outcome = Result<(), ErrorCode>;

/// An exchange case: the rule, the account asked for, `audience`, `scope`, the outcome.
type ExchangeCase<'a> = (&'a str, String, Option<&'a str>, Option<&'a str>, Outcome);

fn code_of(error: TokenError) -> ErrorCode {
    match error {
        TokenError::OAuth(error) => error.code,
        other => panic!("not a protocol error: {other}"),
    }
}

#[tokio::test]
async fn code_redemption_rules() {
    let f = fixture(0).await;
    let cases: [(&str, i64, &str, &str, Outcome); 4] = [
        (
            "a valid code with its verifier",
            60,
            REDIRECT_URI,
            VERIFIER,
            Ok(()),
        ),
        (
            "another redirect_uri",
            60,
            "http://127.0.0.1/other",
            VERIFIER,
            Err(ErrorCode::InvalidGrant),
        ),
        (
            "another verifier",
            60,
            REDIRECT_URI,
            "x-wrong-verifier-that-is-long-enough-to-be-valid-1",
            Err(ErrorCode::InvalidGrant),
        ),
        (
            "an expired code",
            -1,
            REDIRECT_URI,
            VERIFIER,
            Err(ErrorCode::InvalidGrant),
        ),
    ];
    for (rule, expires_in, redirect_uri, verifier, expected) in cases {
        let code = f.code(expires_in).await;
        let got = f.redeem(&code, redirect_uri, verifier).await.map(|_| ());
        assert_eq!(got, expected, "{rule}");
        // Whatever happened, the code is spent: the right request fails now.
        assert_eq!(
            f.redeem(&code, REDIRECT_URI, VERIFIER).await.map(|_| ()),
            Err(ErrorCode::InvalidGrant),
            "{rule}: single use"
        );
    }
}

#[tokio::test]
async fn a_replayed_code_revokes_what_it_issued() {
    let f = fixture(0).await;
    let code = f.code(60).await;
    let refresh = f.redeem(&code, REDIRECT_URI, VERIFIER).await.unwrap();
    assert!(f.redeem(&code, REDIRECT_URI, VERIFIER).await.is_err());
    assert_eq!(f.refresh(&refresh).await, Err(ErrorCode::InvalidGrant));
}

#[tokio::test]
async fn refresh_rotation_and_reuse_rules() {
    // (grace seconds, what is presented after one rotation, whether it works, whether the
    // rotated (newest) token still works afterwards)
    let cases = [
        ("reuse without grace revokes the family", 0, false, false),
        (
            "a retry within the grace replaces the pair its token produced",
            30,
            true,
            false,
        ),
    ];
    for (rule, grace, retry_works, newest_survives) in cases {
        let f = fixture(grace).await;
        let code = f.code(60).await;
        let first = f.redeem(&code, REDIRECT_URI, VERIFIER).await.unwrap();
        let second = f.refresh(&first).await.expect("rotation");
        assert_ne!(first, second, "{rule}: rotated");
        let retried = f.refresh(&first).await;
        assert_eq!(retried.is_ok(), retry_works, "{rule}");
        // The pair the retried token produced is replaced, or the family is gone.
        assert_eq!(f.refresh(&second).await.is_ok(), newest_survives, "{rule}");
    }
}

#[tokio::test]
async fn refresh_account_switch_rules() {
    let f = fixture(0).await;
    let admin = crate::admin::superadmin(&f.app).await;
    let strict = f
        .app
        .create_account(&admin, json!({"name": "Strict"}))
        .await;
    let strict = strict["id"].as_str().unwrap();
    let patched = f
        .app
        .api(
            reqwest::Method::PATCH,
            &format!("/v1/accounts/{strict}"),
            &admin.token,
        )
        .json(&json!({"settings": {"require_mfa": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let elsewhere = f.app.team("elsewhere").await;
    let account = |id: &str| AccountId::parse(id).unwrap();
    let own = crate::kit::first_account(&f.app.state.store).await;
    let cases: [(&str, AccountId, Outcome); 4] = [
        ("a member switches to its account", own, Ok(())),
        (
            "not a member",
            account(&elsewhere.account),
            Err(ErrorCode::InvalidTarget),
        ),
        (
            "no such account",
            AccountId::generate(),
            Err(ErrorCode::InvalidTarget),
        ),
        (
            "an account requiring a second factor, after a password login",
            account(strict),
            Err(ErrorCode::InsufficientUserAuthentication),
        ),
    ];
    for (rule, account_id, expected) in cases {
        let code = f.code(60).await;
        let token = f.redeem(&code, REDIRECT_URI, VERIFIER).await.unwrap();
        let got = f.switch(&token, Some(&account_id)).await.map(|_| ());
        assert_eq!(got, expected, "{rule}");
        if got.is_err() {
            // Refused before the rotation committed: the token is not spent.
            assert!(
                f.refresh(&token).await.is_ok(),
                "{rule}: the token still works"
            );
        }
    }
}

#[tokio::test]
async fn exchange_rules() {
    let f = fixture(0).await;
    let team = f.app.team("grants").await;
    let subject = f.app.login_token(&team.member.id, LOGIN_SCOPE).await;
    let claims = f.app.state.keys.verify_access_token(&subject).unwrap();
    let other = f.app.team("elsewhere").await;
    let account = |id: &str| tessera::ids::AccountId::parse(id).unwrap();
    let cases: [ExchangeCase<'_>; 4] = [
        (
            "a member gets an account token",
            team.account.clone(),
            None,
            None,
            Ok(()),
        ),
        (
            "not a member",
            other.account.clone(),
            None,
            None,
            Err(ErrorCode::InvalidTarget),
        ),
        (
            "another audience",
            team.account.clone(),
            Some("https://elsewhere.example"),
            None,
            Err(ErrorCode::InvalidTarget),
        ),
        (
            "a wider scope",
            team.account.clone(),
            None,
            Some("openid admin:everything"),
            Err(ErrorCode::InvalidScope),
        ),
    ];
    for (rule, account_id, audience, scope, expected) in cases {
        let scope = scope.map(|text| Scope::parse(text).unwrap());
        let got = tokens::exchange(
            f.app.state.issuance(),
            &f.client,
            &claims,
            &account(&account_id),
            audience,
            scope.as_ref(),
            clock::now(),
        )
        .await
        .map(|_| ())
        .map_err(code_of);
        assert_eq!(got, expected, "{rule}");
    }
}

/// On SQLite, holds the writer until `count` rotations wait for it, so that they are written
/// in one transaction; on PostgreSQL, where each rotation has a transaction of its own, it
/// returns at once.
async fn hold_writer(app: &TestApp, count: usize) {
    let store = &app.state.store;
    if store.backend() != Backend::Sqlite {
        return;
    }
    let held = store.change().await.unwrap();
    while app.state.rotations.waiting() < count {
        tokio::task::yield_now().await;
    }
    drop(held);
}

impl Fixture {
    /// A refresh token of a new family.
    async fn family(&self) -> String {
        let code = self.code(60).await;
        self.redeem(&code, REDIRECT_URI, VERIFIER).await.unwrap()
    }
}

#[tokio::test]
async fn rotations_written_together_each_keep_their_own_outcome() {
    let f = fixture(0).await;
    let (twice, other, spent) = (f.family().await, f.family().await, f.family().await);
    let spent_child = f.refresh(&spent).await.unwrap();
    let ((), (first, second, other_rotated, reused)) =
        tokio::join!(hold_writer(&f.app, 4), async {
            tokio::join!(
                f.refresh(&twice),
                f.refresh(&twice),
                f.refresh(&other),
                f.refresh(&spent)
            )
        });
    let uses = [first, second];
    let winners: Vec<&String> = uses.iter().filter_map(|used| used.as_ref().ok()).collect();
    assert_eq!(
        winners.len(),
        1,
        "one of two uses of a token rotates: {uses:?}"
    );
    assert!(uses.contains(&Err(ErrorCode::InvalidGrant)), "{uses:?}");
    assert_eq!(
        f.refresh(winners[0]).await,
        Err(ErrorCode::InvalidGrant),
        "the other use was reuse: the family, the winner's token included, is revoked"
    );
    let other_rotated = other_rotated.expect("another family's rotation in the batch stands");
    assert!(
        f.refresh(&other_rotated).await.is_ok(),
        "and its token works"
    );
    assert_eq!(
        reused,
        Err(ErrorCode::InvalidGrant),
        "a spent token is reuse"
    );
    assert_eq!(
        f.refresh(&spent_child).await,
        Err(ErrorCode::InvalidGrant),
        "its family is revoked"
    );
}

#[tokio::test]
async fn a_grace_retry_written_with_other_rotations_replaces_its_pair() {
    let f = fixture(30).await;
    let (retried, other) = (f.family().await, f.family().await);
    let replaced = f.refresh(&retried).await.unwrap();
    let ((), (retry, other_rotated)) = tokio::join!(hold_writer(&f.app, 2), async {
        tokio::join!(f.refresh(&retried), f.refresh(&other))
    });
    let retry = retry.expect("a retry within the grace period");
    let other_rotated = other_rotated.expect("another family's rotation in the batch stands");
    assert_eq!(
        f.refresh(&replaced).await,
        Err(ErrorCode::InvalidGrant),
        "the pair the retried token produced is replaced"
    );
    assert!(f.refresh(&other_rotated).await.is_ok());
    assert_eq!(
        f.refresh(&retry).await,
        Err(ErrorCode::InvalidGrant),
        "presenting the replaced token was reuse: the family is gone"
    );
}
