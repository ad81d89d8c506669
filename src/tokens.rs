//! Issuing and checking tokens: each grant's flow (code, refresh, client credentials, token
//! exchange) loads what it needs, applies the `oauth` rules, persists in one transaction,
//! and signs after committing (a signature must not hold the database's write lock).

mod rotation;

use sqlx::AnyConnection;

use crate::access::{Held, Standing};
use crate::ids::{AccountId, GrantId, UserId};
use crate::keys::{KeyRing, KeysError};
use crate::oauth::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, AccountRole, Subject};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::id_token::{self, ID_TOKEN_TYP, IdTokenClaims};
use crate::oauth::scope::{self, Scope};
use crate::oauth::token::{self, CodeGrant, TokenResponse};
use crate::secret;
use crate::store::grants::{self, Grant};
use crate::store::{
    Store, Unaudited, accounts, authorization_codes, liveness, refresh_tokens, users,
};
use crate::user::User;
use rotation::Rotated;
pub use rotation::Rotations;

/// Why a grant's flow issued nothing.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("token encoding failed: {0}")]
    Encoding(#[from] serde_json::Error),
    #[error(transparent)]
    Keys(#[from] KeysError),
}

/// What issuing tokens needs, and no more: storage, the signing keys and the issuer. The
/// HTTP layer hands over `AppState::issuance()`; tests below HTTP build their own.
#[derive(Clone, Copy)]
pub struct Issuance<'a> {
    pub store: &'a Store,
    pub keys: &'a KeyRing,
    pub issuer: &'a str,
    /// Refresh rotations waiting for the writer (group commit on SQLite).
    pub rotations: &'a Rotations,
}

/// The user an ID token is issued for, and the values only the flow knows.
struct IdTokenFor<'a> {
    user: &'a User,
    auth_time: i64,
    nonce: Option<String>,
}

