//! JWT claim sets this server issues.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, ClientId, GrantId, UserId};
use crate::oauth::scope::Scope;
use crate::role::{CLIENT_ROLE, RoleId};

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// No token lives longer than this; a retired signing key stays published this long (plus
/// clock skew).
pub const MAX_TOKEN_LIFETIME_SECONDS: i64 = 86_400;

/// An access token (RFC 9068): `typ: at+jwt`. User tokens carry `uid` (= `sub`);
/// account-scoped tokens add `acc`, `role` and `permissions` (and `inherited_from`); tokens that descend from a grant name it in
/// `gid`, which is how a revoked grant (reuse, replay, logout) switches them off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    /// The authorized party (OIDC Core §2), the client the token was issued to: a service
    /// that accepts several audiences tells by it who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// What `role` allows on `acc` (API.md §11): downstream services need nothing else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    /// The ancestor account whose membership `role` comes from, when not `acc`'s own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// How the user signed in (RFC 8176 method references), and the level that makes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// `acr` of a login that used two factors (`amr` has `mfa`), and of one that did not.
pub const ACR_MFA: &str = "urn:tessera:acr:mfa";
pub const ACR_PASSWORD: &str = "urn:tessera:acr:pwd";

/// The authentication context class a login's method references make.
pub fn acr_of(amr: &[String]) -> &'static str {
    if amr.iter().any(|method| method == "mfa") {
        ACR_MFA
    } else {
        ACR_PASSWORD
    }
}

/// Who a new access token speaks for.
#[derive(Clone, Debug)]
pub enum Subject<'a> {
    /// A user, optionally within one account with the role they hold there.
    User {
        user_id: &'a UserId,
        account: Option<AccountRole<'a>>,
        grant_id: Option<&'a GrantId>,
    },
    /// The client itself, within the account that owns it.
    Client { account_id: &'a AccountId },
}

/// The account a user's token is scoped to, the role the user acts with there, what it
/// allows, and where it comes from when an ancestor's membership passes it down.
#[derive(Clone, Debug)]
pub struct AccountRole<'a> {
    pub account_id: &'a AccountId,
    pub role: &'a RoleId,
    pub permissions: Vec<String>,
    pub inherited_from: Option<&'a AccountId>,
}

impl AccessTokenClaims {
    /// When the token was issued, to the millisecond: from its ULID `jti`, else `iat`.
    pub fn issued_at_ms(&self) -> i64 {
        ulid::Ulid::from_string(&self.jti)
            .ok()
            .and_then(|jti| i64::try_from(jti.timestamp_ms()).ok())
            .unwrap_or(self.iat.saturating_mul(1000))
    }

    /// Claims for a token issued to `client_id`, valid `lifetime` seconds from `now`.
    /// `aud` is the requested audience, else the client. The subject is taken: its
    /// permission list moves into the claims (token issuance is a hot path).
    pub fn new(
        issuer: &str,
        client_id: &ClientId,
        subject: Subject<'_>,
        scope: &Scope,
        audience: Option<&str>,
        lifetime: i64,
        now: i64,
    ) -> AccessTokenClaims {
        let (sub, uid, gid) = match &subject {
            Subject::User {
                user_id, grant_id, ..
            } => (
                user_id.to_string(),
                Some(user_id.to_string()),
                grant_id.map(ToString::to_string),
            ),
            Subject::Client { .. } => (client_id.to_string(), None, None),
        };
        let (acc, role, permissions, inherited_from) = match subject {
            Subject::User {
                account: Some(account),
                ..
            } => (
                Some(account.account_id.to_string()),
                Some(account.role.to_string()),
                Some(account.permissions),
                account.inherited_from.map(ToString::to_string),
            ),
            Subject::User { account: None, .. } => (None, None, None, None),
            Subject::Client { account_id } => (
                Some(account_id.to_string()),
                Some(CLIENT_ROLE.to_owned()),
                None,
                None,
            ),
        };
        AccessTokenClaims {
            iss: issuer.to_owned(),
            sub,
            aud: audience.map_or_else(|| client_id.to_string(), str::to_owned),
            exp: now + lifetime,
            iat: now,
            nbf: now,
            jti: ulid::Ulid::new().to_string(),
            client_id: client_id.to_string(),
            azp: Some(client_id.to_string()),
            scope: scope.to_string(),
            uid,
            acc,
            role,
            permissions,
            inherited_from,
            gid,
            amr: None,
            acr: None,
        }
    }

    /// The same claims saying how the user signed in (`amr`, and the `acr` it makes); a
    /// login from before methods were recorded says nothing.
    pub fn signed_in_by(self, amr: &[String]) -> AccessTokenClaims {
        if amr.is_empty() {
            return self;
        }
        AccessTokenClaims {
            amr: Some(amr.to_vec()),
            acr: Some(acr_of(amr).to_owned()),
            ..self
        }
    }
}
