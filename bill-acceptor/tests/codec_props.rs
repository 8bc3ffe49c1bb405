//! Property tests of the codecs: what is encoded decodes to the same thing, and no byte
//! sequence from the outside can make a decoder panic.

use bill_acceptor::frame::{encode_frame, FrameDecoder, Framing};
use bill_acceptor::model::{BillTable, BillType, DeviceStatus, Identification, Reply, Request};
use bill_acceptor::{ccnet, id003, Protocol};
use proptest::prelude::*;

fn request(protocol: Protocol) -> BoxedStrategy<Request> {
    let mask24 = 0u32..(1 << 24);
    let common = prop_oneof![
        Just(Request::Poll),
        Just(Request::Ack),
        Just(Request::Reset),
        Just(Request::Identify),
        Just(Request::GetBillTable),
        Just(Request::Stack),
        Just(Request::Return),
        Just(Request::Hold),
        Just(Request::GetStatus),
    ];
    match protocol {
        Protocol::Ccnet => prop_oneof![
            common,
            Just(Request::Nak),
            mask24.clone().prop_map(Request::SetSecurity),
            (mask24.clone(), mask24)
                .prop_map(|(enabled, escrow)| Request::EnableBills { enabled, escrow }),
        ]
        .boxed(),
        Protocol::Id003 => prop_oneof![
            common,
            (0u32..(1 << 16)).prop_map(Request::SetSecurity),
            (0u32..(1 << 16)).prop_map(|m| Request::EnableBills {
                enabled: m,
                escrow: m
            }),
            any::<bool>().prop_map(Request::SetInhibit),
        ]
        .boxed(),
    }
}

fn status(protocol: Protocol) -> BoxedStrategy<DeviceStatus> {
    // Every valid state byte (with any data byte it takes) is a status to round-trip.
    (any::<u8>(), any::<u8>())
        .prop_filter_map("valid state", move |(code, data)| {
            let decode = |p: &[u8]| match protocol {
                Protocol::Ccnet => ccnet::decode_status(p),
                Protocol::Id003 => id003::decode_status(p),
            };
            decode(&[code]).or_else(|_| decode(&[code, data])).ok()
        })
        .boxed()
}

fn bill_table(protocol: Protocol) -> BoxedStrategy<BillTable> {
    let max_index = match protocol {
        Protocol::Ccnet => 24u8,
        Protocol::Id003 => 16u8,
    };
    proptest::collection::btree_map(0..max_index, (1u16..=9, 0u8..=4), 0..8)
        .prop_map(move |m| BillTable {
            bills: m
                .into_iter()
                .map(|(index, (digit, exp))| BillType {
                    index,
                    denomination_kopecks: i64::from(digit) * 100 * 10i64.pow(u32::from(exp)),
                    country: match protocol {
                        Protocol::Ccnet => "RUS".into(),
                        Protocol::Id003 => "0x2c".into(),
                    },
                })
                .collect(),
        })
        .boxed()
}

fn roundtrip_request(protocol: Protocol, req: &Request) -> Result<(), TestCaseError> {
    let wire = protocol.wire();
    let payload = wire.encode_request(req).unwrap();
    let frame = encode_frame(wire.framing(), &payload).unwrap();
    let mut dec = FrameDecoder::new(wire.framing());
    dec.push(&frame);
    let got = dec.next_frame().unwrap().unwrap();
    prop_assert_eq!(wire.decode_request(&got.payload).unwrap(), req.clone());
    Ok(())
}

fn status_roundtrip(p: Protocol, s: DeviceStatus) -> Result<(), TestCaseError> {
    let wire = p.wire();
    let payload = wire
        .encode_reply(&Request::Poll, &Reply::Status(s))
        .unwrap();
    prop_assert_eq!(
        wire.decode_reply(&Request::Poll, &payload).unwrap(),
        Reply::Status(s)
    );
    Ok(())
}

fn table_roundtrip(p: Protocol, table: BillTable) -> Result<(), TestCaseError> {
    let wire = p.wire();
    let payload = wire
        .encode_reply(&Request::GetBillTable, &Reply::BillTable(table.clone()))
        .unwrap();
    prop_assert_eq!(
        wire.decode_reply(&Request::GetBillTable, &payload).unwrap(),
        Reply::BillTable(table)
    );
    Ok(())
}

