//! A user's second factors (API.md §10): enrol a TOTP app (pending until a first code proves
//! it), remove one, regenerate recovery codes, and the second step of a login. Every change
//! is recorded as `user.mfa_enabled` / `user.mfa_disabled` / `user.recovery_codes_regenerated`
//! in the user's own trail and each of its accounts' logs (like `user.login`), and mailed to
//! the user.

use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;

use crate::audit::{Action, Origin};
use crate::clock::{self, Timestamp};
use crate::ids::{FactorId, UserId};
use crate::keys::KeyEncryptionKey;
use crate::mailer;
use crate::manage::Error;
use crate::manage::caller::{self, Caller};
use crate::mfa::{self, SecondFactor};
use crate::store::factors::{self, Factor, FactorStatus, FactorType};
use crate::store::{Recorded, Store, Unaudited, memberships, recovery_codes};
use crate::user::User;

/// What authenticator apps show above the codes.
const TOTP_ISSUER: &str = "Tessera";
/// Adding or removing a factor needs a login at most this old (API.md §10).
pub const RECENT_LOGIN_SECONDS: i64 = 10 * 60;
const MAX_NAME_CHARS: usize = 100;

/// A factor as `GET /v1/me/factors` shows it: never its secret.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FactorView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: FactorType,
    pub name: String,
    pub status: FactorStatus,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

impl FactorView {
    fn of(factor: &Factor) -> FactorView {
        FactorView {
            id: factor.id.to_string(),
            kind: factor.kind,
            name: factor.name.clone(),
            status: factor.status,
            created_at: factor.created_at,
            last_used_at: factor.last_used_at,
        }
    }
}

/// A TOTP factor just enrolled: the secret, shown this once, as text and as a URI.
pub struct Enrolled {
    pub factor: FactorView,
    pub secret: String,
    pub otpauth_uri: String,
}

/// A factor just verified, with the first recovery codes when it is the user's first.
pub struct Verified {
    pub factor: FactorView,
    pub recovery_codes: Option<Vec<String>>,
}

/// The user changing their own factors, and when they last proved who they are: a REST
/// caller (its token's login) or a signed-in page (its session's login).
pub struct Owner<'a> {
    pub user: User,
    pub auth_time: Option<i64>,
    pub origin: Origin<'a>,
}

