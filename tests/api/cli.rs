use reqwest::Method;
use serde_json::Value;
use tessera::store::users;

use crate::authorization_code::{browse_to_callback, query};
use crate::helpers::{ADMIN_EMAIL, Deployment, LOGIN_SCOPE};

async fn count(deployment: &Deployment, table: &str) -> i64 {
    let store = deployment.database.store().await;
    let n = sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.close().await;
    n
}

#[tokio::test]
async fn operator_commands_print_resources_as_json() {
    let deployment = Deployment::new().await;
    let migrated = deployment.cli(&["migrate"]).json();
    assert!(migrated["applied"].is_array(), "{migrated}");
    assert_eq!(
        deployment.cli(&["migrate"]).json(),
        serde_json::json!({"applied": []}),
        "nothing left to apply"
    );

    let user = deployment
        .cli(&[
            "users",
            "create",
            "--email",
            "Ada@Example.com",
            "--name",
            "Ada",
            "--password",
            "correct horse",
        ])
        .json();
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(user["email"], "Ada@Example.com");
    assert_eq!(user["name"], "Ada");
    assert_eq!(user["email_verified"], false);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(user.get("password_hash").is_none());

    let account = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Acme",
            "--owner",
            "ada@example.com",
        ])
        .json();
    let account_id = account["id"].as_str().unwrap().to_owned();
    assert!(account_id.starts_with("acc_"));
    assert_eq!(account["name"], "Acme");
    assert_eq!(account["status"], "active");
    assert_eq!(account["parent_id"], Value::Null);
    assert_eq!(account["labels"], serde_json::json!({}));
    for field in [
        "avatar_url",
        "billing_email",
        "external_id",
        "created_at",
        "updated_at",
    ] {
        assert!(account.get(field).is_some(), "{field}");
    }
    let child = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Acme EU",
            "--owner",
            "new-owner@example.com",
            "--parent",
            &account_id,
        ])
        .json();
    assert_eq!(child["parent_id"], account_id.as_str());

    let client = deployment
        .cli(&[
            "clients",
            "create",
            "--account",
            &account_id,
            "--name",
            "Web",
            "--redirect-uri",
            "https://app.example.com/callback",
        ])
        .json();
    assert!(client["client_id"].as_str().unwrap().starts_with("cli_"));
    assert_eq!(client["account_id"], account_id.as_str());
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        client["grant_types"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_credentials"
        ])
    );
    assert_eq!(
        client["scopes"],
        serde_json::json!([
            "openid",
            "profile",
            "email",
            "offline_access",
            "tessera:manage"
        ])
    );
    assert_eq!(
        client["redirect_uris"],
        serde_json::json!(["https://app.example.com/callback"])
    );
    assert!(client["client_secret"].as_str().unwrap().len() >= 43);

    let public = deployment
        .cli(&[
            "clients",
            "create",
            "--account",
            &account_id,
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "http://localhost:3000/cb",
        ])
        .json();
    assert_eq!(public["token_endpoint_auth_method"], "none");
    assert!(public.get("client_secret").is_none());
    assert!(
        !public["grant_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "client_credentials")
    );

    let custom = deployment
        .cli(&[
            "clients",
            "create",
            "--account",
            &account_id,
            "--name",
            "Svc",
            "--auth-method",
            "client_secret_post",
            "--grant",
            "client_credentials",
            "--scope",
            "read:invoices",
        ])
        .json();
    assert_eq!(
        custom["grant_types"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(custom["scopes"], serde_json::json!(["read:invoices"]));
    assert_eq!(custom["token_endpoint_auth_method"], "client_secret_post");

    let rotated = deployment.cli(&["keys", "rotate"]).json();
    assert!(!rotated["kid"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn invalid_arguments_exit_non_zero_and_write_nothing() {
    let deployment = Deployment::new().await;
    deployment
        .cli(&["users", "create", "--email", "ada@example.com"])
        .json();
    let account = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Acme",
            "--owner",
            "ada@example.com",
        ])
        .json();
    let account_id = account["id"].as_str().unwrap().to_owned();
    let (users, accounts, clients) = (
        count(&deployment, "users").await,
        count(&deployment, "accounts").await,
        count(&deployment, "clients").await,
    );

    for (args, code) in [
        (vec!["users", "create"], 2),
        (vec!["users", "create", "--email", "not-an-email"], 2),
        (
            vec![
                "users",
                "create",
                "--email",
                "b@example.com",
                "--password",
                "short",
            ],
            2,
        ),
        (vec!["users", "create", "--email", "ADA@example.com"], 1),
        (
            vec![
                "accounts",
                "create",
                "--name",
                "X",
                "--owner",
                "ada@example.com",
                "--parent",
                "nope",
            ],
            2,
        ),
        (
            vec![
                "accounts",
                "create",
                "--name",
                "X",
                "--owner",
                "c@example.com",
                "--parent",
                "acc_01J00000000000000000000000",
            ],
            1,
        ),
        (
            vec![
                "accounts",
                "create",
                "--name",
                " ",
                "--owner",
                "ada@example.com",
            ],
            2,
        ),
        (
            vec![
                "clients",
                "create",
                "--account",
                &account_id,
                "--name",
                "Web",
                "--redirect-uri",
                "http://app.example.com/cb",
            ],
            2,
        ),
        (
            vec![
                "clients",
                "create",
                "--account",
                &account_id,
                "--name",
                "Web",
                "--grant",
                "password",
            ],
            2,
        ),
        (
            vec![
                "clients",
                "create",
                "--account",
                &account_id,
                "--name",
                "W",
                "--public",
                "--grant",
                "client_credentials",
            ],
            2,
        ),
        (
            vec![
                "clients",
                "create",
                "--account",
                "acc_01J00000000000000000000000",
                "--name",
                "W",
                "--grant",
                "client_credentials",
            ],
            1,
        ),
        (vec!["frobnicate"], 2),
    ] {
        let output = deployment.cli(&args);
        assert_eq!(output.code(), Some(code), "{args:?}: {}", output.stderr());
        let stderr = output.stderr();
        assert!(!stderr.trim().is_empty(), "{args:?} printed no error");
        assert!(output.0.stdout.is_empty(), "{args:?} printed to stdout");
    }
    assert_eq!(count(&deployment, "users").await, users);
    assert_eq!(count(&deployment, "accounts").await, accounts);
    assert_eq!(count(&deployment, "clients").await, clients);
}

#[tokio::test]
async fn a_bad_setting_stops_start_up_naming_it() {
    let deployment = Deployment::new().await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("migrate")
        .current_dir(deployment.keys_dir.path())
        .env_clear()
        .env("DATABASE_URL", &deployment.database.url)
        .env("TESSERA_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("TESSERA_LISTEN"), "{stderr}");
}

#[tokio::test]
async fn command_output_has_the_shape_the_rest_api_shows() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let ada = app.user("ada@example.com").await;
    let get = |path: String, token: String| {
        let request = app.api(Method::GET, &path, &token);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200, "GET {path}");
            response.json::<Value>().await.unwrap()
        }
    };

    let account = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Acme",
            "--owner",
            "ada@example.com",
        ])
        .json();
    let account_id = account["id"].as_str().unwrap().to_owned();
    let shown = get(format!("/v1/accounts/{account_id}"), ada.token.clone()).await;
    assert_eq!(account, shown);

    let user = deployment
        .cli(&["users", "create", "--email", "bob@example.com"])
        .json();
    let token = app
        .login_token(user["id"].as_str().unwrap(), LOGIN_SCOPE)
        .await;
    // The CLI shows a user as the superadmin API does: the profile plus operator flags.
    let profile = get("/v1/me".into(), token).await;
    for (field, value) in profile.as_object().unwrap() {
        assert_eq!(&user[field], value, "{field}");
    }
    assert_eq!(user["superadmin"], false);

    for extra in [&[][..], &["--public"][..]] {
        let mut args = vec![
            "clients",
            "create",
            "--account",
            &account_id,
            "--name",
            "Web",
            "--redirect-uri",
            "http://localhost:3000/cb",
        ];
        args.extend_from_slice(extra);
        let mut client = deployment.cli(&args).json();
        let secret = client.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(
            secret.is_some(),
            extra.is_empty(),
            "secret once, if confidential"
        );
        let client_id = client["client_id"].as_str().unwrap().to_owned();
        let shown = get(
            format!("/v1/accounts/{account_id}/clients/{client_id}"),
            ada.token.clone(),
        )
        .await;
        assert_eq!(client, shown);
    }

    let admin = users::find_by_email(app.state.store.pool(), ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let admin_token = app.login_token(admin.id.as_str(), LOGIN_SCOPE).await;
    let found = get(
        format!("/v1/admin/users?q=id:{}", user["id"].as_str().unwrap()),
        admin_token.clone(),
    )
    .await;
    assert_eq!(found["data"], serde_json::json!([user]));
    let response = app
        .api(Method::POST, "/v1/admin/keys/rotate", &admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let by_api: Value = response.json().await.unwrap();
    let by_cli = deployment.cli(&["keys", "rotate"]).json();
    let fields = |key: &Value| {
        let mut names: Vec<String> = key.as_object().unwrap().keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(fields(&by_cli), fields(&by_api), "{by_cli} vs {by_api}");
    assert_ne!(by_cli["kid"], by_api["kid"]);
}

#[tokio::test]
async fn a_client_created_without_a_redirect_uri_has_the_documented_defaults() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let password = "correct horse battery";
    let ada = app.user_with("ada@example.com", Some(password)).await;
    let account = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Acme",
            "--owner",
            "ada@example.com",
        ])
        .json();
    let account_id = account["id"].as_str().unwrap().to_owned();

    let output = deployment.cli(&[
        "clients",
        "create",
        "--account",
        &account_id,
        "--name",
        "Backend",
    ]);
    assert_eq!(output.code(), Some(0), "{}", output.stderr());
    let mut client = output.json();
    let secret = client
        .as_object_mut()
        .unwrap()
        .remove("client_secret")
        .expect("a confidential client's secret, once");
    let secret = secret.as_str().unwrap().to_owned();
    assert!(secret.len() >= 43);
    assert_eq!(client["account_id"], account_id.as_str());
    assert_eq!(client["name"], "Backend");
    assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        client["grant_types"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_credentials"
        ])
    );
    assert_eq!(
        client["scopes"],
        serde_json::json!([
            "openid",
            "profile",
            "email",
            "offline_access",
            "tessera:manage"
        ])
    );
    assert_eq!(client["redirect_uris"], serde_json::json!([]));
    assert_eq!(client["post_logout_redirect_uris"], serde_json::json!([]));
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let path = format!("/v1/accounts/{account_id}/clients/{client_id}");
    let shown: Value = app
        .api(Method::GET, &path, &ada.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(client, shown);

    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "client credentials work at once");

    // A code flow needs a registered redirect URI: until then, an error page.
    app.log_in(&ada.email, password).await;
    let authorize = format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}\
         &redirect_uri=https%3A%2F%2Fapp.example.com%2Fcallback&scope=openid&state=xyz\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    );
    let response = app.get(&authorize).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    let response = app
        .api(Method::PATCH, &path, &ada.token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"redirect_uris": ["https://app.example.com/callback"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let location = browse_to_callback(&app, &app.url(&authorize), &ada.email, password).await;
    assert!(
        location.starts_with("https://app.example.com/callback?"),
        "{location}"
    );
    assert!(query(&location).contains_key("code"), "{location}");
}