proptest! {
    #[test]
    fn ccnet_requests_roundtrip(req in request(Protocol::Ccnet)) {
        roundtrip_request(Protocol::Ccnet, &req)?;
    }

    #[test]
    fn id003_requests_roundtrip(req in request(Protocol::Id003)) {
        roundtrip_request(Protocol::Id003, &req)?;
    }

    #[test]
    fn ccnet_statuses_roundtrip(s in status(Protocol::Ccnet)) {
        status_roundtrip(Protocol::Ccnet, s)?;
    }

    #[test]
    fn id003_statuses_roundtrip(s in status(Protocol::Id003)) {
        status_roundtrip(Protocol::Id003, s)?;
    }

    #[test]
    fn ccnet_bill_tables_roundtrip(t in bill_table(Protocol::Ccnet)) {
        table_roundtrip(Protocol::Ccnet, t)?;
    }

    #[test]
    fn id003_bill_tables_roundtrip(t in bill_table(Protocol::Id003)) {
        table_roundtrip(Protocol::Id003, t)?;
    }

    #[test]
    fn ccnet_identification_roundtrip(part in "[A-Z0-9-]{0,15}", serial in "[A-Z0-9]{0,12}", asset in proptest::collection::vec(any::<u8>(), 7)) {
        let id = Identification {
            part_number: part,
            serial_number: serial,
            asset_number: asset.iter().map(|b| format!("{b:02x}")).collect(),
        };
        let payload = ccnet::encode_identification(&id);
        prop_assert_eq!(ccnet::decode_identification(&payload).unwrap(), id);
    }

    #[test]
    fn frames_roundtrip(p in prop_oneof![Just(Framing::Ccnet), Just(Framing::Id003)], payload in proptest::collection::vec(any::<u8>(), 1..200)) {
        let frame = encode_frame(p, &payload).unwrap();
        let mut dec = FrameDecoder::new(p);
        // Byte by byte, as a serial line delivers it.
        let mut got = None;
        for b in frame {
            dec.push(&[b]);
            if let Some(f) = dec.next_frame() {
                got = Some(f);
            }
        }
        prop_assert_eq!(got.unwrap().unwrap().payload, payload);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for framing in [Framing::Ccnet, Framing::Id003] {
            let mut dec = FrameDecoder::new(framing);
            dec.push(&bytes);
            let mut guard = 0;
            while let Some(item) = dec.next_frame() {
                guard += 1;
                prop_assert!(guard <= bytes.len() + 1, "decoder does not make progress");
                let _ = item;
            }
        }
        for p in [Protocol::Ccnet, Protocol::Id003] {
            let wire = p.wire();
            let _ = wire.decode_request(&bytes);
            for req in [Request::Poll, Request::Identify, Request::GetBillTable, Request::Stack,
                        Request::SetSecurity(0), Request::EnableBills { enabled: 1, escrow: 1 },
                        Request::SetInhibit(true), Request::Reset] {
                let _ = wire.decode_reply(&req, &bytes);
            }
        }
    }

    #[test]
    fn settings_replies_roundtrip(enabled in 0u32..(1 << 16), security in 0u32..(1 << 24)) {
        let ccnet = Reply::Settings { enabled, security };
        let p = ccnet::encode_reply(&Request::GetStatus, &ccnet).unwrap();
        prop_assert_eq!(ccnet::decode_reply(&Request::GetStatus, &p).unwrap(), ccnet);
        let id003 = Reply::Settings { enabled, security: 0 };
        let p = id003::encode_reply(&Request::GetStatus, &id003).unwrap();
        prop_assert_eq!(id003::decode_reply(&Request::GetStatus, &p).unwrap(), id003);
    }

    /// Valid frames hidden in noise are still found.
    #[test]
    fn frames_survive_leading_noise(noise in proptest::collection::vec(0x03u8..0xFB, 0..50), payload in proptest::collection::vec(any::<u8>(), 1..40)) {
        let frame = encode_frame(Framing::Ccnet, &payload).unwrap();
        let mut dec = FrameDecoder::new(Framing::Ccnet);
        dec.push(&noise);
        dec.push(&frame);
        prop_assert_eq!(dec.next_frame().unwrap().unwrap().payload, payload);
    }
}

/// ID003 frames as lamassu-machine's independent implementation builds them (its command table:
/// inhibit C3 01, uninhibit C3 00, enable all C0 00 00, currency assign 8A, status 11, stack 41,
/// return 43, reset 40, ack 50), framed with DESIGN.md's CRC.
#[test]
fn id003_commands_match_an_independent_command_table() {
    let cases: [(Request, &[u8]); 9] = [
        (Request::SetInhibit(true), &[0xC3, 0x01]),
        (Request::SetInhibit(false), &[0xC3, 0x00]),
        (
            Request::EnableBills {
                enabled: 0xFFFF,
                escrow: 0xFFFF,
            },
            &[0xC0, 0x00, 0x00],
        ),
        (Request::GetBillTable, &[0x8A]),
        (Request::Poll, &[0x11]),
        (Request::Stack, &[0x41]),
        (Request::Return, &[0x43]),
        (Request::Reset, &[0x40]),
        (Request::Ack, &[0x50]),
    ];
    for (req, payload) in cases {
        assert_eq!(id003::encode_request(&req).unwrap(), payload, "{req:?}");
        assert_eq!(id003::decode_request(payload).unwrap(), req);
    }
    // DESIGN.md's checked ID003 frames.
    assert_eq!(
        encode_frame(Framing::Id003, &[0x11]).unwrap(),
        [0xFC, 0x05, 0x11, 0x27, 0x56]
    );
    assert_eq!(
        encode_frame(Framing::Id003, &[0x50]).unwrap(),
        [0xFC, 0x05, 0x50, 0xAA, 0x05]
    );
}
