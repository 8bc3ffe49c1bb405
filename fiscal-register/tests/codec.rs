//! Golden frames from the protocol documents, and property tests of the frame codec and of the
//! ENQ/ACK/NAK handshake under noise, lost and duplicated bytes.
//!
//! Documents (Shtrih-M, `javapos_shtrih/Doc/SHTRIH/`): "Протокол ККТ 2.0" section
//! "Стандартный нижний уровень" (frame layout, LRC = XOR of every byte but STX) and command
//! 10H ("Длина сообщения: 5 байт"); "Протокол ФР (Команды работы с ФН)" commands FF01H
//! ("Длина сообщения: 6 байт"), FF0AH (10 байт), FF0BH answer (error, shift 2, FD 4, FP 4),
//! FF3FH answer (error, count 2), FF40H answer (error, state 1, shift 2, receipt 2). The
//! documents give lengths and layouts, not byte dumps; the LRC bytes below were worked out by
//! hand from the rule and are checked against the encoder.

use std::time::Duration;

use fiscal_register::shtrih::commands::{parse_reply, Reply, Request};
use fiscal_register::shtrih::frame::{encode, lrc, Token, Tokenizer, ACK, ENQ, NAK};
use fiscal_register::shtrih::testkit::{sample_config, Direction, MemoryLink};
use fiscal_register::shtrih::{LinkConfig, ShtrihError};
use proptest::prelude::*;

#[test]
fn short_status_request_for_password_30() {
    // 02 | LEN 05 | 10 | 1E 00 00 00 | LRC 05^10^1E = 0B
    let frame = encode(&Request::ShortStatus.encode(30)).unwrap();
    assert_eq!(frame, [0x02, 0x05, 0x10, 0x1E, 0x00, 0x00, 0x00, 0x0B]);
}

#[test]
fn fn_status_request_is_a_two_byte_command_of_length_6() {
    // 02 | 06 | FF 01 | 1E 00 00 00 | 06^FF^01^1E = E6
    let frame = encode(&Request::FnStatus.encode(30)).unwrap();
    assert_eq!(
        frame,
        [0x02, 0x06, 0xFF, 0x01, 0x1E, 0x00, 0x00, 0x00, 0xE6]
    );
}

#[test]
fn find_document_request_carries_the_fd_number_little_endian() {
    // 02 | 0A | FF 0A | 1E 00 00 00 | 39 30 00 00 (FD 12345) | LRC
    let frame = encode(&Request::FindDocument(12345).encode(30)).unwrap();
    assert_eq!(
        &frame[..10],
        &[0x02, 0x0A, 0xFF, 0x0A, 0x1E, 0, 0, 0, 0x39, 0x30]
    );
    assert_eq!(frame[12], lrc(&frame[1..12]));
    assert_eq!(frame[12], 0x0A ^ 0xFF ^ 0x0A ^ 0x1E ^ 0x39 ^ 0x30);
}

#[test]
fn documented_answer_layouts_parse() {
    // FF0BH answer: error 00, shift 0x0007, FD 0x00000102, FP 0x0A0B0C0D.
    let data = [0x00, 0x07, 0x00, 0x02, 0x01, 0, 0, 0x0D, 0x0C, 0x0B, 0x0A];
    let Reply::ShiftOpened(s) = parse_reply(&Request::OpenShiftFn, &data).unwrap() else {
        panic!()
    };
    assert_eq!(
        (s.shift, s.fd_number, s.fiscal_sign),
        (7, 0x102, 0x0A0B0C0D)
    );
    assert_eq!(
        parse_reply(&Request::UnsentCount, &[0, 0x2C, 0x01]).unwrap(),
        Reply::Unsent(300)
    );
    let Reply::Shift(p) = parse_reply(&Request::ShiftParameters, &[0, 1, 3, 0, 9, 0]).unwrap()
    else {
        panic!()
    };
    assert_eq!((p.open, p.shift, p.receipt), (true, 3, 9));
}

#[test]
fn a_frame_with_a_bad_lrc_is_reported_not_delivered() {
    let mut frame = encode(&[0x10, 0x1E, 0, 0, 0]).unwrap();
    let last = frame.len() - 1;
    frame[last] ^= 0x55;
    let mut t = Tokenizer::new();
    let mut out = Vec::new();
    t.push(&frame, &mut out);
    assert_eq!(out, vec![Token::BadFrame]);
}

proptest! {
    #[test]
    fn frames_round_trip(payload in proptest::collection::vec(any::<u8>(), 1..=255)) {
        let frame = encode(&payload).unwrap();
        prop_assert_eq!(frame.len(), payload.len() + 3);
        let mut t = Tokenizer::new();
        let mut out = Vec::new();
        t.push(&frame, &mut out);
        prop_assert_eq!(out, vec![Token::Frame(payload)]);
    }

    #[test]
    fn frames_split_anywhere_decode_the_same(
        payload in proptest::collection::vec(any::<u8>(), 1..=64),
        cut in 0usize..70,
    ) {
        let frame = encode(&payload).unwrap();
        let cut = cut.min(frame.len());
        let mut t = Tokenizer::new();
        let mut out = Vec::new();
        t.push(&frame[..cut], &mut out);
        t.push(&frame[cut..], &mut out);
        prop_assert_eq!(out, vec![Token::Frame(payload)]);
    }

    #[test]
    fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut t = Tokenizer::new();
        let mut out = Vec::new();
        t.push(&bytes, &mut out);
        for token in out {
            if let Token::Frame(p) = token {
                prop_assert!(!p.is_empty());
            }
        }
    }

    #[test]
    fn control_bytes_between_frames_come_out_in_order(n in 0usize..5) {
        let mut bytes = vec![ENQ; n];
        bytes.extend(encode(&[0x10, 0]).unwrap());
        bytes.push(ACK);
        bytes.push(NAK);
        let mut t = Tokenizer::new();
        let mut out = Vec::new();
        t.push(&bytes, &mut out);
        let mut expected = vec![Token::Control(ENQ); n];
        expected.push(Token::Frame(vec![0x10, 0]));
        expected.push(Token::Control(ACK));
        expected.push(Token::Control(NAK));
        prop_assert_eq!(out, expected);
    }
}

