//! The account picker (API.md §11): `prompt=select_account`, or a client whose
//! `account_selection` is `required`, sends a signed-in user to a page listing their accounts;
//! the account chosen there binds the grant as `account_id` does, and the ID token says `acc`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::authorization_code::{Rp, query, verify};
use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, LOGIN_SCOPE, TestApp, TestUser, attribute,
    expect_problem, hidden_input, tags,
};

/// The bootstrap admin's accounts once `accounts` has run: the first account (owner), Acme
/// (owner) and EMEA under Acme (member).
pub struct Accounts {
    pub first: String,
    pub acme: String,
    pub emea: String,
}

/// Gives the admin two more accounts: Acme, which the admin owns, and EMEA under it, which
/// someone else owns and the admin is a member of.
pub async fn accounts(deployment: &Deployment, app: &TestApp) -> Accounts {
    let first = crate::discovery::first_account_id(app).await;
    let create = |name: &str, owner: &str, parent: Option<&str>| {
        let mut args = vec!["accounts", "create", "--name", name, "--owner", owner];
        args.extend(parent.map(|parent| ["--parent", parent]).iter().flatten());
        deployment.cli(&args).json()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let acme = create("Acme", ADMIN_EMAIL, None);
    let emea = create("EMEA", "boss@example.com", Some(&acme));
    let admin = admin(app).await;
    app.add_member(&admin, &emea, &admin, "member").await;
    Accounts { first, acme, emea }
}

/// The bootstrap admin with a login token.
async fn admin(app: &TestApp) -> TestUser {
    let id: String = sqlx::query_scalar("select id from users where email = $1")
        .bind(ADMIN_EMAIL)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let token = app.login_token(&id, LOGIN_SCOPE).await;
    TestUser {
        id,
        email: ADMIN_EMAIL.into(),
        token,
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// GETs a path or an absolute URL of the server with the browser's cookies.
async fn visit(app: &TestApp, url: &str) -> reqwest::Response {
    app.get(url.strip_prefix(&app.address).unwrap_or(url)).await
}

/// Follows `/oauth2/authorize` to the picker: its path and its HTML.
async fn open_picker(app: &TestApp, authorize_url: &str) -> (String, String) {
    let response = visit(app, authorize_url).await;
    assert_eq!(response.status(), 303);
    let picker = location(&response);
    assert!(picker.starts_with("/oauth2/select-account?"), "{picker}");
    let page = app.get(&picker).await;
    assert_eq!(page.status(), 200);
    (picker, page.text().await.unwrap())
}

/// The input a `<label for>` reading `text` names.
fn input_labelled<'a>(html: &'a str, text: &str) -> Option<&'a str> {
    let id = html.split("<label for=\"").skip(1).find_map(|rest| {
        let (id, rest) = rest.split_once('"')?;
        let label = rest.split_once('>')?.1.split_once("</label>")?.0;
        (label == text).then_some(id)
    })?;
    tags(html, "input")
        .into_iter()
        .find(|tag| attribute(tag, "id").as_deref() == Some(id))
}

/// The radios of the picker: `(value, checked)`.
fn radios(html: &str) -> Vec<(String, bool)> {
    tags(html, "input")
        .into_iter()
        .filter(|tag| attribute(tag, "type").as_deref() == Some("radio"))
        .map(|tag| {
            assert_eq!(attribute(tag, "name").as_deref(), Some("account_id"));
            (attribute(tag, "value").unwrap(), tag.contains(" checked"))
        })
        .collect()
}

/// Posts the picker's form, as a browser would, with `account_id` (`None`: no radio picked).
async fn choose(app: &TestApp, picker: &str, account_id: Option<&str>) -> reqwest::Response {
    let page = app.get(picker).await.text().await.unwrap();
    let mut form = vec![("csrf_token", hidden_input(&page, "csrf_token").unwrap())];
    if let Some(account_id) = account_id {
        form.push(("account_id", account_id.to_owned()));
    }
    app.http
        .post(app.url(picker))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Follows the redirect the picker answered to `/oauth2/authorize`, and from there to the
/// client; the parameters the client receives.
async fn to_client(
    app: &TestApp,
    chosen: &reqwest::Response,
) -> std::collections::HashMap<String, String> {
    assert_eq!(chosen.status(), 303);
    let back = location(chosen);
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");
    assert!(!back.contains("select_account"), "no loop: {back}");
    let response = app.get(&back).await;
    assert_eq!(response.status(), 303, "{back}");
    query(&location(&response))
}

/// The access token's and the ID token's claims for a code.
async fn redeem(
    app: &TestApp,
    rp: &Rp,
    code: &str,
    verifier: oauth2::PkceCodeVerifier,
) -> (Value, Value) {
    let tokens = rp.exchange(code, verifier).await.unwrap();
    let client_id = &rp.registered.client_id;
    let access = verify(
        app,
        oauth2::TokenResponse::access_token(&tokens).secret(),
        "at+jwt",
        client_id,
    )
    .await;
    let id_token = tokens.extra_fields().id_token.as_deref().unwrap();
    (access, verify(app, id_token, "JWT", client_id).await)
}

async fn codes_issued(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from authorization_codes")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn prompt_select_account_lists_the_accounts_and_the_choice_binds_the_grant() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let accounts = accounts(&deployment, &app).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (url, state, verifier) = rp.authorize_url(
        &["openid"],
        &[
            ("prompt", "select_account"),
            ("account_hint", &accounts.emea),
        ],
    );
    let (picker, html) = open_picker(&app, &url).await;

    // One form, posted to the page's own URL, with the CSRF token and a named button.
    assert_eq!(tags(&html, "form").len(), 1, "{html}");
    let form = tags(&html, "form")[0];
    assert_eq!(attribute(form, "method").as_deref(), Some("post"));
    assert_eq!(attribute(form, "action").as_deref(), Some(picker.as_str()));
    assert!(hidden_input(&html, "csrf_token").is_some_and(|token| !token.is_empty()));
    let button = tags(&html, "button")[0];
    assert_eq!(attribute(button, "type").as_deref(), Some("submit"));
    assert!(attribute(button, "name").is_some(), "{button}");
    for needle in [
        "<title>Choose an account",
        "<h1>Choose an account</h1>",
        "<fieldset>",
        "<legend>",
    ] {
        assert!(html.contains(needle), "{needle}: {html}");
    }

    // Each account by its label, with the role and parent path next to it; the hint checked.
    for (name, id) in [
        ("Default", &accounts.first),
        ("Acme", &accounts.acme),
        ("EMEA", &accounts.emea),
    ] {
        let radio = input_labelled(&html, name).unwrap_or_else(|| panic!("{name}: {html}"));
        assert_eq!(attribute(radio, "value").as_deref(), Some(id.as_str()));
    }
    // The role the user acts with: a member of EMEA who owns its parent acts as its admin.
    assert!(html.contains("admin · in Acme"), "{html}");
    assert!(html.contains("owner</span>"), "{html}");
    let without = input_labelled(&html, "Continue without an account").unwrap();
    assert_eq!(attribute(without, "value").as_deref(), Some(""));
    let checked: Vec<String> = radios(&html)
        .into_iter()
        .filter(|(_, checked)| *checked)
        .map(|(value, _)| value)
        .collect();
    assert_eq!(
        checked,
        [accounts.emea.as_str()],
        "account_hint checks its radio"
    );

    let params = to_client(&app, &choose(&app, &picker, Some(&accounts.emea)).await).await;
    assert_eq!(params.get("state"), Some(state.secret()));
    let (access, id_token) = redeem(&app, &rp, &params["code"], verifier).await;
    assert_eq!(access["acc"], accounts.emea.as_str());
    assert_eq!(id_token["acc"], accounts.emea.as_str());

    // The same grant as a request naming `account_id` gets.
    let (url, _, verifier) = rp.authorize_url(&["openid"], &[("account_id", &accounts.emea)]);
    let params = query(&location(&visit(&app, &url).await));
    let (named, _) = redeem(&app, &rp, &params["code"], verifier).await;
    for claim in ["acc", "role", "permissions", "inherited_from"] {
        assert_eq!(access.get(claim), named.get(claim), "{claim}");
    }
    assert!(access["role"].is_string(), "{access}");
}

#[tokio::test]
async fn a_client_that_requires_an_account_shows_the_picker_without_a_way_out() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &["--account-selection", "required"]).await;
    let shown = deployment
        .cli(&["clients", "show", &rp.registered.client_id])
        .json();
    assert_eq!(shown["account_selection"], "required");
    let accounts = accounts(&deployment, &app).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (url, _, verifier) = rp.authorize_url(&["openid"], &[]);
    let (picker, html) = open_picker(&app, &url).await;
    assert!(!html.contains("Continue without an account"), "{html}");
    assert_eq!(radios(&html).len(), 3);
    assert!(radios(&html).iter().all(|(_, checked)| !checked));

    // Going on without one is not on offer, nor is posting nothing.
    for refused in [Some(""), None] {
        let response = choose(&app, &picker, refused).await;
        assert_eq!(response.status(), 400, "{refused:?}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains("role=\"alert\"") && page.contains("<fieldset>"),
            "{page}"
        );
    }

    let params = to_client(&app, &choose(&app, &picker, Some(&accounts.acme)).await).await;
    let (access, id_token) = redeem(&app, &rp, &params["code"], verifier).await;
    assert_eq!(access["acc"], accounts.acme.as_str());
    assert_eq!(access["role"], "owner");
    assert_eq!(id_token["acc"], accounts.acme.as_str());

    // A request that names its account skips the picker.
    let (url, _, _) = rp.authorize_url(&["openid"], &[("account_id", &accounts.first)]);
    let response = visit(&app, &url).await;
    assert!(query(&location(&response)).contains_key("code"));
}