/// `authorization_code` (RFC 6749 §4.1.3): redeem once; a replayed code revokes what it issued.
pub async fn redeem_code(
    ctx: Issuance<'_>,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let code_hash = secret::hash(code);
    let mut change = ctx.store.change().await?;
    let Some(grant) = authorization_codes::consume(&mut *change, &code_hash, now).await? else {
        if let Some(Some(grant_id)) =
            authorization_codes::replayed(&mut *change, &code_hash).await?
        {
            grants::revoke(&mut *change, &grant_id, now).await?;
            change.commit_unaudited(Unaudited::Revocation).await?;
            tracing::warn!(grant = %grant_id, "authorization code replayed: its tokens are revoked");
        }
        return Err(
            OAuthError::invalid_grant("the code is invalid, expired or already used").into(),
        );
    };
    if let Err(error) = token::check_code(&grant, client, redirect_uri, code_verifier, now) {
        // The code stays spent: a wrong verifier must not get a second guess.
        change.commit_unaudited(Unaudited::Issuance).await?;
        return Err(error.into());
    }
    let user = users::find(&mut *change, &grant.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let standing = account_standing(
        &mut change,
        grant.account_id.as_ref(),
        &grant.user_id,
        &grant.amr,
        AccountNamed::ByGrant,
    )
    .await?;
    let family = new_grant(client, &grant, now);
    grants::insert(&mut *change, &family).await?;
    authorization_codes::link_grant(&mut *change, &code_hash, &family.id).await?;
    // An unverified address may be someone else's: no long-lived credential until it is
    // proven (API.md §4).
    let refresh = if user.email_verified {
        issue_refresh_token(&mut change, client, &family.id, None, now).await?
    } else {
        None
    };
    change.commit_unaudited(Unaudited::Issuance).await?;

    let id_token = grant.scope.contains(scope::OPENID).then(|| IdTokenFor {
        user: &user,
        auth_time: grant.auth_time,
        nonce: grant.nonce.clone(),
    });
    sign_user_tokens(
        ctx,
        client,
        &user.id,
        grant.account_id.as_ref().zip(standing.as_ref()),
        &family.id,
        &grant.scope,
        &grant.amr,
        id_token,
        refresh,
        now,
    )
    .await
}

/// `refresh_token` (RFC 6749 §6): rotate on every use; presenting a spent token again is
/// reuse and revokes the family, except as a retry within the client's grace period.
/// `switch_to` scopes the new access token to another account of the user's and binds the
/// family to it (API.md §11).
pub async fn refresh(
    ctx: Issuance<'_>,
    client: &Client,
    refresh_token: &str,
    requested_scope: Option<&Scope>,
    switch_to: Option<&AccountId>,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let token_hash = secret::hash(refresh_token);
    // Read before the write transaction, on one reader connection: on SQLite writers take
    // turns, and each statement inside one is a round trip the others wait for. The gate
    // (`mark_used`) is in the write.
    let mut db = ctx.store.pool().acquire().await?;
    let (grant, token_expires_at) = grants::find_by_refresh_token(&mut *db, &token_hash)
        .await?
        .ok_or_else(invalid_refresh_token)?;
    if grant.client_id != client.client_id || !grant.is_active(now) || token_expires_at <= now {
        return Err(invalid_refresh_token().into());
    }
    let (account_id, named) = match switch_to {
        Some(account_id) => (Some(account_id), AccountNamed::ByRequest),
        None => (grant.account_id.as_ref(), AccountNamed::ByGrant),
    };
    // Everything that may refuse the request, decided before the write, so a rotation that
    // passes the gate cannot fail but by the database (several share one transaction).
    let granted = Scope::parse(&grant.scope).unwrap_or_default();
    let (user, standing) = match &grant.user_id {
        Some(user_id) => {
            let standing = account_standing(&mut db, account_id, user_id, &grant.amr, named).await;
            (users::find(&mut *db, user_id).await?, standing)
        }
        None => (None, Ok(None)),
    };
    drop(db);
    let ready = token::narrowed_scope(&granted, requested_scope)
        .map_err(TokenError::from)
        .and_then(|scope| Ok((scope, user.ok_or_else(invalid_refresh_token)?, standing?)));

    let rotation = rotation::Rotation {
        client: client.clone(),
        grant_id: grant.id.clone(),
        token_hash,
        // One family, now of the account switched to: a later refresh without `account_id`
        // stays there. Access tokens already issued for the old account live out their time.
        rebind: switch_to
            .filter(|&id| grant.account_id.as_ref() != Some(id))
            .cloned(),
        now,
    };
    let (scope, user, standing) = match ready {
        Ok(ready) => ready,
        Err(refused) => {
            // Only past the reuse check: a replayed token must revoke its family whatever
            // else is wrong with the request; an unspent one stays unspent.
            rotation::check_reuse(ctx.store, &rotation).await?;
            return Err(refused);
        }
    };
    let refresh = match ctx.rotations.rotate(ctx.store, rotation).await? {
        Rotated::Issued(refresh) => refresh,
        Rotated::Reused => {
            rotation::warn_reused(&grant.id, &client.client_id);
            return Err(invalid_refresh_token().into());
        }
    };

    // OIDC Core §12.2: same sub and auth_time, no nonce.
    let id_token = granted.contains(scope::OPENID).then(|| IdTokenFor {
        user: &user,
        auth_time: grant.auth_time.unwrap_or(grant.created_at),
        nonce: None,
    });
    sign_user_tokens(
        ctx,
        client,
        &user.id,
        account_id.zip(standing.as_ref()),
        &grant.id,
        &scope,
        &grant.amr,
        id_token,
        refresh,
        now,
    )
    .await
}

fn invalid_refresh_token() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// `client_credentials` (RFC 6749 §4.4): the client acts for itself within its account.
pub async fn client_credentials(
    ctx: Issuance<'_>,
    client: &Client,
    requested_scope: Option<&Scope>,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let allowed: Vec<String> = client
        .settings
        .scopes
        .iter()
        .filter(|s| ![scope::OPENID, scope::OFFLINE_ACCESS].contains(&s.as_str()))
        .cloned()
        .collect();
    let scope = match requested_scope {
        Some(requested) if requested.tokens().iter().all(|s| allowed.contains(s)) => {
            requested.clone()
        }
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "the client may not request that scope",
            )
            .into());
        }
        None => Scope::from_tokens(&allowed),
    };
    if !client.account_active {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client's account is suspended",
        )
        .into());
    }
    let subject = Subject::Client {
        account_id: &client.account_id,
    };
    let claims = access_token_claims(ctx, client, subject, &scope, None, now);
    let access_token = sign_access_token(ctx, client, &claims).await?;
    Ok(TokenResponse::bearer(
        access_token,
        client.settings.access_token_ttl_seconds,
        &scope,
    ))
}

