//! An account's email domains (API.md §12), for whoever has `account:write`: claim a name
//! (answered with the DNS TXT challenge to publish), verify it against DNS, list, show and
//! delete claims. Several accounts may claim a name; one at a time verifies it (409
//! `domain_taken`). The verified names are the account's `email_domains`.

use std::net::SocketAddr;

use serde::Serialize;
use serde_json::json;

use crate::audit::{Action, NewEvent, Origin};
use crate::clock::{self, Timestamp};
use crate::dns;
use crate::domain::{self, Domain, DomainStatus};
use crate::ids::{AccountId, DomainId, UserId};
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked, sso_connections};
use crate::permission::Permission;
use crate::rate_limit;
use crate::role::RoleId;
use crate::secret;
use crate::store::{self, Change, Position, Store, accounts, domains, memberships, users};

/// A claim as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DomainView {
    pub id: DomainId,
    pub domain: String,
    pub status: DomainStatus,
    pub verification: Verification,
    pub created_at: Timestamp,
    pub verified_at: Option<Timestamp>,
}

/// The DNS record that proves control of the domain.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Verification {
    /// Always `dns_txt`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `_tessera-challenge.<domain>`
    pub name: String,
    /// The TXT record's value.
    pub value: String,
}

impl DomainView {
    fn new(domain: Domain) -> DomainView {
        DomainView {
            status: domain.status(),
            verification: Verification {
                kind: "dns_txt",
                name: domain.challenge_name(),
                value: domain.challenge,
            },
            id: domain.id,
            domain: domain.name,
            created_at: domain.created_at,
            verified_at: domain.verified_at,
        }
    }

    /// Its place in a list, newest first.
    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at.0,
            id: self.id.to_string(),
        }
    }
}

/// The account's claims, newest first. `after` (parsed from the request) is looked at only
/// once the caller may know the account exists.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: Result<Position, E>,
    limit: i64,
) -> Result<Vec<DomainView>, E> {
    caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    let rows = domains::list(store.pool(), account_id, &after?, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows.into_iter().map(DomainView::new).collect())
}

/// One claim of the account.
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<DomainView, Error> {
    caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    Ok(DomainView::new(find(store, account_id, id).await?))
}

/// Claims `name` for the account (`domain.created`), with a fresh challenge: 409
/// `domain_taken` when another account verified it, `conflict` when this one claimed it.
pub async fn create(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    name: &str,
) -> Result<DomainView, Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    let name = domain::parse_name(name).map_err(|message| Error::invalid("domain", message))?;
    if domains::verified_elsewhere(&mut *change, &name, account_id).await? {
        return Err(taken(&name));
    }
    let now = clock::now();
    let domain = Domain {
        id: DomainId::generate(),
        account_id: account_id.clone(),
        name,
        challenge: secret::generate(),
        verified_at: None,
        created_at: Timestamp(now),
    };
    match domains::insert(&mut *change, &domain).await {
        Err(error) if store::is_unique_violation(&error) => {
            return Err(Error::conflict(format!(
                "the account has claimed {} already",
                domain.name
            )));
        }
        result => result?,
    }
    let details = json!({"domain": domain.name});
    record(change, caller, Action::DomainCreated, &domain, details, now).await?;
    Ok(DomainView::new(domain))
}

/// Verifies a claim (`domain.verified`) when a TXT record at its challenge name holds its
/// challenge, asking `dns_servers` (empty: the system's resolver). Anything else, a DNS
/// failure or timeout included, is 409 `verification_failed` saying what was found; another
/// account's verification of the name is 409 `domain_taken`. A verified claim stays as it is.
pub async fn verify(
    store: &Store,
    dns_servers: &[SocketAddr],
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<DomainView, Error> {
    caller::authorize(store, caller, account_id, Permission::AccountWrite).await?;
    let domain = find(store, account_id, id).await?;
    if domain.verified_at.is_some() {
        return Ok(DomainView::new(domain));
    }
    // Asked before DNS: another account's record would only make this one fail obscurely.
    if domains::verified_elsewhere(store.pool(), &domain.name, account_id).await? {
        return Err(taken(&domain.name));
    }
    rate_limit::begin_domain_check(store, account_id, clock::now())
        .await?
        .map_err(|limited| Error::RateLimited {
            message: "this account has checked its domains too often; try again later".to_owned(),
            retry_after: limited.retry_after,
        })?;
    // DNS takes up to seconds: asked before the change takes the account's lock.
    check_challenge(dns_servers, &domain).await?;
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    let now = clock::now();
    match domains::mark_verified(&mut *change, account_id, &domain.id, now).await {
        Ok(true) => {}
        // Deleted, or verified by a request that came first.
        Ok(false) => {
            drop(change);
            return show(store, caller, account_id, id).await;
        }
        Err(error) if store::is_unique_violation(&error) => return Err(taken(&domain.name)),
        Err(error) => return Err(error.into()),
    }
    let details = json!({"domain": domain.name});
    record(
        change,
        caller,
        Action::DomainVerified,
        &domain,
        details,
        now,
    )
    .await?;
    Ok(DomainView::new(Domain {
        verified_at: Some(Timestamp(now)),
        ..domain
    }))
}

/// Whether DNS holds the claim's challenge; the refusal says what it holds instead.
async fn check_challenge(dns_servers: &[SocketAddr], domain: &Domain) -> Result<(), Error> {
    const SHOWN: usize = 5;
    let failed = |message: String| Error::Conflict {
        code: "verification_failed",
        message,
    };
    let name = domain.challenge_name();
    let values = dns::txt(dns_servers, &name)
        .await
        .map_err(|error| failed(error.to_string()))?;
    if values.contains(&domain.challenge) {
        return Ok(());
    }
    let shown: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|value| format!("{:?}", value.chars().take(64).collect::<String>()))
        .collect();
    Err(failed(format!(
        "the TXT records at {name} ({}) do not hold the challenge value",
        shown.join(", ")
    )))
}

