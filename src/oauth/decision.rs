//! What a valid authorization request leads to (OIDC Core §3.1.2.3, §3.1.2.4): sign in, pick
//! an account, ask for consent, refuse, or issue a code. A pure function of facts the caller reads beforehand;
//! no storage, no HTTP.

use crate::ids::AccountId;
use crate::oauth::authorize::{AuthorizationRequest, Prompt};
use crate::oauth::client::AccountSelection;
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
    /// The client's `account_selection`.
    pub account_selection: AccountSelection,
    /// The accounts the user may pick (direct memberships of active accounts); read only
    /// when the request asks for one ([`asks_for_account`]).
    pub selectable_accounts: Vec<AccountId>,
    /// The client needs no consent page: the operator's own, or one an account the user
    /// belongs to (or an ancestor of it) registered, and not self-registered (API.md §4).
    pub client_trusted: bool,
    /// The user approved this client for this scope set before; not read for a trusted client.
    pub consented: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send the user to log in and back; with `login_after`, the way back demands a login
    /// later than that (unix ms), so returning without signing in again gets nothing.
    Login {
        login_after: Option<i64>,
    },
    /// A second factor now (step-up): the login had none and the request needs one.
    SecondFactor,
    /// Show the account picker; with `without_account`, it also offers to go on without one
    /// (a user-level grant).
    SelectAccount {
        without_account: bool,
    },
    /// The user has one account to pick: bind the grant to it as if the request named it.
    UseAccount(AccountId),
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
/// second factor when the request or the account needs one; an account picked when the
/// request or the client asks for one; the client trusted or approved. `prompt=none` turns
/// every page into an error.
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
    if asks_for_account(request, facts.account_selection) {
        let required = facts.account_selection == AccountSelection::Required;
        match facts.selectable_accounts.as_slice() {
            [] if required => {
                return deny(
                    ErrorCode::AccessDenied,
                    "the application needs an account and the user belongs to none",
                );
            }
            // `prompt=select_account` with nothing to pick: the grant stays user-level.
            [] => {}
            [only] => return Decision::UseAccount(only.clone()),
            _ if silent => {
                return deny(
                    ErrorCode::AccountSelectionRequired,
                    "the user must choose an account",
                );
            }
            _ => {
                return Decision::SelectAccount {
                    without_account: !required,
                };
            }
        }
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

/// The request names no account, and `prompt=select_account` or the client's
/// `account_selection: "required"` asks the user to pick one (API.md §11).
pub fn asks_for_account(request: &AuthorizationRequest, selection: AccountSelection) -> bool {
    request.account_id.is_none()
        && (request.prompt == Prompt::SelectAccount || selection == AccountSelection::Required)
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
    use crate::oauth::client::AccountSelection;
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
        account_selection: AccountSelection,
        selectable_accounts: Vec<AccountId>,
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
                account_hint: None,
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
            account_selection: AccountSelection::None,
            selectable_accounts: Vec::new(),
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

    /// The first of the user's accounts in the rows that give them some.
    fn first_account() -> AccountId {
        AccountId::parse("acc_01JD2Z3X4Y5V6W7T8S9R0Q1P2N").unwrap()
    }

    fn one_account(s: &mut Situation) {
        s.selectable_accounts = vec![first_account()];
    }

    fn two_accounts(s: &mut Situation) {
        s.selectable_accounts = vec![first_account(), AccountId::generate()];
    }

    fn selects_account(s: &mut Situation) {
        s.request.prompt = Prompt::SelectAccount;
    }

    fn requires_account(s: &mut Situation) {
        s.account_selection = AccountSelection::Required;
    }

    fn needs_an_account() -> Decision {
        deny(
            ErrorCode::AccessDenied,
            "the application needs an account and the user belongs to none",
        )
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
                login_again.clone(),
            ),
            (
                "a login older than max_age logs in again",
                |s| s.request.max_age = Some(59),
                login_again.clone(),
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
                login_again.clone(),
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
                login_again.clone(),
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
            (
                "prompt=select_account with two accounts offers them and a way out",
                |s| {
                    selects_account(s);
                    two_accounts(s);
                },
                Decision::SelectAccount {
                    without_account: true,
                },
            ),
            (
                "a client that requires an account offers no way out",
                |s| {
                    requires_account(s);
                    two_accounts(s);
                },
                Decision::SelectAccount {
                    without_account: false,
                },
            ),
            (
                "an optional account is picked only when prompt=select_account asks",
                |s| {
                    s.account_selection = AccountSelection::Optional;
                    two_accounts(s);
                },
                Decision::IssueCode,
            ),
            (
                "prompt=select_account on an optional client offers a way out",
                |s| {
                    s.account_selection = AccountSelection::Optional;
                    selects_account(s);
                    two_accounts(s);
                },
                Decision::SelectAccount {
                    without_account: true,
                },
            ),
            (
                "prompt=select_account with one account takes it without a page",
                |s| {
                    selects_account(s);
                    one_account(s);
                },
                Decision::UseAccount(first_account()),
            ),
            (
                "a required account, the user's only one, is taken without a page",
                |s| {
                    requires_account(s);
                    one_account(s);
                },
                Decision::UseAccount(first_account()),
            ),
            (
                "a required account and the user has none",
                requires_account,
                needs_an_account(),
            ),
            (
                "prompt=select_account and the user has no account: user-level",
                selects_account,
                Decision::IssueCode,
            ),
            (
                "a required account to choose, with prompt=none",
                |s| {
                    requires_account(s);
                    two_accounts(s);
                    s.request.prompt = Prompt::None;
                },
                deny(
                    ErrorCode::AccountSelectionRequired,
                    "the user must choose an account",
                ),
            ),
            (
                "a required account, the only one, with prompt=none",
                |s| {
                    requires_account(s);
                    one_account(s);
                    s.request.prompt = Prompt::None;
                },
                Decision::UseAccount(first_account()),
            ),
            (
                "a request that names its account skips the picker",
                |s| {
                    requires_account(s);
                    two_accounts(s);
                    asks_an_account(s);
                    s.member_of_requested_account = true;
                },
                Decision::IssueCode,
            ),
            (
                "logging in comes before the picker",
                |s| {
                    signed_out(s);
                    selects_account(s);
                    two_accounts(s);
                },
                Decision::Login { login_after: None },
            ),
            (
                "a second factor comes before the picker",
                |s| {
                    s.request.requires_mfa = true;
                    selects_account(s);
                    two_accounts(s);
                },
                Decision::SecondFactor,
            ),
            (
                "the picker comes before consent",
                |s| {
                    untrusted(s);
                    selects_account(s);
                    two_accounts(s);
                },
                Decision::SelectAccount {
                    without_account: true,
                },
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
                account_selection: situation.account_selection,
                selectable_accounts: situation.selectable_accounts,
                client_trusted: situation.client_trusted,
                consented: situation.consented,
            };
            assert_eq!(decide(&facts), expected, "{name}");
        }
    }
}
