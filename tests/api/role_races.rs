//! A custom role and its grants race: keys issued with a role while it is being deleted.
//! Either the grant comes first (and the deletion answers `role_in_use`) or the deletion
//! does (and the grant finds no such role): never a live key holding a role that is gone.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::helpers::TestApp;
use crate::roles::{bearer, define_role, roles_path};

#[tokio::test]
async fn granting_a_role_and_deleting_it_never_leave_a_holder_of_nothing() {
    let app = TestApp::spawn().await;
    let team = app.team("race").await;
    let owner = bearer(&app, &team.owner.token);
    let keys = format!("/v1/accounts/{}/api-keys", team.account);
    for round in 0..5 {
        let role = format!("racer-{round}");
        define_role(&app, &team.owner, &team.account, &role, &["account:read"]).await;
        let grants = (0..6).map(|n| {
            let body = json!({"name": format!("{role}-{n}"), "role": role});
            owner.status(Method::POST, &keys, body)
        });
        let path = format!("{}/{role}", roles_path(&team.account));
        let deletion = owner.status(Method::DELETE, &path, json!(null));
        let (granted, deleted) = tokio::join!(join_all(grants), deletion);
        for status in &granted {
            assert!([201, 400].contains(status), "grant {status}");
        }
        assert!([204, 409].contains(&deleted), "deletion {deleted}");
        let holders: i64 = sqlx::query_scalar(
            "select count(*) from api_keys where role = $1 and revoked_at is null",
        )
        .bind(&role)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
        let defined: i64 = sqlx::query_scalar("select count(*) from roles where id = $1")
            .bind(&role)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        let created = granted.iter().filter(|status| **status == 201).count();
        assert_eq!(holders, i64::try_from(created).unwrap(), "round {round}");
        if deleted == 204 {
            assert_eq!(
                (holders, defined),
                (0, 0),
                "round {round}: deleted under a grant"
            );
        } else {
            assert!(
                holders > 0 && defined == 1,
                "round {round}: in use by nobody"
            );
        }
    }
}
