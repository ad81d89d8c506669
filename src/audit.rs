//! Audit actions as names (`<resource>.<verb>`) and the filters webhooks apply to them.
//! Pure rules: the store records events, webhooks deliver them, both ask here.

/// Whether an event passes a webhook's filter; `None` lets every event through.
pub fn wants(events: Option<&[String]>, action: &str) -> bool {
    events.is_none_or(|events| events.iter().any(|event| event == action))
}

/// Whether `text` looks like an audit action, `<resource>.<verb>` in lowercase snake case.
pub fn is_action_name(text: &str) -> bool {
    let word = |part: &str| {
        !part.is_empty()
            && part.len() <= 40
            && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    matches!(text.split_once('.'), Some((resource, verb)) if word(resource) && word(verb))
}

#[cfg(test)]
mod tests {
    use super::{is_action_name, wants};

    #[test]
    fn filters_and_action_names() {
        assert!(wants(None, "member.added"));
        let events = vec!["member.added".to_owned()];
        assert!(wants(Some(&events), "member.added"));
        assert!(!wants(Some(&events), "member.removed"));
        assert!(is_action_name("api_key.created"));
        assert!(!is_action_name("member"));
        assert!(!is_action_name("Member.added"));
        assert!(!is_action_name("member.added.x"));
        assert!(!is_action_name(".added"));
    }
}
