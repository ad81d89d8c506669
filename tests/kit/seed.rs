//! What tests and the bench put in a deployment below HTTP, before driving it over HTTP.

use tessera::audit::Origin;
use tessera::clock::{self, Timestamp};
use tessera::email_address::EmailAddress;
use tessera::ids::{AccountId, ClientId, FactorId, UserId};
use tessera::keys::KeyEncryptionKey;
use tessera::manage::clients::{self, NewClient};
use tessera::mfa;
use tessera::oauth::claims::{AccessTokenClaims, Subject};
use tessera::oauth::client::ClientSettings;
use tessera::oauth::scope::Scope;
use tessera::role::Builtin;
use tessera::state::AppState;
use tessera::store::Store;
use tessera::store::factors::{self, Factor, FactorStatus, FactorType};
use tessera::store::{memberships, users};
use tessera::user::User;

/// The first account of a deployment: the one bootstrap creates.
pub async fn first_account(store: &Store) -> AccountId {
    let id: String = sqlx::query_scalar("select id from accounts order by created_at limit 1")
        .fetch_one(store.pool())
        .await
        .expect("the first account");
    AccountId::parse(&id).expect("an account id")
}

/// A confidential client and its secret.
#[derive(Clone, Debug)]
pub struct ConfidentialClient {
    pub client_id: ClientId,
    pub secret: String,
}

/// Registers a confidential, first-party client in `account` the way the operator's CLI does.
pub async fn confidential_client(
    store: &Store,
    account: &AccountId,
    settings: ClientSettings,
) -> ConfidentialClient {
    let new = NewClient {
        settings,
        first_party: true,
        self_registered: false,
    };
    let registered = clients::register(store, account, new, Origin::system())
        .await
        .expect("create the client");
    ConfidentialClient {
        client_id: registered.client.client_id,
        secret: registered
            .secret
            .expect("a confidential client has a secret"),
    }
}

/// A user's access token issued to `client_id` (no `acc`), as `/oauth2/token` would issue it
/// after the authorization-code flow: signed by the server's own key ring with the same
/// claims, so every request that presents it goes through the real server.
pub fn user_token(
    state: &AppState,
    client_id: &ClientId,
    user_id: &UserId,
    scope: &str,
    lifetime_seconds: i64,
) -> String {
    let claims = AccessTokenClaims::new(
        state.issuer.as_str(),
        client_id,
        Subject::User {
            user_id,
            account: None,
            grant_id: None,
        },
        &Scope::parse(scope).expect("a scope"),
        None,
        lifetime_seconds,
        clock::now(),
    );
    state.keys.sign_access_token(&claims).expect("sign")
}

/// A member seeded by [`members`]: its email, and the secret of its TOTP factor if it has one.
pub struct Member {
    pub email: String,
    pub totp_secret: Option<Vec<u8>>,
}

/// `count` members of `account`, `{prefix}{n}@example.com`, whose password has the PHC hash
/// `password_hash` (one hash for all: argon2 for each would take minutes). Given the
/// deployment's key-encryption key, each also has an active TOTP factor, its secret sealed
/// under that key as enrolment stores it (without recovery codes, which a login by TOTP code
/// never reads). One transaction.
pub async fn members(
    store: &Store,
    account: &AccountId,
    prefix: &str,
    count: usize,
    password_hash: &str,
    totp: Option<&KeyEncryptionKey>,
) -> Vec<Member> {
    let now = clock::now();
    let mut tx = store.pool().begin().await.expect("begin");
    let mut seeded = Vec::with_capacity(count);
    for n in 0..count {
        let email = EmailAddress::parse(&format!("{prefix}{n}@example.com")).expect("an email");
        let user = User::new(email, None, Some(password_hash.to_owned()), now);
        users::insert(&mut *tx, &user)
            .await
            .expect("insert the user");
        memberships::insert(&mut *tx, account, &user.id, &Builtin::Member.into(), now)
            .await
            .expect("insert the membership");
        let totp_secret = match totp {
            Some(kek) => Some(active_totp_factor(&mut tx, kek, &user.id, now).await),
            None => None,
        };
        seeded.push(Member {
            email: user.email,
            totp_secret,
        });
    }
    tx.commit().await.expect("commit");
    seeded
}

/// An active TOTP factor of `user_id`, no code used yet; returns its secret.
async fn active_totp_factor(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kek: &KeyEncryptionKey,
    user_id: &UserId,
    now: i64,
) -> Vec<u8> {
    let secret = mfa::new_totp_secret();
    let id = FactorId::generate();
    let factor = Factor {
        secret_sealed: Some(kek.seal(&secret, id.as_str())),
        id,
        user_id: user_id.clone(),
        kind: FactorType::Totp,
        name: "Authenticator app".to_owned(),
        status: FactorStatus::Active,
        last_step: None,
        credential: None,
        credential_id: None,
        created_at: Timestamp(now),
        last_used_at: None,
    };
    factors::insert(&mut **tx, &factor)
        .await
        .expect("insert the factor");
    secret
}
