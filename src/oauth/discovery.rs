//! Authorization server metadata (RFC 8414) and OpenID Provider metadata (OIDC Discovery).

use serde_json::{Value, json};

use crate::oauth::claims;
use crate::oauth::client::{AuthMethod, GrantType};
use crate::oauth::scope;
use crate::oauth::signing_alg::SigningAlg;

/// The metadata document for `issuer`; both well-known paths serve the same one.
pub fn metadata(issuer: &str) -> Value {
    let url = |path: &str| format!("{issuer}{path}");
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let confidential_methods: Vec<&str> = AuthMethod::ALL
        .iter()
        .filter(|m| !m.is_public())
        .map(|m| m.as_str())
        .collect();
    json!({
        "issuer": issuer,
        "authorization_endpoint": url("/oauth2/authorize"),
        "token_endpoint": url("/oauth2/token"),
        "userinfo_endpoint": url("/oauth2/userinfo"),
        "jwks_uri": url("/.well-known/jwks.json"),
        "registration_endpoint": url("/oauth2/register"),
        "introspection_endpoint": url("/oauth2/introspect"),
        "revocation_endpoint": url("/oauth2/revoke"),
        "end_session_endpoint": url("/oauth2/logout"),
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": confidential_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "id_token_signing_alg_values_supported": SigningAlg::ALL.map(SigningAlg::as_str),
        "subject_types_supported": ["public"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": [claims::ACR_MFA, claims::ACR_PASSWORD],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr",
            "email", "email_verified", "name", "uid", "acc", "role", "permissions",
            "inherited_from", "scope", "client_id"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true
    })
}

#[cfg(test)]
mod tests {
    use super::metadata;

    #[test]
    fn every_endpoint_lives_under_the_issuer() {
        let doc = metadata("https://id.example.com/t");
        assert_eq!(doc["issuer"], "https://id.example.com/t");
        assert_eq!(
            doc["token_endpoint"],
            "https://id.example.com/t/oauth2/token"
        );
        assert_eq!(
            doc["jwks_uri"],
            "https://id.example.com/t/.well-known/jwks.json"
        );
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    }
}