/// Why an exchange's `audience` was refused: the REST form names the field for it.
pub const AUDIENCE_REFUSED: &str = "the client may not address that audience";

/// RFC 8693 token exchange, also behind `POST /v1/auth/account-token`: a user's access token
/// issued to `client`, still live, becomes an access token scoped to one account the user
/// stands in (a role of its own there, or one an ancestor passes down), with the standing
/// read now, a scope no wider than the subject's, and no refresh token. An account-scoped
/// subject reaches only its account and descendants, with at most its role; the audience is
/// the client itself or one it registered (API.md §5).
pub async fn exchange(
    ctx: Issuance<'_>,
    client: &Client,
    subject: &AccessTokenClaims,
    account_id: &AccountId,
    audience: Option<&str>,
    requested_scope: Option<&Scope>,
    now: i64,
) -> Result<(TokenResponse, Standing), TokenError> {
    if subject.client_id != client.client_id.as_str() {
        return Err(
            OAuthError::invalid_grant("the subject token was issued to another client").into(),
        );
    }
    let user_id = subject
        .uid
        .as_deref()
        .and_then(UserId::parse)
        .ok_or_else(|| OAuthError::invalid_grant("the subject token does not represent a user"))?;
    if audience.is_some_and(|audience| !client.may_address(audience)) {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, AUDIENCE_REFUSED).into());
    }
    let granted = Scope::parse(&subject.scope).unwrap_or_default();
    let scope = token::narrowed_scope(&granted, requested_scope)?;
    // The subject's liveness and the standing, from memory while nothing changed: this is
    // the hot path.
    let liveness = ctx
        .store
        .liveness(liveness_of(subject), Some((account_id, &user_id)), now)
        .await?;
    if !liveness.live {
        return Err(OAuthError::invalid_grant("the subject token is revoked").into());
    }
    let found = liveness.standing.ok_or_else(not_a_member)?;
    let mut standing = found.standing.clone();
    // A token for one account must not become a key to its parent or a sibling, nor a
    // higher role than it carried (a member's token must not mint an owner's).
    if let Some(subject_account) = &subject.acc {
        let within = account_id.as_str() == subject_account
            || accounts::ancestry(ctx.store.pool(), account_id)
                .await?
                .iter()
                .any(|ancestor| ancestor.as_str() == subject_account);
        let Some(cap) = Held::carried_by(subject).filter(|_| within) else {
            return Err(not_a_member().into());
        };
        standing = standing.capped_by(&cap);
    }
    let grant_id = subject.gid.as_deref().and_then(GrantId::parse);
    // The account token says how the user signed in, as the token it was traded from did.
    let amr = subject.amr.clone().unwrap_or_default();
    if found.mfa_required && !amr.iter().any(|method| method == "mfa") {
        return Err(second_factor_required().into());
    }
    let subject = Subject::User {
        user_id: &user_id,
        account: Some(account_role(account_id, &standing)),
        grant_id: grant_id.as_ref(),
    };
    let claims =
        access_token_claims(ctx, client, subject, &scope, audience, now).signed_in_by(&amr);
    let access_token = sign_access_token(ctx, client, &claims).await?;
    let mut response = TokenResponse::bearer(
        access_token,
        client.settings.access_token_ttl_seconds,
        &scope,
    );
    response.issued_token_type = Some(token::ACCESS_TOKEN_TYPE);
    Ok((response, standing))
}

