//! Arbitrary bytes from the serial line into every decoder and both protocol cores.
#![no_main]

use std::time::{Duration, Instant};

use card_reader::codec::{bmp, tlv, Apdu};
use card_reader::ecr::{EcrConfig, EcrCore, Operation};
use card_reader::emulator::core::{EmulatorConfig, TerminalCore};
use card_reader::messages::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = bmp::parse(data);
    let _ = tlv::parse(data);
    if let Ok(apdu) = Apdu::decode(data) {
        let _ = Message::from_apdu(&apdu);
    }
    if data.len() >= 2 {
        let _ = Message::from_apdu(&Apdu::new(data[0], data[1], data[2..].to_vec()));
    }
    let now = Instant::now();
    let mut ecr = EcrCore::new(EcrConfig::default());
    let _ = ecr.start(Operation::Authorise { amount_kopecks: 100 }, now);
    ecr.handle_input(data, now);
    ecr.handle_timeout(now + Duration::from_secs(1));
    while ecr.poll_transmit().is_some() {}
    while ecr.poll_event().is_some() {}
    let mut pt = TerminalCore::new(EmulatorConfig::default());
    pt.handle_input(data, now);
    pt.handle_timeout(now + Duration::from_secs(1));
    while pt.poll_transmit(now).is_some() {}
});