impl<'a> Owner<'a> {
    /// The caller's own user; user-level tokens only (a token for one account must not
    /// change how the person signs in).
    pub async fn of_caller(store: &Store, caller: &'a Caller) -> Result<Owner<'a>, Error> {
        caller.require_user_level()?;
        Ok(Owner {
            user: caller::user(store, caller).await?,
            auth_time: caller::auth_time(store, caller).await?,
            origin: caller.origin(),
        })
    }

    /// Refuses unless the login is at most [`RECENT_LOGIN_SECONDS`] old (403
    /// `reauthentication_required`): a stolen token or an unattended browser alone must not
    /// change how the account is protected.
    pub fn signed_in_recently(&self) -> Result<&User, Error> {
        let recent = self
            .auth_time
            .is_some_and(|auth_time| clock::now() - auth_time <= RECENT_LOGIN_SECONDS);
        if !recent {
            return Err(Error::Refused {
                code: "reauthentication_required",
                message: "this needs a login within the last 10 minutes: sign in again".to_owned(),
            });
        }
        Ok(&self.user)
    }
}

pub async fn list(store: &Store, owner: &Owner<'_>) -> Result<Vec<FactorView>, Error> {
    let factors = factors::list(store.pool(), &owner.user.id).await?;
    Ok(factors.iter().map(FactorView::of).collect())
}

/// Starts a TOTP enrolment: a pending factor with a fresh secret, sealed at rest.
pub async fn enrol_totp(
    store: &Store,
    kek: &KeyEncryptionKey,
    owner: &Owner<'_>,
    name: Option<String>,
) -> Result<Enrolled, Error> {
    let user = owner.signed_in_recently()?;
    let name = factor_name(name, "Authenticator app")?;
    let secret = mfa::new_totp_secret();
    let id = FactorId::generate();
    let now = clock::now();
    let factor = Factor {
        secret_sealed: Some(kek.seal(&secret, id.as_str())),
        id,
        user_id: user.id.clone(),
        kind: FactorType::Totp,
        name,
        status: FactorStatus::Pending,
        last_step: None,
        credential: None,
        credential_id: None,
        created_at: Timestamp(now),
        last_used_at: None,
    };
    let mut change = store.change().await?;
    factors::insert(&mut *change, &factor).await?;
    change.commit_unaudited(Unaudited::Factors).await?;
    Ok(Enrolled {
        factor: FactorView::of(&factor),
        secret: mfa::base32(&secret),
        otpauth_uri: mfa::otpauth_uri(&secret, TOTP_ISSUER, &user.email),
    })
}

/// Proves a pending factor with a code from the app: it turns active. The user's first
/// active factor comes with their recovery codes, shown this once.
pub async fn verify(
    store: &Store,
    kek: &KeyEncryptionKey,
    owner: &Owner<'_>,
    id: &str,
    code: &str,
) -> Result<Verified, Error> {
    let user = &owner.user;
    let id = &factor_id(id)?;
    let origin = owner.origin;
    let now = clock::now();
    let mut change = store.change().await?;
    let factor = factors::find(&mut *change, &user.id, id)
        .await?
        .ok_or(Error::NotFound("factor"))?;
    if factor.status != FactorStatus::Pending {
        return Err(Error::conflict("the factor is already active"));
    }
    let step = totp_step(kek, &factor, code, now).ok_or_else(invalid_code)?;
    let first = !factors::has_active(&mut *change, &user.id).await?;
    factors::activate(&mut *change, &factor.id).await?;
    factors::accept_step(&mut *change, &factor.id, step, now).await?;
    let mut factor = factor;
    factor.status = FactorStatus::Active;
    factor.last_used_at = Some(Timestamp(now));
    added(change, user, &factor, first, origin, now).await
}

/// The end of every enrolment: `factor` is now active. The user is mailed, the change is
/// recorded as `user.mfa_enabled`, and the user's `first` active factor comes with its
/// recovery codes, shown this once.
pub(super) async fn added(
    mut change: crate::store::Change<'_>,
    user: &User,
    factor: &Factor,
    first: bool,
    origin: Origin<'_>,
    now: i64,
) -> Result<Verified, Error> {
    let recovery_codes = if first {
        let codes = mfa::new_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|code| mfa::recovery_code_hash(code))
            .collect();
        recovery_codes::replace(&mut change, &user.id, &hashes, now).await?;
        Some(codes)
    } else {
        None
    };
    let email = mailer::factor_changed(&user.email, "A second factor was added", &factor.name);
    change.queue_email(&email, now).await?;
    let details = json!({ "factor_id": factor.id, "type": factor.kind, "name": factor.name });
    let change = record(change, user, Action::UserMfaEnabled, details, origin, now).await?;
    change.commit().await?;
    Ok(Verified {
        factor: FactorView::of(factor),
        recovery_codes,
    })
}

/// Removes a factor; with the last active one go the recovery codes.
pub async fn remove(store: &Store, owner: &Owner<'_>, id: &str) -> Result<(), Error> {
    let user = owner.signed_in_recently()?;
    let id = &factor_id(id)?;
    let origin = owner.origin;
    let now = clock::now();
    let mut change = store.change().await?;
    let factor = factors::find(&mut *change, &user.id, id)
        .await?
        .ok_or(Error::NotFound("factor"))?;
    factors::delete(&mut *change, &user.id, id).await?;
    if factor.status == FactorStatus::Pending {
        // Never in use: nothing to record or tell.
        return Ok(change.commit_unaudited(Unaudited::Factors).await?);
    }
    if !factors::has_active(&mut *change, &user.id).await? {
        recovery_codes::delete_for_user(&mut *change, &user.id).await?;
    }
    let email = mailer::factor_changed(&user.email, "A second factor was removed", &factor.name);
    change.queue_email(&email, now).await?;
    let details = json!({ "factor_id": factor.id, "type": factor.kind, "name": factor.name });
    let change = record(change, user, Action::UserMfaDisabled, details, origin, now).await?;
    Ok(change.commit().await?)
}

/// New recovery codes, shown this once; the old ones stop working.
pub async fn regenerate_recovery_codes(
    store: &Store,
    owner: &Owner<'_>,
) -> Result<Vec<String>, Error> {
    let user = owner.signed_in_recently()?;
    let origin = owner.origin;
    let now = clock::now();
    let mut change = store.change().await?;
    if !factors::has_active(&mut *change, &user.id).await? {
        return Err(Error::conflict(
            "recovery codes stand in for a second factor: add one first",
        ));
    }
    let codes = mfa::new_recovery_codes();
    let hashes: Vec<String> = codes
        .iter()
        .map(|code| mfa::recovery_code_hash(code))
        .collect();
    recovery_codes::replace(&mut change, &user.id, &hashes, now).await?;
    let change = record(
        change,
        user,
        Action::UserRecoveryCodesRegenerated,
        json!({}),
        origin,
        now,
    )
    .await?;
    change.commit().await?;
    Ok(codes)
}

