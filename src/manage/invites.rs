//! Invitations: an admin invites an email with a role (here, or by adding a member by email),
//! the mail goes through the outbox with a single-use link, and the invitee accepts or
//! declines (the REST API and the hosted page alike). At most one invitation per email and
//! account is pending (a new one revokes the old, whose link stops working), and an account
//! may send only so many an hour. Answering is one conditional UPDATE, so of concurrent
//! answers exactly one wins and a member is added once.

use serde::Serialize;
use serde_json::json;

use crate::account::Account;
use crate::audit::{Action, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, InvitationId, UserId};
use crate::invitation::{self, Invitation, InvitationStatus, Unanswerable, check_answerable};
use crate::mailer;
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked, roles};
use crate::permission::Permission;
use crate::rate_limit;
use crate::role::RoleId;
use crate::secret;
use crate::store::{Change, Position, Recorded, Store, accounts, invitations, memberships, users};
use crate::user::User;

/// An invitation as its account's admins see it (REST and CLI); `accept_url` only in the
/// creation answer, the one time the link exists in clear.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InviteView {
    id: InvitationId,
    account_id: AccountId,
    email: String,
    role: RoleId,
    status: InvitationStatus,
    invited_by: Option<UserId>,
    expires_at: Timestamp,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    accept_url: Option<String>,
}

impl InviteView {
    pub fn new(invitation: Invitation, now: i64, accept_url: Option<String>) -> InviteView {
        InviteView {
            status: invitation.status_at(now),
            id: invitation.id,
            account_id: invitation.account_id,
            email: invitation.email,
            role: invitation.role,
            invited_by: invitation.invited_by,
            expires_at: invitation.expires_at,
            created_at: invitation.created_at,
            accept_url,
        }
    }
}

/// An invitation to create, as the admin asked for it.
pub struct NewInvite {
    pub email: String,
    pub role: RoleId,
    pub ttl_seconds: Option<i64>,
}

/// The invitation sent, and its link: in clear only here, once.
pub struct Sent {
    pub invitation: Invitation,
    pub accept_url: String,
}

/// Invites `new.email` to `account_id` (`invites:write`) with a role the caller may grant;
/// a user who already is a member is a conflict.
pub async fn create(
    store: &Store,
    issuer: &Issuer,
    caller: &Caller,
    account_id: &AccountId,
    new: NewInvite,
) -> Result<Sent, Error> {
    let email = EmailAddress::parse(&new.email)
        .ok_or_else(|| Error::invalid("email", "must be an email address"))?;
    let ttl = new.ttl_seconds.unwrap_or(invitation::DEFAULT_TTL_SECONDS);
    if !(1..=invitation::MAX_TTL_SECONDS).contains(&ttl) {
        return Err(Error::invalid(
            "ttl_seconds",
            "must be from 1 second to 30 days (2592000)",
        ));
    }
    // The lock orders this invitation after any other to the same address (one stays
    // pending) and keeps the caller's permission from going stale before it is written.
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::InvitesWrite).await?;
    roles::grantable(&mut change, &standing, account_id, &new.role).await?;
    let account = accounts::find(&mut *change, account_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    if let Some(user) = users::find_by_email(&mut *change, email.as_str()).await?
        && memberships::role(&mut *change, account_id, &user.id)
            .await?
            .is_some()
    {
        return Err(Error::conflict(
            "that user is already a member of the account",
        ));
    }
    let request = Request {
        account: &account,
        email,
        role: new.role,
        ttl_seconds: ttl,
        invited_by: caller.user_id().cloned(),
    };
    let (change, sent) = send(change, issuer, request, caller.origin(), clock::now()).await?;
    change.commit().await?;
    Ok(sent)
}

/// What to invite whom to.
pub(super) struct Request<'a> {
    pub account: &'a Account,
    pub email: EmailAddress,
    pub role: RoleId,
    pub ttl_seconds: i64,
    pub invited_by: Option<UserId>,
}

