//! Signing in as an upstream user (API.md §12) and the caller's linked identities
//! (`/v1/me/identities`). The linking rule is `identity::decide`; this gathers its facts,
//! writes what it decided in one change, and records it: `user.identity_linked` (in the
//! user's trail and its accounts' logs) when a link is made, `user.login` with how the user
//! came (`details.method`) when the sign-in is complete.

use serde_json::{Value, json};

use crate::account::AccountStatus;
use crate::audit::{Action, Actor, Origin};
use crate::clock::Timestamp;
use crate::email_address::EmailAddress;
use crate::identity::{self, Decision, Facts, Identity, IdentityView, Refusal, UpstreamUser};
use crate::ids::{IdentityId, UserId};
use crate::manage::caller::Caller;
use crate::manage::sign_in::{Visitor, commit_login, user_origin};
use crate::manage::{Error, domains, factors};
use crate::sso_connection::SsoConnection;
use crate::store::{self, Change, Position, Store, accounts, identities, memberships, users};
use crate::user::{User, display_name};

/// An upstream user at the end of a provider's callback.
pub struct Arrival<'a> {
    /// The operator provider's id or the SSO connection's id, kept on a new link.
    pub provider: &'a str,
    pub upstream: UpstreamUser,
    /// Whether a new user may be made (sign-up open, or the connection's `jit`).
    pub may_create: bool,
    /// The signed-in user who started the login to connect the identity to itself.
    pub connecting: Option<UserId>,
    /// What `user.login` says of how the user came (`{"method": "sso", …}`).
    pub details: Value,
    pub visitor: Visitor<'a>,
    /// Through an account's SSO connection: what it may sign in, and whom it makes members.
    pub connection: Option<&'a SsoConnection>,
}

/// How an arrival ended, short of an error.
pub enum Arrived {
    SignedIn(User),
    /// The user has a second factor: not signed in until it is proved (the link, if one was
    /// made, stays).
    SecondFactorNeeded(User),
    /// The signed-in user connected the identity (or had it already): no new sign-in.
    Connected(User),
    Refused(Refusal),
}

/// Signs an upstream user in (see the module). A first sign-in racing another for the same
/// upstream user or address is decided again once, seeing what the other wrote.
pub async fn arrive(store: &Store, arrival: &Arrival<'_>, now: i64) -> Result<Arrived, Error> {
    match arrive_once(store, arrival, now).await {
        Err(Error::Database(error)) if store::is_unique_violation(&error) => {
            arrive_once(store, arrival, now).await
        }
        other => other,
    }
}

