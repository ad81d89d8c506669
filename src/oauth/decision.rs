//! What a valid authorization request leads to (OIDC Core §3.1.2.3, §3.1.2.4): sign in, ask
//! for consent, refuse, or issue a code. A pure function of facts the caller reads beforehand;
//! no storage, no HTTP.

use crate::oauth::authorize::{AuthorizationRequest, Prompt};
use crate::oauth::error::ErrorCode;

/// When the signed-in user last logged in.
#[derive(Clone, Debug)]
pub struct Authentication {
    /// Unix seconds, as the ID token's `auth_time`.
    pub auth_time: i64,
    /// The same moment to the millisecond, to tell a login from a request in its second.
    pub signed_in_at_ms: i64,
    /// How the user signed in (RFC 8176 method references).
    pub amr: Vec<String>,
}

/// Everything the decision depends on.
#[derive(Clone, Debug)]
pub struct Facts<'r> {
    pub request: &'r AuthorizationRequest,
    /// `None` when nobody is signed in (or the session's user no longer exists).
    pub authentication: Option<Authentication>,
    /// Set on the way back from a forced login: the login must be later than this (unix ms).
    pub login_after: Option<i64>,
    pub now: i64,
    pub now_ms: i64,
    /// The user is a member of the request's `account_id`; not read when none is asked.
    pub member_of_requested_account: bool,
    /// The request's `account_id` (or an ancestor) requires a second factor.
    pub account_requires_mfa: bool,
    /// The client needs no consent page: the operator's own, or one an account the user
    /// belongs to (or an ancestor of it) registered, and not self-registered (API.md §4).
    pub client_trusted: bool,
    /// The user approved this client for this scope set before; not read for a trusted client.
    pub consented: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the user to log in and back; with `login_after`, the way back demands a login
    /// later than that (unix ms), so returning without signing in again gets nothing.
    Login {
        login_after: Option<i64>,
    },
    /// A second factor now (step-up): the login had none and the request needs one.
    SecondFactor,
    /// Show the consent page.
    Consent,
    /// Send `error` back to the client.
    Deny {
        error: ErrorCode,
        description: &'static str,
    },
    IssueCode,
}

/// The rules in order: signed in, recently enough; a member of the account asked for; a
/// second factor when the request or the account needs one; the client trusted or approved. `prompt=none` turns every page into an error.
pub fn decide(facts: &Facts<'_>) -> Decision {
    let request = facts.request;
    let silent = request.prompt == Prompt::None;
    let Some(authentication) = &facts.authentication else {
        if silent {
            return deny(ErrorCode::LoginRequired, "the user is not signed in");
        }
        return Decision::Login { login_after: None };
    };
    if must_authenticate_again(facts, authentication) {
        if silent {
            return deny(ErrorCode::LoginRequired, "the user must sign in again");
        }
        // The session stays until a new login replaces it: a user who gives up is still
        // signed in, and the way back demands a login newer than now.
        return Decision::Login {
            login_after: Some(facts.now_ms),
        };
    }
    if request.account_id.is_some() && !facts.member_of_requested_account {
        return deny(
            ErrorCode::AccessDenied,
            "the user is not a member of that account",
        );
    }
    let needs_mfa = request.requires_mfa || facts.account_requires_mfa;
    if needs_mfa && !authentication.amr.iter().any(|method| method == "mfa") {
        if silent {
            return deny(
                ErrorCode::InteractionRequired,
                "the request needs a second factor",
            );
        }
        return Decision::SecondFactor;
    }
    if !facts.client_trusted && (request.prompt == Prompt::Consent || !facts.consented) {
        if silent {
            return deny(
                ErrorCode::ConsentRequired,
                "the user has not approved this client",
            );
        }
        return Decision::Consent;
    }
    Decision::IssueCode
}

fn deny(error: ErrorCode, description: &'static str) -> Decision {
    Decision::Deny { error, description }
}

/// `prompt=login`, a login older than `max_age`, or one older than the forced login the
/// request came back from.
fn must_authenticate_again(facts: &Facts<'_>, authentication: &Authentication) -> bool {
    facts.request.prompt == Prompt::Login
        || facts
            .request
            .max_age
            .is_some_and(|max_age| facts.now - authentication.auth_time > max_age)
        || facts
            .login_after
            .is_some_and(|after| authentication.signed_in_at_ms <= after)
}

#[cfg(test)]
mod tests {
    use super::{Authentication, Decision, Facts, decide};

    use crate::ids::{AccountId, ClientId};
    use crate::oauth::authorize::{AuthorizationRequest, Prompt};
    use crate::oauth::error::ErrorCode;
    use crate::oauth::scope::Scope;

    const NOW: i64 = 1_700_000_000;
    const NOW_MS: i64 = NOW * 1000 + 500;

    /// What a test row changes: the request and the facts around it.
    struct Situation {
        request: AuthorizationRequest,
        authentication: Option<Authentication>,
        login_after: Option<i64>,
        member_of_requested_account: bool,
        account_requires_mfa: bool,
        client_trusted: bool,
        consented: bool,
    }

