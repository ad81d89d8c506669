//! An account's files (API.md §13) on the local store: presigned upload, list, ranged
//! download, multipart, abort, delete; expired and altered URLs; keys that try to leave the
//! account; permissions; a large upload streamed without buffering.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, expect_problem};

fn files_path(account: &str) -> String {
    format!("/v1/accounts/{account}/files")
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.api(Method::POST, path, token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A presigned upload of `key`.
async fn upload_url(app: &TestApp, token: &str, account: &str, body: Value) -> Value {
    let response = post(
        app,
        token,
        &format!("{}/uploads", files_path(account)),
        body,
    )
    .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Uploads `bytes` as `key` through a presigned URL; answers the ETag.
async fn put_file(app: &TestApp, token: &str, account: &str, key: &str, bytes: &[u8]) -> String {
    let upload = upload_url(
        app,
        token,
        account,
        json!({"key": key, "content_type": "text/plain", "size": bytes.len()}),
    )
    .await;
    let response = app
        .http
        .put(upload["url"].as_str().unwrap())
        .header("Content-Type", "text/plain")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.headers()["etag"].to_str().unwrap().to_owned()
}

async fn list(app: &TestApp, token: &str, account: &str, query: &str) -> Value {
    let response = app
        .api(
            Method::GET,
            &format!("{}{query}", files_path(account)),
            token,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn download_url(app: &TestApp, token: &str, account: &str, key: &str) -> String {
    let response = post(
        app,
        token,
        &format!("{}/downloads", files_path(account)),
        json!({ "key": key }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["expires_at"].is_string(), "{body}");
    body["url"].as_str().unwrap().to_owned()
}

/// Starts a multipart upload of `key`: the upload's path.
async fn start_multipart(app: &TestApp, token: &str, account: &str, key: &str) -> String {
    let started = post(
        app,
        token,
        &format!("{}/multipart", files_path(account)),
        json!({"key": key, "content_type": "application/octet-stream"}),
    )
    .await;
    assert_eq!(started.status(), 201);
    let started: Value = started.json().await.unwrap();
    format!(
        "{}/multipart/{}",
        files_path(account),
        started["upload_id"].as_str().unwrap()
    )
}

/// Completes the upload at `multipart` with `parts`: the file.
async fn complete(app: &TestApp, token: &str, multipart: &str, parts: &[Value]) -> Value {
    let done = post(
        app,
        token,
        &format!("{multipart}/complete"),
        json!({ "parts": parts }),
    )
    .await;
    assert_eq!(done.status(), 200);
    done.json().await.unwrap()
}

async fn abort(app: &TestApp, token: &str, multipart: &str) {
    let aborted = app
        .api(Method::DELETE, multipart, token)
        .send()
        .await
        .unwrap();
    assert_eq!(aborted.status(), 204);
}

/// PUTs `bodies` as parts 1, 2, … of the upload at `multipart`: what completes it.
async fn put_parts(
    app: &TestApp,
    token: &str,
    multipart: &str,
    bodies: Vec<Vec<u8>>,
) -> Vec<Value> {
    let numbers: Vec<usize> = (1..=bodies.len()).collect();
    let parts = post(
        app,
        token,
        &format!("{multipart}/parts"),
        json!({ "part_numbers": numbers }),
    )
    .await;
    assert_eq!(parts.status(), 200);
    let parts: Value = parts.json().await.unwrap();
    let mut completed = Vec::new();
    for (part, bytes) in parts["parts"].as_array().unwrap().iter().zip(bodies) {
        let response = app
            .http
            .put(part["url"].as_str().unwrap())
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        completed.push(json!({"part_number": part["part_number"], "etag": etag}));
    }
    completed
}

#[tokio::test]
async fn a_file_is_uploaded_listed_downloaded_in_ranges_and_deleted() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());

    let upload = upload_url(
        &app,
        owner,
        a,
        json!({"key": "reports/q1.txt", "content_type": "text/plain"}),
    )
    .await;
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["headers"]["Content-Type"], "text/plain");
    assert!(upload["expires_at"].is_string(), "{upload}");
    let url = upload["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/files/", app.address)), "{url}");
    let response = app
        .http
        .put(url)
        .header("Content-Type", "text/plain")
        .body("hello, files")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let preflight = app
        .http
        .request(Method::OPTIONS, url)
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "PUT")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert!(
        preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert!(etag.starts_with('"'), "{etag}");
    put_file(&app, owner, a, "a'b(c)!*_-.txt", b"odd").await;

    let listed = list(&app, owner, a, "").await;
    let keys: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["a'b(c)!*_-.txt", "reports/q1.txt"]);
    let report = &listed["data"][1];
    assert_eq!(report["size"], 12);
    assert_eq!(report["content_type"], "text/plain");
    assert_eq!(report["etag"], etag);
    assert!(report["updated_at"].is_string(), "{report}");
    assert_eq!(listed["next_cursor"], Value::Null);
    let page = list(&app, owner, a, "?prefix=rep&limit=1").await;
    assert_eq!(page["data"][0]["key"], "reports/q1.txt");
    let first = list(&app, owner, a, "?limit=1").await;
    assert_eq!(first["data"][0]["key"], "a'b(c)!*_-.txt");
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = list(&app, owner, a, &format!("?limit=1&cursor={cursor}")).await;
    assert_eq!(second["data"][0]["key"], "reports/q1.txt");
    assert_eq!(second["next_cursor"], Value::Null);

    let url = download_url(&app, owner, a, "reports/q1.txt").await;
    let whole = app.http.get(&url).send().await.unwrap();
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "text/plain");
    assert_eq!(whole.headers()["etag"], etag.as_str());
    assert_eq!(whole.headers()["cache-control"], "private, no-store");
    assert_eq!(whole.text().await.unwrap(), "hello, files");
    let part = app
        .http
        .get(&url)
        .header("Range", "bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 7-11/12");
    assert_eq!(part.text().await.unwrap(), "files");
    let outside = app
        .http
        .get(&url)
        .header("Range", "bytes=50-")
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);
    assert_eq!(outside.headers()["content-range"], "bytes */12");

    let response = app
        .api(
            Method::DELETE,
            &format!("{}/reports/q1.txt", files_path(a)),
            owner,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(
        app.audit_actions(a)
            .await
            .contains(&"file.deleted".to_owned())
    );
    // Files named like the routes beside them are deleted all the same.
    for key in ["uploads", "multipart", "multipart/notes.txt"] {
        put_file(&app, owner, a, key, b"named").await;
        let response = app
            .api(Method::DELETE, &format!("{}/{key}", files_path(a)), owner)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{key}");
    }
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);
    let again = app
        .api(
            Method::DELETE,
            &format!("{}/reports/q1.txt", files_path(a)),
            owner,
        )
        .send()
        .await
        .unwrap();
    expect_problem(again, 404, "not_found").await;
    let gone = post(
        &app,
        owner,
        &format!("{}/downloads", files_path(a)),
        json!({"key": "reports/q1.txt"}),
    )
    .await;
    expect_problem(gone, 404, "not_found").await;
}

