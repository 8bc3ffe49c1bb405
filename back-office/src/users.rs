//! People who use the back office: users with a role and an Argon2id password hash, and their
//! per-user API tokens for scripts (stored as SHA-256 hashes, shown once). What a role may see is
//! decided in [`crate::access`]; this module only stores and checks credentials.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::db::{Sql, StoreError};
use crate::params;

/// What a person does at the retailer; decides which pages and endpoints they reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The fleet, terminal pages and service history.
    Technician,
    /// Reconciliation, exports and imports.
    Finance,
    /// Terminals, keys, users and the audit log, and everything the other roles see.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Technician, Role::Finance, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Technician => "technician",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The role's name on the pages.
    pub fn label_ru(self) -> &'static str {
        match self {
            Role::Technician => "техник",
            Role::Finance => "финансы",
            Role::Admin => "администратор",
        }
    }
}

/// The shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Why a user operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name must be 1–32 characters of a–z, 0–9, '.', '-' or '_': {0:?}")]
    BadName(String),
    #[error("user {0:?} already exists")]
    Exists(String),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error("user {0:?} is disabled")]
    Disabled(String),
    #[error("unknown role {0:?}: technician, finance or admin")]
    BadRole(String),
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    #[error("no API token with id {0:?} (see 'back-office token list')")]
    NoSuchToken(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Hashes a password with Argon2id (the crate's default parameters) and a random salt.
pub fn hash_password(password: &str) -> Result<String, UserError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::WeakPassword);
    }
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| UserError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub fn verify_password(stored_hash: &str, password: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash of a password nobody knows: checked for unknown users so that a wrong user name takes
/// as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&random_text(24)).unwrap_or_default())
}

/// Random text from an alphabet without look-alike characters.
pub fn random_text(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// A fresh password for a person to change later, shown once.
pub fn generate_password() -> String {
    random_text(16)
}

/// A 256-bit random secret as hex (session tokens, API tokens, CSRF tokens).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// How secrets are stored: SHA-256, hex (they are random, so no slow hash is needed).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A user as listed (no hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub enabled: bool,
    pub created_utc: String,
}

/// A user with the password hash, for a login check.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

fn user_of(r: &crate::db::Row) -> User {
    User {
        name: r.text(0),
        // A role string outside the enum cannot be written by this code; read it as the least.
        role: Role::parse(&r.text(1)).unwrap_or(Role::Technician),
        enabled: r.int(2) == 1,
        created_utc: r.text(3),
    }
}

/// Adds a user with an already hashed password.
pub fn add(
    sql: &mut dyn Sql,
    name: &str,
    role: Role,
    password_hash: &str,
    now: &str,
) -> Result<(), UserError> {
    if !valid_name(name) {
        return Err(UserError::BadName(name.to_string()));
    }
    let n = sql.exec(
        "INSERT INTO users (name, role, password_hash, enabled, created_utc) VALUES ($1, $2, $3, 1, $4) ON CONFLICT DO NOTHING",
        params![name, role.as_str(), password_hash, now],
    )?;
    if n == 0 {
        return Err(UserError::Exists(name.to_string()));
    }
    Ok(())
}

pub fn list(sql: &mut dyn Sql) -> Result<Vec<User>, StoreError> {
    Ok(sql
        .query(
            "SELECT name, role, enabled, created_utc FROM users ORDER BY name",
            &[],
        )?
        .iter()
        .map(user_of)
        .collect())
}

pub fn credentials(sql: &mut dyn Sql, name: &str) -> Result<Option<Credentials>, StoreError> {
    Ok(sql
        .query_one(
            "SELECT name, role, enabled, created_utc, password_hash FROM users WHERE name = $1",
            params![name],
        )?
        .map(|r| Credentials {
            user: user_of(&r),
            password_hash: r.text(4),
        }))
}

/// Changes a user's role; returns the previous one.
pub fn set_role(sql: &mut dyn Sql, name: &str, role: Role) -> Result<Role, UserError> {
    let old = credentials(sql, name)?
        .ok_or_else(|| UserError::NoSuchUser(name.to_string()))?
        .user
        .role;
    sql.exec(
        "UPDATE users SET role = $2 WHERE name = $1",
        params![name, role.as_str()],
    )?;
    Ok(old)
}

/// Disables a user: their sessions end and their tokens stop working at once.
pub fn disable(sql: &mut dyn Sql, name: &str) -> Result<(), UserError> {
    crate::db::transaction(sql, |sql| {
        let n = sql.exec(
            "UPDATE users SET enabled = 0 WHERE name = $1",
            params![name],
        )?;
        if n == 0 {
            return Err(UserError::NoSuchUser(name.to_string()));
        }
        sql.exec("DELETE FROM sessions WHERE user_name = $1", params![name])?;
        sql.exec("DELETE FROM api_tokens WHERE user_name = $1", params![name])?;
        Ok(())
    })
}

