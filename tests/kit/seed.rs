//! What tests and the bench put in a deployment below HTTP, before driving it over HTTP.

use tessera::audit::Origin;
use tessera::clock;
use tessera::ids::{AccountId, ClientId, UserId};
use tessera::manage::clients::{self, NewClient};
use tessera::oauth::claims::{AccessTokenClaims, Subject};
use tessera::oauth::client::ClientSettings;
use tessera::oauth::scope::Scope;
use tessera::state::AppState;
use tessera::store::Store;

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
        &Subject::User {
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