#[tokio::test]
async fn a_multipart_upload_joins_its_parts_and_an_aborted_one_is_gone() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let (a, member) = (acme.account.as_str(), acme.member.token.as_str());
    let multipart = start_multipart(&app, member, a, "big/video.bin").await;
    let completed = put_parts(
        &app,
        member,
        &multipart,
        vec![vec![b'a'; 6 * 1024 * 1024], b"tail".to_vec()],
    )
    .await;
    let wrong = post(
        &app,
        member,
        &format!("{multipart}/complete"),
        json!({"parts": [{"part_number": 1, "etag": "\"nope\""}]}),
    )
    .await;
    expect_problem(wrong, 400, "invalid_part").await;
    let unordered = post(
        &app,
        member,
        &format!("{multipart}/complete"),
        json!({"parts": [completed[1], completed[0]]}),
    )
    .await;
    expect_problem(unordered, 400, "validation_failed").await;
    let file = complete(&app, member, &multipart, &completed).await;
    assert_eq!(file["key"], "big/video.bin");
    assert_eq!(file["size"], 6 * 1024 * 1024 + 4);
    assert_eq!(file["content_type"], "application/octet-stream");
    let url = download_url(&app, member, a, "big/video.bin").await;
    let tail = app
        .http
        .get(&url)
        .header("Range", "bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.text().await.unwrap(), "atail");
    // A completed upload is over.
    let again = post(
        &app,
        member,
        &format!("{multipart}/complete"),
        json!({ "parts": completed }),
    )
    .await;
    expect_problem(again, 404, "not_found").await;

    let multipart = start_multipart(&app, member, a, "dropped.bin").await;
    let parts: Value = post(
        &app,
        member,
        &format!("{multipart}/parts"),
        json!({"part_numbers": [1]}),
    )
    .await
    .json()
    .await
    .unwrap();
    let part_url = parts["parts"][0]["url"].as_str().unwrap().to_owned();
    abort(&app, member, &multipart).await;
    let late = app.http.put(&part_url).body("x").send().await.unwrap();
    assert_eq!(late.status(), 404);
    let complete = post(
        &app,
        member,
        &format!("{multipart}/complete"),
        json!({"parts": [{"part_number": 1, "etag": "\"x\""}]}),
    )
    .await;
    expect_problem(complete, 404, "not_found").await;
    let bad_numbers = post(
        &app,
        member,
        &format!("{}/multipart/{}/parts", files_path(a), "v1.forged"),
        json!({"part_numbers": [1]}),
    )
    .await;
    expect_problem(bad_numbers, 404, "not_found").await;
}

