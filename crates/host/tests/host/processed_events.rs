//! The database's claim-once helper (`ProcessedEventRepo`): the authority behind the bus's
//! idempotency stores for effects written to the database.

use crate::fixtures::store;

#[tokio::test]
async fn the_database_helper_inserts_once_per_consumer() {
    let (store, _db) = store().await;
    let id = uuid::Uuid::now_v7();
    let now = taskflow_domain::time::now();
    let processed = store.processed_events();
    assert!(processed.claim("audit", id, now).await.unwrap());
    assert!(!processed.claim("audit", id, now).await.unwrap());
    assert!(
        processed.claim("recurring", id, now).await.unwrap(),
        "consumers are independent"
    );
    processed.release("audit", id).await.unwrap();
    assert!(processed.claim("audit", id, now).await.unwrap());
}