/// Deletes a claim (`domain.deleted`); a verified name leaves the account's `email_domains`.
/// One an SSO connection lists is 409 `domain_in_use`, naming the connection.
pub async fn delete(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<(), Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    let id = DomainId::parse(id).ok_or(Error::NotFound("domain"))?;
    let domain = domains::find(&mut *change, account_id, &id)
        .await?
        .ok_or(Error::NotFound("domain"))?;
    // A verified name an SSO connection routes stays until the connection lets go of it.
    if domain.verified_at.is_some() {
        sso_connections::refuse_if_listed(&mut change, &domain.name).await?;
    }
    domains::delete(&mut *change, account_id, &id).await?;
    let details = json!({"domain": domain.name, "verified": domain.verified_at.is_some()});
    record(
        change,
        caller,
        Action::DomainDeleted,
        &domain,
        details,
        clock::now(),
    )
    .await
}

/// A user who joined an account by its `domain_auto_join`.
pub(crate) struct Joined {
    account_id: AccountId,
    role: RoleId,
}

impl Joined {
    /// `member.added`, `via: domain_auto_join`.
    pub(crate) fn event<'a>(&'a self, origin: Origin<'a>, user_id: &'a UserId) -> NewEvent<'a> {
        let details = json!({"role": self.role, "via": "domain_auto_join"});
        origin.event(
            Some(&self.account_id),
            Action::MemberAdded,
            "user",
            user_id.as_str(),
            details,
        )
    }
}

/// Makes the user a member of the account that verified their address's domain, with its
/// `domain_auto_join` role, unless they are one already or the role is gone: part of
/// `change`, which verifies the address and records [`Joined::event`].
pub(crate) async fn auto_join(
    change: &mut Change<'_>,
    user_id: &UserId,
    now: i64,
) -> Result<Option<Joined>, sqlx::Error> {
    let Some(user) = users::find(&mut **change, user_id).await? else {
        return Ok(None);
    };
    let Some(name) = user
        .email
        .rsplit_once('@')
        .and_then(|(_, domain)| domain::parse_name(domain).ok())
    else {
        return Ok(None);
    };
    let Some((account_id, role)) = domains::auto_join_of(&mut **change, &name).await? else {
        return Ok(None);
    };
    // The account's lock before the role's row, as every grant takes them (else a deadlock
    // with the role's deletion); the role is held until the change ends.
    if !accounts::lock(change, &account_id).await?
        || store::roles::hold(change, &account_id, &role)
            .await?
            .is_none()
        || !memberships::insert_if_absent(&mut **change, &account_id, user_id, &role, now).await?
    {
        return Ok(None);
    }
    Ok(Some(Joined { account_id, role }))
}

async fn find(store: &Store, account_id: &AccountId, id: &str) -> Result<Domain, Error> {
    let id = DomainId::parse(id).ok_or(Error::NotFound("domain"))?;
    domains::find(store.pool(), account_id, &id)
        .await?
        .ok_or(Error::NotFound("domain"))
}

fn taken(name: &str) -> Error {
    Error::Conflict {
        code: "domain_taken",
        message: format!("another account has verified {name}"),
    }
}

async fn record(
    change: Change<'_>,
    caller: &Caller,
    action: Action,
    domain: &Domain,
    details: serde_json::Value,
    now: i64,
) -> Result<(), Error> {
    let event = caller.event(
        Some(&domain.account_id),
        action,
        "domain",
        domain.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(())
}
