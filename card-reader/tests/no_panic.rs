//! Arbitrary bytes from the line never panic any decoder or either protocol core.

use std::time::{Duration, Instant};

use card_reader::codec::frame::{encode_frame, FrameDecoder};
use card_reader::codec::{bmp, tlv, Apdu};
use card_reader::ecr::{EcrConfig, EcrCore, Operation};
use card_reader::emulator::core::{EmulatorConfig, TerminalCore};
use card_reader::messages::{EndOfDayTotals, Message};
use proptest::prelude::*;

fn feed_everything(data: &[u8]) {
    let mut decoder = FrameDecoder::new();
    for &b in data {
        let _ = decoder.push(b);
    }
    let _ = bmp::parse(data);
    let _ = tlv::parse(data);
    if let Ok(apdu) = Apdu::decode(data) {
        let _ = Message::from_apdu(&apdu);
    }
    if data.len() >= 2 {
        if let Ok(Message::StatusInformation(info)) =
            Message::from_apdu(&Apdu::new(data[0], data[1], data[2..].to_vec()))
        {
            let _ = EndOfDayTotals::from_status(&info);
        }
    }
    let now = Instant::now();
    let mut ecr = EcrCore::new(EcrConfig::default());
    let _ = ecr.start(
        Operation::Authorise {
            amount_kopecks: 100,
        },
        now,
    );
    ecr.handle_input(data, now);
    ecr.handle_timeout(now + Duration::from_secs(200));
    while ecr.poll_transmit().is_some() {}
    while ecr.poll_event().is_some() {}
    let mut pt = TerminalCore::new(EmulatorConfig::default());
    pt.handle_input(data, now);
    pt.handle_timeout(now + Duration::from_secs(20));
    while pt.poll_transmit(now).is_some() {}
}

/// Known commands with random data, framed with a correct CRC so they reach the parsers.
fn framed_command() -> impl Strategy<Value = Vec<u8>> {
    let commands = prop::sample::select(vec![
        (0x04u8, 0x0fu8),
        (0x04, 0xff),
        (0x06, 0x0f),
        (0x06, 0x1e),
        (0x06, 0xd1),
        (0x06, 0xd3),
        (0x06, 0x00),
        (0x06, 0x01),
        (0x06, 0x20),
        (0x06, 0x30),
        (0x06, 0x50),
        (0x05, 0x01),
        (0x80, 0x00),
        (0x84, 0x66),
    ]);
    (commands, prop::collection::vec(any::<u8>(), 0..300)).prop_map(|((class, instr), data)| {
        let apdu = Apdu::new(class, instr, data).encode().unwrap_or_default();
        encode_frame(&apdu)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        feed_everything(&data);
    }

    #[test]
    fn well_framed_garbage(frames in prop::collection::vec(framed_command(), 1..6)) {
        let data: Vec<u8> = frames.concat();
        feed_everything(&data);
        // Also the unframed bodies, as a decoder of frame contents sees them.
        for frame in &frames {
            feed_everything(&frame[2..frame.len().saturating_sub(4)]);
        }
    }

    #[test]
    fn frames_round_trip_through_noise(noise in prop::collection::vec(0x20u8..0x7f, 0..20),
                                       body in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut decoder = FrameDecoder::new();
        let mut bytes = noise;
        bytes.extend(encode_frame(&body));
        let frames: Vec<_> = bytes.iter().filter_map(|&b| decoder.push(b)).filter(|t| matches!(t, card_reader::codec::frame::Token::Frame(_))).collect();
        prop_assert_eq!(frames, vec![card_reader::codec::frame::Token::Frame(body)]);
    }
}
