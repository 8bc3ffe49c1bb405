//! The store's deferred statements (`Sql::exec_deferred`), on both stores: what was deferred is
//! seen by the next read, an UPDATE between INSERTs keeps its place, a rollback undoes it, and
//! a deferred INSERT that fails surfaces at the commit — the transaction rolled back whole and
//! the connection fit for the next caller.

mod common;

use back_office::db::{transaction, Sql};
use back_office::{params, StoreError};

fn setup(sql: &mut dyn Sql) -> Result<(), StoreError> {
    sql.batch("CREATE TABLE IF NOT EXISTS deferred_t (k BIGINT PRIMARY KEY, v TEXT NOT NULL)")
}

fn rows(sql: &mut dyn Sql) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sql
        .query("SELECT k, v FROM deferred_t ORDER BY k", &[])?
        .into_iter()
        .map(|r| (r.int(0), r.text(1)))
        .collect())
}

#[tokio::test]
async fn deferred_statements_keep_their_order_and_fail_with_their_transaction() {
    for db in common::all_stores().await {
        let seen = db
            .store
            .run("d", |sql| {
                setup(sql)?;
                transaction(sql, |sql| {
                    for k in 1..=5i64 {
                        sql.exec_deferred(
                            "INSERT INTO deferred_t (k, v) VALUES ($1, $2)",
                            params![k, format!("v{k}")],
                        )?;
                        if k == 2 {
                            sql.exec_deferred(
                                "UPDATE deferred_t SET v = 'changed' WHERE k <= $1",
                                params![k],
                            )?;
                        }
                    }
                    sql.exec_deferred(
                        "INSERT INTO deferred_t (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        params![3i64, "ignored"],
                    )?;
                    let n = sql.exec("UPDATE deferred_t SET v = v WHERE k >= $1", params![4i64])?;
                    assert_eq!(n, 2, "the row count of the caller's own statement");
                    rows(sql)
                })
            })
            .await
            .unwrap();
        assert_eq!(
            seen,
            [
                (1, "changed".to_string()),
                (2, "changed".into()),
                (3, "v3".into()),
                (4, "v4".into()),
                (5, "v5".into())
            ],
            "[{}]",
            db.label
        );

        // Rolled back: nothing of it stays.
        let r: Result<(), StoreError> = db
            .store
            .run("d", |sql| {
                transaction(sql, |sql| {
                    sql.exec_deferred(
                        "INSERT INTO deferred_t (k, v) VALUES ($1, $2)",
                        params![10i64, "x"],
                    )?;
                    Err(StoreError::Other("changed my mind".into()))
                })
            })
            .await;
        assert!(r.is_err());

        // A duplicate key among deferred INSERTs: refused at the commit, all of it undone.
        let r: Result<(), StoreError> = db
            .store
            .run("d", |sql| {
                transaction(sql, |sql| {
                    sql.exec_deferred(
                        "INSERT INTO deferred_t (k, v) VALUES ($1, $2)",
                        params![20i64, "new"],
                    )?;
                    sql.exec_deferred(
                        "INSERT INTO deferred_t (k, v) VALUES ($1, $2)",
                        params![1i64, "duplicate"],
                    )
                })
            })
            .await;
        assert!(r.is_err(), "[{}]", db.label);
        // Every pooled connection is fit (none left inside an aborted transaction).
        for _ in 0..12 {
            let after = db
                .store
                .run("d", |sql| transaction(sql, |sql| rows(sql)))
                .await
                .unwrap();
            assert_eq!(
                after.iter().map(|r| r.0).collect::<Vec<_>>(),
                [1, 2, 3, 4, 5],
                "[{}]",
                db.label
            );
        }
    }
}

/// Many deferred rows of one INSERT (multi-row statements on PostgreSQL): the same rows, NULLs
/// and all, in their place among the other statements, and a duplicate among them rolls the
/// whole transaction back.
#[tokio::test]
async fn many_deferred_rows_load_like_inserts() {
    for db in common::all_stores().await {
        let seen = db
            .store
            .run("c", |sql| {
                sql.batch(
                    "CREATE TABLE IF NOT EXISTS copied_t (k BIGINT PRIMARY KEY, v TEXT, n BIGINT NOT NULL)",
                )?;
                transaction(sql, |sql| {
                    for k in 1..=200i64 {
                        let v = (k % 7 != 0).then(|| format!("v{k}"));
                        sql.exec_deferred(
                            "INSERT INTO copied_t (k, v, n) VALUES ($1, $2, $3)",
                            params![k, v, k * 10],
                        )?;
                        if k == 100 {
                            // Names the table: the rows before it are in before it runs.
                            sql.exec_deferred(
                                "UPDATE copied_t SET n = -n WHERE k <= $1",
                                params![k],
                            )?;
                        }
                    }
                    Ok::<_, StoreError>(sql
                        .query("SELECT k, v, n FROM copied_t ORDER BY k", &[])?
                        .into_iter()
                        .map(|r| (r.int(0), r.opt_text(1), r.int(2)))
                        .collect::<Vec<_>>())
                })
            })
            .await
            .unwrap();
        assert_eq!(seen.len(), 200, "[{}]", db.label);
        for (k, v, n) in &seen {
            let want_v = (k % 7 != 0).then(|| format!("v{k}"));
            let want_n = if *k <= 100 { -k * 10 } else { k * 10 };
            assert_eq!((v, *n), (&want_v, want_n), "row {k} [{}]", db.label);
        }

        let r: Result<(), StoreError> = db
            .store
            .run("c", |sql| {
                transaction(sql, |sql| {
                    for k in 300..400i64 {
                        sql.exec_deferred(
                            "INSERT INTO copied_t (k, v, n) VALUES ($1, $2, $3)",
                            params![k, "new", k],
                        )?;
                    }
                    sql.exec_deferred(
                        "INSERT INTO copied_t (k, v, n) VALUES ($1, $2, $3)",
                        params![5i64, "duplicate", 0i64],
                    )
                })
            })
            .await;
        assert!(r.is_err(), "[{}]", db.label);
        for _ in 0..12 {
            let n = db
                .store
                .run("c", |sql| {
                    Ok::<_, StoreError>(sql.query("SELECT COUNT(*) FROM copied_t", &[])?[0].int(0))
                })
                .await
                .unwrap();
            assert_eq!(n, 200, "nothing of the failed load stays [{}]", db.label);
        }
    }
}
