//! Accounts (tenants): created by a user, who owns it (optionally under a parent they
//! administer), or by an operator for an owner named by email; shown, changed by JSON Merge
//! Patch, deleted (with its descendants only when asked), listed. A child's creation and
//! deletion are also in its parent's log (API.md §8).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::access;
use crate::account::Account;
use crate::account_profile::AccountProfile;
use crate::audit::{Action, NewEvent, Origin};
use crate::clock::{self, Timestamp};
use crate::config::Issuer;
use crate::email_address::EmailAddress;
use crate::ids::AccountId;
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked, roles};
use crate::password::Hasher;
use crate::permission::Permission;
use crate::role::Builtin;
use crate::search::Condition;
use crate::store::{Change, Position, Recorded, Store, accounts, memberships, users};
use crate::user::User;

/// An account a user creates for itself, as the request gives it.
pub struct NewAccount {
    pub name: String,
    pub parent_id: Option<AccountId>,
    pub labels: BTreeMap<String, String>,
    pub external_id: Option<String>,
    pub avatar_url: Option<String>,
    pub billing_email: Option<String>,
}

/// Creates an account owned by the calling user: a top-level one needs a user-level token,
/// a child one `account:write` and every permission of admin on its parent. The caller's email must be verified: whoever signed up
/// with an address they do not hold must not found tenants under it.
pub async fn create(store: &Store, caller: &Caller, new: NewAccount) -> Result<Account, Error> {
    match &new.parent_id {
        Some(parent_id) => {
            let standing =
                caller::authorize(store, caller, parent_id, Permission::AccountWrite).await?;
            // Its creator owns the child, and the child's clients skip the consent page of
            // the parent's members (API.md §4): creating one is an admin's power at least.
            if !access::may_grant(&standing.permissions, &Builtin::Admin.permissions()) {
                return Err(Error::forbidden(
                    "creating a child account needs every permission of admin on the parent",
                ));
            }
        }
        None => caller.require_user_level()?,
    }
    let now = clock::now();
    let mut account = Account::new(new.name, new.parent_id, now);
    account.labels = new.labels;
    account.external_id = new.external_id;
    account.avatar_url = new.avatar_url;
    account.billing_email = new.billing_email;
    let errors = account.validate();
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut change = store.change().await?;
    if let Some(parent_id) = &account.parent_id
        && !accounts::lock(&mut change, parent_id).await?
    {
        return Err(Error::NotFound("account"));
    }
    let owner = users::find(&mut *change, caller.user()?)
        .await?
        .ok_or(Error::CallerGone)?;
    if !owner.email_verified {
        return Err(Error::Refused {
            code: "email_unverified",
            message: "verify your email address before creating accounts".to_owned(),
        });
    }
    insert_with_owner(change, &account, &owner, caller.origin(), now)
        .await?
        .commit()
        .await?;
    Ok(account)
}

/// The owner of an account an operator creates: an existing user found by email, or one
/// created with these.
pub struct NewOwner {
    pub email: String,
    pub name: Option<String>,
    pub password: Option<String>,
}

/// An account an operator (CLI, superadmin API) creates for an owner.
pub struct OwnedAccount {
    pub name: String,
    pub owner: NewOwner,
    pub parent_id: Option<AccountId>,
}

/// An account just created, its owner, and whether the owner was created with it.
pub struct CreatedAccount {
    pub account: Account,
    pub owner: User,
    pub owner_created: bool,
}

