//! An account's onboarding checklist (API.md §13): the built-in steps, computed from what the
//! account has, and the application's own, set by merge patch; when it counts as completed.
//! Pure rules: the store keeps the application's steps, `manage::onboarding` reads the facts.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::clock::Timestamp;

/// The steps Tessera computes; an application may not set them.
pub const BUILTIN: [&str; 4] = ["profile", "members", "client", "api_key"];

/// At most this many application steps per account.
pub const MAX_STEPS: usize = 64;

/// What the built-in steps are computed from, read when the checklist is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts {
    /// The account's profile has a business name (`profile.business_name`).
    pub business_name: bool,
    pub members: i64,
    pub clients: i64,
    pub live_api_keys: i64,
}

/// The checklist as `/v1` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Onboarding {
    /// The built-in steps and the application's, by name.
    pub steps: BTreeMap<String, bool>,
    /// Every step is true.
    pub completed: bool,
    /// The first time every step was true; kept once set.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub completed_at: Option<Timestamp>,
}

impl Onboarding {
    /// The checklist of an account with these facts and application steps, completed at
    /// `completed_at` if it ever was.
    pub fn new(
        facts: Facts,
        application: &BTreeMap<String, bool>,
        completed_at: Option<i64>,
    ) -> Onboarding {
        let builtin = [
            facts.business_name,
            facts.members >= 2,
            facts.clients >= 1,
            facts.live_api_keys >= 1,
        ];
        let mut steps = application.clone();
        steps.extend(BUILTIN.into_iter().map(str::to_owned).zip(builtin));
        Onboarding {
            completed: steps.values().all(|done| *done),
            steps,
            completed_at: completed_at.map(Timestamp),
        }
    }

    /// Whether this reading is the first to see it completed: then `completed_at` is stored.
    pub fn newly_completed(&self) -> bool {
        self.completed && self.completed_at.is_none()
    }
}

/// A broken rule of a patch: the field (`steps.<name>`) and what is wrong.
pub type StepError = (String, String);

