//! An in-process back office for `terminal run --simulate` and tests: a temporary SQLite database,
//! demo accounts and content, one registered terminal and an `admin` user whose generated
//! password is written to a file readable only by the owner (its path is printed on stderr, never
//! the password: console output ends up in logs), served on an ephemeral loopback port.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::db::{Store, StoreError};
use crate::http::AppState;
use crate::messages::{FileSender, MessageSender};
use crate::terminals::TerminalError;

/// Why the embedded server did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("embedded back office: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    #[error(transparent)]
    User(#[from] crate::users::UserError),
    #[error("embedded back office: СБП: {0}")]
    Sbp(String),
}

/// A running in-process back office. Dropping it stops the server and deletes its database.
pub struct EmbeddedBackOffice {
    /// Base URL, `http://127.0.0.1:PORT/` (loopback, so the sync client accepts plain HTTP).
    pub url: String,
    pub terminal_id: String,
    /// The key issued to `terminal_id`, hex.
    pub key_hex: String,
    /// An API token of the `admin` user (`Authorization: Bearer`), for scripts and tests.
    pub admin_token: String,
    pub store: Store,
    /// Where e-receipts and confirmations are "sent" (JSON lines).
    pub messages_file: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    dispatcher: JoinHandle<()>,
    sbp_poller: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl EmbeddedBackOffice {
    /// Starts a server with demo accounts and content and registers `terminal_id`.
    pub async fn start(terminal_id: &str) -> Result<Self, EmbeddedError> {
        Self::start_inner(terminal_id, None).await
    }

    /// Like [`EmbeddedBackOffice::start`], taking СБП payments through the bank `sbp` names
    /// (e.g. a `bank_emulator::BankEmulator`'s `api_url()`), with its poller running. Without a
    /// `notification_url` in the settings, the bank is told this server's own
    /// `/bank/tbank/notification`. The heartbeat's `sbp_available` follows the bank.
    pub async fn start_with_sbp(
        terminal_id: &str,
        sbp: crate::sbp::SbpSettings,
    ) -> Result<Self, EmbeddedError> {
        Self::start_inner(terminal_id, Some(sbp)).await
    }

    async fn start_inner(
        terminal_id: &str,
        sbp: Option<crate::sbp::SbpSettings>,
    ) -> Result<Self, EmbeddedError> {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(dir.path().join("back-office.sqlite")).await?;
        let id = terminal_id.to_string();
        let key_hex = store
            .run("setup", move |sql| -> Result<String, EmbeddedError> {
                crate::accounts::upsert(sql, &crate::accounts::demo_accounts())?;
                crate::content::set(sql, crate::content::demo())?;
                Ok(crate::terminals::add(sql, &id, false, &crate::now_utc())?)
            })
            .await?;
        let password = crate::users::generate_password();
        let hash = crate::users::hash_password(&password)?;
        let admin_token = store
            .run("setup", move |sql| -> Result<String, EmbeddedError> {
                crate::users::add(
                    sql,
                    "admin",
                    crate::users::Role::Admin,
                    &hash,
                    &crate::now_utc(),
                )?;
                Ok(crate::users::add_token(
                    sql,
                    "admin",
                    "embedded",
                    &crate::now_utc(),
                )?)
            })
            .await?;
        let messages_file = dir.path().join("messages.jsonl");
        let sender: Arc<dyn MessageSender> = Arc::new(FileSender::new(messages_file.clone()));
        let dispatcher =
            crate::messages::spawn_dispatcher(store.clone(), sender, Duration::from_secs(2));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let mut state = AppState::new(store.clone());
        let mut sbp_poller = None;
        if let Some(mut settings) = sbp {
            if settings.tbank.notification_url.is_none() {
                settings.tbank.notification_url = Some(format!(
                    "http://{addr}{}",
                    crate::sbp::api::TBANK_NOTIFICATION_PATH
                ));
            }
            let service =
                crate::sbp::Sbp::new(store.clone(), settings).map_err(EmbeddedError::Sbp)?;
            sbp_poller = Some(tokio::spawn(
                service.clone().run_poller(std::future::pending::<()>()),
            ));
            state = state.with_sbp(service);
        }
        let server = tokio::spawn(crate::serve(listener, state, async {
            let _ = rx.await;
        }));
        tracing::info!(%addr, terminal = terminal_id, "embedded back office started");
        // A throw-away database of one run: the person at the console is told where its admin
        // password is, not the password itself.
        let password_file = dir.path().join("admin-password");
        write_owner_only(&password_file, &password)?;
        eprintln!(
            "embedded back office: log in at http://{addr}/login as admin; this run's password is in {}",
            password_file.display()
        );
        Ok(EmbeddedBackOffice {
            url: format!("http://{addr}/"),
            terminal_id: terminal_id.to_string(),
            key_hex,
            admin_token,
            store,
            messages_file,
            shutdown: Some(tx),
            server,
            dispatcher,
            sbp_poller,
            _dir: dir,
        })
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.dispatcher.abort();
        if let Some(p) = self.sbp_poller.take() {
            p.abort();
        }
        let server = std::mem::replace(&mut self.server, tokio::spawn(async { Ok(()) }));
        let _ = server.await;
    }
}

impl Drop for EmbeddedBackOffice {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.dispatcher.abort();
        if let Some(p) = self.sbp_poller.take() {
            p.abort();
        }
    }
}

/// Writes `secret` to a new file only its owner may read.
fn write_owner_only(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")
}