/// Whether an access token that verified is still live: not revoked by itself, its grant not
/// revoked, and for an account token the membership (or, for a client's, the account) still
/// there.
pub async fn is_live(
    store: &Store,
    claims: &AccessTokenClaims,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(store.liveness(liveness_of(claims), None, now).await?.live)
}

pub(crate) fn liveness_of(claims: &AccessTokenClaims) -> liveness::Token<'_> {
    liveness::Token {
        jti: &claims.jti,
        grant_id: claims.gid.as_deref(),
        account_id: claims.acc.as_deref(),
        user_id: claims.uid.as_deref(),
        issued_at_ms: claims.issued_at_ms(),
    }
}

/// Who named the account a token is to be scoped to, which decides how a refusal reads.
#[derive(Clone, Copy)]
enum AccountNamed {
    /// The grant is bound to it: without standing there the grant serves no more
    /// (`invalid_grant`: sign in again).
    ByGrant,
    /// The request names it, as an exchange does: refused as a target (`invalid_target`,
    /// `insufficient_user_authentication`); the grant still serves its own account.
    ByRequest,
}

/// The user's standing now in the account a grant is bound to (or a refresh switches to),
/// if it may have one: a role there (its own or an ancestor's passed down), the account
/// active, and a second factor in the login (`amr`) when the account (or an ancestor)
/// requires one, which it may have started to since the login.
async fn account_standing(
    db: &mut AnyConnection,
    account_id: Option<&AccountId>,
    user_id: &UserId,
    amr: &[String],
    named: AccountNamed,
) -> Result<Option<Standing>, TokenError> {
    let Some(account_id) = account_id else {
        return Ok(None);
    };
    let found = liveness::standing(db, account_id, user_id)
        .await?
        .ok_or_else(|| match named {
            AccountNamed::ByGrant => OAuthError::invalid_grant(
                "the user is no longer a member of that account, or it is suspended",
            ),
            AccountNamed::ByRequest => not_a_member(),
        })?;
    if found.mfa_required && !amr.iter().any(|method| method == "mfa") {
        return Err(match named {
            AccountNamed::ByGrant => OAuthError::invalid_grant(
                "the account requires a login with a second factor: sign in again",
            ),
            AccountNamed::ByRequest => second_factor_required(),
        }
        .into());
    }
    Ok(Some(found.standing))
}

/// RFC 8693 §2.2.2: the account asked for is none the user may act in.
fn not_a_member() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidTarget,
        "the user is not a member of that account",
    )
}

/// RFC 9470 §3: the account asked for requires a second factor this login lacks.
fn second_factor_required() -> OAuthError {
    OAuthError::new(
        ErrorCode::InsufficientUserAuthentication,
        "the account requires a login with a second factor",
    )
}

/// What an account token says of the user's standing there.
fn account_role<'a>(account_id: &'a AccountId, standing: &'a Standing) -> AccountRole<'a> {
    AccountRole {
        account_id,
        role: &standing.role,
        permissions: standing.permissions.ids(),
        inherited_from: standing.inherited_from.as_ref(),
    }
}

fn new_grant(client: &Client, code: &CodeGrant, now: i64) -> Grant {
    Grant {
        id: GrantId::generate(),
        client_id: client.client_id.clone(),
        user_id: Some(code.user_id.clone()),
        account_id: code.account_id.clone(),
        scope: code.scope.to_string(),
        auth_time: Some(code.auth_time),
        amr: code.amr.clone(),
        session_id: code.session_id.clone(),
        created_at: now,
        expires_at: now + client.settings.refresh_token_ttl_seconds,
        revoked_at: None,
    }
}

