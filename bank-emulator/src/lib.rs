//! An emulated bank for СБП (Faster Payments System) QR payments, speaking the shape of T-Bank's
//! Acquiring API v2 (`/v2/Init`, `/v2/GetQr`, `/v2/GetState`, `/v2/Cancel`, signed with `Token`,
//! notifications to the merchant's `NotificationURL`) over HTTP on `127.0.0.1`, with scripted
//! outcomes ([`Script`]) and a manual mode ([`BankEmulator::pay`], [`BankEmulator::decline`]).
//!
//! For tests and `terminal run --simulate` only: the production back office never links it.
//! Layers: [`token`] (the signature rule), `bank` (the books and scripts, no I/O), `server`
//! (HTTP in, notifications out).

mod bank;
mod server;
pub mod token;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use bank::{EmulatedPayment, Script, Status, SCRIPT_DELAY};
pub use server::{MAX_ORDER_ID_LEN, NOTIFY_ATTEMPTS, NOTIFY_FIRST_RETRY};

/// The merchant's credentials the emulated bank accepts.
#[derive(Clone)]
pub struct EmulatorConfig {
    pub terminal_key: String,
    pub password: String,
}

impl std::fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("terminal_key", &self.terminal_key)
            .field("password", &"***")
            .finish()
    }
}

/// A running emulated bank. Dropping it stops the server.
pub struct BankEmulator {
    inner: Arc<server::Inner>,
    addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    ticker: JoinHandle<()>,
}

/// How often scripted and deadline changes are applied.
const TICK: Duration = Duration::from_millis(50);

impl BankEmulator {
    /// Starts the bank on `127.0.0.1` with an ephemeral port. New payments follow
    /// [`Script::Manual`] until [`BankEmulator::set_default`] says otherwise.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<BankEmulator> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(std::io::Error::other)?;
        let inner = Arc::new(server::Inner {
            config,
            books: Mutex::new(bank::Books::new()),
            http,
            runtime: tokio::runtime::Handle::current(),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(inner.clone());
        let server = tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "bank emulator stopped");
            }
        });
        let ti = inner.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(TICK).await;
                let notices = ti.books().tick(Instant::now(), chrono::Utc::now());
                server::deliver_all(&ti, notices);
            }
        });
        tracing::info!(%addr, "bank emulator started");
        Ok(BankEmulator {
            inner,
            addr,
            stop: Some(tx),
            server,
            ticker,
        })
    }

    /// The API's base, `http://127.0.0.1:PORT/v2/` (methods are `…/v2/Init` and so on).
    pub fn api_url(&self) -> String {
        format!("http://{}/v2/", self.addr)
    }

    /// The script of payments that have none of their own.
    pub fn set_default(&self, script: Script) {
        self.inner.books().set_default(script);
    }

    /// The script of the next `Init` (queued: each call scripts one more).
    pub fn script_next(&self, script: Script) {
        self.inner.books().script_next(script);
    }

    /// The script of every payment of `order_id`, those to come and those already there (whose
    /// timers start again now): `script_order(id, Script::Manual)` makes a
    /// [`Script::NeverAnswers`] payment answer again.
    pub fn script_order(&self, order_id: &str, script: Script) {
        self.inner.books().script_order(order_id, script);
    }

    /// The customer pays the order's open payment (manual mode). False when none is open.
    pub fn pay(&self, order_id: &str) -> bool {
        self.settle(order_id, Status::Confirmed)
    }

    /// The customer's bank refuses the order's open payment. False when none is open.
    pub fn decline(&self, order_id: &str) -> bool {
        self.settle(order_id, Status::Rejected)
    }

    fn settle(&self, order_id: &str, status: Status) -> bool {
        let (found, notice) = self.inner.books().settle_order(order_id, status);
        server::deliver_all(&self.inner, notice.into_iter().collect());
        found
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<EmulatedPayment> {
        self.inner
            .books()
            .payments
            .values()
            .map(|p| p.view.clone())
            .collect()
    }

    /// The bank's registry of operations of `day` (UTC dates): CSV with a header, one line per
    /// payment confirmed that day (`payment`) and per refund made that day (`refund`):
    /// `date,time_utc,operation,payment_id,order_id,amount,description` — `date` `YYYY-MM-DD`,
    /// `time_utc` RFC 3339, `payment_id` the bank's `PaymentId`, `order_id` the merchant's
    /// `OrderId`, `amount` roubles with two decimals (a refund's amount is positive).
    pub fn registry_csv(&self, day: chrono::NaiveDate) -> String {
        let books = self.inner.books();
        let mut lines: Vec<(chrono::DateTime<chrono::Utc>, String)> = Vec::new();
        for p in books.payments.values() {
            if let Some(t) = p.view.paid_utc.filter(|t| t.date_naive() == day) {
                lines.push((
                    t,
                    line(
                        t,
                        "payment",
                        &p.view.payment_id,
                        &p.view.order_id,
                        p.view.amount_kopecks,
                        &p.description,
                    ),
                ));
            }
        }
        for r in books
            .refunds
            .iter()
            .filter(|r| r.time_utc.date_naive() == day)
        {
            lines.push((
                r.time_utc,
                line(
                    r.time_utc,
                    "refund",
                    &r.payment_id,
                    &r.order_id,
                    r.amount_kopecks,
                    "",
                ),
            ));
        }
        lines.sort_by_key(|l| l.0);
        let mut out =
            String::from("date,time_utc,operation,payment_id,order_id,amount,description\n");
        for (_, l) in lines {
            out.push_str(&l);
        }
        out
    }
}

fn line(
    t: chrono::DateTime<chrono::Utc>,
    op: &str,
    payment_id: &str,
    order_id: &str,
    kopecks: i64,
    description: &str,
) -> String {
    let description = description.replace('"', "\"\"");
    format!(
        "{},{},{op},{payment_id},{order_id},{}.{:02},\"{description}\"\n",
        t.format("%Y-%m-%d"),
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        kopecks / 100,
        kopecks % 100
    )
}

impl Drop for BankEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.ticker.abort();
        self.server.abort();
    }
}
