//! Entry to service mode: a service PIN or a service card, with brute-force lockout.
//!
//! Secrets are never stored: the PIN and every service-card id are kept as Argon2id PHC strings
//! (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, a random salt each), made with [`hash_secret`].
//! Argon2's verification compares the hash output in constant time, and a card is checked
//! against *every* enrolled card hash, so the time taken does not tell which card was close.
//!
//! After `max_failures` wrong attempts in a row (PIN and card count together) the guard locks
//! for `lockout_seconds`; every further lockout in the same streak lasts twice as long as the one
//! before (capped at a day), so 5 tries per quarter-hour cannot be kept up. During a lockout no
//! secret is even checked. A success clears the streak. Every attempt, accepted or not, yields a
//! `ServiceLogin` journal event. The streak is [`LockoutState`], which the caller persists (or
//! rebuilds from the journal) so that a reboot does not reset it.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use backend_sync::event::JournalEvent;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Longest lockout, however long the streak.
const MAX_LOCKOUT_SECONDS: i64 = 24 * 3600;

#[derive(Debug, thiserror::Error)]
pub enum ServicePinError {
    #[error("the service PIN must be 4 to 12 digits")]
    WeakPin,
    #[error("a service card id must not be empty")]
    EmptyCardId,
    #[error("stored service secret is not a valid PHC string: {0}")]
    BadStoredHash(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

/// Hashes a PIN or card id into an Argon2id PHC string with a fresh random salt and the crate's
/// default cost (19 MiB, 2 passes).
pub fn hash_secret(secret: &str) -> Result<String, ServicePinError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServicePinError::Hash(e.to_string()))
}

/// Hashes a new service PIN after checking its shape (4–12 digits).
pub fn hash_pin(pin: &str) -> Result<String, ServicePinError> {
    if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ServicePinError::WeakPin);
    }
    hash_secret(pin)
}

/// Hashes a service card's id for enrolment.
pub fn hash_card_id(card_id: &str) -> Result<String, ServicePinError> {
    if card_id.trim().is_empty() {
        return Err(ServicePinError::EmptyCardId);
    }
    hash_secret(card_id.trim())
}

fn default_max_failures() -> u32 {
    5
}
fn default_lockout_seconds() -> u32 {
    900
}

/// The `[service]` configuration section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccessConfig {
    /// PHC string of the service PIN (from `hash_pin`).
    pub pin_hash: String,
    /// PHC strings of the enrolled service cards (from `hash_card_id`).
    #[serde(default)]
    pub card_hashes: Vec<String>,
    #[serde(default = "default_max_failures")]
    pub max_failures: u32,
    #[serde(default = "default_lockout_seconds")]
    pub lockout_seconds: u32,
}

/// The brute-force streak, to persist across restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutState {
    /// Wrong attempts since the last success or the last lockout.
    pub failures: u32,
    /// Lockouts in the current streak.
    pub lockouts: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

/// How an attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    Granted,
    /// Wrong secret; `remaining` tries before the lockout.
    Denied {
        remaining: u32,
    },
    /// This attempt was one too many: the guard is now locked.
    DeniedAndLocked {
        until: DateTime<Utc>,
    },
    /// Locked: the secret was not even checked.
    LockedOut {
        until: DateTime<Utc>,
    },
}

impl LoginOutcome {
    pub fn granted(&self) -> bool {
        matches!(self, LoginOutcome::Granted)
    }
}

/// The way into service mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    Pin(&'a str),
    Card(&'a str),
}

impl Credential<'_> {
    fn method(&self) -> &'static str {
        match self {
            Credential::Pin(_) => "pin",
            Credential::Card(_) => "card",
        }
    }
}

/// Guards service mode (see the module docs).
#[derive(Debug, Clone)]
pub struct ServiceAccess {
    /// Validated PHC strings (parsed again per check: `PasswordHash` borrows its text).
    pin_hash: String,
    card_hashes: Vec<String>,
    max_failures: u32,
    lockout: Duration,
    state: LockoutState,
}

fn validated_phc(s: &str) -> Result<String, ServicePinError> {
    PasswordHash::new(s).map_err(|e| ServicePinError::BadStoredHash(e.to_string()))?;
    Ok(s.to_owned())
}

fn verify(secret: &[u8], phc: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| Argon2::default().verify_password(secret, &hash).is_ok())
}

impl ServiceAccess {
    /// Parses the stored hashes; `state` is the persisted streak (default for a fresh kiosk).
    pub fn new(config: &ServiceAccessConfig, state: LockoutState) -> Result<Self, ServicePinError> {
        Ok(ServiceAccess {
            pin_hash: validated_phc(&config.pin_hash)?,
            card_hashes: config
                .card_hashes
                .iter()
                .map(|c| validated_phc(c))
                .collect::<Result<_, _>>()?,
            max_failures: config.max_failures.max(1),
            lockout: Duration::seconds(i64::from(config.lockout_seconds)),
            state,
        })
    }

    /// The streak to persist after every attempt.
    pub fn state(&self) -> &LockoutState {
        &self.state
    }

    /// Until when the guard is locked, if it is at `now`.
    pub fn locked_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.state.locked_until.filter(|t| *t > now)
    }

    /// One attempt to enter service mode. Returns the outcome and the event to journal.
    pub fn attempt(
        &mut self,
        credential: Credential<'_>,
        now: DateTime<Utc>,
    ) -> (LoginOutcome, JournalEvent) {
        let method = credential.method();
        let event = |succeeded: bool, locked_out: bool| JournalEvent::ServiceLogin {
            method: method.to_owned(),
            succeeded,
            locked_out,
        };
        if let Some(until) = self.locked_until(now) {
            tracing::warn!(method, %until, "service login refused: locked out");
            return (LoginOutcome::LockedOut { until }, event(false, true));
        }
        if self.matches(credential) {
            self.state = LockoutState::default();
            tracing::info!(method, "service login granted");
            return (LoginOutcome::Granted, event(true, false));
        }
        self.state.failures += 1;
        if self.state.failures < self.max_failures {
            let remaining = self.max_failures - self.state.failures;
            tracing::warn!(method, remaining, "service login denied");
            return (LoginOutcome::Denied { remaining }, event(false, false));
        }
        let factor = 1i64 << self.state.lockouts.min(16);
        let secs = self
            .lockout
            .num_seconds()
            .saturating_mul(factor)
            .min(MAX_LOCKOUT_SECONDS);
        let until = now + Duration::seconds(secs);
        self.state.failures = 0;
        self.state.lockouts += 1;
        self.state.locked_until = Some(until);
        tracing::warn!(method, %until, "service login denied; locked out");
        (LoginOutcome::DeniedAndLocked { until }, event(false, true))
    }

    fn matches(&self, credential: Credential<'_>) -> bool {
        match credential {
            Credential::Pin(pin) => verify(pin.as_bytes(), &self.pin_hash),
            Credential::Card(id) => {
                // Check every card so that timing does not depend on which one matched.
                let id = id.trim().as_bytes();
                self.card_hashes
                    .iter()
                    .fold(false, |found, hash| verify(id, hash) | found)
            }
        }
    }
}
