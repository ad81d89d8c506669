//! Token requests (RFC 6749 §4.1.3, §4.4, §6; RFC 8693 §2.1) and the rules for redeeming a
//! code or a refresh token. Records and `now` are passed in; nothing here touches storage.

use crate::ids::{AccountId, ClientId, SessionId, UserId};
use crate::oauth::client::{Client, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::params::Params;
use crate::oauth::pkce;
use crate::oauth::scope::Scope;

/// RFC 8693 §3: the only subject token type accepted.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRequest {
    AuthorizationCode {
        code: String,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<Scope>,
        /// The account the new access token is for, switching the family to it (API.md §11).
        account_id: Option<AccountId>,
    },
    ClientCredentials {
        scope: Option<Scope>,
    },
    TokenExchange {
        subject_token: String,
        account_id: AccountId,
        audience: Option<String>,
        scope: Option<Scope>,
    },
}

impl TokenRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken { .. } => GrantType::RefreshToken,
            TokenRequest::ClientCredentials { .. } => GrantType::ClientCredentials,
            TokenRequest::TokenExchange { .. } => GrantType::TokenExchange,
        }
    }

    pub fn parse(params: &Params) -> Result<TokenRequest, OAuthError> {
        let grant_type = params.require("grant_type")?;
        let grant = GrantType::parse(grant_type).ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {grant_type} is not supported"),
            )
        })?;
        let scope = || -> Result<Option<Scope>, OAuthError> {
            params
                .get("scope")?
                .map(|text| {
                    Scope::parse(text).ok_or_else(|| {
                        OAuthError::new(ErrorCode::InvalidScope, "the scope is malformed")
                    })
                })
                .transpose()
        };
        // RFC 8693 §2.2.2: an account that cannot be one is a target this server cannot serve.
        let account_id = |text: &str| {
            AccountId::parse(text).ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "account_id is not a valid account",
                )
            })
        };
        Ok(match grant {
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode {
                code: params.require("code")?.to_owned(),
                redirect_uri: params.get("redirect_uri")?.map(str::to_owned),
                code_verifier: params.get("code_verifier")?.map(str::to_owned),
            },
            GrantType::RefreshToken => TokenRequest::RefreshToken {
                refresh_token: params.require("refresh_token")?.to_owned(),
                scope: scope()?,
                account_id: params.get("account_id")?.map(account_id).transpose()?,
            },
            GrantType::ClientCredentials => TokenRequest::ClientCredentials { scope: scope()? },
            GrantType::TokenExchange => {
                let subject_token = params.require("subject_token")?.to_owned();
                if params.require("subject_token_type")? != ACCESS_TOKEN_TYPE {
                    return Err(OAuthError::invalid_request(format!(
                        "subject_token_type must be {ACCESS_TOKEN_TYPE}"
                    )));
                }
                if params.get("actor_token")?.is_some() {
                    return Err(OAuthError::invalid_request(
                        "delegation (actor_token) is not supported",
                    ));
                }
                if params
                    .get("requested_token_type")?
                    .is_some_and(|requested| requested != ACCESS_TOKEN_TYPE)
                {
                    return Err(OAuthError::invalid_request(format!(
                        "requested_token_type must be {ACCESS_TOKEN_TYPE}"
                    )));
                }
                TokenRequest::TokenExchange {
                    subject_token,
                    account_id: account_id(params.require("account_id")?)?,
                    audience: params.get("audience")?.map(str::to_owned),
                    scope: scope()?,
                }
            }
        })
    }
}

/// What an authorization code was issued for.
#[derive(Clone, Debug)]
pub struct CodeGrant {
    pub client_id: ClientId,
    pub user_id: UserId,
    pub account_id: Option<AccountId>,
    pub redirect_uri: String,
    pub scope: Scope,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    /// How the user signed in (RFC 8176), for the tokens' `amr`.
    pub amr: Vec<String>,
    /// The browser session the code was issued in: ending it revokes the grant.
    pub session_id: Option<SessionId>,
    pub expires_at: i64,
}

/// RFC 6749 §4.1.3 and RFC 7636 §4.6: the code belongs to this client, is fresh, names the
/// same redirect URI (exact string), and the verifier matches the challenge.
pub fn check_code(
    code: &CodeGrant,
    client: &Client,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if code.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if now >= code.expires_at {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if redirect_uri != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&code.code_challenge, code_verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent but no code_challenge was",
        )),
        (None, None) if client.is_public() => {
            Err(OAuthError::invalid_grant("public clients must use PKCE"))
        }
        (None, None) => Ok(()),
    }
}

/// What to do with a refresh token that was already rotated away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpentRefreshToken {
    /// Presented again within the client's grace period: a retry after a lost response.
    RetryWithinGrace,
    /// Anything else is reuse: the whole family is revoked.
    Reuse,
}

pub fn classify_spent(used_at: i64, grace_seconds: i64, now: i64) -> SpentRefreshToken {
    if grace_seconds > 0 && now - used_at <= grace_seconds {
        SpentRefreshToken::RetryWithinGrace
    } else {
        SpentRefreshToken::Reuse
    }
}