/// Creates an account owned by the user with the owner's email, creating that user when the
/// email is new (mailed a link to choose a password when given none), all in one change. A
/// name or password for an owner who already exists is refused rather than silently
/// dropped: this must never change an existing user.
pub async fn create_with_owner(
    store: &Store,
    hasher: &Hasher,
    issuer: &Issuer,
    new: OwnedAccount,
    origin: Origin<'_>,
) -> Result<CreatedAccount, Error> {
    let name = check_name(&new.name)?;
    let owner_email = EmailAddress::parse(&new.owner.email)
        .ok_or_else(|| Error::invalid("owner.email", "must be an email address"))?;
    let owner_name = super::users::check_name(new.owner.name, "owner.name")?;
    let has_profile = owner_name.is_some() || new.owner.password.is_some();
    if has_profile
        && users::find_by_email(store.pool(), owner_email.as_str())
            .await?
            .is_some()
    {
        return Err(existing_owner());
    }
    // Hashed before the transaction: argon2 takes a while and the write lock must not wait.
    let password_hash = super::users::hash_password(
        hasher,
        new.owner.password,
        owner_email.as_str(),
        "owner.password",
    )
    .await?;
    let now = clock::now();
    let mut change = store.change().await?;
    if let Some(parent_id) = &new.parent_id {
        accounts::find(&mut *change, parent_id)
            .await?
            .ok_or(Error::NotFound("parent account"))?;
    }
    let existing = users::find_by_email(&mut *change, owner_email.as_str()).await?;
    let (owner, owner_created) = match existing {
        Some(_) if has_profile => return Err(existing_owner()),
        Some(user) => (user, false),
        None => {
            let user = User::new(owner_email, owner_name, password_hash, now);
            super::users::insert(&mut change, issuer, &user, now).await?;
            (user, true)
        }
    };
    let account = Account::new(name, new.parent_id, now);
    let mut change = insert_with_owner(change, &account, &owner, origin, now).await?;
    if owner_created {
        let details = json!({"superadmin": false});
        let event = origin.event(
            None,
            Action::UserCreated,
            "user",
            owner.id.as_str(),
            details,
        );
        change.record(&event, now).await?;
    }
    change.commit().await?;
    Ok(CreatedAccount {
        account,
        owner,
        owner_created,
    })
}

fn existing_owner() -> Error {
    Error::invalid(
        "owner",
        "a user with this email already exists: give only its email",
    )
}

