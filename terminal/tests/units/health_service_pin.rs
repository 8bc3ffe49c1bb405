//! Service PIN and card: brute force is locked out, every attempt is journaled, the secret is
//! stored only as a salted Argon2id hash.

use backend_sync::event::JournalEvent;
use chrono::{DateTime, Duration, TimeZone, Utc};
use terminal::service_pin::{
    hash_card_id, hash_pin, Credential, LockoutState, LoginOutcome, ServiceAccess,
    ServiceAccessConfig, ServicePinError,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 4, 7, 0, 0).unwrap()
}

fn config() -> ServiceAccessConfig {
    ServiceAccessConfig {
        pin_hash: hash_pin("482915").unwrap(),
        card_hashes: vec![
            hash_card_id("CARD-0001").unwrap(),
            hash_card_id("CARD-0002").unwrap(),
        ],
        max_failures: 5,
        lockout_seconds: 900,
    }
}

fn login(ev: &JournalEvent) -> (String, bool, bool) {
    match ev {
        JournalEvent::ServiceLogin {
            method,
            succeeded,
            locked_out,
        } => (method.clone(), *succeeded, *locked_out),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn the_pin_is_stored_as_a_salted_argon2id_hash() {
    let a = hash_pin("482915").unwrap();
    let b = hash_pin("482915").unwrap();
    assert!(a.starts_with("$argon2id$v=19$"), "{a}");
    assert_ne!(a, b, "each hash has its own salt");
    assert!(!a.contains("482915"));
    assert!(matches!(hash_pin("12"), Err(ServicePinError::WeakPin)));
    assert!(matches!(hash_pin("12a4"), Err(ServicePinError::WeakPin)));
    assert!(matches!(
        hash_card_id("  "),
        Err(ServicePinError::EmptyCardId)
    ));
}

#[test]
fn a_bad_stored_hash_is_refused_at_start() {
    let mut cfg = config();
    cfg.pin_hash = "482915".into();
    assert!(matches!(
        ServiceAccess::new(&cfg, LockoutState::default()),
        Err(ServicePinError::BadStoredHash(_))
    ));
}

#[test]
fn the_right_pin_and_an_enrolled_card_get_in() {
    let mut g = ServiceAccess::new(&config(), LockoutState::default()).unwrap();
    let (o, ev) = g.attempt(Credential::Pin("482915"), t0());
    assert_eq!(o, LoginOutcome::Granted);
    assert_eq!(login(&ev), ("pin".into(), true, false));
    let (o, ev) = g.attempt(Credential::Card("CARD-0002"), t0());
    assert_eq!(o, LoginOutcome::Granted);
    assert_eq!(login(&ev), ("card".into(), true, false));
    let (o, _) = g.attempt(Credential::Card("CARD-0003"), t0());
    assert_eq!(o, LoginOutcome::Denied { remaining: 4 });
}

#[test]
fn brute_force_is_locked_out_after_five_tries_and_every_attempt_is_journaled() {
    let mut g = ServiceAccess::new(&config(), LockoutState::default()).unwrap();
    let mut journal = Vec::new();
    let mut t = t0();
    for (i, guess) in ["000000", "111111", "222222", "333333"].iter().enumerate() {
        let (o, ev) = g.attempt(Credential::Pin(guess), t);
        assert_eq!(
            o,
            LoginOutcome::Denied {
                remaining: 4 - i as u32
            }
        );
        journal.push(ev);
        t += Duration::seconds(10);
    }
    let (o, ev) = g.attempt(Credential::Pin("444444"), t);
    let until = t + Duration::minutes(15);
    assert_eq!(o, LoginOutcome::DeniedAndLocked { until });
    journal.push(ev);

    // Locked: even the right PIN (or a card) is not checked.
    let (o, ev) = g.attempt(Credential::Pin("482915"), t + Duration::minutes(1));
    assert_eq!(o, LoginOutcome::LockedOut { until });
    journal.push(ev);
    let (o, ev) = g.attempt(Credential::Card("CARD-0001"), t + Duration::minutes(2));
    assert_eq!(o, LoginOutcome::LockedOut { until });
    journal.push(ev);

    let logged: Vec<_> = journal.iter().map(login).collect();
    assert_eq!(logged.len(), 7, "one event per attempt");
    assert_eq!(
        &logged[..4],
        &vec![("pin".to_string(), false, false); 4][..]
    );
    assert_eq!(logged[4], ("pin".into(), false, true));
    assert_eq!(logged[5], ("pin".into(), false, true));
    assert_eq!(logged[6], ("card".into(), false, true));

    // After the lockout the right PIN gets in and clears the streak.
    let (o, _) = g.attempt(Credential::Pin("482915"), until);
    assert_eq!(o, LoginOutcome::Granted);
    assert_eq!(g.state(), &LockoutState::default());
}

#[test]
fn repeated_lockouts_grow_and_survive_a_restart() {
    let cfg = config();
    let mut g = ServiceAccess::new(&cfg, LockoutState::default()).unwrap();
    let mut t = t0();
    let mut lockouts = Vec::new();
    for _ in 0..3 {
        loop {
            match g.attempt(Credential::Pin("999999"), t).0 {
                LoginOutcome::DeniedAndLocked { until } => {
                    lockouts.push(until - t);
                    t = until;
                    break;
                }
                LoginOutcome::Denied { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        // A reboot in the middle: the persisted state carries the streak.
        let saved = serde_json::to_string(g.state()).unwrap();
        g = ServiceAccess::new(&cfg, serde_json::from_str(&saved).unwrap()).unwrap();
    }
    assert_eq!(
        lockouts,
        vec![
            Duration::minutes(15),
            Duration::minutes(30),
            Duration::minutes(60)
        ]
    );
}

#[test]
fn pin_and_card_failures_count_together() {
    let mut g = ServiceAccess::new(&config(), LockoutState::default()).unwrap();
    for i in 0..4 {
        let c = if i % 2 == 0 {
            Credential::Pin("1234")
        } else {
            Credential::Card("stolen")
        };
        assert!(!g.attempt(c, t0()).0.granted());
    }
    assert!(matches!(
        g.attempt(Credential::Card("other"), t0()).0,
        LoginOutcome::DeniedAndLocked { .. }
    ));
    assert_eq!(g.locked_until(t0()), Some(t0() + Duration::minutes(15)));
}