/// What the line does to a byte stream, chosen by proptest.
#[derive(Debug, Clone)]
enum Damage {
    None,
    Flip { at: usize, mask: u8 },
    Drop { at: usize },
    Duplicate { at: usize },
    Noise { at: usize, byte: u8 },
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        Just(Damage::None),
        (0usize..40, 1u8..=255).prop_map(|(at, mask)| Damage::Flip { at, mask }),
        (0usize..40).prop_map(|at| Damage::Drop { at }),
        (0usize..40).prop_map(|at| Damage::Duplicate { at }),
        (0usize..40, any::<u8>()).prop_map(|(at, byte)| Damage::Noise { at, byte }),
    ]
}

fn apply(d: &Damage, mut bytes: Vec<u8>) -> Vec<u8> {
    match *d {
        Damage::None => {}
        Damage::Flip { at, mask } => {
            if let Some(b) = bytes.get_mut(at) {
                *b ^= mask;
            }
        }
        Damage::Drop { at } => {
            if at < bytes.len() {
                bytes.remove(at);
            }
        }
        Damage::Duplicate { at } => {
            if let Some(&b) = bytes.get(at) {
                bytes.insert(at, b);
            }
        }
        Damage::Noise { at, byte } => bytes.insert(at.min(bytes.len()), byte),
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// One damaged write per direction on the way (the n-th write is hit): a read-only request
    /// still gets its right answer or a clean error, never a wrong one, and the link recovers
    /// for the next request.
    #[test]
    fn the_handshake_survives_a_damaged_write(
        to_kkt in damage(), to_host in damage(), nth_out in 0usize..4, nth_back in 0usize..4,
    ) {
        let mut link = MemoryLink::new(sample_config(), LinkConfig::default());
        let (mut out_count, mut back_count) = (0usize, 0usize);
        link.line = Some(Box::new(move |dir, bytes| match dir {
            Direction::HostToKkt => {
                out_count += 1;
                if out_count == nth_out + 1 { apply(&to_kkt, bytes) } else { bytes }
            }
            Direction::KktToHost => {
                back_count += 1;
                if back_count == nth_back + 1 { apply(&to_host, bytes) } else { bytes }
            }
        }));
        match link.call(Request::FnStatus) {
            Ok(Reply::FnStatus(s)) => prop_assert_eq!(s.fn_number, "9999078900012345"),
            Ok(other) => prop_assert!(false, "wrong reply {:?}", other),
            Err(ShtrihError::NoLink | ShtrihError::NotDelivered { .. } | ShtrihError::Malformed(_)) => {}
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
        link.line = None;
        link.advance(Duration::from_secs(1));
        let again = link.call(Request::FnStatus);
        prop_assert!(matches!(again, Ok(Reply::FnStatus(_))), "{:?}", again);
    }

    /// The same damage around a sale: whatever happens, the FN holds at most one receipt, and
    /// the register's answer (or its recovery) agrees with it.
    #[test]
    fn a_sale_under_a_damaged_write_makes_at_most_one_receipt(
        d in damage(), nth in 0usize..30, back in any::<bool>(),
    ) {
        use fiscal_register::{sample, FiscalModule, DocumentKind};
        let mut reg = fiscal_register::shtrih::ShtrihRegister::new(
            MemoryLink::new(sample_config(), LinkConfig::default()), true);
        reg.open_shift(sample::time()).unwrap();
        let mut count = 0usize;
        reg.with_exchange(|l| {
            l.line = Some(Box::new(move |dir, bytes| {
                let hit = (dir == Direction::KktToHost) == back;
                if hit { count += 1; }
                if hit && count == nth + 1 { apply(&d, bytes) } else { bytes }
            }))
        }).unwrap();
        let result = reg.register(&sample::cash_sale(10_000), sample::time());
        reg.with_exchange(|l| l.line = None).unwrap();
        let receipts: Vec<_> = reg.with_exchange(|l| l.kkt.documents().iter()
            .filter(|x| matches!(x.kind, DocumentKind::Receipt(_))).cloned().collect()).unwrap();
        prop_assert!(receipts.len() <= 1, "{:?}", receipts);
        match result {
            Ok(r) => {
                prop_assert_eq!(receipts.len(), 1);
                prop_assert_eq!(r.fd_number, receipts[0].fd_number);
            }
            Err(_) => {
                // Nothing half-done: whatever the FN holds is findable, nothing is open.
                let status = reg.status(sample::time()).unwrap();
                prop_assert!(!status.open_receipt);
                let found = reg.find_registered(1, &[], &sample::cash_sale(10_000), sample::time()).unwrap();
                prop_assert_eq!(found.is_some(), receipts.len() == 1);
            }
        }
    }
}
