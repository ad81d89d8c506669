//! An account's members: list (members and pending invitations), show, add (an invitation,
//! or at once for a member of an ancestor account or by a superadmin), change a role, remove.
//! Nobody grants, changes or removes a role allowing more than it may do itself (so only
//! owners grant or touch `owner`); the last owner can be neither removed nor demoted.
//! Changes authorize and write inside one change holding the account's lock, so the
//! permission cannot go stale before the write.

use serde_json::json;

use crate::access;
use crate::audit::Action;
use crate::clock;
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::{AccountId, UserId};
use crate::invitation::{self, Invitation};
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, invites, locked, roles};
use crate::permission::Permission;
use crate::role::RoleId;
use crate::store::memberships::{self, Entry, Member, RoleChange};
use crate::store::{Change, Position, Recorded, Store, accounts, users};

/// The rows of an account's members list, newest first: members and pending invitations.
/// `after` is read only once the caller may see the list.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: impl FnOnce() -> Result<Position, E>,
    limit: i64,
) -> Result<Vec<Entry>, E> {
    caller::authorize(store, caller, account_id, Permission::MembersRead).await?;
    let after = after()?;
    let rows = memberships::list(store.pool(), account_id, &after, limit, clock::now())
        .await
        .map_err(Error::from)?;
    Ok(rows)
}

/// One member (`user_id` as the caller named it).
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    user_id: &str,
) -> Result<Member, Error> {
    caller::authorize(store, caller, account_id, Permission::MembersRead).await?;
    let user_id = member_id(user_id)?;
    memberships::find(store.pool(), account_id, &user_id)
        .await?
        .ok_or(Error::NotFound("member"))
}

/// Whom to add, by user id or by email (exactly one), with which role.
pub struct NewMember {
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub role: RoleId,
}

/// A member added at once, or an invitation sent in their stead.
pub enum Added {
    Member(Member),
    Invited(Invitation),
}

/// Adds a member (admins; only owners grant `owner`). A user joins at once only when the
/// caller is a superadmin or the user belongs to an ancestor account; anyone else is
/// invited.
pub async fn add(
    store: &Store,
    issuer: &Issuer,
    caller: &Caller,
    account_id: &AccountId,
    new: NewMember,
) -> Result<Added, Error> {
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::MembersWrite).await?;
    roles::grantable(&mut change, &standing, account_id, &new.role).await?;
    // By email, the invitation goes to the address as typed and the answer never depends on
    // whether a user owns it (no enumeration of users); a user id names a known user.
    let (email, user) = match (new.user_id.as_deref(), new.email.as_deref()) {
        (Some(id), None) => {
            let user = match UserId::parse(id) {
                Some(id) => users::find(&mut *change, &id).await?,
                None => None,
            }
            .ok_or(Error::NotFound("user"))?;
            let email = EmailAddress::parse(&user.email).ok_or(Error::NotFound("user"))?;
            (email, Some(user))
        }
        (None, Some(email)) => {
            let email = EmailAddress::parse(email)
                .ok_or_else(|| Error::invalid("email", "must be an email address"))?;
            let user = users::find_by_email(&mut *change, email.as_str()).await?;
            (email, user)
        }
        _ => {
            return Err(Error::invalid(
                "user_id",
                "give exactly one of user_id and email",
            ));
        }
    };
    let now = clock::now();
    if let Some(user) = &user {
        if memberships::role(&mut *change, account_id, &user.id)
            .await?
            .is_some()
        {
            return Err(Error::conflict(
                "the user is already a member of the account",
            ));
        }
        if joins_at_once(&mut change, caller, account_id, &user.id).await? {
            memberships::insert(&mut *change, account_id, &user.id, &new.role, now).await?;
            let member = memberships::find(&mut *change, account_id, &user.id)
                .await?
                .ok_or(Error::NotFound("member"))?;
            let details = json!({ "role": &new.role });
            record(
                change,
                caller,
                account_id,
                Action::MemberAdded,
                &user.id,
                details,
                now,
            )
            .await?
            .commit()
            .await?;
            return Ok(Added::Member(member));
        }
    }
    // Anyone else is only asked: membership lets the account's clients skip the consent page,
    // so it must never be imposed on a user.
    let account = accounts::find(&mut *change, account_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    let request = invites::Request {
        account: &account,
        email,
        role: new.role,
        ttl_seconds: invitation::DEFAULT_TTL_SECONDS,
        invited_by: caller.user_id().cloned(),
    };
    let (change, sent) = invites::send(change, issuer, request, caller.origin(), now).await?;
    change.commit().await?;
    Ok(Added::Invited(sent.invitation))
}

