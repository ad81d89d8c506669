//! An account's files (API.md §13): list, presigned upload and download URLs, multipart
//! uploads and deletion, for whoever has `files:read` (list, download) or `files:write`
//! (the rest). The bytes never pass through here: the holder of a URL sends them to the store
//! (`files`). Deleting records `file.deleted`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Action;
use crate::clock::{self, Timestamp};
use crate::file::{self, FileKey, MAX_PART_NUMBER};
use crate::files::{Files, MultipartError, Presigned, StoredFile, Upload};
use crate::ids::AccountId;
use crate::keys::KeyEncryptionKey;
use crate::manage::Error;
use crate::manage::caller::{self, Caller};
use crate::permission::Permission;
use crate::store::Store;

/// How many part URLs one request may ask for.
pub const MAX_PARTS_PER_REQUEST: usize = 1000;

/// What the file use cases need besides the database.
pub struct Storage<'a> {
    pub files: &'a Files,
    /// Seals upload ids (under its cursor key: they are handed to clients).
    pub kek: &'a KeyEncryptionKey,
    /// How long presigned URLs live.
    pub url_ttl_seconds: i64,
}

/// A file as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct FileView {
    pub key: String,
    pub size: u64,
    pub content_type: String,
    pub etag: Option<String>,
    pub updated_at: Timestamp,
}

impl FileView {
    fn new(file: StoredFile) -> FileView {
        FileView {
            key: file.key,
            size: file.size,
            content_type: file.content_type,
            etag: file.etag,
            updated_at: Timestamp(file.updated_at),
        }
    }
}

/// A presigned upload: PUT the bytes to `url` with `headers`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct UploadView {
    pub url: String,
    /// Always `PUT`.
    pub method: &'static str,
    pub headers: BTreeMap<&'static str, String>,
    pub expires_at: Timestamp,
}

/// A presigned download: GET `url` (ranges allowed).
#[derive(Serialize, utoipa::ToSchema)]
pub struct DownloadView {
    pub url: String,
    pub expires_at: Timestamp,
}

/// A started multipart upload.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MultipartView {
    pub upload_id: String,
    pub key: String,
    pub content_type: String,
}

/// URLs to PUT parts with; each PUT answers the part's `ETag`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PartsView {
    pub parts: Vec<PartUrl>,
    pub expires_at: Timestamp,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PartUrl {
    pub part_number: u32,
    pub url: String,
}

/// A part to join, with the ETag its PUT answered.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

/// What an upload id holds, sealed: the key, the content type and the store's upload name.
#[derive(Serialize, Deserialize)]
struct UploadState {
    key: String,
    content_type: String,
    upload: String,
}

/// Up to `limit` files whose key starts with `prefix`, in key order, after the key `after`
/// (parsed from the request, looked at only once the caller may know the account exists).
pub async fn list<E: From<Error>>(
    store: &Store,
    files: &Files,
    caller: &Caller,
    account_id: &AccountId,
    prefix: &str,
    after: Result<Option<String>, E>,
    limit: usize,
) -> Result<Vec<FileView>, E> {
    caller::authorize(store, caller, account_id, Permission::FilesRead).await?;
    let prefix = file::parse_prefix(prefix).map_err(|message| Error::invalid("prefix", message))?;
    let after = after?;
    let found = files
        .list(account_id, prefix, after.as_deref(), limit)
        .await
        .map_err(Error::from)?;
    Ok(found.into_iter().map(FileView::new).collect())
}

/// A URL to upload `key` with, `size` bytes when given.
pub async fn create_upload(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    key: &str,
    content_type: &str,
    size: Option<u64>,
) -> Result<UploadView, Error> {
    caller::authorize(store, caller, account_id, Permission::FilesWrite).await?;
    let (key, content_type) = parse(key, content_type)?;
    if size.is_some_and(|size| size > crate::files::MAX_PUT_BYTES) {
        return Err(Error::invalid(
            "size",
            "at most 5 GiB in one upload: use a multipart upload",
        ));
    }
    let upload = Upload {
        account_id,
        key: &key,
        content_type,
        size,
    };
    let presigned = storage
        .files
        .upload_url(&upload, clock::now(), storage.url_ttl_seconds)
        .await?;
    Ok(UploadView {
        url: presigned.url,
        method: "PUT",
        headers: presigned.headers.into_iter().collect(),
        expires_at: Timestamp(presigned.expires_at),
    })
}

/// A URL to download the account's file `key`; 404 when there is none.
pub async fn create_download(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    key: &str,
) -> Result<DownloadView, Error> {
    caller::authorize(store, caller, account_id, Permission::FilesRead).await?;
    let key = FileKey::parse(key).map_err(|message| Error::invalid("key", message))?;
    if storage.files.find(account_id, &key).await?.is_none() {
        return Err(Error::NotFound("file"));
    }
    let Presigned {
        url, expires_at, ..
    } = storage
        .files
        .download_url(account_id, &key, clock::now(), storage.url_ttl_seconds)
        .await?;
    Ok(DownloadView {
        url,
        expires_at: Timestamp(expires_at),
    })
}

/// Deletes the account's file `key` (`file.deleted`); 404 when there is none.
pub async fn delete(
    store: &Store,
    files: &Files,
    caller: &Caller,
    account_id: &AccountId,
    key: &str,
) -> Result<(), Error> {
    caller::authorize(store, caller, account_id, Permission::FilesWrite).await?;
    let key = FileKey::parse(key).map_err(|_| Error::NotFound("file"))?;
    let Some(found) = files.find(account_id, &key).await? else {
        return Err(Error::NotFound("file"));
    };
    // The event's transaction is open before the object goes, and commits after it.
    let change = store.change().await?;
    if !files.delete(account_id, &key).await? {
        return Err(Error::NotFound("file"));
    }
    let details = json!({"key": key.as_str(), "size": found.size});
    let event = caller.event(
        Some(account_id),
        Action::FileDeleted,
        "file",
        key.as_str(),
        details,
    );
    change.record(&event, clock::now()).await?.commit().await?;
    Ok(())
}

