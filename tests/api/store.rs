//! Every repository operation, on whichever backend the suite runs on.

use tessera::account::Account;
use tessera::audit::{Action, Actor, NewEvent};
use tessera::clock::{self, Timestamp};
use tessera::email_address::EmailAddress;
use tessera::ids::{AccountId, ClientId, UserId};
use tessera::oauth::client::{Client, ClientSettings};
use tessera::role::Builtin;
use tessera::store::audit_events;
use tessera::store::signing_keys::{self, SigningKeyRecord};
use tessera::store::{self, accounts, clients, memberships, users};
use tessera::user::User;

use crate::helpers::Database;

fn user(email: &str) -> User {
    User::new(
        EmailAddress::parse(email).unwrap(),
        Some("Ada".into()),
        Some("$argon2id$x".into()),
        clock::now(),
    )
}

#[tokio::test]
async fn users_are_unique_by_email_in_any_case() {
    let database = Database::create().await;
    let store = database.store().await;
    let ada = user("Ada@Example.com");
    users::insert(store.pool(), &ada).await.unwrap();
    assert_eq!(users::count(store.pool()).await.unwrap(), 1);

    let found = users::find(store.pool(), &ada.id).await.unwrap().unwrap();
    assert_eq!(found.email, "Ada@Example.com");
    assert_eq!(found.name.as_deref(), Some("Ada"));
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$x"));
    assert!(!found.email_verified && !found.superadmin);
    assert_eq!(found.created_at, ada.created_at);
    let by_email = users::find_by_email(store.pool(), "ada@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email.id, ada.id);
    assert!(
        users::find(store.pool(), &UserId::generate())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        users::find_by_email(store.pool(), "bob@example.com")
            .await
            .unwrap()
            .is_none()
    );

    let error = users::insert(store.pool(), &user("ADA@example.COM"))
        .await
        .unwrap_err();
    assert!(store::is_unique_violation(&error), "{error}");
}

#[tokio::test]
async fn accounts_memberships_and_clients_round_trip() {
    let database = Database::create().await;
    let store = database.store().await;
    let ada = user("ada@example.com");
    users::insert(store.pool(), &ada).await.unwrap();

    let mut parent = Account::new("Acme".into(), None, clock::now());
    parent.labels.insert("tier".into(), "gold".into());
    parent.external_id = Some("crm-42".into());
    accounts::insert(store.pool(), &parent).await.unwrap();
    let child = Account::new("Acme EU".into(), Some(parent.id.clone()), clock::now());
    accounts::insert(store.pool(), &child).await.unwrap();
    let found = accounts::find(store.pool(), &parent.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.labels.get("tier").map(String::as_str), Some("gold"));
    assert_eq!(found.external_id.as_deref(), Some("crm-42"));
    assert_eq!(
        accounts::find(store.pool(), &child.id)
            .await
            .unwrap()
            .unwrap()
            .parent_id,
        Some(parent.id.clone())
    );
    assert!(
        accounts::find(store.pool(), &AccountId::generate())
            .await
            .unwrap()
            .is_none()
    );
    let orphan = Account::new("Orphan".into(), Some(AccountId::generate()), clock::now());
    assert!(
        accounts::insert(store.pool(), &orphan).await.is_err(),
        "foreign key enforced"
    );

    memberships::insert(
        store.pool(),
        &parent.id,
        &ada.id,
        &Builtin::Admin.into(),
        clock::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        memberships::role(store.pool(), &parent.id, &ada.id)
            .await
            .unwrap(),
        Some(Builtin::Admin.into())
    );
    assert_eq!(
        memberships::role(store.pool(), &child.id, &ada.id)
            .await
            .unwrap(),
        None
    );
    let duplicate = memberships::insert(
        store.pool(),
        &parent.id,
        &ada.id,
        &Builtin::Viewer.into(),
        clock::now(),
    )
    .await
    .unwrap_err();
    assert!(store::is_unique_violation(&duplicate));

    let mut settings = ClientSettings::with_defaults("Web".into(), false);
    settings.redirect_uris = vec!["https://app.example.com/cb".into()];
    let client = Client {
        client_id: ClientId::generate(),
        account_id: parent.id.clone(),
        settings,
        created_at: Timestamp(clock::now()),
        updated_at: Timestamp(clock::now()),
        secret_hash: Some("abc".into()),
        self_registered: false,
        first_party: true,
        account_active: true,
    };
    clients::insert(store.pool(), &client).await.unwrap();
    let found = clients::find(store.pool(), &client.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.settings, client.settings);
    assert_eq!(found.secret_hash.as_deref(), Some("abc"));
    assert!(
        clients::find(store.pool(), &ClientId::generate())
            .await
            .unwrap()
            .is_none()
    );

    // Deleting an account takes its children, memberships and clients with it.
    sqlx::query("delete from accounts where id = $1")
        .bind(parent.id.as_str())
        .execute(store.pool())
        .await
        .unwrap();
    assert!(
        accounts::find(store.pool(), &child.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        memberships::role(store.pool(), &parent.id, &ada.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        clients::find(store.pool(), &client.client_id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn signing_keys_retire_and_age_out() {
    let database = Database::create().await;
    let store = database.store().await;
    let record = |id: &str, created_at| SigningKeyRecord {
        id: id.into(),
        algorithm: "RS256".into(),
        modulus: Some("n".into()),
        exponent: Some("AQAB".into()),
        x: None,
        y: None,
        private_key_encrypted: "v1.sealed".into(),
        created_at,
        retired_at: None,
    };
    signing_keys::insert(store.pool(), &record("old", 100))
        .await
        .unwrap();
    signing_keys::retire_active(store.pool(), "RS256", 1_000)
        .await
        .unwrap();
    signing_keys::insert(store.pool(), &record("new", 200))
        .await
        .unwrap();

    let published = signing_keys::published(store.pool(), 500).await.unwrap();
    let ids: Vec<_> = published
        .iter()
        .map(|k| (k.id.as_str(), k.retired_at))
        .collect();
    assert_eq!(ids, [("new", None), ("old", Some(1_000))]);
    assert_eq!(published[1].private_key_encrypted, "v1.sealed");
    assert_eq!(
        signing_keys::published_fingerprint(store.pool(), 500)
            .await
            .unwrap(),
        [("new".to_owned(), None), ("old".to_owned(), Some(1_000))]
    );
    assert_eq!(
        signing_keys::published(store.pool(), 1_000)
            .await
            .unwrap()
            .len(),
        1
    );

    signing_keys::delete_unpublished(store.pool(), 999)
        .await
        .unwrap();
    assert_eq!(
        signing_keys::published(store.pool(), 0)
            .await
            .unwrap()
            .len(),
        2
    );
    signing_keys::delete_unpublished(store.pool(), 1_000)
        .await
        .unwrap();
    assert_eq!(
        signing_keys::published(store.pool(), 0)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn audit_events_commit_with_their_change_and_roll_back_with_it() {
    let database = Database::create().await;
    let store = database.store().await;
    let account = Account::new("Acme".into(), None, clock::now());
    accounts::insert(store.pool(), &account).await.unwrap();
    let event = NewEvent {
        account_id: Some(&account.id),
        action: Action::AccountUpdated,
        actor: &Actor::User("usr_x".into()),
        target_type: "account",
        target_id: account.id.as_str(),
        ip: Some("127.0.0.1"),
        user_agent: Some("test"),
        details: serde_json::json!({"name": "Acme"}),
    };

    let change = store.change().await.unwrap();
    let recorded = change.record(&event, clock::now()).await.unwrap();
    drop(recorded);
    assert!(
        audit_events::actions_for_account(store.pool(), &account.id)
            .await
            .unwrap()
            .is_empty()
    );

    let change = store.change().await.unwrap();
    change
        .record(&event, clock::now())
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    assert_eq!(
        audit_events::actions_for_account(store.pool(), &account.id)
            .await
            .unwrap(),
        ["account.updated"]
    );
}

#[tokio::test]
async fn the_sweep_deletes_only_records_expired_more_than_a_day_ago() {
    let database = Database::create().await;
    let store = database.store().await;
    let now = clock::now();
    for (jti, expires_at) in [
        ("old", now - 2 * 86_400),
        ("recent", now - 3_600),
        ("live", now + 3_600),
    ] {
        tessera::store::revoked_tokens::insert(store.pool(), jti, expires_at)
            .await
            .unwrap();
    }
    assert_eq!(tessera::maintenance::sweep(&store, now).await.unwrap(), 1);
    let kept: Vec<String> = sqlx::query_scalar("select jti from revoked_tokens order by jti")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(kept, ["live", "recent"]);
}

/// Commit clears what the store cached about clients and tokens exactly when the change
/// touched access: its recorded action says so, or its bookkeeping kind is a revocation.
#[tokio::test]
async fn a_change_forgets_cached_access_when_its_action_touches_access() {
    let database = Database::create().await;
    let store = database.store().await;
    let account = Account::new("Acme".into(), None, clock::now());
    accounts::insert(store.pool(), &account).await.unwrap();
    let mut settings = ClientSettings::with_defaults("Web".into(), false);
    settings.redirect_uris = vec!["https://app.example.com/cb".into()];
    let client = Client {
        client_id: ClientId::generate(),
        account_id: account.id.clone(),
        settings,
        created_at: Timestamp(clock::now()),
        updated_at: Timestamp(clock::now()),
        secret_hash: Some("first".into()),
        self_registered: false,
        first_party: true,
        account_active: true,
    };
    clients::insert(store.pool(), &client).await.unwrap();
    let cached_secret = |store: store::Store| {
        let id = client.client_id.clone();
        async move { store.client(&id).await.unwrap().unwrap().secret_hash }
    };
    assert_eq!(cached_secret(store.clone()).await.as_deref(), Some("first"));

    // Written behind the cache's back, then a change that does not touch access commits.
    let now = clock::now();
    clients::set_secret_hash(store.pool(), &client.client_id, "second", now)
        .await
        .unwrap();
    let change = store.change().await.unwrap();
    let event = NewEvent {
        account_id: Some(&account.id),
        action: Action::WebhookUpdated,
        actor: &Actor::System,
        target_type: "webhook",
        target_id: account.id.as_str(),
        ip: None,
        user_agent: None,
        details: serde_json::json!({}),
    };
    change
        .record(&event, now)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    if !database.is_postgres() {
        // (On PostgreSQL the cache serves only while it follows other instances' changes,
        // which this bare store does not.)
        assert_eq!(
            cached_secret(store.clone()).await.as_deref(),
            Some("first"),
            "a webhook change keeps the cache"
        );
    }

    let change = store.change().await.unwrap();
    let event = NewEvent {
        action: Action::ClientSecretRotated,
        target_type: "client",
        target_id: client.client_id.as_str(),
        ..event
    };
    change
        .record(&event, now)
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    assert_eq!(
        cached_secret(store.clone()).await.as_deref(),
        Some("second")
    );

    // Bookkeeping: issuing keeps the cache, a revocation clears it.
    clients::set_secret_hash(store.pool(), &client.client_id, "third", now)
        .await
        .unwrap();
    let change = store.change().await.unwrap();
    change
        .commit_unaudited(store::Unaudited::Issuance)
        .await
        .unwrap();
    if !database.is_postgres() {
        assert_eq!(
            cached_secret(store.clone()).await.as_deref(),
            Some("second")
        );
    }
    let change = store.change().await.unwrap();
    change
        .commit_unaudited(store::Unaudited::Revocation)
        .await
        .unwrap();
    assert_eq!(cached_secret(store.clone()).await.as_deref(), Some("third"));
}