/// Whether `user_id` joins without being asked (API.md §8): the caller is a superadmin
/// acting with a user-level token (not one handed to an app for one account), or the user
/// already is a member of an ancestor account.
async fn joins_at_once(
    db: &mut sqlx::AnyConnection,
    caller: &Caller,
    account_id: &AccountId,
    user_id: &UserId,
) -> Result<bool, sqlx::Error> {
    if let Some(caller_id) = caller.user_id()
        && !caller.is_account_scoped()
        && users::is_superadmin(&mut *db, caller_id).await?
    {
        return Ok(true);
    }
    let lineage = accounts::lineage(&mut *db, account_id, Some(user_id)).await?;
    Ok(access::belongs_to_an_ancestor(&lineage))
}

/// Gives a member another role (admins; only owners grant `owner` or touch an owner).
pub async fn change_role(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    user_id: &str,
    new_role: RoleId,
) -> Result<Member, Error> {
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::MembersWrite).await?;
    let user_id = member_id(user_id)?;
    let current = memberships::find(&mut *change, account_id, &user_id)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let new = roles::grantable(&mut change, &standing, account_id, &new_role).await?;
    let held = roles::held_by(&mut change, account_id, &current.role).await?;
    if !access::may_change_role(&standing.permissions, &held.permissions, &new.permissions) {
        return Err(Error::forbidden(
            "changing this member's role needs every permission of its current role",
        ));
    }
    if current.role == new_role {
        return Ok(current);
    }
    let now = clock::now();
    match memberships::set_role(&mut change, account_id, &user_id, &new_role, now).await? {
        RoleChange::Done => {}
        RoleChange::NotMember => return Err(Error::NotFound("member")),
        RoleChange::LastOwner => return Err(last_owner()),
    }
    let details = json!({ "from": &current.role, "to": &new_role });
    record(
        change,
        caller,
        account_id,
        Action::MemberRoleChanged,
        &user_id,
        details,
        now,
    )
    .await?
    .commit()
    .await?;
    Ok(Member {
        role: new_role,
        ..current
    })
}

/// Removes a member: any member may leave; removing another needs admin, an owner needs
/// owner.
pub async fn remove(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    user_id: &str,
) -> Result<(), Error> {
    let mut change = locked(store, account_id).await?;
    let standing = caller::related_in(&mut change, caller, account_id).await?;
    let user_id = member_id(user_id)?;
    let current = memberships::find(&mut *change, account_id, &user_id)
        .await?
        .ok_or(Error::NotFound("member"))?;
    let is_self = caller.user_id() == Some(&user_id);
    let held = roles::held_by(&mut change, account_id, &current.role).await?;
    if !access::may_remove(&standing.permissions, is_self, &held.permissions) {
        return Err(Error::forbidden(
            "removing another member needs members:write and every permission of its role",
        ));
    }
    match memberships::remove(&mut change, account_id, &user_id).await? {
        RoleChange::Done => {}
        RoleChange::NotMember => return Err(Error::NotFound("member")),
        RoleChange::LastOwner => return Err(last_owner()),
    }
    let details = json!({ "role": &current.role, "left": is_self });
    let now = clock::now();
    record(
        change,
        caller,
        account_id,
        Action::MemberRemoved,
        &user_id,
        details,
        now,
    )
    .await?
    .commit()
    .await?;
    Ok(())
}

/// A member's id from the request; one that cannot exist is simply not found.
fn member_id(text: &str) -> Result<UserId, Error> {
    UserId::parse(text).ok_or(Error::NotFound("member"))
}

fn last_owner() -> Error {
    Error::Conflict {
        code: "last_owner",
        message: "the account's last owner can be neither removed nor demoted".to_owned(),
    }
}

async fn record<'s>(
    change: Change<'s>,
    caller: &Caller,
    account_id: &AccountId,
    action: Action,
    user_id: &UserId,
    details: serde_json::Value,
    now: i64,
) -> Result<Recorded<'s>, sqlx::Error> {
    let event = caller.event(Some(account_id), action, "user", user_id.as_str(), details);
    change.record(&event, now).await
}