/// Applies a merge patch (`{"steps": {name: true | false | null}}`) to the application's
/// steps; the new steps and the names whose value changed.
pub fn patch(current: &BTreeMap<String, bool>, patch: &Value) -> Result<Patched, Vec<StepError>> {
    let Some(patch) = patch.as_object() else {
        return Err(vec![("body".into(), "must be an object".into())]);
    };
    let mut errors = Vec::new();
    let mut steps = current.clone();
    for (field, value) in patch {
        if field != "steps" {
            errors.push((field.clone(), "is not a known field".into()));
            continue;
        }
        // RFC 7396: `null` removes the member, here every step of the application.
        if value.is_null() {
            steps.clear();
            continue;
        }
        let Some(changes) = value.as_object() else {
            errors.push(("steps".into(), "must be an object".into()));
            continue;
        };
        for (name, value) in changes {
            let field = format!("steps.{name}");
            if BUILTIN.contains(&name.as_str()) {
                errors.push((field, "is computed by Tessera and read-only".into()));
            } else if !is_step_name(name) {
                errors.push((field, "a step name is 1 to 32 of a-z, 0-9 and _".into()));
            } else {
                match value {
                    Value::Bool(done) => {
                        steps.insert(name.clone(), *done);
                    }
                    Value::Null => {
                        steps.remove(name);
                    }
                    _ => errors.push((field, "must be a boolean or null".into())),
                }
            }
        }
    }
    if errors.is_empty() && steps.len() > MAX_STEPS && steps.len() > current.len() {
        errors.push((
            "steps".into(),
            format!("an account has at most {MAX_STEPS} steps of its own"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let changed = current
        .keys()
        .chain(steps.keys())
        .filter(|name| current.get(*name) != steps.get(*name))
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(Patched { steps, changed })
}

/// The application's steps after a patch, and the names whose value it changed (sorted).
#[derive(Debug, PartialEq, Eq)]
pub struct Patched {
    pub steps: BTreeMap<String, bool>,
    pub changed: Vec<String>,
}

/// `[a-z0-9_]{1,32}`.
fn is_step_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{BTreeMap, Facts, MAX_STEPS, Onboarding, Patched, patch};

    fn steps(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
        pairs
            .iter()
            .map(|(name, done)| ((*name).to_owned(), *done))
            .collect()
    }

    #[test]
    fn the_builtin_steps_come_from_the_facts() {
        let none = Onboarding::new(Facts::default(), &BTreeMap::new(), None);
        assert_eq!(
            none.steps,
            steps(&[
                ("api_key", false),
                ("client", false),
                ("members", false),
                ("profile", false)
            ])
        );
        assert!(!none.completed);
        let facts = Facts {
            business_name: true,
            members: 2,
            clients: 1,
            live_api_keys: 1,
        };
        let all = Onboarding::new(facts, &steps(&[("first_run", true)]), None);
        assert!(all.completed && all.newly_completed());
        let one_short = Onboarding::new(facts, &steps(&[("first_run", false)]), None);
        assert!(!one_short.completed && !one_short.newly_completed());
        let members = Facts {
            members: 1,
            ..facts
        };
        assert!(!Onboarding::new(members, &BTreeMap::new(), None).completed);
        // Completed once, it stays dated even when a step turns false again.
        let before = Onboarding::new(Facts::default(), &BTreeMap::new(), Some(7));
        assert!(!before.completed && !before.newly_completed());
        assert_eq!(before.completed_at.map(|at| at.0), Some(7));
        assert!(!Onboarding::new(facts, &BTreeMap::new(), Some(7)).newly_completed());
    }

    #[test]
    fn a_patch_sets_and_removes_application_steps_only() {
        let current = steps(&[("first_run", false), ("invited_team", true)]);
        let Patched {
            steps: new,
            changed,
        } = patch(
            &current,
            &json!({"steps": {"first_run": true, "invited_team": null, "billing_set_up": false}}),
        )
        .unwrap();
        assert_eq!(
            new,
            steps(&[("billing_set_up", false), ("first_run", true)])
        );
        assert_eq!(changed, ["billing_set_up", "first_run", "invited_team"]);
        let same = patch(&current, &json!({"steps": {"first_run": false}})).unwrap();
        assert_eq!((same.steps, same.changed.len()), (current.clone(), 0));
        let gone = patch(&current, &json!({"steps": {"gone": null}})).unwrap();
        assert!(gone.changed.is_empty());
        let cleared = patch(&current, &json!({"steps": null})).unwrap();
        assert!(cleared.steps.is_empty());
        assert_eq!(cleared.changed, ["first_run", "invited_team"]);
        for (bad, field) in [
            (json!({"steps": {"members": true}}), "steps.members"),
            (json!({"steps": {"profile": null}}), "steps.profile"),
            (json!({"steps": {"First": true}}), "steps.First"),
            (json!({"steps": {"": true}}), "steps."),
            (json!({"steps": {"a-b": true}}), "steps.a-b"),
            (
                json!({"steps": {"x".repeat(33): true}}),
                &*format!("steps.{}", "x".repeat(33)),
            ),
            (json!({"steps": {"done": "yes"}}), "steps.done"),
            (json!({"steps": {"done": 1}}), "steps.done"),
            (json!({"steps": []}), "steps"),
            (json!({"steps": true}), "steps"),
            (json!({"completed": true}), "completed"),
            (json!({"completed_at": null}), "completed_at"),
            (json!([]), "body"),
        ] {
            let errors = patch(&current, &bad).unwrap_err();
            assert_eq!(errors[0].0, field, "{bad}");
        }
        let longest = patch(&current, &json!({"steps": {"x".repeat(32): true}})).unwrap();
        assert_eq!(longest.changed.len(), 1);
        let full: BTreeMap<String, bool> =
            (0..MAX_STEPS).map(|n| (format!("s{n}"), true)).collect();
        assert!(patch(&full, &json!({"steps": {"one_more": true}})).is_err());
        assert!(patch(&full, &json!({"steps": {"s0": false}})).is_ok());
    }
}
