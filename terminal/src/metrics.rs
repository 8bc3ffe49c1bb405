//! Prometheus metrics on localhost: the text exposition format (version 0.0.4) rendered from a
//! [`MetricsSnapshot`], and a tiny HTTP server that serves `GET /metrics` from a
//! `tokio::sync::watch` channel the daemon keeps up to date.
//!
//! Metric names follow the Prometheus conventions (`kiosk_` prefix, base units, `_total` for
//! counters, booleans as 0/1 gauges):
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `kiosk_device_up{device}` | gauge | 1 unless the device is down |
//! | `kiosk_device_warning{device}` | gauge | 1 while the device works but needs attention |
//! | `kiosk_service_state{state}` | gauge | 1 for the current one of `in_service`, `degraded`, `out_of_service` |
//! | `kiosk_outage_working_minutes` | gauge | working minutes of the current outage (0 if none) |
//! | `kiosk_outages_total` | counter | outages since start |
//! | `kiosk_outage_breaches_total` | counter | outages that passed 60 working minutes |
//! | `kiosk_sync_queue_length` | gauge | journal records waiting for the back office |
//! | `kiosk_sync_lag_seconds` | gauge | age of the oldest unsent record |
//! | `kiosk_cassette_bills{denomination}` | gauge | bills in the cassette per denomination (roubles) |
//! | `kiosk_cassette_amount_roubles` | gauge | cash in the cassette |
//! | `kiosk_printer_paper_near_end` | gauge | 1 when the paper roll is near its end |
//! | `kiosk_printer_paper_out` | gauge | 1 when the printer has no paper |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::health::{Device, DeviceCondition, HealthMonitor, ServiceState};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything exported, gathered by the daemon.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Device name → condition.
    pub devices: BTreeMap<String, DeviceCondition>,
    /// `in_service`, `degraded` or `out_of_service`.
    pub service_state: String,
    pub outage_working_minutes: u32,
    pub outages_total: u64,
    pub outage_breaches_total: u64,
    pub sync_queue_length: u64,
    pub sync_lag_seconds: f64,
    /// Denomination in roubles → bills in the cassette.
    pub cassette_bills: BTreeMap<u32, u32>,
    pub printer_paper_near_end: bool,
    pub printer_paper_out: bool,
}

impl MetricsSnapshot {
    /// Fills the health part (devices, service state, outage counts) from the monitor.
    pub fn update_from_monitor(&mut self, monitor: &HealthMonitor, now: DateTime<Utc>) {
        self.devices = Device::ALL
            .iter()
            .map(|d| (d.name().to_owned(), monitor.condition(*d).clone()))
            .collect();
        self.service_state = monitor.service_state().name().to_owned();
        let current = monitor.current_outage(now);
        self.outage_working_minutes = current.as_ref().map_or(0, |o| o.working_minutes);
        let closed = monitor.history().count() as u64;
        self.outages_total = closed + u64::from(current.is_some());
        self.outage_breaches_total = monitor.history().filter(|o| o.breached).count() as u64
            + u64::from(current.as_ref().is_some_and(|o| o.breached));
    }

    /// The Prometheus text exposition of this snapshot.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {}", number(*value));
            }
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let by_device = |f: &dyn Fn(&DeviceCondition) -> bool| {
            self.devices
                .iter()
                .map(|(d, c)| (labels(&[("device", d.as_str())]), flag(f(c))))
                .collect::<Vec<_>>()
        };
        family(
            "kiosk_device_up",
            "gauge",
            "1 unless the device is down.",
            &by_device(&|c| !c.is_down()),
        );
        family(
            "kiosk_device_warning",
            "gauge",
            "1 while the device works but needs attention.",
            &by_device(&|c| matches!(c, DeviceCondition::Warning { .. })),
        );
        let states = [ServiceState::InService.name(), "degraded", "out_of_service"];
        family(
            "kiosk_service_state",
            "gauge",
            "1 for the kiosk's current service state.",
            &states
                .iter()
                .map(|s| (labels(&[("state", *s)]), flag(self.service_state == *s)))
                .collect::<Vec<_>>(),
        );
        family(
            "kiosk_outage_working_minutes",
            "gauge",
            "Working minutes of the current outage, 0 when in service.",
            &[(String::new(), f64::from(self.outage_working_minutes))],
        );
        family(
            "kiosk_outages_total",
            "counter",
            "Outages since the terminal started.",
            &[(String::new(), self.outages_total as f64)],
        );
        family(
            "kiosk_outage_breaches_total",
            "counter",
            "Outages that passed the 60-working-minute limit.",
            &[(String::new(), self.outage_breaches_total as f64)],
        );
        family(
            "kiosk_sync_queue_length",
            "gauge",
            "Journal records waiting to be sent to the back office.",
            &[(String::new(), self.sync_queue_length as f64)],
        );
        family(
            "kiosk_sync_lag_seconds",
            "gauge",
            "Age of the oldest journal record not yet acknowledged by the back office.",
            &[(String::new(), self.sync_lag_seconds)],
        );
        family(
            "kiosk_cassette_bills",
            "gauge",
            "Bills in the cassette by denomination in roubles.",
            &self
                .cassette_bills
                .iter()
                .map(|(d, n)| {
                    let d = d.to_string();
                    (labels(&[("denomination", d.as_str())]), f64::from(*n))
                })
                .collect::<Vec<_>>(),
        );
        let amount: u64 = self
            .cassette_bills
            .iter()
            .map(|(d, n)| u64::from(*d) * u64::from(*n))
            .sum();
        family(
            "kiosk_cassette_amount_roubles",
            "gauge",
            "Cash in the cassette in roubles.",
            &[(String::new(), amount as f64)],
        );
        family(
            "kiosk_printer_paper_near_end",
            "gauge",
            "1 when the receipt paper roll is near its end.",
            &[(String::new(), flag(self.printer_paper_near_end))],
        );
        family(
            "kiosk_printer_paper_out",
            "gauge",
            "1 when the printer has no paper.",
            &[(String::new(), flag(self.printer_paper_out))],
        );
        out
    }
}

/// `{a="x",b="y"}` with label values escaped as the format requires.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v == f64::INFINITY {
        "+Inf".to_owned()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{v}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics must be served on a loopback address, not {0}")]
    NotLoopback(SocketAddr),
    #[error("metrics server: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds the metrics listener; only loopback addresses are accepted.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    if !addr.ip().is_loopback() {
        return Err(MetricsError::NotLoopback(addr));
    }
    Ok(TcpListener::bind(addr).await?)
}

async fn metrics(State(source): State<watch::Receiver<MetricsSnapshot>>) -> impl IntoResponse {
    let body = source.borrow().render();
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body)
}

/// Serves `GET /metrics` until the listener fails.
pub async fn serve(
    listener: TcpListener,
    source: watch::Receiver<MetricsSnapshot>,
) -> Result<(), MetricsError> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(source);
    axum::serve(listener, app).await?;
    Ok(())
}
