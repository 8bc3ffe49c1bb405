//! Time to reconcile 1 000 000 payments (SQLite): projections of 20 terminals × 30 days are
//! loaded, then the full report (days, encashments, card matching, FD gaps, unprinted,
//! uncredited) is built and rendered to XLSX.
//! `cargo bench -p back-office --bench reconcile_1m`. Env: BENCH_PAYMENTS (1000000).

use std::time::Instant;

use back_office::db::{transaction, Store, StoreError};
use back_office::params;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "back_office::reconcile=debug".into()),
        )
        .init();
    let payments: i64 = std::env::var("BENCH_PAYMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path().join("reconcile.sqlite")).await.unwrap();
        let load = Instant::now();
        store
            .run("load", move |sql| {
                transaction(sql, |sql| -> Result<(), StoreError> {
                    let terminals = 20i64;
                    let per_terminal = payments / terminals;
                    for t in 0..terminals {
                        let tid = format!("T-{t:02}");
                        let mut seq = 0i64;
                        for i in 0..per_terminal {
                            let day = format!("2026-11-{:02}", 1 + (i * 30 / per_terminal));
                            let time = format!("{day}T10:00:00.000Z");
                            let pid = format!("{tid}-P{i}");
                            let card = i % 3 == 0;
                            let amount = 150_000i64;
                            seq += 1;
                            if card {
                                sql.exec("INSERT INTO card_ops (terminal_id, payment_id, seq, time_utc, day, card_terminal_id, receipt_no, rrn, masked_pan, auth_code, amount_kopecks, state, settle_until) VALUES ($1,$2,$3,$4,$5,$6,$7,NULL,'4111********1111','A1',$8,'completed',$9)",
                                    params![&tid, &pid, seq, &time, &day, format!("CT-{tid}"), i, amount, back_office::project::shift_day(&day, 1)])?;
                                if i % 1000 != 0 {
                                    sql.exec("INSERT INTO settlement (card_terminal_id, receipt_no, day, operation, amount_kopecks, imported_utc, day_prev) VALUES ($1,$2,$3,'sale',$4,'x',$5)",
                                        params![format!("CT-{tid}"), i, &day, amount, back_office::project::shift_day(&day, -1)])?;
                                }
                            } else {
                                for d in [100_000i64, 50_000] {
                                    seq += 1;
                                    sql.exec("INSERT INTO bills (terminal_id, seq, time_utc, day, denomination_kopecks, payment_id) VALUES ($1,$2,$3,$4,$5,$6)",
                                        params![&tid, seq, &time, &day, d, &pid])?;
                                }
                            }
                            seq += 1;
                            sql.exec("INSERT INTO payments (terminal_id, payment_id, seq, time_utc, day, account, method, total_kopecks, allocations) VALUES ($1,$2,$3,$4,$5,'100000001',$6,$7,'[]')",
                                params![&tid, &pid, seq, &time, &day, if card { "card" } else { "cash" }, amount])?;
                            seq += 1;
                            // Every 10 000th receipt is lost: FD gaps to find.
                            let fd = i + 1 + i / 10_000;
                            sql.exec("INSERT INTO receipts (terminal_id, receipt_id, seq, time_utc, day, payment_id, total_kopecks, fn_number, fd_number, fiscal_sign, qr, printed) VALUES ($1,$2,$3,$4,$5,$6,$7,'FN1',$8,'1','q',1)",
                                params![&tid, format!("{pid}-R"), seq, &time, &day, &pid, amount, fd])?;
                            back_office::project::fiscal_doc(sql, &tid, "FN1", fd as u32, &day, "receipt", &mut back_office::project::BatchMemo::default())?;
                            if i % 5000 == 4999 {
                                seq += 1;
                                sql.exec("INSERT INTO encashments (terminal_id, seq, time_utc, day, encashment_id, counted, counted_total_kopecks, terminal_expected_total_kopecks) VALUES ($1,$2,$3,$4,$5,'{\"100000\":3000,\"50000\":3333}',0,0)",
                                    params![&tid, seq, &time, &day, format!("{tid}-E{i}")])?;
                            }
                        }
                    }
                    // What a settlement import does line by line, once for the whole file.
                    back_office::settlement::rematch(sql, None)
                })?;
                sql.batch("ANALYZE")
            })
            .await
            .unwrap();
        println!("loaded {payments} payments in {:.1} s", load.elapsed().as_secs_f64());
        for round in 0..3 {
            let t = Instant::now();
            let report = store.read(|sql| back_office::reconcile::report(sql, "2026-11-01", "2026-11-30")).await.unwrap();
            let built = t.elapsed().as_secs_f64();
            let xlsx = back_office::report_out::xlsx(&report).unwrap();
            let total = t.elapsed().as_secs_f64();
            let n: i64 = report.days.iter().map(|d| d.cash_payments + d.card_payments).sum();
            println!(
                "reconcile round {round}: {n} payments, {} terminal-days, {} findings ({} FD gaps, {} card mismatches): report {built:.2} s, with XLSX ({} KiB) {total:.2} s",
                report.days.len(), report.discrepancies(), report.fd_gaps.len(), report.card_mismatches.len(), xlsx.len() / 1024
            );
        }
    });
}
