//! Where accounts' files are kept (API.md §13), through the `object_store` crate: a local
//! directory, whose presigned URLs Tessera signs (`file::Grant`) and serves itself, or an S3
//! bucket, whose URLs S3 answers. Every object of an account lies under `accounts/{acc}/`,
//! built from a checked `FileKey`, so no key reaches another account's objects.
//! Knows nothing of callers or permissions (`manage::files` checks those).

mod local;
mod s3;

use std::ops::Range;
use std::sync::Arc;

use aws_lc_rs::hmac;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};

use crate::config::FilesLocation;
use crate::file::FileKey;
use crate::ids::AccountId;

pub use local::{Download, Read, WriteError};

/// The largest object one PUT may write (S3's limit), and the largest part.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Streamed writes go in parts of this size, this many at once: what a write holds in memory.
const PART_BYTES: usize = 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

/// The store of every account's files.
pub struct Files {
    backend: Backend,
}

enum Backend {
    Local(Box<local::Local>),
    S3(s3::S3),
}

/// A stored file as a list shows it.
pub struct StoredFile {
    pub key: String,
    pub size: u64,
    pub content_type: String,
    pub etag: Option<String>,
    pub updated_at: i64,
}

/// A URL that lets its holder do one thing until `expires_at`, with the headers to send.
pub struct Presigned {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub expires_at: i64,
}

/// What a URL is for; the local store signs it into its URL.
pub struct Upload<'a> {
    pub account_id: &'a AccountId,
    pub key: &'a FileKey,
    pub content_type: &'a str,
    pub size: Option<u64>,
}

/// A storage failure: logged, answered 500.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Store(#[from] object_store::Error),
    #[error("S3 request failed: {0}")]
    S3(String),
}

