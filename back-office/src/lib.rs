//! The back office: ingest of terminal journals, accounts and content for the terminals, messages,
//! reconciliation for finance and the fleet page. SQLite by default, PostgreSQL for fleets.
//!
//! Start points: [`http::router`] with an [`http::AppState`], [`serve`] for a listener, and
//! [`embedded::EmbeddedBackOffice`] for an in-process server (`terminal run --simulate`, tests).

pub mod accounts;
pub mod charts;
pub mod content;
pub mod db;
pub mod embedded;
pub mod export;
pub mod fleet;
pub mod http;
pub mod incidents;
pub mod ingest;
pub mod messages;
pub mod openapi;
pub mod project;
pub mod reconcile;
pub mod report_out;
pub mod schema;
pub mod settlement;
pub mod terminals;
pub mod testkit;

pub use db::{Backend, Store, StoreError};
pub use embedded::EmbeddedBackOffice;
pub use http::{router, AppState};

/// Server time as stored everywhere: RFC 3339 UTC with milliseconds.
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
