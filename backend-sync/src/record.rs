//! The hash-chained journal record, as stored on the terminal and shipped to the back office.
//!
//! Both sides compute the chain with [`chain_hash`], so the back office can verify exactly what the
//! terminal wrote. The payload is kept as the canonical JSON *text* the terminal hashed; nothing
//! re-serialises it on the way, so no JSON library quirk can break the chain.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record of a terminal's journal: 32 zero bytes, hex.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Gap-free sequence number, starting at 1.
    pub seq: u64,
    /// UTC time, RFC 3339 with milliseconds and `Z`, e.g. `2026-11-27T14:05:00.123Z`.
    pub time_utc: String,
    /// The event kind (see [`crate::event::JournalEvent::kind`]).
    pub kind: String,
    /// Canonical JSON text of the event (object keys sorted, no whitespace).
    pub payload: String,
    /// Hex SHA-256 of the previous record ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash bytes ‖ canonical entry bytes`.
    pub hash: String,
}

/// The canonical bytes of an entry: `seq \n time_utc \n kind \n payload`.
pub fn canonical_entry_bytes(seq: u64, time_utc: &str, kind: &str, payload: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + kind.len() + time_utc.len() + 24);
    bytes.extend_from_slice(seq.to_string().as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(time_utc.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(kind.as_bytes());
    bytes.push(b'\n');
    bytes.extend_from_slice(payload.as_bytes());
    bytes
}

/// `hex(SHA-256(prev_hash bytes ‖ canonical entry bytes))`. A `prev_hash` that is not valid hex is
/// hashed as its text, so a tampered value still yields a (wrong) hash rather than a panic.
pub fn chain_hash(prev_hash: &str, seq: u64, time_utc: &str, kind: &str, payload: &str) -> String {
    let mut hasher = Sha256::new();
    match hex::decode(prev_hash) {
        Ok(raw) => hasher.update(&raw),
        Err(_) => hasher.update(prev_hash.as_bytes()),
    }
    hasher.update(canonical_entry_bytes(seq, time_utc, kind, payload));
    hex::encode(hasher.finalize())
}

impl JournalRecord {
    /// Builds a record chained onto `prev_hash`.
    pub fn new(
        seq: u64,
        time_utc: String,
        kind: String,
        payload: String,
        prev_hash: String,
    ) -> Self {
        let hash = chain_hash(&prev_hash, seq, &time_utc, &kind, &payload);
        JournalRecord {
            seq,
            time_utc,
            kind,
            payload,
            prev_hash,
            hash,
        }
    }

    /// Recomputes this record's hash from its own fields.
    pub fn computed_hash(&self) -> String {
        chain_hash(
            &self.prev_hash,
            self.seq,
            &self.time_utc,
            &self.kind,
            &self.payload,
        )
    }
}

/// Why a sequence of records does not form a valid chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("record {seq}: sequence gap, expected {expected}")]
    Gap { seq: u64, expected: u64 },
    #[error("record {seq}: prev_hash does not match the hash of record {prev}")]
    BrokenLink { seq: u64, prev: u64 },
    #[error("record {seq}: hash does not match its contents")]
    BadHash { seq: u64 },
}

impl ChainError {
    /// The first sequence number found bad.
    pub fn seq(&self) -> u64 {
        match self {
            ChainError::Gap { seq, .. }
            | ChainError::BrokenLink { seq, .. }
            | ChainError::BadHash { seq } => *seq,
        }
    }
}

/// Verifies records that should continue a chain whose last known record is
/// `(last_seq, last_hash)` (`(0, GENESIS_HASH)` for a fresh journal). Returns the new tip.
pub fn verify_chain<'a>(
    last: (u64, &str),
    records: impl IntoIterator<Item = &'a JournalRecord>,
) -> Result<(u64, String), ChainError> {
    let (mut tip_seq, mut tip_hash) = (last.0, last.1.to_string());
    for record in records {
        let expected = tip_seq + 1;
        if record.seq != expected {
            return Err(ChainError::Gap {
                seq: record.seq,
                expected,
            });
        }
        if record.prev_hash != tip_hash {
            return Err(ChainError::BrokenLink {
                seq: record.seq,
                prev: tip_seq,
            });
        }
        if record.computed_hash() != record.hash {
            return Err(ChainError::BadHash { seq: record.seq });
        }
        tip_seq = record.seq;
        tip_hash = record.hash.clone();
    }
    Ok((tip_seq, tip_hash))
}

/// Serialises a value as canonical JSON: object keys sorted, no insignificant whitespace.
/// Sorting is done here explicitly so it does not depend on serde_json's feature flags.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    write_canonical(&value, &mut out);
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<JournalRecord> {
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let r = JournalRecord::new(
                    seq,
                    "2026-11-27T14:05:00.000Z".into(),
                    "Test".into(),
                    format!("{{\"n\":{seq}}}"),
                    prev.clone(),
                );
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn a_good_chain_verifies() {
        let records = chain(5);
        let (seq, hash) = verify_chain((0, GENESIS_HASH), &records).unwrap();
        assert_eq!(seq, 5);
        assert_eq!(hash, records[4].hash);
    }

    #[test]
    fn an_edited_payload_is_caught() {
        let mut records = chain(5);
        records[2].payload = "{\"n\":300}".into();
        assert_eq!(
            verify_chain((0, GENESIS_HASH), &records),
            Err(ChainError::BadHash { seq: 3 })
        );
    }

    #[test]
    fn a_deleted_record_is_caught() {
        let mut records = chain(5);
        records.remove(1);
        assert_eq!(
            verify_chain((0, GENESIS_HASH), &records).unwrap_err().seq(),
            3
        );
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": "я"}], "c": null}});
        assert_eq!(
            canonical_json(&v).unwrap(),
            r#"{"a":{"c":null,"d":[1,{"y":"я","z":0}]},"b":1}"#
        );
    }
}