/// An error of a multipart upload the caller can mend.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error("no such upload")]
    NoUpload,
    #[error("{0}")]
    InvalidPart(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Files {
    /// Opens the configured store; a local directory is created if missing. `issuer` and
    /// `url_key` make the local store's URLs.
    pub fn open(
        location: &FilesLocation,
        issuer: &str,
        url_key: hmac::Key,
    ) -> Result<Files, String> {
        let backend = match location {
            FilesLocation::Local(dir) => {
                Backend::Local(Box::new(local::Local::open(dir, issuer, url_key)?))
            }
            FilesLocation::S3(s3) => Backend::S3(s3::S3::open(s3)?),
        };
        Ok(Files { backend })
    }

    /// The local store, whose URLs Tessera serves; none for S3.
    pub fn local(&self) -> Option<&local::Local> {
        match &self.backend {
            Backend::Local(local) => Some(local),
            Backend::S3(_) => None,
        }
    }

    fn objects(&self) -> Arc<dyn ObjectStore> {
        match &self.backend {
            Backend::Local(local) => local.objects(),
            Backend::S3(s3) => s3.objects(),
        }
    }

    /// Up to `limit` files of the account whose key starts with `prefix` (a string prefix,
    /// as S3's), after the key `after`, in key order.
    pub async fn list(
        &self,
        account_id: &AccountId,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredFile>, StoreError> {
        let root = account_root(account_id);
        // object_store lists whole segments: list the prefix's folder, keep the string prefix.
        let folder = match prefix.rfind('/') {
            Some(end) => format!("{root}/{}", &prefix[..end]),
            None => root.clone(),
        };
        let folder = Path::from(folder);
        let objects = self.objects();
        let offset = after.map(|after| Path::from(format!("{root}/{after}")));
        let stream = match &offset {
            Some(offset) => objects.list_with_offset(Some(&folder), offset),
            None => objects.list(Some(&folder)),
        };
        // A store may show some key characters percent-encoded (the directory does `*`); a
        // key holds no `%`, so decoding gives the key back.
        let key_of = |meta: &ObjectMeta| {
            let location = percent_encoding::percent_decode_str(meta.location.as_ref())
                .decode_utf8()
                .ok()?;
            location
                .strip_prefix(&root)
                .and_then(|rest| rest.strip_prefix('/'))
                .map(str::to_owned)
        };
        let matching = stream.filter_map(|meta| {
            let found = match meta {
                Ok(meta) => key_of(&meta)
                    .filter(|key| {
                        key.starts_with(prefix) && after.is_none_or(|after| key.as_str() > after)
                    })
                    .map(|key| Ok((key, meta))),
                Err(error) => Some(Err(error)),
            };
            std::future::ready(found)
        });
        let mut found: Vec<(String, ObjectMeta)> = match &self.backend {
            // S3 lists in key order: the first `limit` are the page.
            Backend::S3(_) => matching.take(limit).collect::<Vec<_>>().await,
            // A directory walk has no order.
            Backend::Local(_) => matching.collect::<Vec<_>>().await,
        }
        .into_iter()
        .collect::<Result<_, _>>()?;
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.truncate(limit);
        let mut files = Vec::with_capacity(found.len());
        for (key, meta) in found {
            let content_type = self.content_type(account_id, &key, &meta).await?;
            files.push(StoredFile {
                key,
                size: meta.size,
                content_type,
                etag: meta.e_tag.map(|etag| quoted(&etag)),
                updated_at: meta.last_modified.timestamp(),
            });
        }
        Ok(files)
    }

    /// The account's file `key`, if there is one.
    pub async fn find(
        &self,
        account_id: &AccountId,
        key: &FileKey,
    ) -> Result<Option<StoredFile>, StoreError> {
        match self.objects().head(&object_path(account_id, key)).await {
            Ok(meta) => {
                let content_type = self.content_type(account_id, key.as_str(), &meta).await?;
                Ok(Some(StoredFile {
                    key: key.as_str().to_owned(),
                    size: meta.size,
                    content_type,
                    etag: meta.e_tag.map(|etag| quoted(&etag)),
                    updated_at: meta.last_modified.timestamp(),
                }))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    async fn content_type(
        &self,
        account_id: &AccountId,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, StoreError> {
        match &self.backend {
            Backend::Local(local) => local.content_type(account_id, key).await,
            Backend::S3(s3) => s3.content_type(&meta.location).await,
        }
    }

    /// Deletes the account's file `key`; false when there was none.
    pub async fn delete(&self, account_id: &AccountId, key: &FileKey) -> Result<bool, StoreError> {
        let path = object_path(account_id, key);
        match self.objects().head(&path).await {
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            result => result?,
        };
        self.objects().delete(&path).await?;
        if let Backend::Local(local) = &self.backend {
            local.forget_content_type(account_id, key).await?;
        }
        Ok(true)
    }

    /// A URL to PUT the file with, valid for `ttl_seconds` from `now`.
    pub async fn upload_url(
        &self,
        upload: &Upload<'_>,
        now: i64,
        ttl_seconds: i64,
    ) -> Result<Presigned, StoreError> {
        let expires_at = now + ttl_seconds;
        match &self.backend {
            Backend::Local(local) => Ok(local.upload_url(upload, expires_at)),
            Backend::S3(s3) => {
                let path = object_path(upload.account_id, upload.key);
                s3.upload_url(&path, upload, now, expires_at).await
            }
        }
    }

    /// A URL to GET the file with.
    pub async fn download_url(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        now: i64,
        ttl_seconds: i64,
    ) -> Result<Presigned, StoreError> {
        let expires_at = now + ttl_seconds;
        match &self.backend {
            Backend::Local(local) => Ok(local.download_url(account_id, key, expires_at)),
            Backend::S3(s3) => {
                s3.download_url(&object_path(account_id, key), ttl_seconds, expires_at)
                    .await
            }
        }
    }

    /// Starts a multipart upload: the store's name for it.
    pub async fn start_multipart(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        content_type: &str,
    ) -> Result<String, StoreError> {
        match &self.backend {
            Backend::Local(local) => local.start_multipart(account_id).await,
            Backend::S3(s3) => {
                s3.start_multipart(&object_path(account_id, key), content_type)
                    .await
            }
        }
    }

    /// URLs to PUT the parts `numbers` of the upload `upload` with.
    pub async fn part_urls(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        upload: &str,
        numbers: &[u32],
        now: i64,
        ttl_seconds: i64,
    ) -> Result<Vec<Presigned>, MultipartError> {
        let expires_at = now + ttl_seconds;
        match &self.backend {
            Backend::Local(local) => {
                local.require_upload(account_id, upload).await?;
                Ok(numbers
                    .iter()
                    .map(|number| local.part_url(account_id, key, upload, *number, expires_at))
                    .collect())
            }
            Backend::S3(s3) => {
                let path = object_path(account_id, key);
                Ok(numbers
                    .iter()
                    .map(|number| s3.part_url(&path, upload, *number, now, expires_at))
                    .collect::<Result<_, _>>()?)
            }
        }
    }

    /// Joins the parts (ascending numbers, each with the ETag its PUT answered) into the file.
    pub async fn complete_multipart(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        content_type: &str,
        upload: &str,
        parts: &[(u32, String)],
    ) -> Result<(), MultipartError> {
        match &self.backend {
            Backend::Local(local) => {
                local
                    .complete_multipart(account_id, key, content_type, upload, parts)
                    .await
            }
            Backend::S3(s3) => {
                s3.complete_multipart(&object_path(account_id, key), upload, parts)
                    .await
            }
        }
    }

    /// Abandons the upload and its parts.
    pub async fn abort_multipart(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        upload: &str,
    ) -> Result<(), MultipartError> {
        match &self.backend {
            Backend::Local(local) => local.abort_multipart(account_id, upload).await,
            Backend::S3(s3) => {
                s3.abort_multipart(&object_path(account_id, key), upload)
                    .await
            }
        }
    }
}

fn account_root(account_id: &AccountId) -> String {
    format!("accounts/{account_id}")
}

/// The object of the account's file `key`: below the account's root, whatever the key (a
/// `FileKey` has no `..`, `.` or empty segment).
fn object_path(account_id: &AccountId, key: &FileKey) -> Path {
    Path::from(format!("{}/{}", account_root(account_id), key.as_str()))
}

/// An ETag as HTTP shows it: in double quotes.
pub fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/\"") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// `Range: bytes=…` (RFC 9110 §14.1.2) against a file of `size` bytes: `Ok(None)` for the
/// whole file (no header, a form this server does not serve such as several ranges),
/// `Err(Unsatisfiable)` when no byte of it is in the file (416).
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some(spec) = header.and_then(|header| header.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let range = match (first.parse::<u64>().ok(), last.parse::<u64>().ok()) {
        (Some(first), Some(last)) if first <= last => first..last.saturating_add(1).min(size),
        (Some(first), None) if last.is_empty() => first..size,
        (None, Some(suffix)) if first.is_empty() => size.saturating_sub(suffix)..size,
        _ => return Ok(None),
    };
    if range.start >= size || range.is_empty() {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

/// A range with no byte in the file.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// Streams `body` into `upload`, at most `limit` bytes: memory stays at a few parts.
async fn stream_into<E: std::fmt::Display>(
    upload: Box<dyn object_store::MultipartUpload>,
    body: impl Stream<Item = Result<Bytes, E>>,
    limit: u64,
) -> Result<(u64, Option<String>), WriteError> {
    let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
    let mut written: u64 = 0;
    let mut body = std::pin::pin!(body);
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                let _ = writer.abort().await;
                return Err(WriteError::Body(error.to_string()));
            }
        };
        written += chunk.len() as u64;
        if written > limit {
            let _ = writer.abort().await;
            return Err(WriteError::TooLarge);
        }
        if let Err(error) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
            let _ = writer.abort().await;
            return Err(WriteError::Store(error.into()));
        }
        writer.put(chunk);
    }
    let result = writer.finish().await.map_err(StoreError::from)?;
    Ok((written, result.e_tag))
}

#[cfg(test)]
mod tests {
    use super::{Unsatisfiable, parse_range};

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ok(Some(0..4)));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some(5..10)));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Ok(Some(7..10)));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some(8..10)));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Ok(Some(0..10)));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Err(Unsatisfiable));
        assert_eq!(parse_range(Some("bytes=0-1,4-5"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=3-1"), 10), Ok(None));
        assert_eq!(parse_range(Some("items=0-1"), 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=-0"), 10), Err(Unsatisfiable));
    }
}
