//! The fallback for what notifications miss: every pending QR is asked of the bank with a
//! back-off (a revoke the bank did not confirm is sent again; a QR past its lifetime plus the
//! grace is cancelled at the bank and marked expired), the bank is probed when idle, and a bank
//! unreachable for long opens the `sbp_bank_unreachable` alert (closed when it answers).

use std::sync::Arc;
use std::time::Duration;

use backend_sync::sbp::SbpState;

use super::bank::BankError;
use super::service::{plus, Sbp};
use super::store::{self, QrRow};

/// QRs asked per pass.
const BATCH: i64 = 50;
/// The longest wait between two polls of one QR.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// An idle bank is probed this often (for the heartbeat's `sbp_available`).
const PROBE_EVERY: Duration = Duration::from_secs(30);

pub(super) async fn run(sbp: Arc<Sbp>, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let period = sbp.settings.poll_interval.max(Duration::from_millis(20));
    loop {
        if let Err(e) = tick(&sbp).await {
            tracing::warn!(error = %e, "СБП poll failed; trying again");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

fn backoff(base: Duration, polls: i64) -> Duration {
    let shift = u32::try_from(polls.clamp(0, 6)).unwrap_or(6);
    (base * 2u32.pow(shift)).min(MAX_BACKOFF)
}

fn past(t: &str, grace: Duration) -> bool {
    plus(t, grace) <= crate::now_utc()
}

async fn tick(sbp: &Arc<Sbp>) -> Result<(), crate::StoreError> {
    if sbp.idle() >= PROBE_EVERY {
        // Any answer, even "no such payment", shows the bank is there.
        let r = sbp.bank.state("0").await;
        sbp.note(&r);
    }
    let now = crate::now_utc();
    let rows = sbp
        .store
        .read(move |sql| store::due(sql, &now, BATCH))
        .await?;
    for row in rows {
        poll_one(sbp, &row).await?;
    }
    alert(sbp).await
}

async fn poll_one(sbp: &Arc<Sbp>, row: &QrRow) -> Result<(), crate::StoreError> {
    let overdue = past(&row.expires_utc, sbp.settings.expiry_grace);
    let r = if row.revoke_requested || overdue {
        sbp.bank.cancel(&row.bank_payment_id).await
    } else {
        sbp.bank.state(&row.bank_payment_id).await
    };
    sbp.note(&r);
    match r {
        Ok(mut s) => {
            if overdue && !row.revoke_requested && s.state == SbpState::Revoked {
                // Cancelled by us because its lifetime ran out.
                s.state = SbpState::Expired;
                s.detail = "lifetime over: cancelled at the bank".into();
            }
            sbp.apply(&row.payment_id, s).await?;
        }
        Err(BankError::Unreachable(e)) => {
            tracing::debug!(payment = %row.payment_id, error = %e, "bank did not answer a poll");
        }
        Err(e) => {
            tracing::warn!(payment = %row.payment_id, error = %e, "bank refused a poll");
        }
    }
    let polls = row.polls + 1;
    let next = plus(
        &crate::now_utc(),
        backoff(sbp.settings.poll_interval, polls),
    );
    let id = row.payment_id.clone();
    sbp.store
        .run("sbp", move |sql| store::schedule(sql, &id, polls, &next))
        .await
}

async fn alert(sbp: &Arc<Sbp>) -> Result<(), crate::StoreError> {
    let down = sbp
        .unreachable_for()
        .filter(|(d, _)| *d >= sbp.settings.unreachable_alert_after);
    let name = sbp.bank.name();
    sbp.store
        .run("alerts", move |sql| {
            crate::alerts::rules::sweep_bank(
                sql,
                name,
                down.as_ref().map(|(_, e)| e.as_str()),
                &crate::now_utc(),
            )
        })
        .await
}
