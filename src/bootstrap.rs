//! First start on an empty database: a superadmin who owns a first account, announced once.

use crate::account::Account;
use crate::audit::Origin;
use crate::clock;
use crate::config::{Config, Issuer};
use crate::email_address::EmailAddress;
use crate::manage::accounts;
use crate::password::{Hasher, PasswordError};
use crate::secret;
use crate::store::{self, Store, users};
use crate::user::User;

const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";
const FIRST_ACCOUNT_NAME: &str = "Default";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// Creates the superadmin and the first account when there are no users yet. Safe when
/// several instances start at once: the loser of the race sees a unique violation.
pub async fn first_start(
    store: &Store,
    hasher: &Hasher,
    config: &Config,
    issuer: &Issuer,
) -> Result<(), BootstrapError> {
    if users::count(store.pool()).await? > 0 {
        return Ok(());
    }
    let email_text = config.admin_email.as_deref().unwrap_or(DEFAULT_ADMIN_EMAIL);
    let Some(email) = EmailAddress::parse(email_text) else {
        return Ok(());
    };
    let generated = config.admin_password.is_none();
    // A generated secret like any other: 256 bits, base64url (API.md §1).
    let password = config
        .admin_password
        .clone()
        .unwrap_or_else(secret::generate);
    let now = clock::now();
    let mut admin = User::new(
        email,
        Some("Administrator".into()),
        Some(hasher.hash(password.clone()).await?),
        now,
    );
    admin.superadmin = true;
    admin.email_verified = true;
    let account = Account::new(FIRST_ACCOUNT_NAME.into(), None, now);

    let mut change = store.change().await?;
    if users::count(&mut *change).await? > 0 {
        return Ok(());
    }
    match users::insert(&mut *change, &admin).await {
        Err(error) if store::is_unique_violation(&error) => return Ok(()),
        result => result?,
    }
    accounts::insert_with_owner(change, &account, &admin, Origin::system(), now)
        .await?
        .commit()
        .await?;

    let login_url = issuer.url("/login");
    if generated {
        tracing::warn!(
            "first start: created superadmin {} (owner of account {}). Log in at {login_url} \
             with password {password} — it is shown only this once.",
            admin.email,
            account.id,
        );
    } else {
        tracing::warn!(
            "first start: created superadmin {} (owner of account {}). Log in at {login_url} \
             with the password from TESSERA_ADMIN_PASSWORD.",
            admin.email,
            account.id,
        );
    }
    Ok(())
}