/// The scope of a token issued on a grant: the requested one must not widen the grant's.
pub fn narrowed_scope(granted: &Scope, requested: Option<&Scope>) -> Result<Scope, OAuthError> {
    match requested {
        None => Ok(granted.clone()),
        Some(requested) if requested.is_subset_of(granted) => Ok(requested.clone()),
        Some(_) => Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the requested scope exceeds the granted scope",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{
        CodeGrant, SpentRefreshToken, TokenRequest, check_code, classify_spent, narrowed_scope,
    };

    use crate::ids::{AccountId, UserId};
    use crate::oauth::client::Client;
    use crate::oauth::error::ErrorCode;
    use crate::oauth::params::Params;
    use crate::oauth::scope::Scope;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(public: bool) -> Client {
        crate::oauth::client::sample(public)
    }

    fn code(client: &Client, challenge: Option<&str>) -> CodeGrant {
        CodeGrant {
            client_id: client.client_id.clone(),
            user_id: UserId::generate(),
            account_id: None,
            redirect_uri: "https://app.example.com/cb".into(),
            scope: Scope::parse("openid").unwrap(),
            nonce: None,
            code_challenge: challenge.map(str::to_owned),
            auth_time: 100,
            amr: vec!["pwd".to_owned()],
            session_id: None,
            expires_at: 160,
        }
    }

    #[test]
    fn grant_types_parse_with_their_parameters() {
        let request = TokenRequest::parse(&Params::parse(
            b"grant_type=authorization_code&code=c&redirect_uri=x",
        ))
        .unwrap();
        assert!(matches!(request, TokenRequest::AuthorizationCode { ref code, .. } if code == "c"));
        let error = TokenRequest::parse(&Params::parse(b"grant_type=password")).unwrap_err();
        assert_eq!(error.code, ErrorCode::UnsupportedGrantType);
        let error =
            TokenRequest::parse(&Params::parse(b"grant_type=authorization_code")).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        let error = TokenRequest::parse(&Params::parse(
            b"grant_type=client_credentials&grant_type=client_credentials",
        ))
        .unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRequest);
        let exchange = TokenRequest::parse(&Params::parse(
            b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=t&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token&account_id=acc_01J00000000000000000000000",
        ))
        .unwrap_err();
        assert_eq!(exchange.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_refresh_may_name_an_account_to_switch_to() {
        let parsed = |body: &[u8]| TokenRequest::parse(&Params::parse(body)).map_err(|e| e.code);
        let refresh = |account_id: Option<&str>| TokenRequest::RefreshToken {
            refresh_token: "r".into(),
            scope: None,
            account_id: account_id.and_then(AccountId::parse),
        };
        assert_eq!(
            parsed(b"grant_type=refresh_token&refresh_token=r"),
            Ok(refresh(None))
        );
        let account = "acc_01J00000000000000000000000";
        assert_eq!(
            parsed(
                format!("grant_type=refresh_token&refresh_token=r&account_id={account}").as_bytes()
            ),
            Ok(refresh(Some(account)))
        );
        assert_eq!(
            parsed(b"grant_type=refresh_token&refresh_token=r&account_id=usr_01J00000000000000000000000"),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(
            parsed(b"grant_type=refresh_token&refresh_token=r&account_id=a&account_id=b"),
            Err(ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn codes_redeem_only_for_their_client_uri_and_verifier_in_time() {
        let public = client(true);
        let grant = code(&public, Some(CHALLENGE));
        let uri = Some("https://app.example.com/cb");
        assert!(check_code(&grant, &public, uri, Some(VERIFIER), 159).is_ok());
        assert!(
            check_code(&grant, &public, uri, Some(VERIFIER), 160).is_err(),
            "expired"
        );
        assert!(
            check_code(
                &grant,
                &public,
                Some("https://app.example.com/cb/"),
                Some(VERIFIER),
                100
            )
            .is_err()
        );
        assert!(check_code(&grant, &public, None, Some(VERIFIER), 100).is_err());
        assert!(check_code(&grant, &public, uri, None, 100).is_err());
        assert!(check_code(&grant, &public, uri, Some(&VERIFIER.replace('d', "e")), 100).is_err());
        assert!(
            check_code(&grant, &client(true), uri, Some(VERIFIER), 100).is_err(),
            "other client"
        );
        let confidential = client(false);
        assert!(check_code(&code(&confidential, None), &confidential, uri, None, 100).is_ok());
        assert!(
            check_code(
                &code(&confidential, None),
                &confidential,
                uri,
                Some(VERIFIER),
                100
            )
            .is_err()
        );
    }

    #[test]
    fn spent_refresh_tokens_are_reuse_unless_retried_within_grace() {
        assert_eq!(classify_spent(100, 0, 100), SpentRefreshToken::Reuse);
        assert_eq!(
            classify_spent(100, 10, 110),
            SpentRefreshToken::RetryWithinGrace
        );
        assert_eq!(classify_spent(100, 10, 111), SpentRefreshToken::Reuse);
    }

    #[test]
    fn requested_scopes_may_narrow_but_not_widen() {
        let granted = Scope::parse("openid email").unwrap();
        assert_eq!(narrowed_scope(&granted, None).unwrap(), granted);
        assert_eq!(
            narrowed_scope(&granted, Scope::parse("email").as_ref())
                .unwrap()
                .to_string(),
            "email"
        );
        assert!(narrowed_scope(&granted, Scope::parse("email profile").as_ref()).is_err());
    }
}

/// A successful token response (RFC 6749 §5.1, RFC 8693 §2.2.1).
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

impl TokenResponse {
    pub fn bearer(access_token: String, expires_in: i64, scope: &Scope) -> TokenResponse {
        TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in,
            scope: scope.to_string(),
            id_token: None,
            refresh_token: None,
            issued_token_type: None,
        }
    }
}
