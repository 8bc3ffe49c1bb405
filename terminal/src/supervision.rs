//! What watches the running kiosk from outside the core: the Prometheus endpoint on localhost,
//! the heartbeats to the back office (the health desk's view plus the sync queue), and the
//! systemd watchdog, fed only while the core loop and the UI's event loop turn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};

use backend_sync::wire::Heartbeat;
use sync_client::syncer::HealthSlot;
use sync_client::SyncStatus;

use crate::metrics::{self, MetricsSnapshot};
use crate::runtime::{Clock, Core};
use crate::sync::KioskSync;
use crate::watchdog::{self, Liveness, SystemdNotifier};

/// Where `GET /metrics` is served unless configured otherwise (loopback only).
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9877";

/// The core may stay silent this long before the watchdog stops being fed (it turns every 5 s).
const CORE_MAX_SILENCE: Duration = Duration::from_secs(30);

/// How often the UI thread is asked to beat its heartbeat.
const UI_PING: Duration = Duration::from_secs(2);

/// Gives the core a metrics channel (served on `metrics_addr`, with the sync queue added, and
/// sent to the back office in every heartbeat) and, under systemd with `WatchdogSec=`,
/// heartbeats for the core loop and the UI thread that feed the watchdog.
pub fn attach<C: Clock>(
    core: Core<C>,
    runtime: &tokio::runtime::Runtime,
    metrics_addr: SocketAddr,
    ui: ui::UiHandle,
    sync: &KioskSync,
    terminal_id: &str,
) -> Core<C> {
    let (metrics_tx, core_metrics) = watch::channel(MetricsSnapshot::default());
    let (served_tx, metrics_rx) = watch::channel(MetricsSnapshot::default());
    runtime.spawn(follow_health(
        core_metrics,
        sync.subscribe(),
        served_tx,
        sync.health_slot(),
        terminal_id.to_owned(),
    ));
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

/// Keeps the served metrics and the heartbeat's health part in step with the core's snapshot and
/// the sync queue.
async fn follow_health(
    mut core: watch::Receiver<MetricsSnapshot>,
    mut sync: watch::Receiver<SyncStatus>,
    served: watch::Sender<MetricsSnapshot>,
    heartbeat: HealthSlot,
    terminal_id: String,
) {
    loop {
        let mut snapshot = core.borrow_and_update().clone();
        let status = sync.borrow_and_update().clone();
        snapshot.sync_queue_length = status.queue_len;
        snapshot.sync_lag_seconds = status.lag_seconds as f64;
        heartbeat.set(heartbeat_of(&snapshot, &terminal_id));
        served.send_replace(snapshot);
        tokio::select! {
            changed = core.changed() => if changed.is_err() { return },
            changed = sync.changed() => if changed.is_err() { return },
        }
    }
}

/// The health part of a heartbeat (the syncer fills in the time and the queue).
pub fn heartbeat_of(snapshot: &MetricsSnapshot, terminal_id: &str) -> Heartbeat {
    let paper = if snapshot.printer_paper_out {
        "out"
    } else if snapshot.printer_paper_near_end {
        "near_end"
    } else if snapshot.devices.is_empty() {
        "unknown"
    } else {
        "ok"
    };
    Heartbeat {
        version: backend_sync::wire::WIRE_VERSION,
        terminal_id: terminal_id.to_owned(),
        software_version: env!("CARGO_PKG_VERSION").to_owned(),
        service_state: if snapshot.service_state.is_empty() {
            "unknown".to_owned()
        } else {
            snapshot.service_state.clone()
        },
        devices: snapshot
            .devices
            .iter()
            .map(|(name, condition)| (name.clone(), condition.name().to_owned()))
            .collect(),
        paper: paper.to_owned(),
        queue_len: snapshot.sync_queue_length,
        sync_lag_seconds: snapshot.sync_lag_seconds as u64,
        outage_working_minutes: (snapshot.service_state == "out_of_service")
            .then_some(snapshot.outage_working_minutes),
        ..Heartbeat::default()
    }
}
