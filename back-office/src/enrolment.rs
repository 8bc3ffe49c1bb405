//! Enrolment of a new kiosk by a one-time code: an admin issues a code for a terminal id
//! (`back-office terminal enrol ID`); the kiosk redeems it once (`terminal enrol`) and receives
//! the terminal's key — issued at that moment, so no key ever exists in a printout — and its time
//! zone. Only the code's SHA-256 is stored; a code is 100 random bits, lives a bounded time, and
//! a newer code for the same terminal replaces an unredeemed older one.

use backend_sync::wire::{is_kiosk_terminal_id, EnrolReply};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

use crate::audit::{self, Act};
use crate::db::{Sql, StoreError};
use crate::params;
use crate::terminals::{self, TerminalError};
use crate::users::secret_hash;

/// Crockford's base32: no I, L, O or U, so a code read aloud or off paper is not misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a code: 20 × 5 bits = 100 bits.
const CODE_CHARS: usize = 20;
/// How long a code lives unless the admin says otherwise.
pub const DEFAULT_VALIDITY: Duration = Duration::hours(24);
/// The longest a code may live: a forgotten printout should not enrol a board a month later.
pub const MAX_VALIDITY: Duration = Duration::days(7);

/// Why a code could not be issued or redeemed.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("this is not an enrolment code (expected 20 letters and digits, e.g. ABCDE-FGHJK-MNPQR-STVWX)")]
    Malformed,
    #[error("unknown enrolment code")]
    Unknown,
    #[error(
        "this enrolment code expired at {0}; issue a new one with `back-office terminal enrol`"
    )]
    Expired(String),
    #[error("this enrolment code was already used at {0}; issue a new one with `back-office terminal enrol`")]
    Used(String),
    #[error("a code lives from 1 minute to 7 days")]
    BadValidity,
    #[error("a kiosk's terminal id is 1–16 characters A–Z, 0–9 (it goes onto receipts), not {0:?}: register the kiosk under such an id")]
    NotAKioskId(String),
    #[error(transparent)]
    Terminal(#[from] TerminalError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A code as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `XXXXX-XXXXX-XXXXX-XXXXX`.
    pub code: String,
    pub expires: DateTime<Utc>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The code's canonical form: upper case, separators dropped, Crockford's look-alikes mapped
/// (O → 0, I and L → 1). `None` when it cannot be a code.
fn canonical(code: &str) -> Option<String> {
    let mut out = String::with_capacity(CODE_CHARS);
    for c in code.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// A fresh code in canonical form (20 characters, no separators).
fn new_code() -> String {
    let mut bytes = [0u8; CODE_CHARS];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect()
}

/// A canonical code as printed: `XXXXX-XXXXX-XXXXX-XXXXX`.
fn grouped(code: &str) -> String {
    code.as_bytes()
        .chunks(5)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Issues a code for `terminal_id`, registering the terminal if it is new. An earlier code of
/// the terminal that was not redeemed stops working. Audited.
pub fn issue(
    sql: &mut dyn Sql,
    terminal_id: &str,
    valid_for: Duration,
    actor: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<Issued, EnrolError> {
    if valid_for < Duration::minutes(1) || valid_for > MAX_VALIDITY {
        return Err(EnrolError::BadValidity);
    }
    if !is_kiosk_terminal_id(terminal_id) {
        return Err(EnrolError::NotAKioskId(terminal_id.to_string()));
    }
    let code = new_code();
    let hash = secret_hash(&code);
    let expires = now + valid_for;
    crate::db::transaction(sql, |sql| {
        let now_s = rfc3339(now);
        match terminals::add(sql, terminal_id, false, &now_s) {
            Ok(_) | Err(TerminalError::Exists(_)) => {}
            Err(e) => return Err(EnrolError::from(e)),
        }
        sql.exec(
            "DELETE FROM enrolment_codes WHERE terminal_id = $1 AND redeemed_utc IS NULL",
            params![terminal_id],
        )?;
        sql.exec(
            "INSERT INTO enrolment_codes (code_hash, terminal_id, issued_utc, expires_utc) VALUES ($1, $2, $3, $4)",
            params![hash, terminal_id, &now_s, rfc3339(expires)],
        )?;
        audit::record(
            sql,
            &Act {
                actor,
                action: "enrolment_code_issued",
                target: terminal_id,
                source,
                detail: &format!("valid until {}", rfc3339(expires)),
            },
            &now_s,
        )?;
        Ok(Issued {
            code: grouped(&code),
            expires,
        })
    })
}

/// Redeems a code once: the terminal gets a new key (an earlier key stops working) and the
/// code is spent. Audited; a refused code changes nothing.
pub fn redeem(
    sql: &mut dyn Sql,
    code: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<EnrolReply, EnrolError> {
    let hash = secret_hash(&canonical(code).ok_or(EnrolError::Malformed)?);
    crate::db::transaction(sql, |sql| {
        let now_s = rfc3339(now);
        let row = sql
            .query_one(
                "SELECT terminal_id, expires_utc, redeemed_utc FROM enrolment_codes WHERE code_hash = $1",
                params![&hash],
            )?
            .ok_or(EnrolError::Unknown)?;
        let (terminal_id, expires) = (row.text(0), row.text(1));
        if let Some(used) = row.opt_text(2) {
            return Err(EnrolError::Used(used));
        }
        if expires <= now_s {
            return Err(EnrolError::Expired(expires));
        }
        // Spent before the key is made: of two racing redemptions only one updates the row.
        let spent = sql.exec(
            "UPDATE enrolment_codes SET redeemed_utc = $2, redeemed_from = $3 WHERE code_hash = $1 AND redeemed_utc IS NULL",
            params![&hash, &now_s, source],
        )?;
        if spent == 0 {
            return Err(EnrolError::Used(now_s));
        }
        let key_hex = terminals::add(sql, &terminal_id, true, &now_s)?;
        let time_zone = terminals::time_zone(sql, &terminal_id)?.name().to_string();
        audit::record(
            sql,
            &Act {
                actor: "kiosk",
                action: "terminal_enrolled",
                target: &terminal_id,
                source,
                detail: "key issued by enrolment code",
            },
            &now_s,
        )?;
        Ok(EnrolReply {
            terminal_id,
            key_hex,
            time_zone,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::SqliteConn;

    fn store() -> (tempfile::TempDir, SqliteConn) {
        let dir = tempfile::tempdir().unwrap();
        let mut sql = SqliteConn::open(&dir.path().join("bo.sqlite")).unwrap();
        crate::schema::create(&mut sql).unwrap();
        (dir, sql)
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn codes_are_100_random_bits_in_crockford_groups() {
        let code = grouped(&new_code());
        assert_eq!(code.len(), 23);
        assert_eq!(code.matches('-').count(), 3);
        assert!(canonical(&code).is_some());
        assert_eq!(canonical(&code), Some(code.replace('-', "")));
        assert_ne!(grouped(&new_code()), code);
        // Read off paper: lower case, look-alikes and spaces are the same code.
        assert_eq!(
            canonical("abcde fghjk-mnpqr-stvwo"),
            canonical("ABCDE-FGHJK-MNPQR-STVW0")
        );
        assert_eq!(canonical("ABCDE-FGHJK-MNPQR-STVWU"), None);
        assert_eq!(canonical("ABCDE"), None);
        assert_eq!(canonical("ABCDE-FGHJK-MNPQR-STVWXЖ"), None);
    }

    #[test]
    fn a_code_enrols_once_and_issues_the_key_then() {
        let (_dir, mut sql) = store();
        let now = at("2026-12-04T01:00:00Z");
        let issued = issue(&mut sql, "0042", DEFAULT_VALIDITY, "cli", "cli", now).unwrap();
        let before = terminals::key_of(&mut sql, "0042").unwrap().unwrap();
        let got = redeem(&mut sql, &issued.code.to_lowercase(), "10.0.0.5", now).unwrap();
        assert_eq!(got.terminal_id, "0042");
        assert_eq!(got.time_zone, "Europe/Moscow");
        assert_ne!(got.key_hex, before, "the key is made at redemption");
        assert_eq!(
            terminals::key_of(&mut sql, "0042").unwrap().as_deref(),
            Some(got.key_hex.as_str())
        );
        let again = redeem(&mut sql, &issued.code, "10.0.0.6", now);
        assert!(matches!(again, Err(EnrolError::Used(_))), "{again:?}");
        assert_eq!(
            terminals::key_of(&mut sql, "0042").unwrap().as_deref(),
            Some(got.key_hex.as_str()),
            "a refused redemption changes no key"
        );
    }

    #[test]
    fn an_expired_or_replaced_code_is_refused() {
        let (_dir, mut sql) = store();
        let now = at("2026-12-04T01:00:00Z");
        let first = issue(&mut sql, "0042", Duration::hours(1), "cli", "cli", now).unwrap();
        let late = now + Duration::hours(1);
        assert!(matches!(
            redeem(&mut sql, &first.code, "x", late),
            Err(EnrolError::Expired(_))
        ));
        let second = issue(&mut sql, "0042", Duration::hours(1), "cli", "cli", late).unwrap();
        let third = issue(&mut sql, "0042", Duration::hours(1), "cli", "cli", late).unwrap();
        assert!(matches!(
            redeem(&mut sql, &second.code, "x", late),
            Err(EnrolError::Unknown)
        ));
        assert!(redeem(&mut sql, &third.code, "x", late).is_ok());
        assert!(matches!(
            redeem(&mut sql, "not a code", "x", late),
            Err(EnrolError::Malformed)
        ));
    }

    #[test]
    fn validity_and_terminal_ids_are_checked() {
        let (_dir, mut sql) = store();
        let now = at("2026-12-04T01:00:00Z");
        for bad in [Duration::seconds(30), Duration::days(8)] {
            assert!(matches!(
                issue(&mut sql, "0042", bad, "cli", "cli", now),
                Err(EnrolError::BadValidity)
            ));
        }
        for not_a_kiosk in ["no spaces", "T-001", "0042a", "12345678901234567"] {
            assert!(matches!(
                issue(&mut sql, not_a_kiosk, DEFAULT_VALIDITY, "cli", "cli", now),
                Err(EnrolError::NotAKioskId(_))
            ));
        }
    }
}
