//! Operator actions shared by the CLI, first-start bootstrap and the superadmin API:
//! each validates its input, then writes everything in one transaction with its audit events.

use serde::Serialize;
use serde_json::json;

use crate::audit::{Action, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::credentials;
use crate::email_address::EmailAddress;
use crate::ids::UserId;
use crate::keys::PublicJwk;
use crate::manage::Error;
use crate::manage::new_user::{self, check_name, check_password, hash_password};
use crate::password::Hasher;
use crate::store::{Store, users};
use crate::user::User;
use crate::validation::FieldError;

fn invalid(field: &'static str, message: &str) -> Error {
    Error::Invalid(vec![FieldError {
        field,
        message: message.to_owned(),
    }])
}

pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
    pub superadmin: bool,
}

/// A signing key just made active, as both `tessera keys rotate` and
/// `POST /v1/admin/keys/rotate` show it: the public JWK and `active: true`.
#[derive(Serialize)]
pub struct RotatedKey {
    #[serde(flatten)]
    pub key: PublicJwk,
    pub active: bool,
}

/// Records a rotation that the key ring committed (in a transaction of its own), and says
/// what to show for it.
pub async fn record_key_rotation(
    store: &Store,
    key: PublicJwk,
    origin: Origin<'_>,
) -> Result<RotatedKey, sqlx::Error> {
    let details = json!({"alg": key.alg});
    let event = origin.event(
        None,
        Action::SigningKeyRotated,
        "signing_key",
        &key.kid,
        details,
    );
    let change = store.change().await?;
    change.record(&event, clock::now()).await?.commit().await?;
    Ok(RotatedKey { key, active: true })
}

/// Creates a user; without a password the user cannot log in until they set one, and is
/// mailed a single-use link on `issuer` to do so (in the same transaction). The operator's
/// path (CLI): outside a server, hashing is bounded by a [`Hasher`] of its own.
pub async fn create_user(store: &Store, issuer: &Issuer, new: NewUser) -> Result<User, Error> {
    create_user_by(store, &Hasher::default(), issuer, new, Origin::system()).await
}

/// [`create_user`] on behalf of `origin`, recorded as `user.created` (no account).
pub async fn create_user_by(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    new: NewUser,
    origin: Origin<'_>,
) -> Result<User, Error> {
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| invalid("email", "must be an email address"))?;
    let name = check_name(new.name, "name")?;
    let password_hash = hash_password(hasher, new.password, email.as_str(), "password").await?;
    let now = clock::now();
    let mut user = User::new(email, name, password_hash, now);
    user.superadmin = new.superadmin;
    let mut change = store.change().await?;
    new_user::insert(&mut change, issuer, &user, now).await?;
    let details = json!({"superadmin": user.superadmin});
    let event = origin.event(None, Action::UserCreated, "user", user.id.as_str(), details);
    change.record(&event, now).await?.commit().await?;
    Ok(user)
}

/// A user named by id (`usr_…`) or by email (any case).
pub async fn find_user(store: &Store, id_or_email: &str) -> Result<User, Error> {
    let user = match UserId::parse(id_or_email) {
        Some(id) => users::find(store.pool(), &id).await?,
        None => users::find_by_email(store.pool(), id_or_email.trim()).await?,
    };
    user.ok_or(Error::NotFound("user"))
}

/// Disables a user (`user.disabled`): they can no longer log in, their sessions end and
/// every token of theirs stops standing, as after a new password. Enabling
/// (`user.enabled`) lets them log in again; what disabling revoked stays revoked.
pub async fn set_user_disabled(
    store: &Store,
    user: &User,
    disabled: bool,
    origin: Origin<'_>,
) -> Result<User, Error> {
    let now = clock::now();
    let disabled_at = match (disabled, user.disabled_at) {
        (true, Some(since)) => Some(since.0),
        (true, None) => Some(now),
        (false, _) => None,
    };
    let mut change = store.change().await?;
    if !users::set_disabled(&mut *change, &user.id, disabled_at, now).await? {
        return Err(Error::NotFound("user"));
    }
    let action = if disabled {
        Action::UserDisabled
    } else {
        Action::UserEnabled
    };
    let event = origin.event(None, action, "user", user.id.as_str(), json!({}));
    let mut change = change.record(&event, now).await?;
    if disabled {
        credentials::revoke_all(&mut change, &user.id, now).await?;
    }
    change.commit().await?;
    let mut user = user.clone();
    user.disabled_at = disabled_at.map(Timestamp);
    user.updated_at = Timestamp(now);
    Ok(user)
}

/// Sets a user's password under the web's policy (`user.updated`, fields `password`); like
/// any new password it ends their sessions and revokes their tokens (`credentials`).
pub async fn set_user_password(
    store: &Store,
    hasher: &Hasher,
    user: &User,
    password: String,
    origin: Origin<'_>,
) -> Result<User, Error> {
    check_password(&password, &user.email, "password")?;
    let hash = hasher.hash(password).await?;
    let now = clock::now();
    let mut change = store.change().await?;
    users::set_password_hash(&mut *change, &user.id, &hash, now).await?;
    let event = origin.event(
        None,
        Action::UserUpdated,
        "user",
        user.id.as_str(),
        json!({"fields": ["password"]}),
    );
    let mut change = change.record(&event, now).await?;
    credentials::revoke_all(&mut change, &user.id, now).await?;
    change.commit().await?;
    let mut user = user.clone();
    user.password_hash = Some(hash);
    user.updated_at = Timestamp(now);
    Ok(user)
}
