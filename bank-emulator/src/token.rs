//! T-Bank's request signature (`Token`): the SHA-256 (hex) of the values of the body's root-level
//! scalar fields plus `Password`, concatenated in the order of their key names. `Token` itself,
//! nested objects, arrays and nulls take no part; booleans count as `true`/`false`, numbers as
//! written. The same rule signs the bank's notifications.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The token of `fields` under `password`.
pub fn token(fields: &Map<String, Value>, password: &str) -> String {
    let mut pairs: Vec<(&str, String)> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "Token")
        .filter_map(|(k, v)| scalar(v).map(|s| (k.as_str(), s)))
        .collect();
    pairs.push(("Password", password.to_string()));
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let joined: String = pairs.into_iter().map(|(_, v)| v).collect();
    hex::encode(Sha256::digest(joined.as_bytes()))
}

/// Adds `Token` to `fields`.
pub fn sign(fields: &mut Map<String, Value>, password: &str) {
    let t = token(fields, password);
    fields.insert("Token".into(), Value::String(t));
}

/// True when `fields` carry the token `password` gives them (compared in constant time).
pub fn verify(fields: &Map<String, Value>, password: &str) -> bool {
    let Some(Value::String(given)) = fields.get("Token") else {
        return false;
    };
    let want = token(fields, password);
    given.len() == want.len()
        && given
            .bytes()
            .zip(want.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_orders_values_by_key_and_skips_nested_objects() {
        let body = serde_json::json!({
            "TerminalKey": "MerchantTerminalKey",
            "Amount": 19200,
            "OrderId": "00000",
            "Description": "Подарочная карта на 1000 рублей",
            "DATA": {"Phone": "+71234567890"},
            "Receipt": {"Items": []},
        });
        let Value::Object(map) = body else {
            unreachable!()
        };
        let joined = "19200Подарочная карта на 1000 рублей00000usaf8fw87hsMerchantTerminalKey";
        assert_eq!(
            token(&map, "usaf8fw87hs"),
            hex::encode(Sha256::digest(joined.as_bytes()))
        );
    }

    #[test]
    fn booleans_are_words_and_a_changed_value_breaks_the_token() {
        let Value::Object(mut map) = serde_json::json!({"Success": true, "Status": "CONFIRMED"})
        else {
            unreachable!()
        };
        let joined = "secretCONFIRMEDtrue";
        assert_eq!(
            token(&map, "secret"),
            hex::encode(Sha256::digest(joined.as_bytes()))
        );
        sign(&mut map, "secret");
        assert!(verify(&map, "secret"));
        assert!(!verify(&map, "other"));
        map.insert("Status".into(), "REJECTED".into());
        assert!(!verify(&map, "secret"));
    }
}