    /// A trusted client, a user who logged in a minute ago, no `account_id`: a code.
    fn base() -> Situation {
        Situation {
            request: AuthorizationRequest {
                client_id: ClientId::generate(),
                redirect_uri: "https://app.example.com/cb".into(),
                scope: Scope::parse("openid").unwrap(),
                state: None,
                nonce: None,
                code_challenge: None,
                prompt: Prompt::Default,
                max_age: None,
                account_id: None,
                requires_mfa: false,
            },
            authentication: Some(Authentication {
                auth_time: NOW - 60,
                signed_in_at_ms: (NOW - 60) * 1000,
                amr: vec!["pwd".to_owned()],
            }),
            login_after: None,
            member_of_requested_account: false,
            account_requires_mfa: false,
            client_trusted: true,
            consented: false,
        }
    }

    /// What a row changes from `base()`.
    type Change = fn(&mut Situation);

    fn signed_out(s: &mut Situation) {
        s.authentication = None;
    }

    fn untrusted(s: &mut Situation) {
        s.client_trusted = false;
    }

    fn asks_an_account(s: &mut Situation) {
        s.request.account_id = Some(AccountId::generate());
    }

    fn deny(error: ErrorCode, description: &'static str) -> Decision {
        Decision::Deny { error, description }
    }

    #[test]
    fn each_rule_decides_its_case() {
        let login_again = Decision::Login {
            login_after: Some(NOW_MS),
        };
        let rows: Vec<(&str, Change, Decision)> = vec![
            ("signed in to a trusted client", |_| {}, Decision::IssueCode),
            (
                "signed out goes to log in",
                signed_out,
                Decision::Login { login_after: None },
            ),
            (
                "signed out with prompt=none",
                |s| {
                    signed_out(s);
                    s.request.prompt = Prompt::None;
                },
                deny(ErrorCode::LoginRequired, "the user is not signed in"),
            ),
            (
                "prompt=login logs in again",
                |s| s.request.prompt = Prompt::Login,
                login_again,
            ),
            (
                "a login older than max_age logs in again",
                |s| s.request.max_age = Some(59),
                login_again,
            ),
            (
                "a login exactly max_age old stands",
                |s| s.request.max_age = Some(60),
                Decision::IssueCode,
            ),
            (
                "too old a login with prompt=none",
                |s| {
                    s.request.max_age = Some(0);
                    s.request.prompt = Prompt::None;
                },
                deny(ErrorCode::LoginRequired, "the user must sign in again"),
            ),
            (
                "back from a forced login without a newer one",
                |s| s.login_after = Some((NOW - 60) * 1000),
                login_again,
            ),
            (
                "back from a forced login with a newer one",
                |s| s.login_after = Some((NOW - 60) * 1000 - 1),
                Decision::IssueCode,
            ),
            (
                "acr_values asks for mfa after a password login",
                |s| s.request.requires_mfa = true,
                Decision::SecondFactor,
            ),
            (
                "acr_values asks for mfa after a two-factor login",
                |s| {
                    s.request.requires_mfa = true;
                    if let Some(authentication) = &mut s.authentication {
                        authentication.amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
                    }
                },
                Decision::IssueCode,
            ),
            (
                "acr_values asks for mfa with prompt=none",
                |s| {
                    s.request.requires_mfa = true;
                    s.request.prompt = Prompt::None;
                },
                deny(
                    ErrorCode::InteractionRequired,
                    "the request needs a second factor",
                ),
            ),
            (
                "an account that requires mfa after a password login",
                |s| {
                    asks_an_account(s);
                    s.member_of_requested_account = true;
                    s.account_requires_mfa = true;
                },
                Decision::SecondFactor,
            ),
            (
                "not a member of the account asked for",
                asks_an_account,
                deny(
                    ErrorCode::AccessDenied,
                    "the user is not a member of that account",
                ),
            ),
            (
                "a member of the account asked for",
                |s| {
                    asks_an_account(s);
                    s.member_of_requested_account = true;
                },
                Decision::IssueCode,
            ),
            (
                "an untrusted client not yet approved asks",
                untrusted,
                Decision::Consent,
            ),
            (
                "an untrusted client approved before",
                |s| {
                    untrusted(s);
                    s.consented = true;
                },
                Decision::IssueCode,
            ),
            (
                "an untrusted client not approved, with prompt=none",
                |s| {
                    untrusted(s);
                    s.request.prompt = Prompt::None;
                },
                deny(
                    ErrorCode::ConsentRequired,
                    "the user has not approved this client",
                ),
            ),
            (
                "prompt=consent asks again though approved",
                |s| {
                    untrusted(s);
                    s.consented = true;
                    s.request.prompt = Prompt::Consent;
                },
                Decision::Consent,
            ),
            (
                "prompt=consent does not ask for a trusted client",
                |s| s.request.prompt = Prompt::Consent,
                Decision::IssueCode,
            ),
            (
                "logging in again comes before membership",
                |s| {
                    asks_an_account(s);
                    s.request.prompt = Prompt::Login;
                },
                login_again,
            ),
            (
                "membership comes before consent",
                |s| {
                    asks_an_account(s);
                    untrusted(s);
                },
                deny(
                    ErrorCode::AccessDenied,
                    "the user is not a member of that account",
                ),
            ),
        ];
        for (name, change, expected) in rows {
            let mut situation = base();
            change(&mut situation);
            let facts = Facts {
                request: &situation.request,
                authentication: situation.authentication,
                login_after: situation.login_after,
                now: NOW,
                now_ms: NOW_MS,
                member_of_requested_account: situation.member_of_requested_account,
                account_requires_mfa: situation.account_requires_mfa,
                client_trusted: situation.client_trusted,
                consented: situation.consented,
            };
            assert_eq!(decide(&facts), expected, "{name}");
        }
    }
}