/// Starts a multipart upload of `key`.
pub async fn start_multipart(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    key: &str,
    content_type: &str,
) -> Result<MultipartView, Error> {
    caller::authorize(store, caller, account_id, Permission::FilesWrite).await?;
    let (key, content_type) = parse(key, content_type)?;
    let upload = storage
        .files
        .start_multipart(account_id, &key, content_type)
        .await?;
    let state = UploadState {
        key: key.as_str().to_owned(),
        content_type: content_type.to_owned(),
        upload,
    };
    let sealed = storage.kek.cursor_key().seal(
        &serde_json::to_vec(&state).map_err(|_| Error::NotFound("upload"))?,
        &upload_context(account_id),
    );
    Ok(MultipartView {
        upload_id: sealed,
        key: state.key,
        content_type: state.content_type,
    })
}

/// URLs to PUT the parts `numbers` (1 to 10000) of an upload with.
pub async fn part_urls(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    upload_id: &str,
    numbers: &[u32],
) -> Result<PartsView, Error> {
    let (state, key) = authorized_upload(store, storage, caller, account_id, upload_id).await?;
    if numbers.is_empty() || numbers.len() > MAX_PARTS_PER_REQUEST {
        return Err(Error::invalid(
            "part_numbers",
            "must hold 1 to 1000 part numbers",
        ));
    }
    if numbers
        .iter()
        .any(|number| !(1..=MAX_PART_NUMBER).contains(number))
    {
        return Err(Error::invalid(
            "part_numbers",
            "part numbers run from 1 to 10000",
        ));
    }
    let now = clock::now();
    let urls = storage
        .files
        .part_urls(
            account_id,
            &key,
            &state.upload,
            numbers,
            now,
            storage.url_ttl_seconds,
        )
        .await
        .map_err(multipart_error)?;
    Ok(PartsView {
        parts: numbers
            .iter()
            .zip(urls)
            .map(|(number, url)| PartUrl {
                part_number: *number,
                url: url.url,
            })
            .collect(),
        expires_at: Timestamp(now + storage.url_ttl_seconds),
    })
}

/// Joins the parts, in ascending order, into the file.
pub async fn complete_multipart(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    upload_id: &str,
    parts: &[CompletedPart],
) -> Result<FileView, Error> {
    let (state, key) = authorized_upload(store, storage, caller, account_id, upload_id).await?;
    if parts.is_empty() || parts.len() > MAX_PART_NUMBER as usize {
        return Err(Error::invalid("parts", "must hold 1 to 10000 parts"));
    }
    if parts
        .windows(2)
        .any(|pair| pair[0].part_number >= pair[1].part_number)
        || parts
            .iter()
            .any(|part| !(1..=MAX_PART_NUMBER).contains(&part.part_number))
    {
        return Err(Error::invalid(
            "parts",
            "part numbers must be 1 to 10000, ascending, each once",
        ));
    }
    let parts: Vec<(u32, String)> = parts
        .iter()
        .map(|part| (part.part_number, part.etag.clone()))
        .collect();
    storage
        .files
        .complete_multipart(account_id, &key, &state.content_type, &state.upload, &parts)
        .await
        .map_err(multipart_error)?;
    let found = storage.files.find(account_id, &key).await?;
    found.map(FileView::new).ok_or(Error::NotFound("file"))
}

/// Abandons an upload and its parts.
pub async fn abort_multipart(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    upload_id: &str,
) -> Result<(), Error> {
    let (state, key) = authorized_upload(store, storage, caller, account_id, upload_id).await?;
    storage
        .files
        .abort_multipart(account_id, &key, &state.upload)
        .await
        .map_err(multipart_error)
}

fn parse<'a>(key: &str, content_type: &'a str) -> Result<(FileKey, &'a str), Error> {
    let key = FileKey::parse(key).map_err(|message| Error::invalid("key", message));
    let content_type = file::parse_content_type(content_type)
        .map_err(|message| Error::invalid("content_type", message));
    match (key, content_type) {
        (Ok(key), Ok(content_type)) => Ok((key, content_type)),
        (Err(Error::Invalid(mut first)), Err(Error::Invalid(second))) => {
            first.extend(second);
            Err(Error::Invalid(first))
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    }
}

/// Upload ids are sealed for one account: another account's (or a forged one) is a 404.
fn upload_context(account_id: &AccountId) -> String {
    format!("files:upload:{account_id}")
}

/// The upload `upload_id` names, once the caller may write the account's files.
async fn authorized_upload(
    store: &Store,
    storage: &Storage<'_>,
    caller: &Caller,
    account_id: &AccountId,
    upload_id: &str,
) -> Result<(UploadState, FileKey), Error> {
    caller::authorize(store, caller, account_id, Permission::FilesWrite).await?;
    let state: UploadState = storage
        .kek
        .cursor_key()
        .open(upload_id, &upload_context(account_id))
        .ok()
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .ok_or(Error::NotFound("upload"))?;
    let key = FileKey::parse(&state.key).map_err(|_| Error::NotFound("upload"))?;
    Ok((state, key))
}

fn multipart_error(error: MultipartError) -> Error {
    match error {
        MultipartError::NoUpload => Error::NotFound("upload"),
        MultipartError::InvalidPart(message) => Error::Rejected {
            code: "invalid_part",
            message,
        },
        MultipartError::Store(error) => Error::Storage(error),
    }
}
