use tessera::store::{memberships, users};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, Deployment, TestDatabase};

#[tokio::test]
async fn first_start_creates_a_superadmin_who_owns_a_first_account_once() {
    let deployment = Deployment::new().await;
    let app = deployment.spawn().await;
    let store = &app.state.store;
    let admin = users::find_by_email(store.pool(), &ADMIN_EMAIL.to_uppercase())
        .await
        .unwrap()
        .unwrap();
    assert!(admin.superadmin);
    let stored = admin.password_hash.clone().unwrap();
    assert!(stored.starts_with("$argon2id$"));
    assert!(
        tessera::password::verify(ADMIN_PASSWORD.into(), Some(stored))
            .await
            .unwrap()
    );
    let account_id = crate::discovery::first_account_id(&app).await;
    let account_id = tessera::ids::AccountId::parse(&account_id).unwrap();
    let role = memberships::role(store.pool(), &account_id, &admin.id)
        .await
        .unwrap();
    assert_eq!(role, Some(tessera::role::Role::Owner));
    let actions = tessera::store::audit_events::actions_for_account(store.pool(), &account_id)
        .await
        .unwrap();
    assert_eq!(actions.len(), 2);
    assert!(
        actions.contains(&"account.created".to_owned())
            && actions.contains(&"member.added".to_owned())
    );
    app.stop().await;

    let again = deployment.spawn().await;
    assert_eq!(users::count(again.state.store.pool()).await.unwrap(), 1);
    let accounts: i64 = sqlx::query_scalar("select count(*) from accounts")
        .fetch_one(again.state.store.pool())
        .await
        .unwrap();
    assert_eq!(accounts, 1);
}

#[tokio::test]
async fn suite_runs_on_the_configured_database() {
    let database = TestDatabase::create().await;
    let store = database.store().await;
    let expected = if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.is_empty()) {
        tessera::store::Backend::Postgres
    } else {
        tessera::store::Backend::Sqlite
    };
    assert_eq!(store.backend(), expected);
    assert_eq!(
        database.is_postgres(),
        expected == tessera::store::Backend::Postgres
    );
}
