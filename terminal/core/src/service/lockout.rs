//! The brute-force streak rebuilt from the journal's `ServiceLogin` entries, so a reboot (or a
//! pulled plug) does not hand an attacker five fresh tries. Replays exactly the rules of
//! [`crate::service_pin::ServiceAccess::attempt`].

use backend_sync::JournalEvent;
use chrono::{DateTime, Duration, Utc};

use crate::service_pin::{LockoutState, ServiceAccessConfig};

/// Longest lockout, as in `service_pin`.
const MAX_LOCKOUT_SECONDS: i64 = 24 * 3600;

/// Replays `(time, event)` in journal order; other events are skipped.
pub fn lockout_from_journal<'a>(
    entries: impl IntoIterator<Item = (DateTime<Utc>, &'a JournalEvent)>,
    config: &ServiceAccessConfig,
) -> LockoutState {
    let max_failures = config.max_failures.max(1);
    let base = i64::from(config.lockout_seconds);
    let mut state = LockoutState::default();
    for (time, event) in entries {
        let JournalEvent::ServiceLogin {
            succeeded,
            locked_out,
            ..
        } = event
        else {
            continue;
        };
        let locked_now = state.locked_until.is_some_and(|until| until > time);
        match (*succeeded, *locked_out) {
            (true, _) => state = LockoutState::default(),
            // Refused without a check while locked: changes nothing.
            (false, true) if locked_now => {}
            (false, _) => {
                state.failures += 1;
                // `locked_out` on an unlocked guard is the attempt that locked it; a plain
                // denial can lock it too when the journal was written with a lower limit.
                if *locked_out || state.failures >= max_failures {
                    let factor = 1i64 << state.lockouts.min(16);
                    let secs = base.saturating_mul(factor).min(MAX_LOCKOUT_SECONDS);
                    state.failures = 0;
                    state.lockouts += 1;
                    state.locked_until = Some(time + Duration::seconds(secs));
                }
            }
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service_pin::{Credential, LoginOutcome, ServiceAccess};
    use proptest::prelude::*;

    fn config() -> ServiceAccessConfig {
        ServiceAccessConfig {
            // A syntactically valid PHC string; these tests never check a PIN against it.
            pin_hash: crate::service::DEMO_PIN_HASH.into(),
            card_hashes: Vec::new(),
            max_failures: 5,
            lockout_seconds: 900,
        }
    }

    fn login(succeeded: bool, locked_out: bool) -> JournalEvent {
        JournalEvent::ServiceLogin {
            method: "pin".into(),
            succeeded,
            locked_out,
        }
    }

    #[test]
    fn five_failures_lock_and_a_restart_keeps_the_lock() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut events = vec![login(false, false); 4];
        events.push(login(false, true));
        let state = lockout_from_journal(
            events
                .iter()
                .enumerate()
                .map(|(i, e)| (t0 + Duration::seconds(i as i64), e)),
            &config(),
        );
        assert_eq!(state.failures, 0);
        assert_eq!(state.lockouts, 1);
        assert_eq!(
            state.locked_until,
            Some(t0 + Duration::seconds(4) + Duration::seconds(900))
        );
    }

    #[test]
    fn a_success_clears_the_streak() {
        let t0 = Utc::now();
        let events = [login(false, false), login(false, false), login(true, false)];
        let state = lockout_from_journal(events.iter().map(|e| (t0, e)), &config());
        assert_eq!(state, LockoutState::default());
    }

    proptest! {
        /// Whatever sequence of wrong attempts, at whatever times, the rebuilt streak equals
        /// the guard's own state (the guard is real: it checks a wrong PIN each time).
        #[test]
        fn rebuilt_streak_matches_the_guard(gaps in proptest::collection::vec(0i64..2_000, 1..12)) {
            // Without a real hash the guard cannot check; a cheap one keeps the test fast.
            let params = argon2::Params::new(8, 1, 1, None).unwrap();
            let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let salt = argon2::password_hash::SaltString::encode_b64(b"kiosk-test-salt").unwrap();
            let hash = argon2::password_hash::PasswordHasher::hash_password(&argon, b"1234", &salt).unwrap().to_string();
            let config = ServiceAccessConfig { pin_hash: hash, ..config() };
            let mut guard = ServiceAccess::new(&config, LockoutState::default()).unwrap();
            let mut t = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z").unwrap().with_timezone(&Utc);
            let mut journal = Vec::new();
            for gap in gaps {
                t += Duration::seconds(gap);
                let (outcome, event) = guard.attempt(Credential::Pin("0000"), t);
                prop_assert!(!matches!(outcome, LoginOutcome::Granted));
                journal.push((t, event));
            }
            let rebuilt = lockout_from_journal(journal.iter().map(|(t, e)| (*t, e)), &config);
            prop_assert_eq!(&rebuilt, guard.state());
        }
    }
}
