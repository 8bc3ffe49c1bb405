//! Browser sessions and login throttling. A session is a random token in a cookie, stored only as
//! its SHA-256 hash, with an expiry and a CSRF token of its own. Failed logins are counted per user
//! and per source address; too many lock that user or address out for a while. This module stores
//! and answers; the HTTP side ([`crate::web`]) sets cookies and renders pages.

use chrono::{DateTime, Utc};

use crate::db::{Sql, StoreError};
use crate::params;
use crate::users::{random_secret, secret_hash, Role, User};

/// Failed logins of one user before the user is locked out.
pub const USER_FAILURES: i64 = 5;
/// Failed logins from one address before the address is locked out.
pub const ADDRESS_FAILURES: i64 = 20;
/// The window failures are counted in, and how long a lockout lasts.
pub const LOCKOUT_SECS: i64 = 15 * 60;

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Starts a session for `user`; returns (cookie token, CSRF token).
pub fn create(
    sql: &mut dyn Sql,
    user: &User,
    ttl: std::time::Duration,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(String, String), StoreError> {
    let (token, csrf) = (random_secret(), random_secret());
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
    let now_s = rfc3339(now);
    sql.exec(
        "INSERT INTO sessions (token_hash, user_name, csrf, created_utc, expires_utc, source) VALUES ($1, $2, $3, $4, $5, $6)",
        params![secret_hash(&token), &user.name, &csrf, &now_s, rfc3339(now + ttl), source],
    )?;
    if rand::random::<u8>() < 8 {
        sql.exec(
            "DELETE FROM sessions WHERE expires_utc <= $1",
            params![&now_s],
        )?;
    }
    Ok((token, csrf))
}

/// The unexpired session of an enabled user behind a cookie token.
pub fn lookup(
    sql: &mut dyn Sql,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    Ok(sql
        .query_one(
            "SELECT s.user_name, u.role, s.csrf FROM sessions s JOIN users u ON u.name = s.user_name
             WHERE s.token_hash = $1 AND s.expires_utc > $2 AND u.enabled = 1",
            params![secret_hash(token), rfc3339(now)],
        )?
        .and_then(|r| {
            Some(Session {
                user: r.text(0),
                role: Role::parse(&r.text(1))?,
                csrf: r.text(2),
            })
        }))
}

/// Ends a session (logout).
pub fn delete(sql: &mut dyn Sql, token: &str) -> Result<(), StoreError> {
    sql.exec(
        "DELETE FROM sessions WHERE token_hash = $1",
        params![secret_hash(token)],
    )?;
    Ok(())
}

/// The throttle keys of a login attempt.
pub fn user_key(user: &str) -> String {
    format!("user:{user}")
}
pub fn address_key(source: &str) -> String {
    format!("addr:{source}")
}

/// Until when the first of `keys` that is locked out stays locked.
pub fn locked_until(
    sql: &mut dyn Sql,
    keys: &[String],
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let now_s = rfc3339(now);
    for k in keys {
        let until = sql
            .query_one(
                "SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2",
                params![k, &now_s],
            )?
            .and_then(|r| r.opt_text(0))
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        if until.is_some() {
            return Ok(until);
        }
    }
    Ok(None)
}

/// Counts a failed login against `key`; returns true when this failure locked the key out.
pub fn record_failure(
    sql: &mut dyn Sql,
    key: &str,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    crate::db::transaction(sql, |sql| {
        let window_start = rfc3339(now - chrono::Duration::seconds(LOCKOUT_SECS));
        let failures = sql
            .query_one(
                "SELECT failures FROM login_throttle WHERE key = $1 AND window_start > $2",
                params![key, &window_start],
            )?
            .map_or(0, |r| r.int(0))
            + 1;
        let (stored, start, locked) = if failures >= limit {
            let until = rfc3339(now + chrono::Duration::seconds(LOCKOUT_SECS));
            (0, rfc3339(now), Some(until))
        } else if failures == 1 {
            (1, rfc3339(now), None)
        } else {
            (failures, String::new(), None)
        };
        if start.is_empty() {
            sql.exec(
                "UPDATE login_throttle SET failures = $2 WHERE key = $1",
                params![key, stored],
            )?;
        } else {
            sql.exec(
                "INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start,
                 locked_until = COALESCE(excluded.locked_until, login_throttle.locked_until)",
                params![key, stored, &start, locked.clone()],
            )?;
        }
        Ok(locked.is_some())
    })
}

/// Forgets the failures of `key` (after a successful login).
pub fn clear(sql: &mut dyn Sql, key: &str) -> Result<(), StoreError> {
    sql.exec(
        "DELETE FROM login_throttle WHERE key = $1 AND (locked_until IS NULL OR locked_until <= $2)",
        params![key, crate::now_utc()],
    )?;
    Ok(())
}