/// Whether the user's login needs a second step.
pub async fn required(store: &Store, user: &User) -> Result<bool, sqlx::Error> {
    factors::has_active(store.pool(), &user.id).await
}

/// Whether the user has an active passkey (the second step can offer it).
pub async fn has_passkey(store: &Store, user_id: &UserId) -> Result<bool, sqlx::Error> {
    let listed = factors::list(store.pool(), user_id).await?;
    Ok(listed
        .iter()
        .any(|factor| factor.kind == FactorType::Passkey && factor.status == FactorStatus::Active))
}

/// What a code typed at the second step of a login may be, before it is used up.
pub enum CodeMatch {
    /// The code of this TOTP factor's `step` (±1 step of now).
    Totp { factor_id: FactorId, step: i64 },
    /// Not a current TOTP code: perhaps one of the user's unused recovery codes.
    RecoveryCode { hash: String },
}

/// Which of `user`'s active factors `code` may be for; reads only. `None`: the user has no
/// active factor.
pub async fn match_code(
    store: &Store,
    kek: &KeyEncryptionKey,
    user: &User,
    code: &str,
    now: i64,
) -> Result<Option<CodeMatch>, sqlx::Error> {
    let active: Vec<Factor> = factors::list(store.pool(), &user.id)
        .await?
        .into_iter()
        .filter(|factor| factor.status == FactorStatus::Active)
        .collect();
    let totp = active
        .iter()
        .filter(|factor| factor.kind == FactorType::Totp)
        .find_map(|factor| Some((factor, totp_step(kek, factor, code, now)?)));
    Ok(match totp {
        Some((factor, step)) => Some(CodeMatch::Totp {
            factor_id: factor.id.clone(),
            step,
        }),
        None if active.is_empty() => None,
        None => Some(CodeMatch::RecoveryCode {
            hash: mfa::recovery_code_hash(code),
        }),
    })
}

/// Uses the matched code up, in the change that records the login: a TOTP step once, a
/// recovery code once. `None`: used before, or no recovery code of the user.
pub async fn use_code(
    db: &mut AnyConnection,
    user_id: &UserId,
    matched: &CodeMatch,
    now: i64,
) -> Result<Option<SecondFactor>, sqlx::Error> {
    Ok(match matched {
        CodeMatch::Totp { factor_id, step } => {
            factors::accept_step(&mut *db, factor_id, *step, now)
                .await?
                .then_some(SecondFactor::Totp)
        }
        CodeMatch::RecoveryCode { hash } => recovery_codes::consume(&mut *db, user_id, hash, now)
            .await?
            .then_some(SecondFactor::RecoveryCode),
    })
}

/// The name the user gave a new factor, or `default`.
pub(super) fn factor_name(name: Option<String>, default: &str) -> Result<String, Error> {
    let name = name.map(|name| name.trim().to_owned()).unwrap_or_default();
    if name.is_empty() {
        return Ok(default.to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS || !crate::text::is_one_line(&name) {
        return Err(Error::invalid(
            "name",
            "must be one line of at most 100 characters",
        ));
    }
    Ok(name)
}

fn factor_id(text: &str) -> Result<FactorId, Error> {
    FactorId::parse(text).ok_or(Error::NotFound("factor"))
}

fn totp_step(kek: &KeyEncryptionKey, factor: &Factor, code: &str, now: i64) -> Option<i64> {
    let sealed = factor.secret_sealed.as_deref()?;
    let secret = kek.open(sealed, factor.id.as_str()).ok()?;
    mfa::totp_step(&secret, code, now)
}

fn invalid_code() -> Error {
    Error::Rejected {
        code: "invalid_code",
        message: "the code is not valid; check the app's clock and try the current code".to_owned(),
    }
}

/// Records `action` in the user's own trail and in each of its accounts' logs.
async fn record<'s>(
    change: crate::store::Change<'s>,
    user: &User,
    action: Action,
    details: serde_json::Value,
    origin: Origin<'_>,
    now: i64,
) -> Result<Recorded<'s>, sqlx::Error> {
    let mut change = change;
    let account_ids = memberships::account_ids_of_user(&mut *change, &user.id).await?;
    let event = |account_id| {
        origin.event(
            account_id,
            action,
            "user",
            user.id.as_str(),
            details.clone(),
        )
    };
    change.record_for_user(&account_ids, event, now).await
}
