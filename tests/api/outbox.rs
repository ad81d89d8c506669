//! The shared brute-force counters and the email outbox, on whichever backend runs.

use tessera::clock;
use tessera::mailer::{self, Transport};
use tessera::store::emails::{self, NewEmail};
use tessera::store::{outbox, rate_limits};

use crate::helpers::Database;

#[tokio::test]
async fn rate_limit_windows_count_up_and_restart_when_they_end() {
    let database = Database::create().await;
    let store = database.store().await;
    let db = store.pool();
    let now = 1_000_000;
    for expected in 1..=3 {
        let window = rate_limits::hit(db, "k", now + expected, 900)
            .await
            .unwrap();
        assert_eq!(window.count, expected);
        assert_eq!(
            window.started_at,
            now + 1,
            "the window started with the first hit"
        );
    }
    rate_limits::refund(db, "k", now + 1).await.unwrap();
    assert_eq!(
        rate_limits::hit(db, "k", now + 10, 900)
            .await
            .unwrap()
            .count,
        3
    );
    assert_eq!(
        rate_limits::hit(db, "other", now, 900).await.unwrap().count,
        1
    );

    let later = rate_limits::hit(db, "k", now + 1 + 900, 900).await.unwrap();
    assert_eq!(later.count, 1, "a new window");
    assert_eq!(later.started_at, now + 901);
    // A refund for a window that has ended changes nothing.
    rate_limits::refund(db, "k", now + 1).await.unwrap();
    assert_eq!(
        rate_limits::hit(db, "k", now + 902, 900)
            .await
            .unwrap()
            .count,
        2
    );

    assert_eq!(rate_limits::delete_stale(db, now + 900).await.unwrap(), 1);
}

#[tokio::test]
async fn queued_email_is_delivered_once() {
    let database = Database::create().await;
    let store = database.store().await;
    let now = clock::now();
    let email = NewEmail {
        recipient: "ada@example.com".into(),
        subject: "Hello".into(),
        text_body: "Hi".into(),
        html_body: None,
    };
    let id = emails::enqueue(store.pool(), &email, now).await.unwrap();
    assert!(id.starts_with("eml_"));

    // Claimed messages are leased: a second claim at the same time finds nothing.
    let claimed = emails::claim_due(store.pool(), now, now + 300, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        emails::claim_due(store.pool(), now, now + 300, 10)
            .await
            .unwrap()
            .is_empty()
    );
    emails::OUTBOX
        .schedule_retry(store.pool(), &id, now, "try again")
        .await
        .unwrap();

    let sent = mailer::deliver_due(&store, &Transport::Log).await.unwrap();
    assert_eq!(sent, 1);
    assert_eq!(
        mailer::deliver_due(&store, &Transport::Log).await.unwrap(),
        0
    );
    let (attempts, sent_at, last_error): (i64, Option<i64>, Option<String>) =
        sqlx::query_as("select attempts, sent_at, last_error from emails where id = $1")
            .bind(&id)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(attempts, 2);
    assert!(sent_at.is_some());
    assert_eq!(last_error, None);
}

#[tokio::test]
async fn a_lease_is_renewed_only_by_the_claim_that_holds_it() {
    let database = Database::create().await;
    let store = database.store().await;
    let now = clock::now();
    let email = NewEmail {
        recipient: "lease@example.com".into(),
        subject: "Hello".into(),
        text_body: "Hi".into(),
        html_body: None,
    };
    let id = emails::enqueue(store.pool(), &email, now).await.unwrap();
    let lease = now + outbox::LEASE_SECONDS;
    let claimed = emails::claim_due(store.pool(), now, lease, 1)
        .await
        .unwrap();
    let attempt = claimed[0].attempts;
    let renew = |attempt, until| emails::OUTBOX.renew_lease(store.pool(), &id, attempt, until);
    assert!(renew(attempt, lease + 10).await.unwrap());
    // Renewed, the row is not due when the first lease would have run out.
    assert!(
        emails::claim_due(store.pool(), lease, lease, 1)
            .await
            .unwrap()
            .is_empty()
    );
    // Once the lease ran out, another instance claims it; the first can renew no more.
    let again = emails::claim_due(store.pool(), lease + 10, lease + 40, 1)
        .await
        .unwrap();
    assert_eq!(again[0].attempts, attempt + 1);
    assert!(!renew(attempt, lease + 100).await.unwrap());
    // A settled row is not held by anyone.
    emails::OUTBOX
        .mark_done(store.pool(), &id, lease + 11)
        .await
        .unwrap();
    assert!(!renew(attempt + 1, lease + 100).await.unwrap());
}
