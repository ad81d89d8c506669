//! The management use cases behind `/v1`, the operator CLI and the hosted pages: who may act
//! on what (`caller`), and each resource's changes, each one a `store::Change` with its audit
//! event. Adapters parse, call one function here, and render its answer or its [`Error`].

pub mod accounts;
pub mod api_keys;
pub mod audit_logs;
pub mod billing;
pub mod caller;
pub mod clients;
pub mod domains;
pub mod factors;
pub mod files;
pub mod identities;
pub mod invites;
pub mod keys;
pub mod members;
pub mod onboarding;
pub mod passkeys;
pub mod roles;
pub mod sessions;
pub mod sign_in;
pub mod sso_connections;
pub mod users;
pub mod webhooks;

use crate::ids::AccountId;
use crate::password::PasswordError;
use crate::store::{Change, Store};
use crate::validation::FieldError;

/// Why a management action did not happen, in terms every adapter can render (a problem+json
/// status and code, a CLI exit status, a page).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", describe(.0))]
    Invalid(Vec<FieldError>),
    /// One broken rule at a path only known at run time (a merge patch's `labels.x`).
    #[error("{field}: {message}")]
    InvalidAt { field: String, message: String },
    /// No such thing, or the caller may not know it exists (404, never 403, across tenants).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller is known to the account but its role or credential is not enough.
    #[error("{0}")]
    Forbidden(String),
    /// Refused for a reason the caller can mend, with its own code (`email_unverified`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The credential stands for a user who no longer exists: it is no credential any more.
    #[error("the caller's user no longer exists")]
    CallerGone,
    /// The state of things forbids it (`code`: `conflict`, `last_owner`, `has_children` …).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// It existed but is over for good (`invite_expired`).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{message}")]
    RateLimited { message: String, retry_after: i64 },
    /// A well-formed request whose content the rules reject, with a code of its own (400
    /// `invalid_code`).
    #[error("{message}")]
    Rejected { code: &'static str, message: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The file store failed.
    #[error("file storage error: {0}")]
    Storage(#[from] crate::files::StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Error {
        Error::Invalid(vec![FieldError {
            field,
            message: message.into(),
        }])
    }

    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::Forbidden(message.into())
    }

    /// A `conflict` with the plain `conflict` code.
    pub fn conflict(message: impl Into<String>) -> Error {
        Error::Conflict {
            code: "conflict",
            message: message.into(),
        }
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| format!("{}: {}", error.field, error.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A change holding the account's lock (`Store::change_account`); not found when there is
/// no such account.
pub(crate) async fn locked<'s>(
    store: &'s Store,
    account_id: &AccountId,
) -> Result<Change<'s>, Error> {
    store
        .change_account(account_id)
        .await?
        .ok_or(Error::NotFound("account"))
}
