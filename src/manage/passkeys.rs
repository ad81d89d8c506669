//! Passkeys (API.md §10), each ceremony two requests: the options a browser needs, then its
//! answer. Enrolment adds an active passkey factor for a signed-in user (REST and the
//! security page); a passkey then serves as the second step of a password login, or alone
//! for a password-less sign-in. The ceremony's state waits in `passkey_ceremonies` between
//! the two requests, under a key the caller keeps (the user for an enrolment, a secret in
//! the browser's login session for a sign-in), and is taken back once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};

use crate::audit::{Action, Actor};
use crate::clock::Timestamp;
use crate::ids::{FactorId, UserId};
use crate::manage::Error;
use crate::manage::factors::{self, Owner, Verified};
use serde_json::json;

use crate::manage::sign_in::{SecondStepDue, Visitor, commit_login, counted, user_origin};
use crate::passkey::{AuthenticationResult, RelyingParty};
use crate::rate_limit;
use crate::store::factors::{self as stored, Factor, FactorStatus, FactorType};
use crate::store::passkey_ceremonies::{self, Purpose};
use crate::store::{self, Store, Unaudited, users};
use crate::user::User;

/// How long a ceremony waits for the browser: the options' own timeout (webauthn-rs's
/// default, the WebAuthn recommendation).
const CEREMONY_SECONDS: i64 = 300;

/// The relying party, or why there is none.
fn relying_party(rp: Option<&RelyingParty>) -> Result<&RelyingParty, Error> {
    rp.ok_or_else(|| Error::Rejected {
        code: "passkeys_unavailable",
        message: "passkeys need the issuer to be a domain name; browsers refuse them on IP \
                  addresses"
            .to_owned(),
    })
}

/// 400 `invalid_passkey`: the ceremony failed, for the reason `detail` gives.
pub fn invalid_passkey(detail: &str) -> Error {
    Error::Rejected {
        code: "invalid_passkey",
        message: format!("the passkey was not accepted: {detail}"),
    }
}

/// The key an enrolment's state waits under: one enrolment per user at a time.
fn enrolment_key(user_id: &UserId) -> String {
    format!("enrolment:{user_id}")
}

/// The options to create a passkey (`{publicKey}` for `navigator.credentials.create`).
pub async fn enrolment_options(
    store: &Store,
    rp: Option<&RelyingParty>,
    owner: &Owner<'_>,
    now: i64,
) -> Result<CreationChallengeResponse, Error> {
    let user = owner.signed_in_recently()?;
    let rp = relying_party(rp)?;
    let existing = passkeys(store, &user.id).await?;
    let (options, state) = rp
        .start_registration(
            &user.id,
            &user.email,
            user.name.as_deref().unwrap_or_default(),
            &existing,
        )
        .map_err(|error| invalid_passkey(&error.to_string()))?;
    let mut change = store.change().await?;
    passkey_ceremonies::put(
        &mut *change,
        &enrolment_key(&user.id),
        Some(&user.id),
        Purpose::Enrolment,
        &to_json(&state)?,
        now + CEREMONY_SECONDS,
    )
    .await?;
    change.commit_unaudited(Unaudited::Factors).await?;
    Ok(options)
}

/// Adds the passkey the browser created from [`enrolment_options`]: an active factor at
/// once (the ceremony proved it), with the first recovery codes if it is the user's first.
pub async fn enrol(
    store: &Store,
    rp: Option<&RelyingParty>,
    owner: &Owner<'_>,
    credential: &RegisterPublicKeyCredential,
    name: Option<String>,
    now: i64,
) -> Result<Verified, Error> {
    let user = owner.signed_in_recently()?;
    let rp = relying_party(rp)?;
    let name = factors::factor_name(name, "Passkey")?;
    let mut change = store.change().await?;
    let state = passkey_ceremonies::take(
        &mut *change,
        &enrolment_key(&user.id),
        Some(&user.id),
        Purpose::Enrolment,
        now,
    )
    .await?
    .ok_or_else(|| invalid_passkey("no enrolment is waiting for it: start again"))?;
    let passkey = rp
        .finish_registration(credential, &from_json(&state)?)
        .map_err(|error| invalid_passkey(&error.to_string()))?;
    let first = !stored::has_active(&mut *change, &user.id).await?;
    let factor = Factor {
        id: FactorId::generate(),
        user_id: user.id.clone(),
        kind: FactorType::Passkey,
        name,
        status: FactorStatus::Active,
        secret_sealed: None,
        last_step: None,
        credential: Some(to_json(&passkey)?),
        credential_id: Some(URL_SAFE_NO_PAD.encode(passkey.cred_id())),
        created_at: Timestamp(now),
        last_used_at: None,
    };
    match stored::insert(&mut *change, &factor).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(Error::conflict("this passkey is registered already"));
        }
        result => result?,
    }
    factors::added(change, user, &factor, first, owner.origin, now).await
}