/// Sends within `change`, which must hold the account's lock, and records it: the change may
/// commit once this returns.
pub(super) async fn send<'s>(
    mut change: Change<'s>,
    issuer: &Issuer,
    request: Request<'_>,
    origin: Origin<'_>,
    now: i64,
) -> Result<(Recorded<'s>, Sent), Error> {
    let account_id = &request.account.id;
    // Counted inside the transaction: an invitation refused later does not count.
    rate_limit::begin_invitation(&mut *change, account_id, now)
        .await?
        .map_err(|limited| Error::RateLimited {
            message: "this account has sent too many invitations; try again later".to_owned(),
            retry_after: limited.retry_after,
        })?;
    let token = secret::generate();
    let accept_url = issuer.url(&format!("/invites/{token}"));
    let invitation = Invitation {
        id: InvitationId::generate(),
        account_id: account_id.clone(),
        email: request.email.into_string(),
        role: request.role,
        status: InvitationStatus::Pending,
        invited_by: request.invited_by,
        expires_at: Timestamp(now + request.ttl_seconds),
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
    };
    let event = |action, target_id, details| {
        origin.event(Some(account_id), action, "invitation", target_id, details)
    };
    let replaced =
        invitations::revoke_pending_for_email(&mut *change, account_id, &invitation.email, now)
            .await?;
    invitations::insert(&mut *change, &invitation, &secret::hash(&token)).await?;
    change
        .queue_email(
            &mailer::invitation(
                &invitation.email,
                &request.account.name,
                invitation.role.as_str(),
                &accept_url,
                &invitation.expires_at.rfc3339(),
            ),
            now,
        )
        .await?;
    let details = json!({ "email": invitation.email, "role": invitation.role });
    let created = event(Action::InviteCreated, invitation.id.as_str(), details);
    let mut change = change.record(&created, now).await?;
    for old in &replaced {
        let details = json!({ "email": old.email, "replaced_by": invitation.id });
        let revoked = event(Action::InviteRevoked, old.id.as_str(), details);
        change.record(&revoked, now).await?;
    }
    let sent = Sent {
        invitation,
        accept_url,
    };
    Ok((change, sent))
}

/// An account's invitations in every status, newest first, for its admins. `after` is read
/// only once the caller may see the list.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: impl FnOnce() -> Result<Position, E>,
    limit: i64,
) -> Result<Vec<Invitation>, E> {
    caller::authorize(store, caller, account_id, Permission::InvitesWrite).await?;
    let after = after()?;
    let rows = invitations::list_for_account(store.pool(), account_id, &after, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows)
}

