//! The back office: ingest of terminal journals, accounts and content for the terminals, messages,
//! reconciliation for finance, СБП QR payments through a bank adapter ([`sbp`]) and the fleet page. SQLite by default, PostgreSQL for fleets.
//!
//! Start points: [`http::router`] with an [`http::AppState`], [`serve`] (HTTP) or [`serve_tls`]
//! (HTTPS) for a listener, and
//! [`embedded::EmbeddedBackOffice`] for an in-process server (`terminal run --simulate`, tests).

pub mod access;
pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod card_terminals;
pub mod charts;
pub mod content;
pub mod db;
pub mod embedded;
pub mod enrolment;
pub mod export;
pub mod fleet;
pub mod http;
pub mod incidents;
pub mod ingest;
pub mod messages;
pub mod openapi;
pub mod pg_tls;
pub mod project;
pub mod reconcile;
pub mod report_out;
pub mod sbp;
pub mod schema;
pub mod sessions;
pub mod settlement;
pub mod smtp;
pub mod stuck_notes;
pub mod terminal_page;
pub mod terminals;
pub mod testkit;
pub mod tls;
pub mod users;
pub mod web;

pub use db::{Backend, Store, StoreError};
pub use embedded::EmbeddedBackOffice;
pub use http::{router, AppState};

/// Server time as stored everywhere: RFC 3339 UTC with milliseconds.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serves the API on `listener` until `shutdown` resolves; then stops accepting connections and
/// waits for the requests in flight (an ingest batch is committed or not at all, never half).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<access::PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Like [`serve`], over HTTPS with `config` (see [`tls::load_config`]); session cookies carry
/// `Secure`.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: std::sync::Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tls::TlsListener::new(listener, config)?;
    let app =
        router(state.with_tls(true)).into_make_service_with_connect_info::<access::PeerAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
