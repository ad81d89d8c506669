//! An account's roles (API.md §11): the built-in ones and the custom roles usable there
//! (its own and its ancestors'), listed for anyone who may see its members; custom roles
//! created, changed and deleted with `roles:write`. Nobody defines, changes or grants a role
//! allowing more than it may do itself: granting goes through [`grantable`], for members,
//! invitations and API keys alike.

use serde_json::{Value, json};

use crate::access::{self, Held, Standing};
use crate::audit::Action;
use crate::clock;
use crate::ids::AccountId;
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked};
use crate::permission::{Permission, Permissions};
use crate::role::{Builtin, Role, RoleId};
use crate::store::roles::{self, Deletion};
use crate::store::{Change, Position, Store};

/// A custom role to create, as the request gives it.
pub struct NewRole {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

/// The role `id` as the caller may hand it out on `account_id`: usable there (else 400 on
/// `role`) and allowing nothing the caller may not do (else 403). The custom role's row stays
/// held until `change` ends, so it cannot be deleted under the grant.
pub async fn grantable(
    change: &mut Change<'_>,
    standing: &Standing,
    account_id: &AccountId,
    id: &RoleId,
) -> Result<Held, Error> {
    let Some(held) = roles::hold(change, account_id, id).await? else {
        return Err(unknown_role(change, account_id).await?);
    };
    if !access::may_grant(&standing.permissions, &held.permissions) {
        return Err(Error::forbidden(format!(
            "granting `{id}` needs every permission it allows"
        )));
    }
    Ok(held)
}

/// [`grantable`] for a role a request names in `field` (`default_role`,
/// `settings.domain_auto_join`): a role the account does not have is a 400 on that field.
pub async fn grantable_at(
    change: &mut Change<'_>,
    standing: &Standing,
    account_id: &AccountId,
    id: &RoleId,
    field: &'static str,
) -> Result<Held, Error> {
    grantable(change, standing, account_id, id)
        .await
        .map_err(|error| match error {
            Error::Invalid(mut errors) => {
                for error in &mut errors {
                    error.field = field;
                }
                Error::Invalid(errors)
            }
            other => other,
        })
}

/// Naming a role the account does not have: the answer lists those it has, built-in ones
/// first (lowest first), then the newest custom ones.
async fn unknown_role(change: &mut Change<'_>, account_id: &AccountId) -> Result<Error, Error> {
    const LISTED: i64 = 20;
    let custom = roles::list_usable(&mut **change, account_id, &Position::start(), LISTED).await?;
    let ids: Vec<String> = Builtin::ALL
        .iter()
        .rev()
        .map(|role| role.as_str().to_owned())
        .chain(custom.into_iter().map(|role| role.id.to_string()))
        .collect();
    Ok(Error::invalid(
        "role",
        format!("must be one of {}", ids.join(", ")),
    ))
}

/// The role `id` someone holds on `account_id`, with what it allows there (nothing for a
/// custom role that is gone).
pub async fn held_by(
    change: &mut Change<'_>,
    account_id: &AccountId,
    id: &RoleId,
) -> Result<Held, Error> {
    Ok(roles::hold(change, account_id, id).await?.unwrap_or(Held {
        role: id.clone(),
        permissions: Permissions::default(),
    }))
}

/// Where a built-in role sits in a list: before every custom role, owner first.
fn builtin_position(rank: usize) -> Position {
    Position {
        created_at: i64::MAX - 1 - i64::try_from(rank).unwrap_or(0),
        id: String::new(),
    }
}

/// A role's place in the list: built-in roles first, then custom roles newest first.
pub fn position(role: &Role) -> Position {
    match role.id.builtin() {
        Some(builtin) => {
            builtin_position(Builtin::ALL.iter().position(|b| *b == builtin).unwrap_or(0))
        }
        None => Position {
            created_at: role.created_at.map_or(0, |at| at.0),
            id: role.id.to_string(),
        },
    }
}

/// The roles usable in an account, built-in first. `after` is read only once the caller may
/// see the list.
pub async fn list<E: From<Error>>(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    after: impl FnOnce() -> Result<Position, E>,
    limit: i64,
) -> Result<Vec<Role>, E> {
    caller::authorize(store, caller, account_id, Permission::MembersRead).await?;
    let after = after()?;
    let before_after = |at: &Position| {
        at.created_at < after.created_at || (at.created_at == after.created_at && at.id < after.id)
    };
    let mut rows: Vec<Role> = Builtin::ALL
        .into_iter()
        .map(Role::builtin)
        .filter(|role| before_after(&position(role)))
        .collect();
    // Custom roles sort below every built-in position, so `after` serves them as it is.
    let rest = limit - i64::try_from(rows.len()).unwrap_or(0);
    if rest > 0 {
        rows.extend(
            roles::list_usable(store.pool(), account_id, &after, rest)
                .await
                .map_err(Error::from)?,
        );
    }
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(rows)
}

/// One role usable in the account, built-in or custom.
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<Role, Error> {
    caller::authorize(store, caller, account_id, Permission::MembersRead).await?;
    find_usable(&mut *store.pool().acquire().await?, account_id, id).await
}

async fn find_usable(
    db: &mut sqlx::AnyConnection,
    account_id: &AccountId,
    id: &str,
) -> Result<Role, Error> {
    let id = RoleId::parse(id).ok_or(Error::NotFound("role"))?;
    if let Some(builtin) = id.builtin() {
        return Ok(Role::builtin(builtin));
    }
    roles::find_usable(db, account_id, &id)
        .await?
        .ok_or(Error::NotFound("role"))
}

/// Creates a custom role on the account (`role.created`): its id must be free along the
/// account's ancestors and descendants (409), and its permissions the caller's own (403).
pub async fn create(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    new: NewRole,
) -> Result<Role, Error> {
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::RolesWrite).await?;
    let now = clock::now();
    let role = Role::custom(
        account_id,
        &new.id,
        &new.name,
        new.description.as_deref(),
        &new.permissions,
        now,
    )
    .map_err(Error::Invalid)?;
    may_define(&standing, &role.permissions)?;
    if roles::is_taken_along(&mut *change, account_id, &role.id).await? {
        return Err(Error::conflict(format!(
            "a role `{}` already exists in this account, an ancestor or a descendant",
            role.id
        )));
    }
    roles::insert(&mut *change, account_id, &role, now).await?;
    let details = json!({"name": role.name, "permissions": role.permissions});
    let event = caller.event(
        Some(account_id),
        Action::RoleCreated,
        "role",
        role.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(role)
}

/// Changes a custom role of the account by JSON Merge Patch (`role.updated`); its holders'
/// tokens and callers act with the new permissions at once. The caller must hold every
/// permission of the role before and after.
pub async fn update(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
    patch: &Value,
) -> Result<Role, Error> {
    let mut change = locked(store, account_id).await?;
    let standing =
        caller::authorize_in(&mut change, caller, account_id, Permission::RolesWrite).await?;
    let current = own_custom_role(&mut change, account_id, id).await?;
    let now = clock::now();
    let updated = current.merge_patch(patch, now).map_err(Error::Invalid)?;
    may_define(&standing, &current.permissions)?;
    may_define(&standing, &updated.permissions)?;
    let unchanged = Role {
        updated_at: current.updated_at,
        ..updated.clone()
    } == current;
    if unchanged {
        return Ok(current);
    }
    roles::update(&mut *change, account_id, &updated, now).await?;
    let details = json!({
        "name": updated.name,
        "from": current.permissions,
        "to": updated.permissions,
    });
    let event = caller.event(
        Some(account_id),
        Action::RoleUpdated,
        "role",
        updated.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(updated)
}

/// Deletes a custom role of the account (`role.deleted`), unless a member, a pending
/// invitation, a live API key or an SSO connection (its `default_role`) of the account or a
/// descendant holds it (409 `role_in_use`).
pub async fn delete(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    id: &str,
) -> Result<(), Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::RolesWrite).await?;
    let role = own_custom_role(&mut change, account_id, id).await?;
    let now = clock::now();
    match roles::delete_unless_held(&mut change, account_id, &role.id, now).await? {
        Deletion::Deleted => {}
        Deletion::NotFound => return Err(Error::NotFound("role")),
        Deletion::InUse => {
            return Err(Error::Conflict {
                code: "role_in_use",
                message: "a member, a pending invitation, an API key or an SSO connection's \
                          default_role holds the role"
                    .to_owned(),
            });
        }
    }
    let details = json!({"name": role.name});
    let event = caller.event(
        Some(account_id),
        Action::RoleDeleted,
        "role",
        role.id.as_str(),
        details,
    );
    change.record(&event, now).await?.commit().await?;
    Ok(())
}

/// A custom role the account itself defines: built-in roles are fixed, and an ancestor's
/// roles are changed where they are defined (both 403).
async fn own_custom_role(
    db: &mut sqlx::AnyConnection,
    account_id: &AccountId,
    id: &str,
) -> Result<Role, Error> {
    let role = find_usable(db, account_id, id).await?;
    if role.builtin {
        return Err(Error::forbidden(
            "built-in roles cannot be changed or deleted",
        ));
    }
    match &role.account_id {
        Some(defined_on) if defined_on != account_id => Err(Error::forbidden(format!(
            "the role is defined on {defined_on}; change it there"
        ))),
        _ => Ok(role),
    }
}

/// Defining a role is handing out its permissions to whoever will hold it.
fn may_define(standing: &Standing, permissions: &Permissions) -> Result<(), Error> {
    if !access::may_grant(&standing.permissions, permissions) {
        return Err(Error::forbidden(
            "a role may allow only what you may do yourself",
        ));
    }
    Ok(())
}