/// Issues an API token for `user`; returns the token (shown once, stored hashed).
pub fn add_token(
    sql: &mut dyn Sql,
    user: &str,
    label: &str,
    now: &str,
) -> Result<String, UserError> {
    let c = credentials(sql, user)?.ok_or_else(|| UserError::NoSuchUser(user.to_string()))?;
    if !c.user.enabled {
        return Err(UserError::Disabled(user.to_string()));
    }
    let token = format!("bo_{}", random_secret());
    let label: String = label.chars().take(64).collect();
    sql.exec(
        "INSERT INTO api_tokens (token_hash, user_name, label, created_utc) VALUES ($1, $2, $3, $4)",
        params![secret_hash(&token), user, label, now],
    )?;
    Ok(token)
}

/// Hex digits of a token's SHA-256 that name it in lists, the audit log and revocation. The
/// hash is not the token: its id cannot be used to log in, so it may be shown and logged.
pub const TOKEN_ID_HEX: usize = 12;

/// The id an API token is listed and revoked by.
pub fn token_id(token: &str) -> String {
    secret_hash(token)[..TOKEN_ID_HEX].to_string()
}

/// An API token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub label: String,
    pub created_utc: String,
    pub last_used_utc: Option<String>,
}

fn token_info(r: &crate::db::Row) -> TokenInfo {
    TokenInfo {
        id: r.text(0).chars().take(TOKEN_ID_HEX).collect(),
        user: r.text(1),
        label: r.text(2),
        created_utc: r.text(3),
        last_used_utc: r.opt_text(4),
    }
}

/// Every API token that still works (its user enabled), by user then age.
pub fn list_tokens(sql: &mut dyn Sql) -> Result<Vec<TokenInfo>, StoreError> {
    Ok(sql
        .query(
            "SELECT t.token_hash, t.user_name, t.label, t.created_utc, t.last_used_utc
             FROM api_tokens t JOIN users u ON u.name = t.user_name WHERE u.enabled = 1
             ORDER BY t.user_name, t.created_utc, t.token_hash",
            &[],
        )?
        .iter()
        .map(token_info)
        .collect())
}

/// Revokes the API token named `id` ([`token_id`]); it stops working at once. Returns what it
/// was. An id that names no token, or more than one, revokes nothing.
pub fn revoke_token(sql: &mut dyn Sql, id: &str) -> Result<TokenInfo, UserError> {
    let well_formed =
        id.len() == TOKEN_ID_HEX && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return Err(UserError::NoSuchToken(id.to_string()));
    }
    // Hex has no LIKE wildcards, so the prefix match is exact.
    let rows = sql.query(
        "SELECT token_hash, user_name, label, created_utc, last_used_utc FROM api_tokens WHERE token_hash LIKE $1",
        params![format!("{id}%")],
    )?;
    let [row] = rows.as_slice() else {
        return Err(UserError::NoSuchToken(id.to_string()));
    };
    sql.exec(
        "DELETE FROM api_tokens WHERE token_hash = $1",
        params![row.text(0)],
    )?;
    Ok(token_info(row))
}

/// The enabled user an API token belongs to, with their current role.
pub fn token_user(sql: &mut dyn Sql, token: &str, now: &str) -> Result<Option<User>, StoreError> {
    let hash = secret_hash(token);
    let user = sql
        .query_one(
            "SELECT u.name, u.role, u.enabled, u.created_utc FROM api_tokens t JOIN users u ON u.name = t.user_name
             WHERE t.token_hash = $1 AND u.enabled = 1",
            params![&hash],
        )?
        .map(|r| user_of(&r));
    if user.is_some() {
        sql.exec(
            "UPDATE api_tokens SET last_used_utc = $2 WHERE token_hash = $1",
            params![&hash, now],
        )?;
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterY"));
        assert!(!verify_password("not a hash", "x"));
        assert!(matches!(
            hash_password("short"),
            Err(UserError::WeakPassword)
        ));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn names_and_roles_parse() {
        assert!(valid_name("ivanov.a") && !valid_name("Ivanov") && !valid_name(""));
        assert_eq!(Role::parse("finance"), Some(Role::Finance));
        assert_eq!(Role::parse("root"), None);
        assert_eq!(generate_password().len(), 16);
        assert_eq!(secret_hash("a").len(), 64);
    }
}
