//! The S3 store (or an S3-compatible server, path-style when an endpoint is given): objects
//! and multipart uploads through `object_store`, PUT and GET URLs presigned by its `Signer`;
//! `UploadPart` URLs, which that signer cannot make (they carry a query), presigned here with
//! AWS Signature Version 4 (query parameters, `UNSIGNED-PAYLOAD`).

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{Attribute, GetOptions, ObjectStore};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{MultipartError, Presigned, StoreError, Upload};
use crate::config::S3Location;

/// RFC 3986 unreserved characters stay; everything else is percent-encoded (SigV4's rule).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub struct S3 {
    objects: Arc<AmazonS3>,
    location: S3Location,
    http: reqwest::Client,
}

impl S3 {
    pub(super) fn open(location: &S3Location) -> Result<S3, String> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(&location.region);
        if let Some(id) = &location.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &location.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &location.session_token {
            builder = builder.with_token(token);
        }
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let objects = builder
            .build()
            .map_err(|error| format!("cannot use the S3 bucket: {error}"))?;
        Ok(S3 {
            objects: Arc::new(objects),
            location: location.clone(),
            http: reqwest::Client::new(),
        })
    }

    pub(super) fn objects(&self) -> Arc<dyn ObjectStore> {
        self.objects.clone()
    }

    pub(super) async fn content_type(&self, path: &Path) -> Result<String, StoreError> {
        let options = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        let found = self.objects.get_opts(path, options).await?;
        Ok(found
            .attributes
            .get(&Attribute::ContentType)
            .map(|value| value.as_ref().to_owned())
            .unwrap_or_else(|| "application/octet-stream".to_owned()))
    }

    pub(super) async fn upload_url(
        &self,
        path: &Path,
        upload: &Upload<'_>,
        now: i64,
        expires_at: i64,
    ) -> Result<Presigned, StoreError> {
        // Content type and size are signed headers: S3 refuses a PUT without them.
        let mut signed = vec![("content-type", upload.content_type.to_owned())];
        if let Some(size) = upload.size {
            signed.push(("content-length", size.to_string()));
        }
        let url = self.presign("PUT", path, &[], &signed, now, expires_at - now)?;
        Ok(Presigned {
            url,
            headers: vec![("Content-Type", upload.content_type.to_owned())],
            expires_at,
        })
    }

    pub(super) async fn download_url(
        &self,
        path: &Path,
        ttl_seconds: i64,
        expires_at: i64,
    ) -> Result<Presigned, StoreError> {
        let ttl = Duration::from_secs(u64::try_from(ttl_seconds).unwrap_or(0));
        let url = self
            .objects
            .signed_url(reqwest::Method::GET, path, ttl)
            .await?;
        Ok(Presigned {
            url: url.to_string(),
            headers: Vec::new(),
            expires_at,
        })
    }

    /// `CreateMultipartUpload` with the content type (object_store's has none), by a
    /// presigned POST.
    pub(super) async fn start_multipart(
        &self,
        path: &Path,
        content_type: &str,
    ) -> Result<String, StoreError> {
        let now = crate::clock::now();
        let signed = [("content-type", content_type.to_owned())];
        let url = self.presign("POST", path, &[("uploads", "")], &signed, now, 60)?;
        let response = self
            .http
            .post(url)
            .header("content-type", content_type)
            .send()
            .await
            .map_err(|error| StoreError::S3(error.to_string()))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|error| StoreError::S3(error.to_string()))?;
        if !status.is_success() {
            return Err(StoreError::S3(format!(
                "CreateMultipartUpload: {status} {body}"
            )));
        }
        xml_text(&body, "UploadId")
            .map(str::to_owned)
            .ok_or_else(|| StoreError::S3("CreateMultipartUpload answered no UploadId".into()))
    }

    pub(super) fn part_url(
        &self,
        path: &Path,
        upload: &str,
        number: u32,
        now: i64,
        expires_at: i64,
    ) -> Result<Presigned, StoreError> {
        let number = number.to_string();
        let query = [("partNumber", number.as_str()), ("uploadId", upload)];
        Ok(Presigned {
            url: self.presign("PUT", path, &query, &[], now, expires_at - now)?,
            headers: Vec::new(),
            expires_at,
        })
    }

    pub(super) async fn complete_multipart(
        &self,
        path: &Path,
        upload: &str,
        parts: &[(u32, String)],
    ) -> Result<(), MultipartError> {
        let parts = parts
            .iter()
            .map(|(_, etag)| PartId {
                content_id: etag.clone(),
            })
            .collect();
        self.objects
            .complete_multipart(path, &upload.to_owned(), parts)
            .await
            .map_err(multipart_error)?;
        Ok(())
    }

    pub(super) async fn abort_multipart(
        &self,
        path: &Path,
        upload: &str,
    ) -> Result<(), MultipartError> {
        self.objects
            .abort_multipart(path, &upload.to_owned())
            .await
            .map_err(multipart_error)
    }

    /// A SigV4 query-presigned URL of `method` on `path` with `query`, the `headers` signed
    /// beside `host`.
    fn presign(
        &self,
        method: &str,
        path: &Path,
        query: &[(&str, &str)],
        headers: &[(&str, String)],
        now: i64,
        ttl_seconds: i64,
    ) -> Result<String, StoreError> {
        let missing = || StoreError::S3("S3 credentials are not configured".into());
        let access_key = self.location.access_key_id.as_deref().ok_or_else(missing)?;
        let secret = self
            .location
            .secret_access_key
            .as_deref()
            .ok_or_else(missing)?;
        let encoded_path: Vec<String> = path
            .as_ref()
            .split('/')
            .map(|segment| utf8_percent_encode(segment, UNRESERVED).to_string())
            .collect();
        let (base, uri) = match &self.location.endpoint {
            Some(endpoint) => (
                endpoint.clone(),
                format!("/{}/{}", self.location.bucket, encoded_path.join("/")),
            ),
            None => (
                format!(
                    "https://{}.s3.{}.amazonaws.com",
                    self.location.bucket, self.location.region
                ),
                format!("/{}", encoded_path.join("/")),
            ),
        };
        let host = url::Url::parse(&base)
            .ok()
            .and_then(|url| {
                url.host_str().map(|host| match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                })
            })
            .ok_or_else(|| StoreError::S3("the S3 endpoint has no host".into()))?;
        sigv4_presign(&SigV4 {
            method,
            base: &base,
            uri: &uri,
            host: &host,
            query,
            headers,
            access_key,
            secret,
            session_token: self.location.session_token.as_deref(),
            region: &self.location.region,
            now,
            ttl_seconds,
        })
    }
}

