//! CORS on the token, userinfo and JWKS endpoints follows the clients' `allowed_origins`.

use reqwest::Method;
use serde_json::json;

use crate::clients::{confidential, create_client};
use crate::helpers::TestApp;

const SPA: &str = "https://spa.example.com";
const EVIL: &str = "https://evil.example.com";

fn allowed(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn only_registered_origins_get_cors_headers() {
    let app = TestApp::spawn().await;
    let team = app.team("cors").await;
    let mut body = confidential();
    body["allowed_origins"] = json!([SPA]);
    let spa = create_client(&app, &team.admin, &team.account, &body).await;
    let other = create_client(&app, &team.admin, &team.account, &confidential()).await;

    let token = |client: &serde_json::Value, origin: &str| {
        app.http
            .post(app.url("/oauth2/token"))
            .header("origin", origin)
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let response = token(&spa, SPA).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(allowed(&response).as_deref(), Some(SPA));
    assert!(
        response.headers()["vary"]
            .to_str()
            .unwrap()
            .contains("origin")
    );
    assert_eq!(allowed(&token(&spa, EVIL).await.unwrap()), None);
    // Another client did not register the origin: its token requests get no CORS.
    let response = token(&other, SPA).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(allowed(&response), None);
    // A public client names itself in the form.
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .header("origin", SPA)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", spa["client_id"].as_str().unwrap()),
            ("code", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&response).as_deref(), Some(SPA));

    let preflight = |path: &str, origin: &str| {
        app.http
            .request(Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let response = preflight("/oauth2/token", SPA).await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(allowed(&response).as_deref(), Some(SPA));
    assert!(
        response.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        response.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert_eq!(
        allowed(&preflight("/oauth2/token", EVIL).await.unwrap()),
        None
    );

    for path in ["/.well-known/jwks.json", "/oauth2/userinfo"] {
        let response = app
            .http
            .get(app.url(path))
            .header("origin", SPA)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed(&response).as_deref(), Some(SPA), "{path}");
        let response = app
            .http
            .get(app.url(path))
            .header("origin", EVIL)
            .send()
            .await
            .unwrap();
        assert_eq!(allowed(&response), None, "{path}");
    }
    // Other endpoints never answer CORS.
    let response = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .header("origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&response), None);

    // A change to the client applies at once.
    let response = app
        .api(
            Method::PATCH,
            &format!(
                "/v1/accounts/{}/clients/{}",
                team.account,
                spa["client_id"].as_str().unwrap()
            ),
            &team.admin.token,
        )
        .header("content-type", "application/merge-patch+json")
        .body(json!({"allowed_origins": null}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(allowed(&token(&spa, SPA).await.unwrap()), None);
    let response = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", SPA)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&response), None);
}