#[tokio::test]
async fn expired_and_altered_urls_are_refused() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    put_file(&app, owner, a, "doc.txt", b"secret").await;
    let url = download_url(&app, owner, a, "doc.txt").await;
    for altered in [
        url.replace("doc.txt", "doc.txx"),
        url.replace("expires=", "expires=9"),
        url.replace("signature=", "signature=A"),
        format!("{url}&size=1"),
        url.split("&signature").next().unwrap().to_owned(),
    ] {
        let response = app.http.get(&altered).send().await.unwrap();
        assert!(
            response.status() == 403 || response.status() == 400,
            "{altered}: {}",
            response.status()
        );
    }
    let forged = url.replace("signature=", "signature=A");
    expect_problem(
        app.http.get(&forged).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    // A download URL does not upload.
    let put = app.http.put(&url).body("x").send().await.unwrap();
    assert_eq!(put.status(), 403);
    // The signed content type and size bind the upload.
    let upload = upload_url(
        &app,
        owner,
        a,
        json!({"key": "doc.txt", "content_type": "text/plain", "size": 3}),
    )
    .await;
    let upload = upload["url"].as_str().unwrap();
    let html = app
        .http
        .put(upload)
        .header("Content-Type", "text/html")
        .body("abc")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 403);
    let long = app
        .http
        .put(upload)
        .header("Content-Type", "text/plain")
        .body("abcd")
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 403);

    let expiring =
        TestApp::spawn_with(|config| config.files_url_ttl = std::time::Duration::ZERO).await;
    let globex = expiring.team("globex").await;
    let upload = upload_url(
        &expiring,
        &globex.owner.token,
        &globex.account,
        json!({"key": "late.txt", "content_type": "text/plain"}),
    )
    .await;
    let response = expiring
        .http
        .put(upload["url"].as_str().unwrap())
        .header("Content-Type", "text/plain")
        .body("late")
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 403, "forbidden").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
}