#[tokio::test]
async fn the_picker_refuses_an_account_it_did_not_list_and_a_post_without_csrf() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    accounts(&deployment, &app).await;
    let elsewhere = deployment
        .cli(&[
            "accounts",
            "create",
            "--name",
            "Elsewhere",
            "--owner",
            "other@example.com",
        ])
        .json();
    let elsewhere = elsewhere["id"].as_str().unwrap();
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (url, _, _) = rp.authorize_url(&["openid"], &[("prompt", "select_account")]);
    let (picker, _) = open_picker(&app, &url).await;
    let before = codes_issued(&app).await;

    for foreign in [elsewhere, "acc_not-an-id", "usr_01JD2Z3X4Y5V6W7T8S9R0Q1P2N"] {
        let response = choose(&app, &picker, Some(foreign)).await;
        assert_eq!(response.status(), 400, "{foreign}");
        assert!(response.headers().get("location").is_none());
        let page = response.text().await.unwrap();
        assert!(
            page.contains("Choose one of the accounts listed."),
            "{page}"
        );
        assert!(!page.contains("Elsewhere"), "never listed: {page}");
    }

    let unprotected = app
        .http
        .post(app.url(&picker))
        .form(&[("account_id", elsewhere)])
        .send()
        .await
        .unwrap();
    assert_eq!(unprotected.status(), 403);
    let wrong_token = app
        .http
        .post(app.url(&picker))
        .form(&[("account_id", elsewhere), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 403);
    assert_eq!(codes_issued(&app).await, before, "no code for any of them");
}