/// A new refresh token in the family, when the client may use the refresh grant.
async fn issue_refresh_token(
    db: &mut AnyConnection,
    client: &Client,
    grant_id: &GrantId,
    parent_hash: Option<&str>,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    if !client.allows_grant(crate::oauth::client::GrantType::RefreshToken) {
        return Ok(None);
    }
    let token = secret::generate();
    let expires_at = now + client.settings.refresh_token_ttl_seconds;
    refresh_tokens::insert(
        &mut *db,
        &secret::hash(&token),
        grant_id,
        parent_hash,
        now,
        expires_at,
    )
    .await?;
    Ok(Some(token))
}

fn access_token_claims(
    ctx: Issuance<'_>,
    client: &Client,
    subject: Subject<'_>,
    scope: &Scope,
    audience: Option<&str>,
    now: i64,
) -> AccessTokenClaims {
    AccessTokenClaims::new(
        ctx.issuer,
        &client.client_id,
        subject,
        scope,
        audience,
        client.settings.access_token_ttl_seconds,
        now,
    )
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per grant; a struct would only rename them"
)]
async fn sign_user_tokens(
    ctx: Issuance<'_>,
    client: &Client,
    user_id: &UserId,
    account: Option<(&AccountId, &Standing)>,
    grant_id: &GrantId,
    scope: &Scope,
    amr: &[String],
    id_token: Option<IdTokenFor<'_>>,
    refresh_token: Option<String>,
    now: i64,
) -> Result<TokenResponse, TokenError> {
    let subject = Subject::User {
        user_id,
        account: account.map(|(account_id, standing)| account_role(account_id, standing)),
        grant_id: Some(grant_id),
    };
    let claims = access_token_claims(ctx, client, subject, scope, None, now).signed_in_by(amr);
    let access_token = sign_access_token(ctx, client, &claims).await?;
    let id_token = match id_token {
        Some(for_user) => {
            let key = ctx
                .keys
                .signing_key_for(ctx.store, client.settings.id_token_signed_response_alg)
                .await?;
            let claims = IdTokenClaims {
                iss: ctx.issuer.to_owned(),
                sub: user_id.to_string(),
                aud: client.client_id.to_string(),
                exp: now + client.settings.access_token_ttl_seconds,
                iat: now,
                auth_time: for_user.auth_time,
                nonce: for_user.nonce,
                at_hash: id_token::at_hash_for(&access_token, key.alg()),
                email: scope
                    .contains(scope::EMAIL)
                    .then(|| for_user.user.email.clone()),
                email_verified: scope
                    .contains(scope::EMAIL)
                    .then_some(for_user.user.email_verified),
                name: if scope.contains(scope::PROFILE) {
                    for_user.user.name.clone()
                } else {
                    None
                },
                amr: claims.amr.clone(),
                acr: claims.acr.clone(),
                acc: account.map(|(account_id, _)| account_id.to_string()),
            };
            Some(key.sign(ID_TOKEN_TYP, &claims)?)
        }
        None => None,
    };
    let mut response = TokenResponse::bearer(
        access_token,
        client.settings.access_token_ttl_seconds,
        scope,
    );
    response.id_token = id_token;
    response.refresh_token = refresh_token;
    Ok(response)
}

/// Signs an access token (RFC 9068) with the active key of the client's algorithm.
async fn sign_access_token(
    ctx: Issuance<'_>,
    client: &Client,
    claims: &AccessTokenClaims,
) -> Result<String, TokenError> {
    let key = ctx
        .keys
        .signing_key_for(ctx.store, client.settings.access_token_signing_alg)
        .await?;
    Ok(key.sign(ACCESS_TOKEN_TYP, claims)?)
}

/// Whether a browser at `origin` may call the token endpoints not tied to one client
/// (userinfo, JWKS): some client lists it in its `allowed_origins`.
pub async fn origin_is_allowed(store: &Store, origin: &str) -> Result<bool, sqlx::Error> {
    crate::store::clients::origin_is_allowed(store.pool(), origin).await
}
