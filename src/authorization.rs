//! The authorization endpoint's use case: the reads its decision (`oauth::decision`) needs (the
//! accounts the picker offers among them), and its two writes, a consent and a code. The handler parses and renders; no HTTP here.

use crate::access;
use crate::ids::{ClientId, SessionId, UserId};
use crate::oauth::authorize::AuthorizationRequest;
use crate::oauth::client::Client;
use crate::oauth::decision::{self, Authentication, Facts};
use crate::oauth::scope::Scope;
use crate::oauth::token::CodeGrant;
use crate::secret;
use crate::store::accounts::Selectable;
use crate::store::{Store, Unaudited, accounts, authorization_codes, consents, liveness, users};
use crate::user::User;

/// Codes live at most this long (the contract allows 60 s).
const CODE_LIFETIME_SECONDS: i64 = 60;

/// The facts, and the signed-in user the consent page and the code are for.
pub struct Situation<'r> {
    /// `None` when nobody is signed in or the session's user no longer exists.
    pub user: Option<User>,
    pub facts: Facts<'r>,
    /// What the account picker lists, ordered by path and name; empty unless the request
    /// asks for an account.
    pub accounts: Vec<Selectable>,
}

/// Reads what the decision depends on. `signed_in` is who the session names; `login_after`
/// comes from the request's way back from a forced login.
pub async fn gather<'r>(
    store: &Store,
    client: &Client,
    request: &'r AuthorizationRequest,
    signed_in: Option<(&UserId, Authentication)>,
    login_after: Option<i64>,
    now: i64,
    now_ms: i64,
) -> Result<Situation<'r>, sqlx::Error> {
    let mut facts = Facts {
        request,
        authentication: None,
        login_after,
        now,
        now_ms,
        member_of_requested_account: false,
        account_requires_mfa: false,
        account_selection: client.settings.account_selection,
        selectable_accounts: Vec::new(),
        client_trusted: client.first_party,
        consented: false,
    };
    let user = match signed_in {
        Some((user_id, _)) => users::find(store.pool(), user_id).await?,
        None => None,
    };
    let Some((user, (_, authentication))) = user.zip(signed_in) else {
        return Ok(Situation {
            user: None,
            facts,
            accounts: Vec::new(),
        });
    };
    facts.authentication = Some(authentication);
    if let Some(account_id) = &request.account_id {
        let mut db = store.pool().acquire().await?;
        if let Some(found) = liveness::standing(&mut db, account_id, &user.id).await? {
            facts.member_of_requested_account = true;
            facts.account_requires_mfa = found.mfa_required;
        }
    }
    let mut selectable = Vec::new();
    if decision::asks_for_account(request, client.settings.account_selection) {
        selectable = accounts::selectable_by(store.pool(), &user.id).await?;
        selectable.sort_by_cached_key(|account| {
            let mut path = account.ancestors.clone();
            path.push(account.name.clone());
            path.iter()
                .map(|name| name.to_lowercase())
                .collect::<Vec<_>>()
        });
        facts.selectable_accounts = selectable
            .iter()
            .map(|account| account.id.clone())
            .collect();
    }
    // API.md §4: no consent page for the operator's own clients, nor for a client an account
    // the user belongs to registered; every other client (another tenant's, any
    // self-registered one, which is whatever software held an API key) asks once per scope
    // set, whoever the user is.
    facts.client_trusted = client.first_party
        || (!client.self_registered
            && access::is_member_along(
                &accounts::lineage(store.pool(), &client.account_id, Some(&user.id)).await?,
            ));
    if !facts.client_trusted {
        facts.consented = consents::exists(
            store.pool(),
            &user.id,
            &client.client_id,
            &request.scope.sorted(),
        )
        .await?;
    }
    Ok(Situation {
        user: Some(user),
        facts,
        accounts: selectable,
    })
}

/// The user approved `client_id` for `scope`; it will not ask again for that scope set.
pub async fn record_consent(
    store: &Store,
    user_id: &UserId,
    client_id: &ClientId,
    scope: &Scope,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut change = store.change().await?;
    consents::insert(&mut *change, user_id, client_id, &scope.sorted(), now).await?;
    change.commit_unaudited(Unaudited::Issuance).await
}

/// A single-use code for `request`, on behalf of `user_id`; only its hash is stored.
pub async fn issue_code(
    store: &Store,
    request: &AuthorizationRequest,
    user_id: &UserId,
    authentication: &Authentication,
    session_id: Option<&SessionId>,
    now: i64,
) -> Result<String, sqlx::Error> {
    let code = secret::generate();
    let grant = CodeGrant {
        client_id: request.client_id.clone(),
        user_id: user_id.clone(),
        account_id: request.account_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: authentication.auth_time,
        amr: authentication.amr.clone(),
        session_id: session_id.cloned(),
        expires_at: now + CODE_LIFETIME_SECONDS,
    };
    let mut change = store.change().await?;
    authorization_codes::insert(&mut *change, &secret::hash(&code), &grant, now).await?;
    change.commit_unaudited(Unaudited::Issuance).await?;
    Ok(code)
}
