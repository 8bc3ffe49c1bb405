//! Request signing: HMAC-SHA256 under a per-terminal key.
//!
//! The signed string binds who (terminal id), when (Unix timestamp), a one-time nonce, what
//! (method and path with query) and the exact body bytes:
//!
//! ```text
//! KIOSK-HMAC-SHA256 \n terminal_id \n timestamp \n nonce \n METHOD \n path?query \n body
//! ```
//!
//! The server refuses a timestamp outside [`REPLAY_WINDOW_SECS`] and a nonce it has seen before
//! within that window, so a captured request can be neither replayed later nor twice. A client
//! therefore signs every attempt afresh, retries included.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

pub const HEADER_TERMINAL: &str = "x-kiosk-terminal";
pub const HEADER_TIMESTAMP: &str = "x-kiosk-timestamp";
pub const HEADER_NONCE: &str = "x-kiosk-nonce";
pub const HEADER_SIGNATURE: &str = "x-kiosk-signature";

/// How far a request's timestamp may be from the server clock, either way.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// Length of a terminal key in bytes.
pub const KEY_LEN: usize = 32;

/// The authentication headers of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub terminal_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: String,
}

/// Why a request's authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing or malformed header {0}")]
    MissingHeader(&'static str),
    #[error("timestamp {timestamp} is {skew} s away from server time; the window is ±{REPLAY_WINDOW_SECS} s")]
    Stale { timestamp: i64, skew: i64 },
    #[error("signature does not match")]
    BadSignature,
    #[error("terminal key is not valid hex of {KEY_LEN} bytes")]
    BadKey,
}

/// Generates a new random terminal key, hex encoded.
pub fn generate_key_hex() -> String {
    let mut key = [0u8; KEY_LEN];
    rand::thread_rng().fill_bytes(&mut key);
    hex::encode(key)
}

/// Decodes a hex terminal key.
pub fn decode_key(key_hex: &str) -> Result<Vec<u8>, AuthError> {
    match hex::decode(key_hex.trim()) {
        Ok(k) if k.len() == KEY_LEN => Ok(k),
        _ => Err(AuthError::BadKey),
    }
}

fn mac(
    key: &[u8],
    h: &SignedHeaders,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    let head = format!(
        "KIOSK-HMAC-SHA256\n{}\n{}\n{}\n{}\n{}\n",
        h.terminal_id,
        h.timestamp,
        h.nonce,
        method.to_ascii_uppercase(),
        path_and_query
    );
    mac.update(head.as_bytes());
    mac.update(body);
    mac
}

/// Signs a request made now (`timestamp` = Unix seconds) with a fresh nonce.
pub fn sign(
    key: &[u8],
    terminal_id: &str,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> SignedHeaders {
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut h = SignedHeaders {
        terminal_id: terminal_id.to_string(),
        timestamp,
        nonce: hex::encode(nonce),
        signature: String::new(),
    };
    h.signature = hex::encode(
        mac(key, &h, method, path_and_query, body)
            .finalize()
            .into_bytes(),
    );
    h
}

/// Checks the timestamp window and the signature (in constant time). The nonce's freshness is the
/// server's to check against what it has seen.
pub fn verify(
    key: &[u8],
    h: &SignedHeaders,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now: i64,
) -> Result<(), AuthError> {
    let skew = h.timestamp.saturating_sub(now);
    if skew.abs() > REPLAY_WINDOW_SECS {
        return Err(AuthError::Stale {
            timestamp: h.timestamp,
            skew,
        });
    }
    if h.nonce.len() < 16 || h.nonce.len() > 64 || !h.nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthError::MissingHeader(HEADER_NONCE));
    }
    let sig = hex::decode(&h.signature).map_err(|_| AuthError::BadSignature)?;
    mac(key, h, method, path_and_query, body)
        .verify_slice(&sig)
        .map_err(|_| AuthError::BadSignature)
}

/// Reads the four headers through a lookup function (so it works with any HTTP library).
pub fn headers_from<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<SignedHeaders, AuthError> {
    let text = |name: &'static str| -> Result<&'a str, AuthError> {
        get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 200)
            .ok_or(AuthError::MissingHeader(name))
    };
    Ok(SignedHeaders {
        terminal_id: text(HEADER_TERMINAL)?.to_string(),
        timestamp: text(HEADER_TIMESTAMP)?
            .parse()
            .map_err(|_| AuthError::MissingHeader(HEADER_TIMESTAMP))?,
        nonce: text(HEADER_NONCE)?.to_string(),
        signature: text(HEADER_SIGNATURE)?.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let key = decode_key(&generate_key_hex()).unwrap();
        let h = sign(&key, "T1", 1_000, "POST", "/api/v1/ingest", b"{}");
        assert_eq!(
            verify(&key, &h, "POST", "/api/v1/ingest", b"{}", 1_010),
            Ok(())
        );
        assert_eq!(
            verify(&key, &h, "POST", "/api/v1/ingest", b"{ }", 1_010),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            verify(&key, &h, "POST", "/api/v1/heartbeat", b"{}", 1_010),
            Err(AuthError::BadSignature)
        );
        let other = decode_key(&generate_key_hex()).unwrap();
        assert_eq!(
            verify(&other, &h, "POST", "/api/v1/ingest", b"{}", 1_010),
            Err(AuthError::BadSignature)
        );
        let mut moved = h.clone();
        moved.terminal_id = "T2".into();
        assert_eq!(
            verify(&key, &moved, "POST", "/api/v1/ingest", b"{}", 1_010),
            Err(AuthError::BadSignature)
        );
    }

    #[test]
    fn the_replay_window_is_enforced_both_ways() {
        let key = decode_key(&generate_key_hex()).unwrap();
        let h = sign(&key, "T1", 10_000, "GET", "/x", b"");
        assert!(verify(&key, &h, "GET", "/x", b"", 10_000 + REPLAY_WINDOW_SECS).is_ok());
        assert!(matches!(
            verify(&key, &h, "GET", "/x", b"", 10_000 + REPLAY_WINDOW_SECS + 1),
            Err(AuthError::Stale { .. })
        ));
        assert!(matches!(
            verify(&key, &h, "GET", "/x", b"", 10_000 - REPLAY_WINDOW_SECS - 1),
            Err(AuthError::Stale { .. })
        ));
    }

    #[test]
    fn every_signature_uses_a_fresh_nonce() {
        let key = [7u8; KEY_LEN];
        let a = sign(&key, "T1", 1, "GET", "/", b"");
        let b = sign(&key, "T1", 1, "GET", "/", b"");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.signature, b.signature);
    }

    proptest! {
        #[test]
        fn flipping_any_body_bit_is_caught(body in proptest::collection::vec(any::<u8>(), 1..200), idx in any::<usize>(), bit in 0u8..8) {
            let key = [3u8; KEY_LEN];
            let h = sign(&key, "T9", 50, "POST", "/p", &body);
            let mut bad = body.clone();
            let i = idx % bad.len();
            bad[i] ^= 1 << bit;
            prop_assert_eq!(verify(&key, &h, "POST", "/p", &bad, 50), Err(AuthError::BadSignature));
        }
    }
}