/// An operator's account name: trimmed, then 1 to 200 characters on one line.
fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::invalid("name", "must be 1 to 200 characters"));
    }
    if !crate::text::is_one_line(name) {
        return Err(Error::invalid(
            "name",
            "must be one line without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Writes an account and its owner's membership, and records both (and the child's creation
/// in its parent's log, API.md §8): every way an account comes to be, first start included.
pub async fn insert_with_owner<'s>(
    mut change: Change<'s>,
    account: &Account,
    owner: &User,
    origin: Origin<'_>,
    now: i64,
) -> Result<Recorded<'s>, sqlx::Error> {
    accounts::insert(&mut *change, account).await?;
    memberships::insert(
        &mut *change,
        &account.id,
        &owner.id,
        &Builtin::Owner.into(),
        now,
    )
    .await?;
    let account_id = account.id.as_str();
    let details = json!({"name": account.name});
    let created = origin.event(
        Some(&account.id),
        Action::AccountCreated,
        "account",
        account_id,
        details,
    );
    let mut change = change.record(&created, now).await?;
    let details = json!({"role": Builtin::Owner.as_str()});
    let owner_added = origin.event(
        Some(&account.id),
        Action::MemberAdded,
        "user",
        owner.id.as_str(),
        details,
    );
    change.record(&owner_added, now).await?;
    if let Some(parent_id) = &account.parent_id {
        let details = json!({"name": account.name, "parent_id": parent_id});
        let child_created = origin.event(
            Some(parent_id),
            Action::AccountCreated,
            "account",
            account_id,
            details,
        );
        change.record(&child_created, now).await?;
    }
    Ok(change)
}

/// An account the caller may see (any role).
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Account, Error> {
    caller::authorize(store, caller, account_id, Permission::AccountRead).await?;
    find(store, account_id).await
}

/// An account, for the operator (from the store's cache, as every read of one outside a
/// change).
pub async fn find(store: &Store, account_id: &AccountId) -> Result<Account, Error> {
    store
        .account(account_id)
        .await?
        .map(Arc::unwrap_or_clone)
        .ok_or(Error::NotFound("account"))
}

/// Changes an account by JSON Merge Patch, each changed field with its permission
/// (`Account::permission_to_change`). Unchanged, it writes and records nothing.
pub async fn update(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    patch: &Value,
) -> Result<Account, Error> {
    let mut change = locked(store, account_id).await?;
    let standing = caller::related_in(&mut change, caller, account_id).await?;
    if !Account::CHANGING
        .iter()
        .any(|permission| standing.may(*permission))
    {
        return Err(Error::forbidden(
            "this needs the account:write permission on the account",
        ));
    }
    let current = accounts::find(&mut *change, account_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    let mut updated = current.merge_patch(patch).map_err(Error::Invalid)?;
    let errors = updated.validate();
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let changed = updated.changed_fields(&current);
    for field in &changed {
        let needed = Account::permission_to_change(field);
        if !standing.may(needed) {
            return Err(Error::forbidden(format!(
                "changing {field} needs the {} permission",
                needed.as_str()
            )));
        }
    }
    if changed.is_empty() {
        return Ok(current);
    }
    if let Some(role) = &updated.settings.domain_auto_join
        && changed.contains(&"settings.domain_auto_join")
    {
        // Whoever turns it on hands the role to strangers to come: only a role they may grant.
        roles::grantable_at(
            &mut change,
            &standing,
            account_id,
            role,
            "settings.domain_auto_join",
        )
        .await?;
    }
    let now = clock::now();
    updated.updated_at = Timestamp(now);
    accounts::update(&mut *change, &updated).await?;
    let mut details = json!({ "fields": changed });
    if updated.status != current.status {
        details["status"] = json!(updated.status);
    }
    let event = caller.event(
        Some(account_id),
        Action::AccountUpdated,
        "account",
        account_id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(updated)
}

/// Deletes an account (owners). One with children is a conflict unless `cascade`, which
/// deletes its descendants with it.
/// Replaces an account's business profile: a merge patch that names every profile field
/// (`null` for those left out), with the rules and the event of [`update`].
pub async fn replace_profile(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    profile: &AccountProfile,
) -> Result<Account, Error> {
    update(store, caller, account_id, &json!({ "profile": profile })).await
}

pub async fn delete(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    cascade: bool,
) -> Result<(), Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::AccountDelete).await?;
    let descendants = accounts::descendants(&mut *change, account_id).await?;
    if !descendants.is_empty() && !cascade {
        return Err(Error::Conflict {
            code: "has_children",
            message: "the account has child accounts; delete them first or pass ?cascade=true"
                .to_owned(),
        });
    }
    let now = clock::now();
    let parent_id = accounts::find(&mut *change, account_id)
        .await?
        .and_then(|account| account.parent_id);
    // The trail outlives the accounts: one event per deleted account, descendants included,
    // and one in the surviving parent's log (API.md §8).
    fn deleted<'a>(
        caller: &'a Caller,
        log: &'a AccountId,
        target: &'a AccountId,
        root: &AccountId,
    ) -> NewEvent<'a> {
        let details = json!({ "cascade_from": (target != root).then_some(root) });
        caller.event(
            Some(log),
            Action::AccountDeleted,
            "account",
            target.as_str(),
            details,
        )
    }
    let mut change = change
        .record(&deleted(caller, account_id, account_id, account_id), now)
        .await?;
    for id in &descendants {
        change
            .record(&deleted(caller, id, id, account_id), now)
            .await?;
    }
    if let Some(parent_id) = &parent_id {
        change
            .record(&deleted(caller, parent_id, account_id, account_id), now)
            .await?;
    }
    accounts::delete(&mut *change, account_id).await?;
    change.commit().await?;
    Ok(())
}

