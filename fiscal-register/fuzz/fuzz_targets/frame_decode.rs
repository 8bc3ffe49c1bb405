//! Fuzzes the Shtrih-M byte tokenizer and reply parsers, and the emulated KKT fed raw bytes:
//! nothing may panic, and every frame the tokenizer yields re-encodes to the same bytes.
#![no_main]

use fiscal_register::shtrih::commands::{parse_reply, Request};
use fiscal_register::shtrih::emulator::KktCore;
use fiscal_register::shtrih::frame::{encode, Token, Tokenizer};
use fiscal_register::shtrih::testkit::sample_config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut kkt = KktCore::new(sample_config(), std::time::Instant::now());
    kkt.handle_input(data, std::time::Instant::now());
    while kkt.poll_transmit().is_some() {}

    let mut tokenizer = Tokenizer::new();
    let mut tokens = Vec::new();
    tokenizer.push(data, &mut tokens);
    for token in tokens {
        if let Token::Frame(payload) = token {
            let frame = encode(&payload).expect("a decoded payload re-encodes");
            assert_eq!(frame[1] as usize, payload.len());
            for request in [
                Request::ShortStatus,
                Request::FnStatus,
                Request::FindDocument(1),
                Request::ExchangeStatus,
                Request::ShiftParameters,
                Request::OpenShiftFn,
                Request::CloseShiftFn,
            ] {
                let _ = parse_reply(&request, &payload);
            }
        }
    }
});
