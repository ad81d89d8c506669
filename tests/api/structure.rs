//! The architecture, checked (ARCHITECTURE.md): which layer may use what, no import cycles
//! between top-level modules, and two migration folders that say the same thing. Reads the
//! source as text, so a new arrow fails here before it hardens.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir`, with its text up to its unit tests (tests may use anything).
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text
                    .split("#[cfg(test)]")
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                found.push((path, code));
            }
        }
    }
    found.sort();
    found
}

fn src() -> PathBuf {
    Path::new(ROOT).join("src")
}

/// The top-level module a source file belongs to (`src/store/users.rs` → `store`).
fn top_module(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The top-level modules `code` names as `crate::<module>`.
fn uses(code: &str) -> BTreeSet<String> {
    code.match_indices("crate::")
        .filter_map(|(at, _)| {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            (!name.is_empty()).then_some(name)
        })
        .collect()
}

fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    sources(&src().join(dir))
        .into_iter()
        .flat_map(|(path, code)| {
            forbidden
                .iter()
                .filter(|needle| code.contains(*needle))
                .map(|needle| format!("{} uses {needle}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_protocol_core_knows_no_http_and_no_sql() {
    let found = offenders("oauth", &["axum", "sqlx", "crate::http", "crate::store"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn storage_and_keys_know_no_http() {
    let mut found = offenders("store", &["crate::http", "axum"]);
    found.extend(offenders("keys", &["crate::http", "axum"]));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn handlers_hold_no_transaction_and_no_sql() {
    // Writes are use cases that own their `store::Change` (audit event, cache, outboxes);
    // a handler that opened one, or read the pool itself, would be beside those rules.
    let found = offenders(
        "http",
        &[
            ".change(",
            "change_account(",
            "record_events(",
            ".pool()",
            "sqlx::query",
            "accounts::lock",
            "audit_events::",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn top_level_modules_have_no_import_cycles() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in sources(&src()) {
        let module = top_module(&path);
        if module == "lib" || module == "main" {
            continue;
        }
        let edges = graph.entry(module.clone()).or_default();
        edges.extend(uses(&code).into_iter().filter(|used| *used != module));
    }
    // A cycle is an edge a → b where b reaches a again.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from.to_owned()];
        while let Some(module) = pending.pop() {
            if module == to {
                return true;
            }
            if seen.insert(module.clone()) {
                pending.extend(graph.get(&module).into_iter().flatten().cloned());
            }
        }
        false
    };
    let cycles: Vec<String> = graph
        .iter()
        .flat_map(|(a, edges)| edges.iter().map(move |b| (a.clone(), b.clone())))
        .filter(|(a, b)| reaches(b, a))
        .map(|(a, b)| format!("{a} -> {b} -> … -> {a}"))
        .collect();
    assert!(cycles.is_empty(), "{cycles:#?}");
}

/// Files whose PostgreSQL and SQLite versions may differ, and why.
const DIALECT_FILES: &[&str] = &[
    // Notification triggers exist on PostgreSQL only (SQLite has one process).
    "0021_access_change_notifications.sql",
    "0023_user_tokens_valid_after.sql",
    "0024_refresh_grace_chain.sql",
    "0045_user_disabled_at.sql",
    "0075_cache_change_notifications.sql",
    // SQLite cannot drop a check constraint: it rebuilds the tables instead.
    "0066_custom_roles.sql",
    "0072_signing_algorithms.sql",
    // Types and functions spelled differently by the two dialects.
    "0001_users_accounts.sql",
    "0002_signing_keys.sql",
    "0005_invitations_api_keys.sql",
    "0006_audit_webhooks_email.sql",
    "0007_sessions_rate_limits.sql",
    "0030_one_pending_invitation_per_address.sql",
];

#[test]
fn both_migration_folders_hold_the_same_migrations() {
    let names = |dialect: &str| -> BTreeMap<String, String> {
        std::fs::read_dir(Path::new(ROOT).join("migrations").join(dialect))
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&path).unwrap())
            })
            .collect()
    };
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert_eq!(
        sqlite.keys().collect::<Vec<_>>(),
        postgres.keys().collect::<Vec<_>>(),
        "the same numbers and names in both folders"
    );
    let differing: Vec<&String> = sqlite
        .iter()
        .filter(|(name, text)| postgres[*name] != **text)
        .map(|(name, _)| name)
        .filter(|name| !DIALECT_FILES.contains(&name.as_str()))
        .collect();
    assert!(
        differing.is_empty(),
        "these differ between dialects without being listed: {differing:?}"
    );
}

#[test]
fn the_readme_names_every_top_level_module() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let section = readme
        .split("## Where things are")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .unwrap_or_default();
    let missing: Vec<String> = std::fs::read_dir(src())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs") || !name.contains('.'))
        .filter(|name| name != "common_passwords.txt")
        .map(|name| {
            if name.ends_with(".rs") {
                format!("src/{name}")
            } else {
                format!("src/{name}/")
            }
        })
        .filter(|path| !section.contains(path.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "README's 'Where things are' misses {missing:?}"
    );
}

#[test]
fn audit_actions_are_named_by_the_enum_only() {
    // `audit::Action` is the one list; a name typed as a string elsewhere could drift from it.
    let resources = [
        "account",
        "member",
        "invite",
        "client",
        "api_key",
        "webhook",
        "user",
        "signing_key",
        "role",
        "domain",
        "subscription",
        "invoice",
        "payment",
    ];
    let mut typed = Vec::new();
    for (path, code) in sources(&src()) {
        if path.ends_with("audit.rs") {
            continue;
        }
        for (at, _) in code.match_indices('"') {
            let rest = &code[at + 1..];
            let Some(end) = rest.find('"') else { continue };
            let literal = &rest[..end];
            let Some((resource, verb)) = literal.split_once('.') else {
                continue;
            };
            let is_action = resources.contains(&resource)
                && !verb.is_empty()
                && verb != "html"
                && verb.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if is_action {
                typed.push(format!("{}: {literal}", path.display()));
            }
        }
    }
    assert!(
        typed.is_empty(),
        "name these with audit::Action instead: {typed:?}"
    );
}

/// docs/configuration.md names every setting config.rs reads, and docs/cli.md every command.
#[test]
fn the_reference_docs_name_every_setting_and_command() {
    let config = std::fs::read_to_string(src().join("config.rs")).unwrap();
    let settings = std::fs::read_to_string(Path::new(ROOT).join("docs/configuration.md")).unwrap();
    let names: Vec<&str> = config
        .split("env: \"")
        .skip(1)
        .chain(config.split("file_key: \"").skip(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        assert!(
            settings.contains(&format!("`{name}`")),
            "docs/configuration.md lacks `{name}`"
        );
    }
    let cli = std::fs::read_to_string(src().join("cli.rs")).unwrap();
    let reference = std::fs::read_to_string(Path::new(ROOT).join("docs/cli.md")).unwrap();
    for flag in cli
        .split("#[arg(long = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
    {
        assert!(
            reference.contains(&format!("--{flag}")),
            "docs/cli.md lacks --{flag}"
        );
    }
    for command in [
        "serve",
        "migrate",
        "backup",
        "keys rotate",
        "users create",
        "users list",
        "users show",
        "users disable",
        "users enable",
        "users set-password",
        "accounts create",
        "accounts list",
        "accounts show",
        "clients create",
        "clients list",
        "clients show",
        "clients update",
        "clients rotate-secret",
        "invites list",
    ] {
        assert!(
            reference.contains(&format!("tessera {command}")),
            "docs/cli.md lacks tessera {command}"
        );
    }
}
