//! Request parameters as the specs read them: a parameter sent twice is an error
//! (RFC 6749 §3.1, §3.2), and one sent without a value counts as omitted.

use crate::oauth::error::OAuthError;

#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(text: &[u8]) -> Params {
        Params(url::form_urlencoded::parse(text).into_owned().collect())
    }

    /// The value of `name`; `Err` if it was sent more than once.
    pub fn get(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut values = self
            .0
            .iter()
            .filter(|(key, value)| key == name && !value.is_empty());
        let first = values.next().map(|(_, value)| value.as_str());
        if values.next().is_some() {
            return Err(OAuthError::invalid_request(format!(
                "the {name} parameter is repeated"
            )));
        }
        Ok(first)
    }

    /// The value of `name`, which must be present exactly once.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("the {name} parameter is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::Params;

    #[test]
    fn repeated_parameters_are_errors_and_empty_ones_are_absent() {
        let params = Params::parse(b"a=1&b=&c=2&c=3&d=x%20y");
        assert_eq!(params.get("a").unwrap(), Some("1"));
        assert_eq!(params.get("b").unwrap(), None);
        assert!(params.get("c").is_err());
        assert_eq!(params.require("d").unwrap(), "x y");
        assert!(params.require("missing").is_err());
    }
}
