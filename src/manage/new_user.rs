//! What every operator path that creates a user checks and writes (the superadmin's and the
//! CLI's user creation, an account created for a new owner): the name and password rules,
//! the unique email, and for a user without a password the mailed link to choose one.

use crate::config::Issuer;
use crate::mailer;
use crate::manage::Error;
use crate::password::{self, Hasher};
use crate::secret;
use crate::store::user_tokens::{self, Purpose};
use crate::store::{self, Change, users};
use crate::user::User;

/// How long the link in a set-password email works.
pub const SET_PASSWORD_SECONDS: i64 = 72 * 60 * 60;

/// Writes `user` in `change`: an email already taken is a conflict, and a user without a
/// password is mailed a single-use link on `issuer` to choose one (in the same change).
pub async fn insert(
    change: &mut Change<'_>,
    issuer: &Issuer,
    user: &User,
    now: i64,
) -> Result<(), Error> {
    match users::insert(&mut **change, user).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(Error::conflict(format!(
                "a user with email {} already exists",
                user.email
            )));
        }
        result => result?,
    }
    if user.password_hash.is_none() {
        mail_set_password_link(change, issuer, user, now).await?;
    }
    Ok(())
}

/// Queues the email with a single-use link (served by the reset-password page) with which
/// a user created without a password chooses one.
async fn mail_set_password_link(
    change: &mut Change<'_>,
    issuer: &Issuer,
    user: &User,
    now: i64,
) -> Result<(), sqlx::Error> {
    let token = secret::generate();
    user_tokens::insert(
        &mut **change,
        &secret::hash(&token),
        &user.id,
        Purpose::SetPassword,
        now,
        now + SET_PASSWORD_SECONDS,
    )
    .await?;
    let link = issuer.url(&format!("/reset-password?token={token}"));
    change
        .queue_email(&mailer::set_password(&user.email, &link, "3 days"), now)
        .await
}

/// A person's name as given: trimmed, empty as none, at most 200 characters on one line.
pub fn check_name(name: Option<String>, field: &'static str) -> Result<Option<String>, Error> {
    match name.map(|name| name.trim().to_owned()) {
        Some(name) if name.chars().count() > 200 => {
            Err(Error::invalid(field, "must be at most 200 characters"))
        }
        Some(name) if !crate::text::is_one_line(&name) => Err(Error::invalid(
            field,
            "must be one line without control characters",
        )),
        Some(name) if name.is_empty() => Ok(None),
        name => Ok(name),
    }
}

/// The password's hash, once it passes the web's policy (`password::check_strength`).
pub async fn hash_password(
    hasher: &Hasher,
    password: Option<String>,
    email: &str,
    field: &'static str,
) -> Result<Option<String>, Error> {
    match password {
        Some(password) => {
            check_password(&password, email, field)?;
            Ok(Some(hasher.hash(password).await?))
        }
        None => Ok(None),
    }
}

/// The web's password policy (`password::check_strength`), for operators too.
pub fn check_password(password: &str, email: &str, field: &'static str) -> Result<(), Error> {
    password::check_strength(password, email).map_err(|reason| Error::invalid(field, reason))
}
