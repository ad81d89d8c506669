//! Audit actions as names (`<resource>.<verb>`) and the filters webhooks apply to them.
//! Pure rules: the store records events, webhooks deliver them, both ask here.

/// Whether an event passes a webhook's filter; `None` lets every event through.
pub fn wants(events: Option<&[String]>, action: &str) -> bool {
    events.is_none_or(|events| events.iter().any(|event| event == action))
}

/// Every audit action Tessera records (API.md §8, plus the operator's and the account
/// page's): the names a webhook filter may use.
pub const ACTIONS: &[&str] = &[
    "account.created",
    "account.updated",
    "account.deleted",
    "member.added",
    "member.role_changed",
    "member.removed",
    "invite.created",
    "invite.accepted",
    "invite.declined",
    "invite.revoked",
    "client.created",
    "client.updated",
    "client.deleted",
    "client.secret_rotated",
    "api_key.created",
    "api_key.rolled",
    "api_key.revoked",
    "webhook.updated",
    "webhook.deleted",
    "webhook.secret_rotated",
    "user.created",
    "user.updated",
    "user.deleted",
    "user.email_change_requested",
    "user.disabled",
    "user.enabled",
    "user.login",
    "user.login_failed",
    "signing_key.rotated",
];

/// Whether `text` names an audit action Tessera records: a filter naming anything else
/// would silently never match, so it is refused instead.
pub fn is_known_action(text: &str) -> bool {
    ACTIONS.contains(&text)
}

#[cfg(test)]
mod tests {
    use super::{is_known_action, wants};

    #[test]
    fn filters_and_action_names() {
        assert!(wants(None, "member.added"));
        let events = vec!["member.added".to_owned()];
        assert!(wants(Some(&events), "member.added"));
        assert!(!wants(Some(&events), "member.removed"));
        assert!(is_known_action("api_key.created"));
        assert!(!is_known_action("member"));
        assert!(!is_known_action("Member.added"));
        assert!(
            !is_known_action("member.promoted"),
            "well-formed but unknown"
        );
    }
}
