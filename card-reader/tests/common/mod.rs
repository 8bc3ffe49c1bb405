//! Shared set-up for the pty end-to-end tests: a fast emulator and a driver with short timers.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use card_reader::ecr::EcrConfig;
use card_reader::link::LinkConfig;
use card_reader::{
    contains_full_pan, AuthEvent, CardReader, DriverConfig, Emulator, EmulatorConfig,
    EmulatorHandle,
};

pub fn fast_link() -> LinkConfig {
    LinkConfig {
        char_timeout: Duration::from_millis(300),
        ack_timeout: Duration::from_millis(300),
        max_retries: 3,
    }
}

/// Every log line of this test process (all tests, all threads), at DEBUG, for PAN checks.
pub fn captured_logs() -> String {
    let buffer = log_buffer();
    let bytes = buffer.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&buffer);
            let _ = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || LogWriter(Arc::clone(&sink)))
                .try_init();
            buffer
        })
        .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn emulator() -> EmulatorHandle {
    log_buffer();
    Emulator::spawn_with(EmulatorConfig {
        link: fast_link(),
        prompt_delay: Duration::from_millis(30),
        keepalive: Duration::from_millis(300),
        confirm_timeout: Duration::from_millis(1500),
        t3: Duration::from_secs(2),
        drop_duration: Duration::from_millis(2500),
        ..Default::default()
    })
    .expect("emulator")
}

pub fn driver_config() -> DriverConfig {
    DriverConfig {
        ecr: EcrConfig {
            link: fast_link(),
            t3: Duration::from_secs(2),
            t4: Duration::from_secs(3),
            password: 0,
        },
        recovery_attempts: 10,
        recovery_pause: Duration::from_millis(500),
    }
}

pub async fn reader(emulator: &EmulatorHandle) -> CardReader {
    let reader = CardReader::open(emulator.path(), driver_config()).expect("open driver");
    reader.registration().await.expect("registration");
    reader
}

/// Everything the driver emitted, as text, for PAN checks.
#[derive(Default)]
pub struct Seen {
    pub text: Vec<String>,
    pub prompts: Vec<String>,
}

impl Seen {
    pub fn record(&mut self, event: &AuthEvent) {
        let text = match event {
            AuthEvent::Approved(p) => format!(
                "{:?} {}",
                p.approval,
                serde_json::to_string(&p.approval).unwrap()
            ),
            AuthEvent::Completed { approval } | AuthEvent::ReversedByTerminal { approval } => {
                format!("{approval:?} {}", serde_json::to_string(approval).unwrap())
            }
            other => format!("{other:?}"),
        };
        if let AuthEvent::Prompt { text_ru, .. } = event {
            self.prompts.push(text_ru.clone());
        }
        assert!(!contains_full_pan(&text), "full PAN emitted: {text}");
        self.text.push(text);
    }
}

/// How the host answers an approval in a test.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Issued,
    NotIssued,
}

/// Runs one authorisation to its final event, answering approvals as told.
pub async fn pay(reader: &CardReader, amount: i64, answer: Answer, seen: &mut Seen) -> AuthEvent {
    let mut auth = reader
        .authorise(amount, "test-payment")
        .await
        .expect("authorise");
    loop {
        let event = tokio::time::timeout(Duration::from_secs(20), auth.next_event())
            .await
            .expect("event in time")
            .expect("final event");
        seen.record(&event);
        match event {
            AuthEvent::Prompt { .. } => {}
            AuthEvent::Approved(pending) => pending.goods_issued(answer == Answer::Issued),
            last => return last,
        }
    }
}