/// Every invitation of an account, newest first: the operator's listing.
pub async fn list_all(store: &Store, account_id: &AccountId) -> Result<Vec<Invitation>, Error> {
    accounts::find(store.pool(), account_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    let all = invitations::list_for_account(store.pool(), account_id, &Position::start(), i64::MAX)
        .await?;
    Ok(all)
}

/// Revokes a pending invitation (`invitation_id` as the caller named it); one answered,
/// expired or revoked already is a conflict.
pub async fn revoke(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    invitation_id: &str,
) -> Result<(), Error> {
    caller::authorize(store, caller, account_id, Permission::InvitesWrite).await?;
    let not_found = || Error::NotFound("invitation");
    let invitation_id = InvitationId::parse(invitation_id).ok_or_else(not_found)?;
    let now = clock::now();
    let mut change = store.change().await?;
    let invitation = invitations::find(&mut *change, account_id, &invitation_id)
        .await?
        .ok_or_else(not_found)?;
    if !invitations::revoke(&mut *change, account_id, &invitation_id, now).await? {
        return Err(Error::conflict(format!(
            "the invitation is already {}",
            invitation.status.as_str()
        )));
    }
    let event = caller.event(
        Some(&invitation.account_id),
        Action::InviteRevoked,
        "invitation",
        invitation.id.as_str(),
        json!({ "email": invitation.email }),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(())
}

/// The invitations to the calling user's address pending at `now`, newest first, each with
/// its account's name. Listed whether or not the address is verified (users start unverified,
/// API.md §8); never with the token or accept URL: accepting still needs the mailed link,
/// which only the address's owner receives.
pub async fn mine<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    now: i64,
    after: impl FnOnce() -> Result<Position, E>,
    limit: i64,
) -> Result<Vec<(Invitation, String)>, E> {
    // Invitations lead into other accounts, beyond an account-scoped token's reach.
    caller.require_user_level()?;
    let user = caller::user(store, caller).await?;
    let after = after()?;
    let rows = invitations::pending_for_email(store.pool(), &user.email, now, &after, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows)
}

/// The invitation behind a link, if there is one (whoever holds the link may see it).
pub async fn find(store: &Store, token: &str) -> Result<Option<Invitation>, sqlx::Error> {
    invitations::find_by_token_hash(store.pool(), &secret::hash(token)).await
}

/// What the page an invitation link opens shows: the invitation, still pending, its account's
/// name, who sent it (if they still exist) and the signed-in user (if any).
pub struct Preview {
    pub invitation: Invitation,
    pub account_name: String,
    pub inviter: Option<User>,
    pub user: Option<User>,
}

/// The pending invitation behind `token`, as `user_id` (signed in, or not) sees it.
pub async fn preview(
    store: &Store,
    token: &str,
    user_id: Option<&UserId>,
) -> Result<Preview, Error> {
    let invitation = find(store, token)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    check_answerable(&invitation, clock::now()).map_err(unanswerable)?;
    let account = accounts::find(store.pool(), &invitation.account_id)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    let inviter = match &invitation.invited_by {
        Some(inviter_id) => users::find(store.pool(), inviter_id).await?,
        None => None,
    };
    let user = match user_id {
        Some(user_id) => users::find(store.pool(), user_id).await?,
        None => None,
    };
    Ok(Preview {
        invitation,
        account_name: account.name,
        inviter,
        user,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Decline,
}

/// The answered invitation, its account's name and, after accepting, the role the user now
/// holds there (an existing member keeps the role they had).
pub struct Answered {
    pub invitation: Invitation,
    pub account_name: String,
    pub role: Option<RoleId>,
}

/// Answers as the calling user (REST), who must be the invitee (by email).
pub async fn answer_as(
    store: &Store,
    caller: &Caller,
    token: &str,
    decision: Decision,
) -> Result<Answered, Error> {
    caller.require_user_level()?;
    answer(store, token, caller.user()?, decision, caller.origin()).await
}

/// Answers as `user_id` (the REST caller or the page's signed-in user), who must be the
/// invitee (by email); [`Error::CallerGone`] when that user no longer exists.
pub async fn answer(
    store: &Store,
    token: &str,
    user_id: &UserId,
    decision: Decision,
    origin: Origin<'_>,
) -> Result<Answered, Error> {
    let user = users::find(store.pool(), user_id)
        .await?
        .ok_or(Error::CallerGone)?;
    let token_hash = secret::hash(token);
    let now = clock::now();
    let invitation = invitations::find_by_token_hash(store.pool(), &token_hash)
        .await?
        .ok_or(Error::NotFound("invitation"))?;
    if !invitation.is_addressed_to(&user.email) {
        return Err(Error::forbidden(
            "the invitation is addressed to another email address",
        ));
    }
    check_answerable(&invitation, now).map_err(unanswerable)?;

    let status = match decision {
        Decision::Accept => InvitationStatus::Accepted,
        Decision::Decline => InvitationStatus::Declined,
    };
    let mut change = store.change().await?;
    let Some(invitation) = invitations::answer(&mut *change, &token_hash, status, now).await?
    else {
        // Lost a race, or it expired meanwhile: say which.
        let current = invitations::find_by_token_hash(&mut *change, &token_hash)
            .await?
            .ok_or(Error::NotFound("invitation"))?;
        check_answerable(&current, now).map_err(unanswerable)?;
        return Err(Error::conflict("the invitation was answered meanwhile"));
    };
    let account_name = accounts::find(&mut *change, &invitation.account_id)
        .await?
        .map(|account| account.name)
        .unwrap_or_default();
    let account_id = Some(&invitation.account_id);
    let invitation_id = invitation.id.as_str();
    let role = match decision {
        Decision::Decline => {
            let details = json!({ "email": invitation.email });
            let event = origin.event(
                account_id,
                Action::InviteDeclined,
                "invitation",
                invitation_id,
                details,
            );
            change.record(&event, now).await?.commit().await?;
            None
        }
        Decision::Accept => {
            let added = memberships::insert_if_absent(
                &mut *change,
                &invitation.account_id,
                &user.id,
                &invitation.role,
                now,
            )
            .await?;
            let role = memberships::role(&mut *change, &invitation.account_id, &user.id).await?;
            let details = json!({ "email": invitation.email, "role": invitation.role });
            let event = origin.event(
                account_id,
                Action::InviteAccepted,
                "invitation",
                invitation_id,
                details,
            );
            let mut change = change.record(&event, now).await?;
            if added {
                let details = json!({ "role": invitation.role, "invitation_id": invitation.id });
                let event = origin.event(
                    account_id,
                    Action::MemberAdded,
                    "user",
                    user.id.as_str(),
                    details,
                );
                change.record(&event, now).await?;
            }
            change.commit().await?;
            role
        }
    };
    Ok(Answered {
        invitation,
        account_name,
        role,
    })
}

fn unanswerable(reason: Unanswerable) -> Error {
    match reason {
        Unanswerable::Expired => Error::Gone {
            code: "invite_expired",
            message: "the invitation has expired".to_owned(),
        },
        Unanswerable::AlreadyAnswered(status) => {
            Error::conflict(format!("the invitation is already {}", status.as_str()))
        }
    }
}
