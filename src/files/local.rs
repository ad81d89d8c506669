//! The local directory store: objects through `object_store`'s `LocalFileSystem`, each
//! file's content type beside it under `.meta/`, multipart parts under `.uploads/` until the
//! upload completes. Its URLs are `{issuer}/files/{acc}/{key}?…&signature=…`, a
//! `file::Grant` signed with the key derived from the key-encryption key.

use std::ops::Range;
use std::sync::Arc;

use aws_lc_rs::hmac;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload};

use super::{
    MAX_PUT_BYTES, MultipartError, PART_BYTES, PARTS_IN_FLIGHT, Presigned, StoreError, Upload,
    account_root, object_path, parse_range, quoted, stream_into,
};
use crate::file::{FileKey, Grant, GrantError, GrantMethod, PartOf};
use crate::ids::AccountId;

/// Content types of files written without one (none here: every upload signs one).
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

pub struct Local {
    objects: Arc<LocalFileSystem>,
    issuer: String,
    url_key: hmac::Key,
}

/// Why an upload through a signed URL is refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the body is larger than the URL allows")]
    TooLarge,
    #[error("the body is not the size the URL was signed for")]
    SizeMismatch,
    #[error("no such upload")]
    NoUpload,
    #[error("another file's key is a folder of this key, or this key a folder of another's")]
    Collides,
    #[error("the request body broke off: {0}")]
    Body(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A file, or a range of it, to send.
pub struct Download {
    pub size: u64,
    pub content_type: String,
    pub etag: Option<String>,
    pub updated_at: i64,
    /// The bytes sent, when a range was asked for.
    pub range: Option<Range<u64>>,
    pub body: BoxStream<'static, Result<Bytes, object_store::Error>>,
}

/// What a read finds.
pub enum Read {
    Found(Download),
    Missing,
    /// The range asked for lies outside the file of this size (416).
    Unsatisfiable(u64),
}

impl Local {
    pub(super) fn open(
        dir: &std::path::Path,
        issuer: &str,
        url_key: hmac::Key,
    ) -> Result<Local, String> {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let objects = LocalFileSystem::new_with_prefix(dir)
            .map_err(|error| format!("cannot open {}: {error}", dir.display()))?
            .with_automatic_cleanup(true);
        Ok(Local {
            objects: Arc::new(objects),
            issuer: issuer.trim_end_matches('/').to_owned(),
            url_key,
        })
    }

    pub(super) fn objects(&self) -> Arc<dyn ObjectStore> {
        self.objects.clone()
    }

    fn url(&self, grant: &Grant) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("expires", &grant.expires_at.to_string());
        if let Some(content_type) = &grant.content_type {
            query.append_pair("content_type", content_type);
        }
        if let Some(size) = grant.size {
            query.append_pair("size", &size.to_string());
        }
        if let Some(part) = &grant.part {
            query.append_pair("upload_id", &part.upload);
            query.append_pair("part_number", &part.number.to_string());
        }
        query.append_pair("signature", &grant.sign(&self.url_key));
        format!(
            "{}/files/{}/{}?{}",
            self.issuer,
            grant.account_id,
            grant.key.as_str(),
            query.finish()
        )
    }

    pub(super) fn upload_url(&self, upload: &Upload<'_>, expires_at: i64) -> Presigned {
        let grant = Grant {
            method: GrantMethod::Put,
            account_id: upload.account_id.clone(),
            key: upload.key.clone(),
            expires_at,
            content_type: Some(upload.content_type.to_owned()),
            size: upload.size,
            part: None,
        };
        Presigned {
            url: self.url(&grant),
            headers: vec![("Content-Type", upload.content_type.to_owned())],
            expires_at,
        }
    }

    pub(super) fn download_url(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        expires_at: i64,
    ) -> Presigned {
        let grant = Grant {
            method: GrantMethod::Get,
            account_id: account_id.clone(),
            key: key.clone(),
            expires_at,
            content_type: None,
            size: None,
            part: None,
        };
        Presigned {
            url: self.url(&grant),
            headers: Vec::new(),
            expires_at,
        }
    }

    pub(super) fn part_url(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        upload: &str,
        number: u32,
        expires_at: i64,
    ) -> Presigned {
        let grant = Grant {
            method: GrantMethod::Put,
            account_id: account_id.clone(),
            key: key.clone(),
            expires_at,
            content_type: None,
            size: None,
            part: Some(PartOf {
                upload: upload.to_owned(),
                number,
            }),
        };
        Presigned {
            url: self.url(&grant),
            headers: Vec::new(),
            expires_at,
        }
    }

    /// Checks a URL's signature and expiry at `now`.
    pub fn check(&self, grant: &Grant, signature: &str, now: i64) -> Result<(), GrantError> {
        grant.verify(&self.url_key, signature, now)
    }

    /// Writes the body a checked PUT `grant` carries, streaming: the file (with its content
    /// type) or a part of a multipart upload. Answers the ETag.
    pub async fn write<E: std::fmt::Display>(
        &self,
        grant: &Grant,
        body: impl Stream<Item = Result<Bytes, E>>,
    ) -> Result<String, WriteError> {
        let (path, limit) = match &grant.part {
            Some(part) => {
                self.require_upload(&grant.account_id, &part.upload)
                    .await
                    .map_err(|error| match error {
                        MultipartError::NoUpload => WriteError::NoUpload,
                        MultipartError::Store(error) => WriteError::Store(error),
                        MultipartError::InvalidPart(_) => WriteError::NoUpload,
                    })?;
                (
                    part_path(&grant.account_id, &part.upload, part.number),
                    MAX_PUT_BYTES,
                )
            }
            None => (
                object_path(&grant.account_id, &grant.key),
                grant.size.unwrap_or(MAX_PUT_BYTES),
            ),
        };
        let upload = self.objects.put_multipart(&path).await.map_err(collision)?;
        let (written, etag) = stream_into(upload, body, limit).await?;
        if grant.size.is_some_and(|size| size != written) {
            let _ = self.objects.delete(&path).await;
            return Err(WriteError::SizeMismatch);
        }
        if grant.part.is_none() {
            let content_type = grant
                .content_type
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
            self.set_content_type(&grant.account_id, &grant.key, content_type)
                .await
                .map_err(collision)?;
        }
        Ok(quoted(&etag.unwrap_or_default()))
    }

    async fn set_content_type(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        content_type: String,
    ) -> Result<(), object_store::Error> {
        self.objects
            .put(
                &meta_path(account_id, key.as_str()),
                PutPayload::from(content_type.into_bytes()),
            )
            .await
            .map(|_| ())
    }

    pub(super) async fn content_type(
        &self,
        account_id: &AccountId,
        key: &str,
    ) -> Result<String, StoreError> {
        match self.objects.get(&meta_path(account_id, key)).await {
            Ok(found) => {
                let bytes = found.bytes().await?;
                Ok(String::from_utf8(bytes.to_vec())
                    .unwrap_or_else(|_| DEFAULT_CONTENT_TYPE.to_owned()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(DEFAULT_CONTENT_TYPE.to_owned()),
            Err(error) => Err(error.into()),
        }
    }

    pub(super) async fn forget_content_type(
        &self,
        account_id: &AccountId,
        key: &FileKey,
    ) -> Result<(), StoreError> {
        match self
            .objects
            .delete(&meta_path(account_id, key.as_str()))
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Reads the file a checked GET grant names, or the range `range_header` asks for.
    pub async fn read(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        range_header: Option<&str>,
    ) -> Result<Read, StoreError> {
        let path = object_path(account_id, key);
        let meta = match self.objects.head(&path).await {
            Ok(meta) => meta,
            Err(object_store::Error::NotFound { .. }) => return Ok(Read::Missing),
            Err(error) => return Err(error.into()),
        };
        let Ok(range) = parse_range(range_header, meta.size) else {
            return Ok(Read::Unsatisfiable(meta.size));
        };
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let found = match self.objects.get_opts(&path, options).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(Read::Missing),
            Err(error) => return Err(error.into()),
        };
        let content_type = self.content_type(account_id, key.as_str()).await?;
        Ok(Read::Found(Download {
            size: meta.size,
            content_type,
            etag: meta.e_tag.map(|etag| quoted(&etag)),
            updated_at: meta.last_modified.timestamp(),
            range,
            body: found.into_stream().boxed(),
        }))
    }

    /// Starts an upload: its staging folder, marked as started.
    pub(super) async fn start_multipart(
        &self,
        account_id: &AccountId,
    ) -> Result<String, StoreError> {
        let upload = ulid::Ulid::new().to_string();
        self.objects
            .put(&started_path(account_id, &upload), PutPayload::default())
            .await?;
        Ok(upload)
    }

    pub(super) async fn require_upload(
        &self,
        account_id: &AccountId,
        upload: &str,
    ) -> Result<(), MultipartError> {
        if !is_upload_name(upload) {
            return Err(MultipartError::NoUpload);
        }
        match self.objects.head(&started_path(account_id, upload)).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Err(MultipartError::NoUpload),
            Err(error) => Err(StoreError::from(error).into()),
        }
    }

    pub(super) async fn complete_multipart(
        &self,
        account_id: &AccountId,
        key: &FileKey,
        content_type: &str,
        upload: &str,
        parts: &[(u32, String)],
    ) -> Result<(), MultipartError> {
        self.require_upload(account_id, upload).await?;
        for (number, etag) in parts {
            let meta = match self
                .objects
                .head(&part_path(account_id, upload, *number))
                .await
            {
                Ok(meta) => meta,
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(MultipartError::InvalidPart(format!(
                        "part {number} was not uploaded"
                    )));
                }
                Err(error) => return Err(StoreError::from(error).into()),
            };
            if meta.e_tag.as_deref().map(quoted) != Some(quoted(etag)) {
                return Err(MultipartError::InvalidPart(format!(
                    "part {number}'s etag is not the one its upload answered"
                )));
            }
        }
        let target = object_path(account_id, key);
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(
            self.objects
                .put_multipart(&target)
                .await
                .map_err(StoreError::from)?,
            PART_BYTES,
        );
        // The parts in order, one chunk at a time.
        for (number, _) in parts {
            let found = match self
                .objects
                .get(&part_path(account_id, upload, *number))
                .await
            {
                Ok(found) => found,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(StoreError::from(error).into());
                }
            };
            let mut chunks = found.into_stream();
            while let Some(chunk) = chunks.next().await {
                let written = match chunk {
                    Ok(chunk) => writer
                        .wait_for_capacity(PARTS_IN_FLIGHT)
                        .await
                        .map(|()| writer.put(chunk)),
                    Err(error) => Err(error),
                };
                if let Err(error) = written {
                    let _ = writer.abort().await;
                    return Err(StoreError::from(error).into());
                }
            }
        }
        writer.finish().await.map_err(StoreError::from)?;
        self.set_content_type(account_id, key, content_type.to_owned())
            .await
            .map_err(StoreError::from)?;
        self.abort_multipart(account_id, upload).await
    }

    /// Removes the upload's parts and its mark.
    pub(super) async fn abort_multipart(
        &self,
        account_id: &AccountId,
        upload: &str,
    ) -> Result<(), MultipartError> {
        self.require_upload(account_id, upload).await?;
        let folder = Path::from(format!(".uploads/{}/{upload}", account_root(account_id)));
        let staged: Vec<_> = self
            .objects
            .list(Some(&folder))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(StoreError::from)?;
        // The mark goes last: a failure half-way leaves an upload that can be aborted again.
        let started = started_path(account_id, upload);
        for path in staged.iter().filter(|path| **path != started) {
            self.objects.delete(path).await.map_err(StoreError::from)?;
        }
        self.objects
            .delete(&started)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }
}

/// A file system refusal to write where a folder or file of that name stands.
fn collision(error: object_store::Error) -> WriteError {
    match error {
        object_store::Error::Generic { .. } | object_store::Error::AlreadyExists { .. } => {
            WriteError::Collides
        }
        other => WriteError::Store(other.into()),
    }
}

fn meta_path(account_id: &AccountId, key: &str) -> Path {
    Path::from(format!(".meta/{}/{key}", account_root(account_id)))
}

fn started_path(account_id: &AccountId, upload: &str) -> Path {
    Path::from(format!(
        ".uploads/{}/{upload}/started",
        account_root(account_id)
    ))
}

fn part_path(account_id: &AccountId, upload: &str, number: u32) -> Path {
    Path::from(format!(
        ".uploads/{}/{upload}/{number}",
        account_root(account_id)
    ))
}

/// The staging names this store hands out are ULIDs.
fn is_upload_name(upload: &str) -> bool {
    upload.len() == 26 && upload.bytes().all(|byte| byte.is_ascii_alphanumeric())
}