/// The options to prove one of `user_id`'s passkeys as the second step of a login; the
/// state waits under `ceremony` (a secret of the browser's login session).
pub async fn second_factor_options(
    store: &Store,
    rp: Option<&RelyingParty>,
    user_id: &UserId,
    ceremony: &str,
    now: i64,
) -> Result<RequestChallengeResponse, Error> {
    let rp = relying_party(rp)?;
    let passkeys = passkeys(store, user_id).await?;
    if passkeys.is_empty() {
        return Err(invalid_passkey("this user has no passkey"));
    }
    let (options, state) = rp
        .start_authentication(&passkeys)
        .map_err(|error| invalid_passkey(&error.to_string()))?;
    wait(
        store,
        ceremony,
        Some(user_id),
        Purpose::SecondFactor,
        &to_json(&state)?,
        now,
    )
    .await?;
    Ok(options)
}

/// The second step of a login with a passkey, for the user who is `due` it. Counts against the email's limit like a code, and is recorded as `user.login`
/// (with both attempts refunded) or `user.login_failed`. `None`: not one of the user's
/// passkeys, or not a valid answer to this session's challenge.
pub async fn prove_second_factor(
    store: &Store,
    rp: Option<&RelyingParty>,
    due: SecondStepDue,
    ceremony: &str,
    credential: &PublicKeyCredential,
    visitor: Visitor<'_>,
    now: i64,
) -> Result<Option<User>, Error> {
    let rp = relying_party(rp)?;
    let user = active_user(store, &due.user_id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    let attempt = counted(rate_limit::begin_second_step(store, &user.email, now).await?)?;
    let state = take(store, ceremony, Some(&user.id), Purpose::SecondFactor, now).await?;
    let passed = match state {
        Some(state) => rp
            .finish_authentication(credential, &from_json(&state)?)
            .ok(),
        None => None,
    };
    let passkeys = passkeys_of(store, &user.id).await?;
    let attempt = due.attempt.and(attempt);
    concluded(store, &user, &passkeys, passed, attempt, visitor, now).await
}

/// The options of a password-less sign-in; the state waits under `ceremony`.
pub async fn sign_in_options(
    store: &Store,
    rp: Option<&RelyingParty>,
    ceremony: &str,
    now: i64,
) -> Result<RequestChallengeResponse, Error> {
    let rp = relying_party(rp)?;
    let (options, state) = rp
        .start_sign_in()
        .map_err(|error| invalid_passkey(&error.to_string()))?;
    wait(
        store,
        ceremony,
        None,
        Purpose::SignIn,
        &to_json(&state)?,
        now,
    )
    .await?;
    Ok(options)
}

/// A password-less sign-in: the passkey says whose it is, and proves it. Counted against
/// the IP's limit (and the user's email, once known) like a password guess. `None`: no
/// active user has this passkey, or the answer is not valid.
pub async fn sign_in(
    store: &Store,
    rp: Option<&RelyingParty>,
    ceremony: &str,
    credential: &PublicKeyCredential,
    visitor: Visitor<'_>,
    now: i64,
) -> Result<Option<User>, Error> {
    let rp = relying_party(rp)?;
    let user = match RelyingParty::claimed_user(credential) {
        Some(user_id) => active_user(store, &user_id).await?,
        None => None,
    };
    // An unknown passkey still counts against the IP (its "email" is no one's).
    let email = user.as_ref().map_or("", |user| user.email.as_str());
    let attempt = counted(rate_limit::begin_login(store, email, visitor.ip, now).await?)?;
    let state = take(store, ceremony, None, Purpose::SignIn, now).await?;
    let (Some(user), Some(state)) = (user, state) else {
        return Ok(None);
    };
    let passkeys = passkeys_of(store, &user.id).await?;
    let keys: Vec<Passkey> = passkeys.iter().map(|(_, key)| key.clone()).collect();
    let passed = rp
        .finish_sign_in(credential, from_json(&state)?, &keys)
        .ok();
    concluded(store, &user, &passkeys, passed, attempt, visitor, now).await
}

/// The end of a passkey sign-in step, in one change: on success the used one of `passkeys`
/// (the user's) has its counter saved, the attempt is refunded and `user.login` recorded;
/// otherwise `user.login_failed`.
async fn concluded(
    store: &Store,
    user: &User,
    passkeys: &[(FactorId, Passkey)],
    passed: Option<AuthenticationResult>,
    attempt: rate_limit::LoginAttempt,
    visitor: Visitor<'_>,
    now: i64,
) -> Result<Option<User>, Error> {
    let ip = visitor.ip.to_string();
    let actor = Actor::User(user.id.to_string());
    let origin = user_origin(&actor, Some(&ip), visitor.user_agent);
    let mut change = store.change().await?;
    let Some(result) = passed else {
        commit_login(
            change,
            Action::UserLoginFailed,
            &user.id,
            origin,
            &json!({}),
            now,
        )
        .await?;
        return Ok(None);
    };
    let used = passkeys
        .iter()
        .find(|(_, passkey)| passkey.cred_id() == result.cred_id());
    if let Some((factor_id, passkey)) = used {
        let mut passkey = passkey.clone();
        passkey.update_credential(&result);
        stored::passkey_used(&mut *change, factor_id, &to_json(&passkey)?, now).await?;
    }
    rate_limit::login_succeeded(&mut change, attempt).await?;
    commit_login(change, Action::UserLogin, &user.id, origin, &json!({}), now).await?;
    Ok(Some(user.clone()))
}

/// The user's active passkeys, with the factor each is.
async fn passkeys_of(store: &Store, user_id: &UserId) -> Result<Vec<(FactorId, Passkey)>, Error> {
    Ok(stored::list(store.pool(), user_id)
        .await?
        .into_iter()
        .filter(|factor| factor.kind == FactorType::Passkey)
        .filter(|factor| factor.status == FactorStatus::Active)
        .filter_map(|factor| {
            let passkey = serde_json::from_str(factor.credential.as_deref()?).ok()?;
            Some((factor.id, passkey))
        })
        .collect())
}

async fn passkeys(store: &Store, user_id: &UserId) -> Result<Vec<Passkey>, Error> {
    let found = passkeys_of(store, user_id).await?;
    Ok(found.into_iter().map(|(_, passkey)| passkey).collect())
}

async fn active_user(store: &Store, user_id: &UserId) -> Result<Option<User>, Error> {
    Ok(users::find(store.pool(), user_id)
        .await?
        .filter(|user| user.disabled_at.is_none()))
}

async fn wait(
    store: &Store,
    ceremony: &str,
    user_id: Option<&UserId>,
    purpose: Purpose,
    state: &str,
    now: i64,
) -> Result<(), Error> {
    let mut change = store.change().await?;
    passkey_ceremonies::put(
        &mut *change,
        ceremony,
        user_id,
        purpose,
        state,
        now + CEREMONY_SECONDS,
    )
    .await?;
    Ok(change.commit_unaudited(Unaudited::SignIn).await?)
}

async fn take(
    store: &Store,
    ceremony: &str,
    user_id: Option<&UserId>,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, Error> {
    let mut change = store.change().await?;
    let state = passkey_ceremonies::take(&mut *change, ceremony, user_id, purpose, now).await?;
    change.commit_unaudited(Unaudited::SignIn).await?;
    Ok(state)
}

fn to_json(value: &impl Serialize) -> Result<String, Error> {
    serde_json::to_string(value)
        .map_err(|error| invalid_passkey(&format!("its state could not be kept: {error}")))
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text)
        .map_err(|_| invalid_passkey("its ceremony's state is unreadable: start again"))
}