#[tokio::test]
async fn continue_without_an_account_gives_a_user_level_grant() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &["--account-selection", "optional"]).await;
    accounts(&deployment, &app).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // An optional account is picked only when the request asks.
    let (url, _, _) = rp.authorize_url(&["openid"], &[]);
    assert!(query(&location(&visit(&app, &url).await)).contains_key("code"));

    let (url, _, verifier) = rp.authorize_url(&["openid"], &[("prompt", "select_account")]);
    let (picker, _) = open_picker(&app, &url).await;
    let params = to_client(&app, &choose(&app, &picker, Some("")).await).await;
    let (access, id_token) = redeem(&app, &rp, &params["code"], verifier).await;
    assert!(
        access.get("acc").is_none() && access.get("role").is_none(),
        "{access}"
    );
    assert!(id_token.get("acc").is_none(), "{id_token}");
}

#[tokio::test]
async fn a_single_account_is_chosen_without_a_page() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let required = Rp::register(&deployment, &app, &["--account-selection", "required"]).await;
    let only = crate::discovery::first_account_id(&app).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    for (rp, prompt) in [(&rp, "select_account"), (&required, "none")] {
        let (url, _, verifier) = rp.authorize_url(&["openid"], &[("prompt", prompt)]);
        let response = visit(&app, &url).await;
        assert_eq!(response.status(), 303);
        let back = location(&response);
        assert!(back.starts_with("/oauth2/authorize?"), "{prompt}: {back}");
        assert!(back.contains(&format!("account_id={only}")), "{back}");
        let params = to_client(&app, &response).await;
        let (access, id_token) = redeem(&app, rp, &params["code"], verifier).await;
        assert_eq!(access["acc"], only.as_str(), "{prompt}");
        assert_eq!(id_token["acc"], only.as_str(), "{prompt}");
    }
}

#[tokio::test]
async fn prompt_none_cannot_show_the_picker() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &["--account-selection", "required"]).await;
    accounts(&deployment, &app).await;
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (url, state, _) = rp.authorize_url(&["openid"], &[("prompt", "none")]);
    let params = query(&location(&visit(&app, &url).await));
    assert_eq!(params["error"], "account_selection_required");
    assert_eq!(params.get("state"), Some(state.secret()));
    assert_eq!(params["iss"], app.address);
}

