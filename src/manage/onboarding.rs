//! An account's onboarding checklist (API.md §13): read by anyone who may see the account,
//! its application steps set by JSON Merge Patch with `account:write`.

use serde_json::{Value, json};

use crate::audit::Action;
use crate::clock;
use crate::ids::AccountId;
use crate::manage::caller::{self, Caller};
use crate::manage::{Error, locked};
use crate::onboarding::{self, Onboarding};
use crate::permission::Permission;
use crate::store::{Store, Unaudited, onboarding as stored};

/// The checklist, its built-in steps computed now. The first reading to find it complete
/// dates it.
pub async fn show(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
) -> Result<Onboarding, Error> {
    caller::authorize(store, caller, account_id, Permission::AccountRead).await?;
    let now = clock::now();
    let kept = stored::find(store.pool(), account_id).await?;
    let facts = stored::facts(store.pool(), account_id, now).await?;
    let checklist = Onboarding::new(facts, &kept.steps, kept.completed_at);
    if !checklist.newly_completed() {
        return Ok(checklist);
    }
    let mut change = store.change().await?;
    let completed_at = stored::complete(&mut *change, account_id, now).await?;
    change
        .commit_unaudited(Unaudited::OnboardingCompleted)
        .await?;
    Ok(Onboarding::new(facts, &kept.steps, Some(completed_at)))
}

/// Sets, changes or removes application steps (`{"steps": {"first_run": true}}`); the
/// built-in ones are read-only. Recorded as `account.updated` with the changed step names;
/// unchanged, it writes nothing.
pub async fn update(
    store: &Store,
    caller: &Caller,
    account_id: &AccountId,
    patch: &Value,
) -> Result<Onboarding, Error> {
    let mut change = locked(store, account_id).await?;
    caller::authorize_in(&mut change, caller, account_id, Permission::AccountWrite).await?;
    let now = clock::now();
    let kept = stored::find(&mut *change, account_id).await?;
    let onboarding::Patched { steps, changed } =
        onboarding::patch(&kept.steps, patch).map_err(|errors| {
            let (field, message) = errors.into_iter().next().unwrap_or_default();
            Error::InvalidAt { field, message }
        })?;
    let facts = stored::facts(&mut *change, account_id, now).await?;
    let mut checklist = Onboarding::new(facts, &steps, kept.completed_at);
    if changed.is_empty() {
        return Ok(checklist);
    }
    stored::save_steps(&mut *change, account_id, &steps, now).await?;
    if checklist.newly_completed() {
        let completed_at = stored::complete(&mut *change, account_id, now).await?;
        checklist = Onboarding::new(facts, &steps, Some(completed_at));
    }
    let event = caller.event(
        Some(account_id),
        Action::AccountUpdated,
        "account",
        account_id.as_str(),
        json!({ "onboarding": changed }),
    );
    change.record(&event, now).await?.commit().await?;
    Ok(checklist)
}
