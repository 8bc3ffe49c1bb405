#![no_main]
//! The bank's notification endpoint is open to the Internet: any body must be refused or parsed
//! without a panic. Half the inputs are taken as they are (almost all fail the Token check);
//! the other half are JSON objects signed with the right Token first, so the parsing behind the
//! check is reached too.
use std::sync::OnceLock;
use std::time::Duration;

use back_office::sbp::bank::SbpBank;
use back_office::sbp::tbank::{token, Tbank, TbankConfig};
use libfuzzer_sys::fuzz_target;

const PASSWORD: &str = "fuzzpassword";

fn bank() -> &'static Tbank {
    static BANK: OnceLock<Tbank> = OnceLock::new();
    BANK.get_or_init(|| {
        Tbank::new(TbankConfig {
            api_url: "http://127.0.0.1:9/v2/".into(),
            terminal_key: "FUZZ".into(),
            password: back_office::alerts::Secret::new(PASSWORD),
            notification_url: None,
            ca_pem: None,
            timeout: Duration::from_secs(1),
        })
        .expect("the adapter builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = bank().parse_notification(body);
        return;
    }
    let Ok(serde_json::Value::Object(mut map)) = serde_json::from_slice(body) else {
        return;
    };
    map.insert("TerminalKey".into(), "FUZZ".into());
    let signed = token(&map, PASSWORD);
    map.insert("Token".into(), signed.into());
    let Ok(bytes) = serde_json::to_vec(&map) else {
        return;
    };
    let _ = bank().parse_notification(&bytes);
});
