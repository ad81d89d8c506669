//! Protocol errors in the words of the specs (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6,
//! RFC 6750 §3.1, RFC 8693 §2.2.2), each with a short description that is safe to show.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    ServerError,
    LoginRequired,
    ConsentRequired,
    InvalidTarget,
    InvalidToken,
    InsufficientScope,
    /// OIDC Core §3.1.2.6: the request cannot go on without the user.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: the user must choose an account, which `prompt=none` forbids.
    AccountSelectionRequired,
    /// RFC 9470: the login was not strong enough for what is asked (an account that
    /// requires a second factor).
    InsufficientUserAuthentication,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::AccountSelectionRequired => "account_selection_required",
            ErrorCode::InsufficientUserAuthentication => "insufficient_user_authentication",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> OAuthError {
        OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
    }

    pub fn server_error() -> OAuthError {
        OAuthError::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }
}