async fn arrive_once(store: &Store, arrival: &Arrival<'_>, now: i64) -> Result<Arrived, Error> {
    let upstream = &arrival.upstream;
    if let Some(connection) = arrival.connection {
        // An account's provider speaks for the account's verified domains only, and only
        // while the account is active.
        if !connection.vouches_for(upstream.email.as_deref()) {
            return Ok(Arrived::Refused(Refusal::OutsideDomains));
        }
        let active = accounts::find(store.pool(), &connection.account_id)
            .await?
            .is_some_and(|account| account.status == AccountStatus::Active);
        if !active {
            return Ok(Arrived::Refused(Refusal::AccountInactive));
        }
    }
    let link =
        identities::find_by_subject(store.pool(), &upstream.issuer, &upstream.subject).await?;
    let linked = match &link {
        Some(link) => users::find(store.pool(), &link.user_id).await?,
        None => None,
    };
    let same_email = match &upstream.email {
        Some(email) => users::find_by_email(store.pool(), email).await?,
        None => None,
    };
    let decision = identity::decide(Facts {
        upstream,
        linked: linked.as_ref(),
        same_email: same_email.as_ref(),
        may_create: arrival.may_create,
        connecting: arrival.connecting.as_ref(),
    });
    let ip = arrival.visitor.ip.to_string();
    let mut change = store.change().await?;
    let mut created = false;
    let mut joined = None;
    let (user, new_link) = match decision {
        Decision::Refuse(refusal) => return Ok(Arrived::Refused(refusal)),
        Decision::SignIn(user_id) => {
            if let Some(link) = &link {
                identities::touch(&mut *change, &link.id, upstream.email.as_deref(), now).await?;
            }
            (found(&mut change, &user_id).await?, None)
        }
        Decision::Link(user_id) => (found(&mut change, &user_id).await?, Some(())),
        Decision::Create => {
            let user = create_user(&mut change, upstream, now).await?;
            created = true;
            if user.email_verified {
                joined = domains::auto_join(&mut change, &user.id, now).await?;
            }
            (user, Some(()))
        }
    };
    // `jit`: a member of the connection's account with its default role, unless one already
    // (the account's lock before the role's row, as every grant takes them).
    let mut jit = None;
    if let Some(connection) = arrival.connection.filter(|connection| connection.jit) {
        let account_id = &connection.account_id;
        let role = &connection.default_role;
        if accounts::lock(&mut change, account_id).await?
            && store::roles::hold(&mut change, account_id, role)
                .await?
                .is_some()
            && memberships::insert_if_absent(&mut *change, account_id, &user.id, role, now).await?
        {
            jit = Some(json!({"role": role, "via": "sso_jit", "connection_id": connection.id}));
        }
    }
    let connecting = arrival.connecting.is_some();
    let second_factor = !connecting && factors::required(store, &user).await?;
    let actor = Actor::User(user.id.to_string());
    let origin = user_origin(&actor, Some(&ip), arrival.visitor.user_agent);
    if new_link.is_none() && jit.is_none() {
        if connecting {
            change.commit_unaudited(store::Unaudited::SignIn).await?;
            return Ok(Arrived::Connected(user));
        }
        if second_factor {
            change.commit_unaudited(store::Unaudited::SignIn).await?;
            return Ok(Arrived::SecondFactorNeeded(user));
        }
        commit_login(
            change,
            Action::UserLogin,
            &user.id,
            origin,
            &arrival.details,
            now,
        )
        .await?;
        return Ok(Arrived::SignedIn(user));
    }
    let identity = match new_link {
        Some(()) => {
            let identity = new_identity(arrival, &user.id, now);
            identities::insert(&mut *change, &identity).await?;
            Some(identity)
        }
        None => None,
    };
    let accounts = memberships::account_ids_of_user(&mut *change, &user.id).await?;
    // In order: the new user, its auto-join, the link (in the user's trail and each of its
    // accounts' logs), and the login in each account's log.
    let target = user.id.as_str();
    let mut events = Vec::new();
    if created {
        let via = json!({ "via": "identity_provider" });
        events.push(origin.event(None, Action::UserCreated, "user", target, via));
    }
    if let Some(joined) = &joined {
        events.push(joined.event(origin, &user.id));
    }
    if let (Some(details), Some(connection)) = (&jit, arrival.connection) {
        let account_id = Some(&connection.account_id);
        let added = Action::MemberAdded;
        events.push(origin.event(account_id, added, "user", target, details.clone()));
    }
    if let Some(identity) = &identity {
        let linked = json!({
            "identity_id": identity.id.as_str(),
            "provider": identity.provider,
            "issuer": identity.issuer,
        });
        for account_id in std::iter::once(None).chain(accounts.iter().map(Some)) {
            let action = Action::UserIdentityLinked;
            events.push(origin.event(account_id, action, "user", target, linked.clone()));
        }
    }
    if !second_factor && !connecting {
        for account_id in &accounts {
            let details = arrival.details.clone();
            events.push(origin.event(Some(account_id), Action::UserLogin, "user", target, details));
        }
    }
    let (first, rest) = events.split_first().ok_or(Error::NotFound("event"))?;
    let mut recorded = change.record(first, now).await?;
    for event in rest {
        recorded.record(event, now).await?;
    }
    recorded.commit().await?;
    Ok(if connecting {
        Arrived::Connected(user)
    } else if second_factor {
        Arrived::SecondFactorNeeded(user)
    } else {
        Arrived::SignedIn(user)
    })
}

