//! The async Shtrih-M driver: a thread of its own running a small tokio runtime that owns the
//! port and the session's timers and nothing else. Requests come in over a channel from
//! async code ([`ShtrihDriver::call`]) or blocking code ([`ShtrihDriver::call_blocking`],
//! which is what [`super::ShtrihRegister`] uses through [`DriverExchange`]); the session
//! decides everything about the bytes.
//!
//! Its own thread, so a blocking [`crate::FiscalModule`] caller — even one on a tokio worker
//! — never waits on the runtime it is blocking.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::commands::{Reply, Request};
use super::errors::ShtrihError;
use super::link::LinkConfig;
use super::port::{AsyncPort, DEFAULT_BAUD};
use super::register::Exchange;
use super::session::{HostSession, RequestId, SessionEvent};

/// Where and how to reach the KKT.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub port: PathBuf,
    /// 115200 unless the KKT's exchange table says otherwise.
    pub baud: u32,
    /// Operator password (30, the system administrator, by default).
    pub password: u32,
    pub link: LinkConfig,
}

impl DriverConfig {
    pub fn new(port: impl Into<PathBuf>) -> Self {
        DriverConfig {
            port: port.into(),
            baud: DEFAULT_BAUD,
            password: 30,
            link: LinkConfig::default(),
        }
    }
}

type Answer = Result<Reply, ShtrihError>;

enum ReplyTo {
    Async(oneshot::Sender<Answer>),
    Blocking(std::sync::mpsc::Sender<Answer>),
}

impl ReplyTo {
    fn send(self, answer: Answer) {
        // A caller that went away no longer wants the answer.
        let _ = match self {
            ReplyTo::Async(tx) => tx.send(answer).map_err(|_| ()),
            ReplyTo::Blocking(tx) => tx.send(answer).map_err(|_| ()),
        };
    }
}

struct Job {
    request: Request,
    reply: ReplyTo,
}

/// A running driver. Dropping it stops the thread and closes the port.
pub struct ShtrihDriver {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for ShtrihDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShtrihDriver").finish_non_exhaustive()
    }
}

impl ShtrihDriver {
    /// Opens the port and starts the driver thread; a port that does not open is an error here.
    pub fn spawn(config: DriverConfig) -> Result<ShtrihDriver, ShtrihError> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let (opened_tx, opened_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("shtrih-driver".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = opened_tx.send(Err(ShtrihError::Port(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match AsyncPort::open(&config.port, config.baud) {
                        Ok(port) => {
                            let _ = opened_tx.send(Ok(()));
                            run(port, config, rx).await;
                        }
                        Err(e) => {
                            let _ = opened_tx.send(Err(ShtrihError::Port(e.to_string())));
                        }
                    }
                });
            })
            .map_err(|e| ShtrihError::Port(e.to_string()))?;
        opened_rx.recv().map_err(|_| ShtrihError::DriverStopped)??;
        Ok(ShtrihDriver {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    fn submit(&self, request: Request, reply: ReplyTo) -> Result<(), ShtrihError> {
        self.jobs
            .as_ref()
            .ok_or(ShtrihError::DriverStopped)?
            .send(Job { request, reply })
            .map_err(|_| ShtrihError::DriverStopped)
    }

    /// Sends a request and waits for its reply (async callers).
    pub async fn call(&self, request: Request) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.submit(request, ReplyTo::Async(tx))?;
        rx.await.map_err(|_| ShtrihError::DriverStopped)?
    }

    /// Sends a request and blocks the calling thread until its reply.
    pub fn call_blocking(&self, request: Request) -> Answer {
        let (tx, rx) = std::sync::mpsc::channel();
        self.submit(request, ReplyTo::Blocking(tx))?;
        rx.recv().map_err(|_| ShtrihError::DriverStopped)?
    }

    /// The driver as an [`Exchange`] for [`super::ShtrihRegister`].
    pub fn exchange(self) -> DriverExchange {
        DriverExchange { driver: self }
    }
}

impl Drop for ShtrihDriver {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The blocking face of the driver.
#[derive(Debug)]
pub struct DriverExchange {
    driver: ShtrihDriver,
}

impl Exchange for DriverExchange {
    fn call(&mut self, request: Request) -> Result<Reply, ShtrihError> {
        self.driver.call_blocking(request)
    }
}

async fn run(port: AsyncPort, config: DriverConfig, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut session = HostSession::new(config.link, config.password);
    let mut waiting: HashMap<RequestId, ReplyTo> = HashMap::new();
    let mut buf = [0u8; 512];
    loop {
        while let Some(out) = session.poll_transmit() {
            if let Err(e) = port.write_all(&out).await {
                tracing::warn!(error = %e, "KKT port write failed");
            }
        }
        while let Some(SessionEvent::Reply { id, result }) = session.poll_event() {
            if let Some(reply) = waiting.remove(&id) {
                reply.send(result);
            }
        }
        let wake = session.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => {
                    let id = session.request(job.request, Instant::now());
                    waiting.insert(id, job.reply);
                }
                None => break,
            },
            read = port.read(&mut buf) => match read {
                Ok(n) => session.handle_input(&buf[..n], Instant::now()),
                Err(e) => {
                    tracing::warn!(error = %e, "KKT port read failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = sleep_until(wake) => session.handle_timeout(Instant::now()),
        }
    }
    for (_, reply) in waiting.drain() {
        reply.send(Err(ShtrihError::DriverStopped));
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
