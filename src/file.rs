//! The rules of an account's files (API.md §13): which keys and content types are valid, and
//! the signed grant a local store's URL carries (HMAC-SHA256 over what it allows, checked in
//! constant time). Pure: no storage, no HTTP.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ids::AccountId;

pub const MAX_KEY_LEN: usize = 1024;
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// S3's range of part numbers.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// A file's key within its account: `[A-Za-z0-9!_.*'()/-]{1,1024}`, no leading `/`, no empty,
/// `.` or `..` segment (none of them names one object on every store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKey(String);

impl FileKey {
    pub fn parse(text: &str) -> Result<FileKey, &'static str> {
        if text.is_empty() || text.len() > MAX_KEY_LEN {
            return Err("must be 1 to 1024 characters");
        }
        if !text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!_.*'()/-".contains(&byte))
        {
            return Err("may hold only letters, digits and !_.*'()/-");
        }
        if text.starts_with('/') {
            return Err("must not start with /");
        }
        if text.split('/').any(|segment| segment == "..") {
            return Err("must not have a .. segment");
        }
        if text
            .split('/')
            .any(|segment| segment.is_empty() || segment == ".")
        {
            return Err("must not have an empty or . segment (no // and no trailing /)");
        }
        Ok(FileKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A prefix to list under: a key's characters, possibly ending in `/` or a partial segment;
/// empty lists everything.
pub fn parse_prefix(text: &str) -> Result<&str, &'static str> {
    if text.is_empty() {
        return Ok(text);
    }
    let whole = text.strip_suffix('/').unwrap_or(text);
    FileKey::parse(whole).map(|_| text)
}

/// A media type such as `image/png; charset=...`: visible ASCII and spaces, `type/subtype`.
pub fn parse_content_type(text: &str) -> Result<&str, &'static str> {
    let valid = !text.is_empty()
        && text.len() <= MAX_CONTENT_TYPE_LEN
        && text
            .bytes()
            .all(|byte| byte == b' ' || byte.is_ascii_graphic())
        && text
            .split(';')
            .next()
            .and_then(|essence| essence.trim().split_once('/'))
            .is_some_and(|(kind, subtype)| !kind.is_empty() && !subtype.is_empty());
    if valid {
        Ok(text)
    } else {
        Err("must be a media type such as application/pdf (at most 255 visible characters)")
    }
}

/// What a local store's URL allows until `expires_at`: one method on one key of one account,
/// for an upload its content type, its size when signed, and the multipart upload and part
/// it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub method: GrantMethod,
    pub account_id: AccountId,
    pub key: FileKey,
    pub expires_at: i64,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub part: Option<PartOf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantMethod {
    Get,
    Put,
}

/// A part of a multipart upload: the upload's staging name and the part's number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartOf {
    pub upload: String,
    pub number: u32,
}

/// Why a signed URL is refused (403 either way).
#[derive(Debug, PartialEq, Eq)]
pub enum GrantError {
    Expired,
    BadSignature,
}

impl Grant {
    /// The signed text: every field on its own line (none may hold a newline), with a
    /// version so another layout can never read as this one.
    fn canonical(&self) -> String {
        let method = match self.method {
            GrantMethod::Get => "GET",
            GrantMethod::Put => "PUT",
        };
        let (upload, number) = match &self.part {
            Some(part) => (part.upload.as_str(), part.number.to_string()),
            None => ("", String::new()),
        };
        [
            "tessera-file-url-v1",
            method,
            self.account_id.as_str(),
            self.key.as_str(),
            &self.expires_at.to_string(),
            self.content_type.as_deref().unwrap_or(""),
            &self.size.map(|size| size.to_string()).unwrap_or_default(),
            upload,
            &number,
        ]
        .join("\n")
    }

    /// The signature the URL carries (base64url of the HMAC).
    pub fn sign(&self, key: &hmac::Key) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(key, self.canonical().as_bytes()))
    }

    /// Checks `signature` in constant time, then the expiry at `now`.
    pub fn verify(&self, key: &hmac::Key, signature: &str, now: i64) -> Result<(), GrantError> {
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| GrantError::BadSignature)?;
        hmac::verify(key, self.canonical().as_bytes(), &signature)
            .map_err(|_| GrantError::BadSignature)?;
        if now >= self.expires_at {
            return Err(GrantError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::hmac;

    use super::{
        FileKey, Grant, GrantError, GrantMethod, PartOf, parse_content_type, parse_prefix,
    };
    use crate::ids::AccountId;

    #[test]
    fn keys_follow_the_contract() {
        for good in [
            "a",
            "reports/2024/q1.pdf",
            "x!_.*'()-y",
            "a.b/..c/d..",
            &"k".repeat(1024),
        ] {
            assert!(FileKey::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "../b",
            "a/../b",
            "a/..",
            "..",
            "/a",
            "a//b",
            "a/",
            "./a",
            "a b",
            "a\nb",
            "a%2e",
            "ä",
            &"k".repeat(1025),
        ] {
            assert!(FileKey::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_prefix("reports/"), Ok("reports/"));
        assert_eq!(parse_prefix(""), Ok(""));
        assert!(parse_prefix("../").is_err());
    }

    #[test]
    fn content_types_are_media_types() {
        assert!(parse_content_type("application/pdf").is_ok());
        assert!(parse_content_type("text/plain; charset=utf-8").is_ok());
        for bad in ["", "pdf", "text/plain\r\nX-Evil: 1", "/x", "a/"] {
            assert!(parse_content_type(bad).is_err(), "{bad:?}");
        }
    }

    fn grant() -> Grant {
        Grant {
            method: GrantMethod::Put,
            account_id: AccountId::parse("acc_01J00000000000000000000000").unwrap(),
            key: FileKey::parse("a/b.txt").unwrap(),
            expires_at: 1_000,
            content_type: Some("text/plain".into()),
            size: Some(5),
            part: None,
        }
    }

    #[test]
    fn a_grant_verifies_only_unchanged_and_unexpired() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]);
        let signature = grant().sign(&key);
        assert_eq!(grant().verify(&key, &signature, 999), Ok(()));
        assert_eq!(
            grant().verify(&key, &signature, 1_000),
            Err(GrantError::Expired)
        );
        let other = hmac::Key::new(hmac::HMAC_SHA256, &[8; 32]);
        assert_eq!(
            grant().verify(&other, &signature, 0),
            Err(GrantError::BadSignature)
        );
        let changes: [fn(&mut Grant); 6] = [
            |g| g.method = GrantMethod::Get,
            |g| g.key = FileKey::parse("a/c.txt").unwrap(),
            |g| g.expires_at += 1,
            |g| g.content_type = Some("text/html".into()),
            |g| g.size = None,
            |g| {
                g.part = Some(PartOf {
                    upload: "u".into(),
                    number: 1,
                })
            },
        ];
        for change in changes {
            let mut changed = grant();
            change(&mut changed);
            assert_eq!(
                changed.verify(&key, &signature, 0),
                Err(GrantError::BadSignature),
                "{changed:?}"
            );
        }
        assert_eq!(
            grant().verify(&key, "not base64!", 0),
            Err(GrantError::BadSignature)
        );
    }
}