async fn found(change: &mut Change<'_>, user_id: &UserId) -> Result<User, Error> {
    users::find(&mut **change, user_id)
        .await?
        .ok_or(Error::NotFound("user"))
}

fn new_identity(arrival: &Arrival<'_>, user_id: &UserId, now: i64) -> Identity {
    Identity {
        id: IdentityId::generate(),
        user_id: user_id.clone(),
        provider: arrival.provider.to_owned(),
        issuer: arrival.upstream.issuer.clone(),
        subject: arrival.upstream.subject.clone(),
        email: arrival.upstream.email.clone(),
        created_at: Timestamp(now),
        last_used_at: Some(Timestamp(now)),
    }
}

/// A user made from an upstream user: its address (verified when the provider says so),
/// its name, no password.
async fn create_user(
    change: &mut Change<'_>,
    upstream: &UpstreamUser,
    now: i64,
) -> Result<User, Error> {
    let email = upstream
        .email
        .as_deref()
        .and_then(EmailAddress::parse)
        .ok_or_else(|| Error::invalid("email", "The provider's email address is not valid."))?;
    // A name this server would refuse is left out rather than refusing the user.
    let name = upstream
        .name
        .as_deref()
        .and_then(|name| display_name(name).ok().flatten());
    let mut user = User::new(email, name, None, now);
    user.email_verified = upstream.email_verified;
    users::insert(&mut **change, &user).await?;
    Ok(user)
}

/// The caller's linked identities, newest first.
pub async fn list(
    store: &Store,
    caller: &Caller,
    after: &Position,
    limit: i64,
) -> Result<Vec<IdentityView>, Error> {
    let user_id = caller.user()?;
    caller.require_user_level()?;
    list_for(store, user_id, after, limit).await
}

/// A user's linked identities, newest first (the account security page's list too).
pub async fn list_for(
    store: &Store,
    user_id: &UserId,
    after: &Position,
    limit: i64,
) -> Result<Vec<IdentityView>, Error> {
    let found = identities::list(store.pool(), user_id, after, limit).await?;
    Ok(found.into_iter().map(IdentityView::from).collect())
}

/// Unlinks one of the caller's identities: see [`remove_for`].
pub async fn remove(store: &Store, caller: &Caller, id: &str, now: i64) -> Result<(), Error> {
    let user_id = caller.user()?;
    caller.require_user_level()?;
    remove_for(store, user_id, id, caller.origin(), now).await
}

/// Unlinks one of a user's identities (`user.identity_unlinked`, in its trail and its
/// accounts' logs), unless it is the user's last way to sign in: no password, no passkey,
/// no other identity (409 `last_sign_in_method`).
pub async fn remove_for(
    store: &Store,
    user_id: &UserId,
    id: &str,
    origin: Origin<'_>,
    now: i64,
) -> Result<(), Error> {
    let id = IdentityId::parse(id).ok_or(Error::NotFound("identity"))?;
    let mut change = store.change().await?;
    // The user's row, locked: two removals at once cannot each leave the other as the last.
    let user = users::lock(&mut change, user_id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    if !identities::delete(&mut *change, user_id, &id).await? {
        return Err(Error::NotFound("identity"));
    }
    let others = identities::count(&mut *change, user_id).await?;
    let passkey = store::factors::has_active_passkey(&mut *change, user_id).await?;
    if user.password_hash.is_none() && others == 0 && !passkey {
        return Err(Error::Conflict {
            code: "last_sign_in_method",
            message: "This is your last way to sign in: set a password or add a passkey first."
                .to_owned(),
        });
    }
    let accounts = memberships::account_ids_of_user(&mut *change, user_id).await?;
    let details = json!({ "identity_id": id.as_str() });
    change
        .record_for_user(
            &accounts,
            |account_id| {
                origin.event(
                    account_id,
                    Action::UserIdentityUnlinked,
                    "user",
                    user_id.as_str(),
                    details.clone(),
                )
            },
            now,
        )
        .await?
        .commit()
        .await?;
    Ok(())
}
