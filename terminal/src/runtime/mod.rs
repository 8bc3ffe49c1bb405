//! The async shell around the session core: one task owns the [`Session`] and the [`Journal`],
//! receives what the UI and the device tasks report, executes the core's outputs in order (a
//! journal write is durable before the next output runs) and publishes the view.
//!
//! Devices are tasks that take commands on a channel and report [`CoreEvent`]s back. A report that
//! must not be acknowledged to the device before it is journaled (a stacked bill) carries an
//! [`Ack`]: the core fires it only after the resulting journal entries are on disk.

pub mod fakes;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use crate::journal::{Journal, JournalError};
use crate::session::{
    BillCommand, CardCommand, DeviceInput, FiscalRequest, Input, Intent, Output, Session,
    SlipRequest, View,
};

/// Fired once the effects of a device report are durable.
pub type Ack = oneshot::Sender<()>;

/// Everything that reaches the core task.
#[derive(Debug)]
pub enum CoreEvent {
    Ui(Intent),
    Device(DeviceInput, Option<Ack>),
    Shutdown,
}

/// Requests for the receipt task.
#[derive(Debug, Clone)]
pub enum ReceiptJob {
    Fiscalise(FiscalRequest),
    Print { receipt_id: String },
    Slip(SlipRequest),
}

/// Where the core sends commands.
#[derive(Clone)]
pub struct DeviceLinks {
    pub lookup: mpsc::Sender<String>,
    pub bill: mpsc::Sender<BillCommand>,
    pub card: mpsc::Sender<CardCommand>,
    pub receipts: mpsc::Sender<ReceiptJob>,
}

/// A source of time, so tests can drive the core with a fake clock.
pub trait Clock: Send + 'static {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("journal write failed, the kiosk stops taking money: {0}")]
    Journal(#[from] JournalError),
    #[error("device task '{0}' is gone")]
    DeviceGone(&'static str),
}

pub struct Core<C: Clock> {
    pub session: Session,
    pub journal: Journal,
    pub links: DeviceLinks,
    pub clock: C,
    pub view: watch::Sender<View>,
}

impl<C: Clock> Core<C> {
    /// Runs until `Shutdown` or a fatal error (a journal that cannot be written stops everything:
    /// no money may move without its record).
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<CoreEvent>,
    ) -> Result<Journal, CoreError> {
        self.publish();
        loop {
            let timeout = self.session.poll_timeout();
            let sleep = async {
                match timeout {
                    Some(at) => {
                        let wait = (at - self.clock.now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.recv() => match event {
                    None | Some(CoreEvent::Shutdown) => {
                        info!("core stopping");
                        return Ok(self.journal);
                    }
                    Some(CoreEvent::Ui(intent)) => {
                        let now = self.clock.now();
                        self.session.handle(Input::Ui(intent), now);
                        self.flush().await?;
                    }
                    Some(CoreEvent::Device(input, ack)) => {
                        let now = self.clock.now();
                        self.session.handle(Input::Device(input), now);
                        self.flush().await?;
                        if let Some(ack) = ack {
                            let _ = ack.send(());
                        }
                    }
                },
                _ = sleep => {
                    let now = self.clock.now();
                    self.session.handle_timeout(now);
                    self.flush().await?;
                }
            }
        }
    }

    /// Executes the session's outputs in order.
    async fn flush(&mut self) -> Result<(), CoreError> {
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Journal(event) => {
                    let now = self.clock.now();
                    if let Err(e) = self.journal.append(&event, now) {
                        error!(error = %e, kind = event.kind(), "journal append failed");
                        return Err(e.into());
                    }
                }
                Output::LookupAccount { number } => self
                    .links
                    .lookup
                    .send(number)
                    .await
                    .map_err(|_| CoreError::DeviceGone("lookup"))?,
                Output::Bill(command) => self
                    .links
                    .bill
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("bill acceptor"))?,
                Output::Card(command) => self
                    .links
                    .card
                    .send(command)
                    .await
                    .map_err(|_| CoreError::DeviceGone("card reader"))?,
                Output::Fiscalise(request) => self
                    .links
                    .receipts
                    .send(ReceiptJob::Fiscalise(request))
                    .await
                    .map_err(|_| CoreError::DeviceGone("receipts"))?,
                Output::PrintReceipt { receipt_id } => self
                    .links
                    .receipts
                    .send(ReceiptJob::Print { receipt_id })
                    .await
                    .map_err(|_| CoreError::DeviceGone("receipts"))?,
                Output::PrintSlip(slip) => {
                    if self
                        .links
                        .receipts
                        .send(ReceiptJob::Slip(slip))
                        .await
                        .is_err()
                    {
                        warn!("receipt task gone, slip not printed");
                    }
                }
            }
        }
        self.publish();
        Ok(())
    }

    fn publish(&self) {
        self.view.send_replace(self.session.view());
    }
}