/// What a SigV4 query-presigned URL is made of.
struct SigV4<'a> {
    method: &'a str,
    /// `scheme://host[:port]`
    base: &'a str,
    /// The canonical (percent-encoded) path.
    uri: &'a str,
    host: &'a str,
    query: &'a [(&'a str, &'a str)],
    headers: &'a [(&'a str, String)],
    access_key: &'a str,
    secret: &'a str,
    session_token: Option<&'a str>,
    region: &'a str,
    now: i64,
    ttl_seconds: i64,
}

/// AWS Signature Version 4, presigned in the query (`UNSIGNED-PAYLOAD`).
fn sigv4_presign(request: &SigV4<'_>) -> Result<String, StoreError> {
    let SigV4 {
        method,
        base,
        uri,
        host,
        query,
        headers,
        access_key,
        secret,
        session_token,
        region,
        now,
        ttl_seconds,
    } = *request;
    let at = time::OffsetDateTime::from_unix_timestamp(now)
        .map_err(|error| StoreError::S3(error.to_string()))?;
    let date = format!("{:04}{:02}{:02}", at.year(), u8::from(at.month()), at.day());
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        at.hour(),
        at.minute(),
        at.second()
    );
    let scope = format!("{date}/{region}/s3/aws4_request");
    let mut signed_headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
        .chain([("host".to_owned(), host.to_owned())])
        .collect();
    signed_headers.sort();
    let header_names = signed_headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let mut params: Vec<(String, String)> = query
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .chain([
            ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
            ("X-Amz-Credential".into(), format!("{access_key}/{scope}")),
            ("X-Amz-Date".into(), stamp.clone()),
            ("X-Amz-Expires".into(), ttl_seconds.max(1).to_string()),
            ("X-Amz-SignedHeaders".into(), header_names.clone()),
        ])
        .chain(
            session_token
                .iter()
                .map(|token| ("X-Amz-Security-Token".into(), (*token).to_owned())),
        )
        .map(|(name, value)| {
            (
                utf8_percent_encode(&name, UNRESERVED).to_string(),
                utf8_percent_encode(&value, UNRESERVED).to_string(),
            )
        })
        .collect();
    params.sort();
    let canonical_query = params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = signed_headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    let canonical_request = format!(
        "{method}\n{uri}\n{canonical_query}\n{canonical_headers}\n{header_names}\nUNSIGNED-PAYLOAD"
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex::encode(digest::digest(
            &digest::SHA256,
            canonical_request.as_bytes()
        ))
    );
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in [date.as_str(), region, "s3", "aws4_request"] {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
            .as_ref()
            .to_vec();
    }
    let signature = hex::encode(hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, &key),
        string_to_sign.as_bytes(),
    ));
    Ok(format!(
        "{base}{uri}?{canonical_query}&X-Amz-Signature={signature}"
    ))
}

fn multipart_error(error: object_store::Error) -> MultipartError {
    let text = error.to_string();
    if matches!(error, object_store::Error::NotFound { .. }) || text.contains("NoSuchUpload") {
        MultipartError::NoUpload
    } else if text.contains("InvalidPart") {
        MultipartError::InvalidPart(
            "a part was not uploaded or its etag is not the one its upload answered".into(),
        )
    } else {
        MultipartError::Store(error.into())
    }
}

/// The text of the first `<name>` element of a small XML answer.
fn xml_text<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(&body[start..end])
}

#[cfg(test)]
mod tests {
    use super::{SigV4, sigv4_presign};

    /// AWS's worked example of a presigned GET ("Authenticating Requests: Using Query
    /// Parameters", Signature Version 4).
    #[test]
    fn presigned_urls_match_the_aws_example() {
        let url = sigv4_presign(&SigV4 {
            method: "GET",
            base: "https://examplebucket.s3.amazonaws.com",
            uri: "/test.txt",
            host: "examplebucket.s3.amazonaws.com",
            query: &[],
            headers: &[],
            access_key: "AKIAIOSFODNN7EXAMPLE",
            secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
            region: "us-east-1",
            now: 1_369_353_600,
            ttl_seconds: 86_400,
        })
        .unwrap();
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }
}