#[tokio::test]
async fn keys_stay_inside_their_account() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let globex = app.team("globex").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    put_file(
        &app,
        &globex.owner.token,
        &globex.account,
        "plans.txt",
        b"globex",
    )
    .await;
    for key in [
        "../plans.txt",
        "a/../../x",
        "/abs",
        "..",
        &format!("../../{}/plans.txt", globex.account),
        "a b",
        "a//b",
    ] {
        let response = post(
            &app,
            owner,
            &format!("{}/uploads", files_path(a)),
            json!({"key": key, "content_type": "text/plain"}),
        )
        .await;
        let problem = expect_problem(response, 400, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "key", "{key}");
    }
    let bad_type = post(
        &app,
        owner,
        &format!("{}/uploads", files_path(a)),
        json!({"key": "x", "content_type": "text/plain\r\nX-Evil: 1"}),
    )
    .await;
    expect_problem(bad_type, 400, "validation_failed").await;
    let prefix = app
        .api(Method::GET, &format!("{}?prefix=../", files_path(a)), owner)
        .send()
        .await
        .unwrap();
    expect_problem(prefix, 400, "validation_failed").await;

    // Acme sees nothing of Globex's, by list, download or delete.
    assert_eq!(list(&app, owner, a, "").await["data"], json!([]));
    let download = post(
        &app,
        owner,
        &format!("{}/downloads", files_path(a)),
        json!({"key": "plans.txt"}),
    )
    .await;
    expect_problem(download, 404, "not_found").await;
    let response = app
        .api(Method::GET, &files_path(&globex.account), owner)
        .send()
        .await
        .unwrap();
    expect_problem(response, 404, "not_found").await;
    // A URL signed for Globex's file does not open Acme's path.
    let url = download_url(&app, &globex.owner.token, &globex.account, "plans.txt").await;
    let moved = url.replace(&globex.account, a);
    assert_eq!(app.http.get(&moved).send().await.unwrap().status(), 403);
    // Globex's upload ids mean nothing in Acme.
    let started: Value = post(
        &app,
        &globex.owner.token,
        &format!("{}/multipart", files_path(&globex.account)),
        json!({"key": "m.bin", "content_type": "application/octet-stream"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let upload = started["upload_id"].as_str().unwrap();
    let parts = post(
        &app,
        owner,
        &format!("{}/multipart/{upload}/parts", files_path(a)),
        json!({"part_numbers": [1]}),
    )
    .await;
    expect_problem(parts, 404, "not_found").await;
    let cursor = list(&app, &globex.owner.token, &globex.account, "?limit=1").await;
    assert_eq!(cursor["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn reading_and_writing_files_need_their_permissions() {
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let a = acme.account.as_str();
    put_file(&app, &acme.owner.token, a, "doc.txt", b"x").await;
    for (role, user, read, write) in [
        ("member", &acme.member, 200, 200),
        ("viewer", &acme.viewer, 403, 403),
    ] {
        let listed = app
            .api(Method::GET, &files_path(a), &user.token)
            .send()
            .await
            .unwrap();
        assert_eq!(listed.status(), read, "{role} lists");
        let download = post(
            &app,
            &user.token,
            &format!("{}/downloads", files_path(a)),
            json!({"key": "doc.txt"}),
        )
        .await;
        assert_eq!(download.status(), read, "{role} downloads");
        let upload = post(
            &app,
            &user.token,
            &format!("{}/uploads", files_path(a)),
            json!({"key": "new.txt", "content_type": "text/plain"}),
        )
        .await;
        assert_eq!(upload.status(), write, "{role} uploads");
    }
    let delete = app
        .api(
            Method::DELETE,
            &format!("{}/doc.txt", files_path(a)),
            &acme.viewer.token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(delete, 403, "forbidden").await;
    let outsider = app
        .api(Method::GET, &files_path(a), &acme.outsider.token)
        .send()
        .await
        .unwrap();
    expect_problem(outsider, 404, "not_found").await;
}

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn a_large_upload_streams_without_filling_memory() {
    const SIZE: u64 = 256 * 1024 * 1024;
    let app = TestApp::spawn().await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());
    let upload = upload_url(
        &app,
        owner,
        a,
        json!({"key": "huge.bin", "content_type": "application/octet-stream", "size": SIZE}),
    )
    .await;
    let url = reqwest::Url::parse(upload["url"].as_str().unwrap()).unwrap();
    let target = format!("{}?{}", url.path(), url.query().unwrap());
    let before = resident_bytes();
    // A raw connection: the body is written a chunk at a time, never held whole.
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "PUT {target} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![7u8; 1024 * 1024];
    let mut peak = before;
    for _ in 0..SIZE / chunk.len() as u64 {
        stream.write_all(&chunk).await.unwrap();
        peak = peak.max(resident_bytes());
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let grown = peak.saturating_sub(before);
    assert!(
        grown < 64 * 1024 * 1024,
        "RSS grew by {} MiB",
        grown / 1024 / 1024
    );
    let listed = list(&app, owner, a, "").await;
    assert_eq!(listed["data"][0]["size"], SIZE);
}

/// The same flow on an S3-compatible server (`TEST_S3_ENDPOINT`, e.g. moto's), in a bucket
/// of its own: presigned PUT and GET, a two-part upload, an aborted one, delete.
#[tokio::test]
#[cfg_attr(
    tessera_no_s3,
    ignore = "TEST_S3_ENDPOINT is not set: run `python3 -m moto.server -p PORT` and set it to http://127.0.0.1:PORT"
)]
async fn the_same_flow_runs_on_s3() {
    let endpoint = std::env::var("TEST_S3_ENDPOINT")
        .expect("TEST_S3_ENDPOINT names the S3-compatible server under CI");
    let endpoint = endpoint.trim_end_matches('/').to_owned();
    let bucket = format!("tessera-{}", ulid::Ulid::new().to_string().to_lowercase());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "create bucket: {}",
        created.status()
    );
    let location = tessera::config::S3Location {
        bucket,
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        session_token: None,
    };
    let app = TestApp::spawn_with(|config| {
        config.files = tessera::config::FilesLocation::S3(location);
    })
    .await;
    let acme = app.team("acme").await;
    let (a, owner) = (acme.account.as_str(), acme.owner.token.as_str());

    let upload = upload_url(
        &app,
        owner,
        a,
        json!({"key": "reports/q1.txt", "content_type": "text/plain", "size": 12}),
    )
    .await;
    assert_eq!(upload["method"], "PUT");
    let response = app
        .http
        .put(upload["url"].as_str().unwrap())
        .header("Content-Type", "text/plain")
        .body("hello, files")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let listed = list(&app, owner, a, "?prefix=rep").await;
    assert_eq!(listed["data"][0]["key"], "reports/q1.txt");
    assert_eq!(listed["data"][0]["size"], 12);
    assert_eq!(listed["data"][0]["content_type"], "text/plain");
    let url = download_url(&app, owner, a, "reports/q1.txt").await;
    let part = app
        .http
        .get(&url)
        .header("Range", "bytes=7-")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.text().await.unwrap(), "files");

    let multipart = start_multipart(&app, owner, a, "big.bin").await;
    let completed = put_parts(
        &app,
        owner,
        &multipart,
        vec![vec![b'a'; 5 * 1024 * 1024], b"tail".to_vec()],
    )
    .await;
    let file = complete(&app, owner, &multipart, &completed).await;
    assert_eq!(file["size"], 5 * 1024 * 1024 + 4);
    assert_eq!(file["content_type"], "application/octet-stream");

    let dropped = start_multipart(&app, owner, a, "dropped.bin").await;
    abort(&app, owner, &dropped).await;
    // (What S3 answers a completed or aborted upload, NoSuchUpload, moto does not: it fails
    // with a 500 of its own. The local store's test checks Tessera's 404.)

    let deleted = app
        .api(Method::DELETE, &format!("{}/big.bin", files_path(a)), owner)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let keys: Vec<Value> = list(&app, owner, a, "").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["key"].clone())
        .collect();
    assert_eq!(keys, [json!("reports/q1.txt")]);
    // Another account's list is its own.
    let globex = app.team("globex").await;
    assert_eq!(
        list(&app, &globex.owner.token, &globex.account, "").await["data"],
        json!([])
    );
}
