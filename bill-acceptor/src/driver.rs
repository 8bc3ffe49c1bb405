//! The async driver: a tokio task that owns the serial port and the timers and runs
//! [`HostCore`]. Everything the kiosk does with a validator goes through [`BillAcceptor`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::host::{BillCommand, BillEvent, HostCommand, HostConfig, HostCore, ReportToken};
use crate::port::AsyncPort;
use crate::protocol::Protocol;

/// What to drive and how.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub protocol: Protocol,
    /// Serial device, e.g. `/dev/ttyUSB0`, or an emulator's pty.
    pub port: PathBuf,
    pub host: HostConfig,
    /// How often to try re-opening a port that went away.
    pub reopen_interval: Duration,
}

impl DriverConfig {
    pub fn new(protocol: Protocol, port: impl Into<PathBuf>) -> Self {
        Self {
            protocol,
            port: port.into(),
            host: HostConfig::default(),
            reopen_interval: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("cannot open the bill acceptor port: {0}")]
    Open(#[source] std::io::Error),
    #[error("the bill acceptor driver has stopped")]
    Stopped,
}

/// Handle to a running driver. Dropping it stops the driver at once (like a crash: nothing is
/// acknowledged on the way out, so unconfirmed reports are repeated to the next driver).
pub struct BillAcceptor {
    protocol: Protocol,
    commands: mpsc::UnboundedSender<HostCommand>,
    events: mpsc::UnboundedReceiver<BillEvent>,
    task: JoinHandle<()>,
}

/// Open the port and start the driver. It polls first, reports what the device holds, then
/// resets and configures it; [`BillEvent::Ready`] follows.
pub async fn spawn_driver(config: DriverConfig) -> Result<BillAcceptor, DriverError> {
    let line = config.protocol.wire().line_settings();
    let port = AsyncPort::open(&config.port, line).map_err(DriverError::Open)?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let protocol = config.protocol;
    let task = tokio::spawn(run(config, port, cmd_rx, ev_tx));
    Ok(BillAcceptor {
        protocol,
        commands: cmd_tx,
        events: ev_rx,
        task,
    })
}

impl BillAcceptor {
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    pub async fn command(&self, command: BillCommand) -> Result<(), DriverError> {
        self.commands
            .send(HostCommand::Bill(command))
            .map_err(|_| DriverError::Stopped)
    }

    /// The host has durably recorded the stacked/returned report carrying `token`: the driver
    /// may now acknowledge it to the device.
    pub async fn confirm(&self, token: ReportToken) -> Result<(), DriverError> {
        self.commands
            .send(HostCommand::Confirm(token))
            .map_err(|_| DriverError::Stopped)
    }

    /// The next event; `None` once the driver has stopped.
    pub async fn next_event(&mut self) -> Option<BillEvent> {
        self.events.recv().await
    }

    /// Stops the driver and waits until it has let go of the serial port (ports are opened
    /// exclusively, so a new driver on the same port must wait for this).
    pub async fn close(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for BillAcceptor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    config: DriverConfig,
    port: AsyncPort,
    mut commands: mpsc::UnboundedReceiver<HostCommand>,
    events: mpsc::UnboundedSender<BillEvent>,
) {
    let wire = config.protocol.wire();
    let line = wire.line_settings();
    let mut core = HostCore::new(wire, config.host.clone(), Instant::now());
    let mut port = Some(port);
    let mut buf = [0u8; 512];
    loop {
        let mut lost = false;
        while let Some(bytes) = core.poll_transmit() {
            if let Some(p) = &port {
                if let Err(err) = p.write_all(&bytes).await {
                    tracing::warn!(%err, "bill acceptor port write failed");
                    lost = true;
                    break;
                }
            }
        }
        while let Some(event) = core.poll_event() {
            tracing::debug!(?event, "bill acceptor event");
            if events.send(event).is_err() {
                return;
            }
        }
        if lost {
            port = None;
            core.handle_port_lost(Instant::now());
            continue;
        }
        match &port {
            Some(p) => {
                let deadline = tokio::time::Instant::from_std(core.poll_timeout());
                tokio::select! {
                    read = p.read(&mut buf) => match read {
                        Ok(n) => core.handle_input(&buf[..n], Instant::now()),
                        Err(err) => {
                            tracing::warn!(%err, "bill acceptor port read failed");
                            lost = true;
                        }
                    },
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => core.handle_command(cmd, Instant::now()),
                        None => return,
                    },
                    _ = tokio::time::sleep_until(deadline) => core.handle_timeout(Instant::now()),
                }
                if lost {
                    port = None;
                    core.handle_port_lost(Instant::now());
                }
            }
            None => {
                tokio::select! {
                    cmd = commands.recv() => match cmd {
                        Some(cmd) => core.handle_command(cmd, Instant::now()),
                        None => return,
                    },
                    _ = tokio::time::sleep(config.reopen_interval) => {
                        match AsyncPort::open(&config.port, line) {
                            Ok(p) => {
                                tracing::info!(port = %config.port.display(), "bill acceptor port reopened");
                                port = Some(p);
                                core.handle_timeout(Instant::now());
                            }
                            Err(err) => tracing::debug!(%err, "bill acceptor port still unavailable"),
                        }
                    }
                }
            }
        }
    }
}
