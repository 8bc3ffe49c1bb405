//! PostgreSQL closing the store's connections (as in a restart) loses and duplicates nothing:
//! the batch that met a dead connection is refused whole, the connection is opened again, and
//! the terminal's resend is stored once. PostgreSQL only (skipped without
//! `KIOSK_TEST_DATABASE_URL`, a failure under `CI=true`).

mod common;

use back_office::ingest::ingest;
use back_office::now_utc;

#[tokio::test]
async fn ingest_goes_on_after_postgres_closed_every_connection() {
    let Some(url) = common::pg_url() else {
        return;
    };
    let db = common::postgres(&url).await;
    common::add_terminal(&db.store, "PG1").await;
    let recs = common::chain("PG1", 400);
    let (first, second) = (recs[..200].to_vec(), recs[200..].to_vec());
    db.store
        .run("PG1", move |sql| ingest(sql, "PG1", &first, &now_utc()))
        .await
        .unwrap();

    let admin = back_office::pg_tls::connect(&url).await.unwrap();
    let app = format!("back_office_{}", db.pg_schema().unwrap());
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .await
        .unwrap()
        .len();
    assert!(killed >= 1, "no connection of {app} found");

    // The terminal resends until the batch is taken, as its syncer does.
    let mut tries = 0;
    let reply = loop {
        tries += 1;
        let batch = second.clone();
        match db
            .store
            .run("PG1", move |sql| ingest(sql, "PG1", &batch, &now_utc()))
            .await
        {
            Ok(r) => break r,
            Err(e) if tries < 20 => {
                eprintln!("try {tries}: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("still refused after {tries} tries: {e}"),
        }
    };
    assert_eq!((reply.held_up_to, reply.accepted), (400, 200));
    let again = second.clone();
    let dup = db
        .store
        .run("PG1", move |sql| ingest(sql, "PG1", &again, &now_utc()))
        .await
        .unwrap();
    assert_eq!((dup.accepted, dup.duplicates), (0, 200));
    let counts = db
        .store
        .read(|sql| {
            sql.query(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT seq) AS BIGINT) FROM journal WHERE terminal_id = 'PG1'",
                &[],
            )
        })
        .await
        .unwrap();
    assert_eq!((counts[0].int(0), counts[0].int(1)), (400, 400));
    // Every connection of the store works again (reads are spread over all of them).
    for _ in 0..32 {
        db.store
            .read(|sql| sql.query("SELECT 1", &[]))
            .await
            .unwrap();
    }
}
