//! What watches the running kiosk from outside the core: the Prometheus endpoint on localhost
//! and the systemd watchdog, fed only while the core loop and the UI's event loop turn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::metrics::{self, MetricsSnapshot};
use crate::runtime::{Clock, Core};
use crate::watchdog::{self, Liveness, SystemdNotifier};

/// Where `GET /metrics` is served unless configured otherwise (loopback only).
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9877";

/// The core may stay silent this long before the watchdog stops being fed (it turns every 5 s).
const CORE_MAX_SILENCE: Duration = Duration::from_secs(30);

/// How often the UI thread is asked to beat its heartbeat.
const UI_PING: Duration = Duration::from_secs(2);

/// Gives the core a metrics channel (served on `metrics_addr`) and, under systemd with
/// `WatchdogSec=`, heartbeats for the core loop and the UI thread that feed the watchdog.
pub fn attach<C: Clock>(
    core: Core<C>,
    runtime: &tokio::runtime::Runtime,
    metrics_addr: SocketAddr,
    ui: ui::UiHandle,
) -> Core<C> {
    let (metrics_tx, metrics_rx) = watch::channel(MetricsSnapshot::default());
    runtime.spawn(async move {
        match metrics::bind(metrics_addr).await {
            Ok(listener) => {
                info!(addr = %metrics_addr, "metrics served at /metrics");
                if let Err(e) = metrics::serve(listener, metrics_rx).await {
                    warn!(error = %e, "metrics server stopped");
                }
            }
            Err(e) => warn!(addr = %metrics_addr, error = %e, "metrics not served"),
        }
    });
    let core = core.with_metrics(metrics_tx);
    match watchdog::feed_interval_from_env() {
        Some(interval) => {
            let liveness = Liveness::new();
            let heartbeat = liveness.register("core", CORE_MAX_SILENCE, Instant::now());
            let ui_beat = Arc::new(liveness.register("ui", CORE_MAX_SILENCE, Instant::now()));
            runtime.spawn(async move {
                loop {
                    let beat = ui_beat.clone();
                    // A hung event loop never runs this, and the watchdog starves.
                    if ui.ping(move || beat.beat()).is_err() {
                        return;
                    }
                    tokio::time::sleep(UI_PING).await;
                }
            });
            runtime.spawn(watchdog::run(liveness, SystemdNotifier, interval));
            core.with_heartbeat(heartbeat)
        }
        None => core,
    }
}