#[tokio::test]
async fn a_user_without_accounts_is_refused_by_a_client_that_requires_one() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let required = Rp::register(&deployment, &app, &["--account-selection", "required"]).await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let password = "a sturdy passphrase";
    app.user_with("loner@example.com", Some(password)).await;
    app.log_in("loner@example.com", password).await;

    let (url, _, _) = required.authorize_url(&["openid"], &[]);
    let params = query(&location(&visit(&app, &url).await));
    assert_eq!(params["error"], "access_denied");
    assert!(
        params["error_description"].contains("needs an account"),
        "{params:?}"
    );

    // prompt=select_account with nothing to pick: the grant stays user-level.
    let (url, _, verifier) = rp.authorize_url(&["openid"], &[("prompt", "select_account")]);
    let params = query(&location(&visit(&app, &url).await));
    let (access, _) = redeem(&app, &rp, &params["code"], verifier).await;
    assert!(access.get("acc").is_none(), "{access}");
}

#[tokio::test]
async fn an_account_chosen_that_requires_a_second_factor_asks_for_one() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let accounts = accounts(&deployment, &app).await;
    let admin = admin(&app).await;
    let patched = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{}", accounts.acme),
            &admin.token,
        )
        .json(&json!({"settings": {"require_mfa": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (url, _, _) = rp.authorize_url(&["openid"], &[("prompt", "select_account")]);
    let (picker, _) = open_picker(&app, &url).await;
    let chosen = choose(&app, &picker, Some(&accounts.emea)).await;
    let response = app.get(&location(&chosen)).await;
    assert_eq!(response.status(), 303);
    let next = location(&response);
    // No factor yet: enrolment first, then back to the request bound to EMEA.
    assert!(next.starts_with("/account/security?return_to="), "{next}");
    assert!(next.contains(&accounts.emea), "{next}");
}

#[tokio::test]
async fn account_selection_round_trips_on_the_clients_api_and_registration() {
    let app = TestApp::spawn().await;
    let team = app.team("pick").await;
    let path = format!("/v1/accounts/{}/clients", team.account);
    let mut body = crate::clients::confidential();
    let created = crate::clients::create_client(&app, &team.admin, &team.account, &body).await;
    assert_eq!(created["account_selection"], "none");

    body["account_selection"] = json!("required");
    let created = crate::clients::create_client(&app, &team.admin, &team.account, &body).await;
    assert_eq!(created["account_selection"], "required");
    let client = format!("{path}/{}", created["client_id"].as_str().unwrap());
    let patch = |value: Value| {
        app.api(Method::PATCH, &client, &team.admin.token)
            .header("content-type", "application/merge-patch+json")
            .json(&json!({"account_selection": value}))
            .send()
    };
    let patched: Value = patch(json!("optional"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["account_selection"], "optional");
    let shown: Value = app
        .api(Method::GET, &client, &team.admin.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["account_selection"], "optional");
    let reset: Value = patch(Value::Null).await.unwrap().json().await.unwrap();
    assert_eq!(reset["account_selection"], "none");

    let problem = expect_problem(
        patch(json!("always")).await.unwrap(),
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(
        problem["errors"][0]["field"], "account_selection",
        "{problem}"
    );
    body["account_selection"] = json!("sometimes");
    let response = app
        .api(Method::POST, &path, &team.admin.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, 400, "validation_failed").await;
    assert_eq!(
        problem["errors"][0]["field"], "account_selection",
        "{problem}"
    );

    // RFC 7591 metadata takes it too.
    let key = crate::api_keys::create_key(&app, &team.owner, &team.account, "admin").await;
    let key = key["token"].as_str().unwrap();
    let register = |selection: &str| {
        app.http
            .post(app.url("/oauth2/register"))
            .bearer_auth(key)
            .json(&json!({
                "client_name": "Picker app",
                "redirect_uris": ["https://app.example.com/cb"],
                "account_selection": selection,
            }))
            .send()
    };
    let registered = register("required").await.unwrap();
    assert_eq!(registered.status(), 201);
    assert_eq!(
        registered.json::<Value>().await.unwrap()["account_selection"],
        "required"
    );
    let refused = register("maybe").await.unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_client_metadata");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("account_selection")
    );

    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        metadata["prompt_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("select_account"))
    );
}

#[tokio::test]
async fn suspended_accounts_are_not_offered() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let rp = Rp::register(&deployment, &app, &[]).await;
    let accounts = accounts(&deployment, &app).await;
    let admin = admin(&app).await;
    // Suspending Acme suspends EMEA under it too: only the first account is left to pick.
    let suspended = app
        .api(
            Method::PATCH,
            &format!("/v1/accounts/{}", accounts.acme),
            &admin.token,
        )
        .json(&json!({"status": "suspended"}))
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), 200);
    app.log_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (url, _, _) = rp.authorize_url(&["openid"], &[("prompt", "select_account")]);
    let response = visit(&app, &url).await;
    let back = location(&response);
    assert!(
        back.contains(&format!("account_id={}", accounts.first)),
        "{back}"
    );
}
