//! What characters text from a request may hold before it is stored (API.md §2): no NUL or
//! other control characters (PostgreSQL refuses NUL outright; the rest corrupt logs and
//! pages); tab and line breaks only in free text, never in names.

/// Whether free text holds a control character other than tab, line feed or carriage return.
pub fn has_control_characters(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Whether a one-line value (a name) holds any control character, tab and newline included.
pub fn is_one_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// The path (`field`, `labels.team`, `redirect_uris[2]`) of the first string in a JSON value
/// that holds a control character other than tab or a line break.
pub fn first_control_character(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => has_control_characters(text).then(String::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            first_control_character(item).map(|inner| format!("[{index}]{}", dotted(&inner)))
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if has_control_characters(key) {
                return Some(key.escape_debug().to_string());
            }
            first_control_character(item).map(|inner| format!("{key}{}", dotted(&inner)))
        }),
        _ => None,
    }
}

fn dotted(inner: &str) -> String {
    if inner.is_empty() || inner.starts_with('[') {
        inner.to_owned()
    } else {
        format!(".{inner}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{first_control_character, has_control_characters, is_one_line};

    #[test]
    fn control_characters_are_found_where_they_are() {
        assert!(has_control_characters("a\u{0}b"));
        assert!(has_control_characters("a\u{1b}[31m"));
        assert!(!has_control_characters("line one\nline two\tand a tab"));
        assert!(!is_one_line("Acme\nInc"));
        assert!(is_one_line("Acme Inc"));
        let body = json!({"name": "ok", "labels": {"team": "x\u{0}"}, "uris": ["a", "b\u{7}"]});
        assert_eq!(
            first_control_character(&body).as_deref(),
            Some("labels.team")
        );
        let body = json!({"uris": ["a", "b\u{7}"]});
        assert_eq!(first_control_character(&body).as_deref(), Some("uris[1]"));
        assert_eq!(first_control_character(&json!({"name": "fine"})), None);
    }
}