/// Hangs an account under another parent, or makes it a root (`parent_id: None`): admin+
/// (every permission of admin, as creating a child takes) on the account and on the new
/// parent; a root needs the owner's standing (`account:delete`, as suspending does). Under
/// itself or a descendant is a conflict (`cycle`); the same parent changes nothing. Recorded
/// as `account.moved` in the account's, the old and the new parent's logs.
pub async fn move_to(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    parent_id: Option<AccountId>,
) -> Result<Account, Error> {
    let (mut change, current) = lock_tree(store, account_id, parent_id.as_ref()).await?;
    let standing = caller::related_in(&mut change, caller, account_id).await?;
    require_admin(
        &standing,
        "moving an account needs every permission of admin on it",
    )?;
    match &parent_id {
        Some(parent_id) => {
            let standing =
                caller::authorize_in(&mut change, caller, parent_id, Permission::AccountWrite)
                    .await?;
            require_admin(
                &standing,
                "moving an account needs every permission of admin on the new parent",
            )?;
        }
        None if !standing.may(Permission::AccountDelete) => {
            return Err(Error::forbidden(
                "making an account a root needs the account:delete permission on it",
            ));
        }
        None => {}
    }
    if current.parent_id == parent_id {
        return Ok(current);
    }
    if let Some(parent_id) = &parent_id
        && accounts::ancestry(&mut *change, parent_id)
            .await?
            .contains(account_id)
    {
        return Err(Error::Conflict {
            code: "cycle",
            message: "an account cannot move under itself or one of its descendants".to_owned(),
        });
    }
    let now = clock::now();
    accounts::set_parent(&mut *change, account_id, parent_id.as_ref(), now).await?;
    let details = json!({"from": current.parent_id, "to": parent_id});
    let logs = [
        Some(account_id),
        current.parent_id.as_ref(),
        parent_id.as_ref(),
    ];
    let mut logs = logs.into_iter().flatten();
    let event = |log| {
        caller.event(
            Some(log),
            Action::AccountMoved,
            "account",
            account_id.as_str(),
            details.clone(),
        )
    };
    let first = logs.next().ok_or(Error::NotFound("account"))?;
    let mut change = change.record(&event(first), now).await?;
    for log in logs {
        change.record(&event(log), now).await?;
    }
    change.commit().await?;
    Ok(Account {
        parent_id,
        updated_at: Timestamp(now),
        ..current
    })
}

fn require_admin(standing: &access::Standing, refusal: &'static str) -> Result<(), Error> {
    if standing.may(Permission::AccountWrite)
        && access::may_grant(&standing.permissions, &Builtin::Admin.permissions())
    {
        Ok(())
    } else {
        Err(Error::forbidden(refusal))
    }
}

/// A change holding the locks of the account, its parent and `new_parent` (those that
/// exist), taken in id order so that two moves cannot deadlock, and the account as it is
/// under them. A move elsewhere may change the parent between the first read and the locks:
/// then it starts over.
async fn lock_tree<'s>(
    store: &'s Store,
    account_id: &AccountId,
    new_parent: Option<&AccountId>,
) -> Result<(Change<'s>, Account), Error> {
    let mut parent = accounts::find(store.pool(), account_id)
        .await?
        .ok_or(Error::NotFound("account"))?
        .parent_id;
    loop {
        let mut ids: Vec<&AccountId> = [Some(account_id), parent.as_ref(), new_parent]
            .into_iter()
            .flatten()
            .collect();
        ids.sort();
        ids.dedup();
        let mut change = store.change().await?;
        for id in ids {
            accounts::lock(&mut change, id).await?;
        }
        let current = accounts::find(&mut *change, account_id)
            .await?
            .ok_or(Error::NotFound("account"))?;
        if current.parent_id == parent {
            return Ok((change, current));
        }
        parent = current.parent_id;
    }
}

/// An account's direct children, newest first, for anyone who may see it. `after` is read
/// only once the caller may see the list.
pub async fn children<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: impl FnOnce() -> Result<Position, E>,
    limit: i64,
) -> Result<Vec<Account>, E> {
    caller::authorize(store, caller, account_id, Permission::AccountRead).await?;
    let after = after()?;
    let rows = accounts::children(store.pool(), account_id, &after, limit)
        .await
        .map_err(Error::from)?;
    Ok(rows)
}

/// Every account matching `condition` (all without one), newest first: the superadmin's
/// search and the operator's listing.
pub async fn search(
    store: &Store,
    condition: Option<&Condition>,
    after: &Position,
    limit: i64,
) -> Result<Vec<Account>, Error> {
    Ok(accounts::search(store.pool(), condition, after, limit).await?)
}
