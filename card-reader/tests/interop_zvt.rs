//! Interoperability with an independent ZVT implementation: the `zvt` crate (Qwello GmbH,
//! MIT/Apache-2.0, developed against Feig terminals), and byte captures of real terminals that
//! its authors published (hex below, from that crate's `data/*.blob` files).
//!
//! The `zvt` crate implements ZVT over TCP (no serial link layer) and has no authorisation (06 01)
//! sequence in its 0.1 release, so the tests cover: its ECR sequences driving our emulator
//! through a TCP-to-serial bridge; its parsers reading what our emulator sends; our parsers
//! reading what it serializes and what real terminals sent.

// Amounts are written roubles_kopecks (1234_00 = 1234.00 RUB).
#![allow(clippy::inconsistent_digit_grouping)]

const CAPTURE_STATUS_APPROVED: &str = "040f5a2700040000000025004909780c2255580d040522f0f8559883eeeeee80748702313b37353030373100000b000975196029525235350e24058a068c018bf1f14d617374657243617264002a383034303131393236202020202020";
const CAPTURE_INTERMEDIATE: &str = "04ff0117";
const CAPTURE_COMPLETION_EMPTY: &str = "060f00";
const CAPTURE_COMPLETION_TID: &str = "060f0a19102952523535490978";
const CAPTURE_END_OF_DAY_STATUS: &str = "040f4d2700040000000009580b0009820d04060c08170660f0f5f30233023400000000000000000000000000000200000000095800000000000000000000000000000000000000000000000000000000";
const CAPTURE_REGISTRATION: &str = "060006123456de0978";
const CAPTURE_END_OF_DAY: &str = "065003123456";
const CAPTURE_RECEIPT_TEXT_BLOCK: &str = "06d3ff61040682045d1f07010225820455070007282020202020202020202a2a20437573746f6d65722052656365697074202a2a20202020202020202007000728202020202020202020205075726368617365204d41535445524341524420202020202020202020200700072830352e30342e323032332020202020202020202020202020202020202020202032323a35353a353807285465726d696e616c2d49643a20202020202020202020202020202020202020203532353233353335072854412d4e6f2e3a202020202020202020202020202020202020202020202020202020303030393737072854412d4e6f2e286f6c64293a20202020202020202020202020202020202020202020303030393735072852656365697074204e6f3a202020202020202020202020202020202020202020202020203032333207285472782e2d4e6f2e3a20202020202020202020202020202020202020202020202020202030333331072856552e4e6f2e3a20202020202020202020202020202020202020202020202038303430313139323607284170702d49443a202020202020202020202020202020202020204130303030303030303431303130072843617264204e6f2e3a202020202020202020202020202020787878787878787878787878383037340728436172645365712e204e6f2e3a202020202020202020202020202020202020202020202020203030072843617074757265206b696e643a20202020202020202020202020202020436f6e746163746c6573730728417574682e2d4e6f2e3a2020202020202020202020202020202020202020202020203735303037310728454d562d444154413a202020202020202020202020202020202020202020202020202020202020200728303030303030383030312f2f3346303030322f2f2f30302020202020202020202020202020202020070007284d6178696d756d20616d6f756e743a202020202020202020202020202020204555522032352c303007284465637265656420616d6f756e743a202020202020202020202020202020202045555220302c30300700072820202020202020202043616e63656c6c6174696f6e20617070726f76656420202020202020202020070007282020202020202d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d202020202020200728496e666f3a2020202020202020202020202020202020202020202020202020202020202020202020072841532d50726f632d436f64653d2030302030373620303620202020202020202020202020202020200728436170742e2d5265662e3d2030303939202020202020202020202020202020202020202020202020072841494435393d2030383135323020202020202020202020202020202020202020202020202020202007284441554552203720544147452020202020202020202020202020202020202020202020202020202007282020202020202d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2d2020202020202007000901ff";

use std::time::{Duration, Instant};

use card_reader::codec::frame::{FrameDecoder, Token, ACK};
use card_reader::codec::{frame, Apdu};
use card_reader::emulator::core::{EmulatorConfig, TerminalCore};
use card_reader::messages::{EndOfDayTotals, Message, KIOSK_CONFIG_BYTE};
use card_reader::{contains_full_pan, messages};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use zvt::sequences::Sequence;
use zvt::{packets, sequences, ZvtSerializer};

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn parse(hex: &str) -> Message {
    Message::from_apdu(&Apdu::decode(&unhex(hex)).expect("apdu")).expect("message")
}

#[test]
fn real_terminal_status_information_is_read_and_pan_stays_masked() {
    let Message::StatusInformation(info) = parse(CAPTURE_STATUS_APPROVED) else {
        panic!()
    };
    assert_eq!(info.result_code, Some(0));
    assert_eq!(info.amount_kopecks, Some(2500));
    assert_eq!(info.currency, Some(978));
    assert_eq!(info.receipt_no, Some(231));
    assert_eq!(info.trace, Some(975));
    assert_eq!(info.terminal_id, Some(52_523_535));
    assert_eq!(info.auth_code.as_deref(), Some("750071"));
    assert_eq!(info.card_name.as_deref(), Some("MasterCard"));
    assert_eq!(info.masked_pan.as_deref(), Some("559883******8074"));
    assert!(!contains_full_pan(&format!("{info:?}")));
}

#[test]
fn real_terminal_short_messages() {
    assert_eq!(
        parse(CAPTURE_INTERMEDIATE),
        Message::IntermediateStatus {
            status: 0x17,
            timeout: None
        }
    );
    assert!(matches!(
        parse(CAPTURE_COMPLETION_EMPTY),
        Message::Completion(_)
    ));
    let Message::Completion(c) = parse(CAPTURE_COMPLETION_TID) else {
        panic!()
    };
    assert_eq!(
        (c.status_byte, c.terminal_id, c.currency),
        (Some(0x10), Some(52_523_535), Some(978))
    );
    assert_eq!(
        parse(CAPTURE_REGISTRATION),
        Message::Registration {
            password: 123_456,
            config: 0xde,
            currency: Some(978),
            service_byte: None
        }
    );
    assert_eq!(
        parse(CAPTURE_END_OF_DAY),
        Message::EndOfDay { password: 123_456 }
    );
}

#[test]
fn real_terminal_end_of_day_totals() {
    let Message::StatusInformation(info) = parse(CAPTURE_END_OF_DAY_STATUS) else {
        panic!()
    };
    let totals = EndOfDayTotals::from_status(&info).unwrap();
    assert_eq!(
        totals,
        EndOfDayTotals {
            count: 2,
            total_kopecks: 958,
            receipt_from: Some(233),
            receipt_to: Some(234)
        }
    );
}

#[test]
fn real_terminal_receipt_text_block() {
    let Message::PrintTextBlock {
        receipt_type,
        lines,
    } = parse(CAPTURE_RECEIPT_TEXT_BLOCK)
    else {
        panic!()
    };
    assert_eq!(receipt_type, Some(2));
    assert!(lines
        .iter()
        .any(|l| l.contains("Terminal-Id:") && l.contains("52523535")));
    assert!(lines
        .iter()
        .any(|l| l.contains("Auth.-No.:") && l.contains("750071")));
    assert!(lines.iter().any(|l| l.contains("xxxxxxxxxxxx8074")));
    assert!(lines.len() > 20);
}

#[test]
fn their_serializer_our_parser() {
    let registration = packets::Registration {
        password: 0,
        config_byte: KIOSK_CONFIG_BYTE,
        currency: Some(643),
        tlv: None,
    };
    assert_eq!(
        Message::from_apdu(&Apdu::decode(&registration.zvt_serialize()).unwrap()).unwrap(),
        Message::Registration {
            password: 0,
            config: KIOSK_CONFIG_BYTE,
            currency: Some(643),
            service_byte: None
        }
    );
    let eod = packets::EndOfDay { password: 123_456 };
    assert_eq!(
        Message::from_apdu(&Apdu::decode(&eod.zvt_serialize()).unwrap()).unwrap(),
        Message::EndOfDay { password: 123_456 }
    );
    let ack = packets::Ack {};
    assert_eq!(
        Message::from_apdu(&Apdu::decode(&ack.zvt_serialize()).unwrap()).unwrap(),
        Message::Ack
    );
    let abort = packets::Abort { error: 0x6c };
    assert_eq!(
        Message::from_apdu(&Apdu::decode(&abort.zvt_serialize()).unwrap()).unwrap(),
        Message::Abort { result_code: 0x6c }
    );
}

#[test]
fn our_serializer_their_parser() {
    use zvt::ZvtSerializer as _;
    let info = messages::StatusInformation {
        result_code: Some(0),
        amount_kopecks: Some(1234_56),
        trace: Some(42),
        masked_pan: Some("220070******6780".into()),
        terminal_id: Some(29_001_234),
        auth_code: Some("123456".into()),
        receipt_no: Some(7),
        currency: Some(643),
        card_name: Some("MIR".into()),
        ..Default::default()
    };
    let bytes = Message::StatusInformation(Box::new(info))
        .to_apdu()
        .unwrap()
        .encode()
        .unwrap();
    let (theirs, rest) = packets::StatusInformation::zvt_deserialize(&bytes).expect("their parser");
    assert!(rest.is_empty());
    assert_eq!(theirs.result_code, Some(0));
    assert_eq!(theirs.amount, Some(123_456));
    assert_eq!(theirs.trace_number, Some(42));
    assert_eq!(theirs.terminal_id, Some(29_001_234));
    assert_eq!(theirs.receipt_no, Some(7));
    assert_eq!(theirs.currency, Some(643));
    assert_eq!(theirs.card_name.as_deref(), Some("MIR"));
    assert_eq!(
        theirs
            .aid_authorization_attribute
            .as_deref()
            .map(|s| s.trim_end_matches('\0')),
        Some("123456")
    );

    let bytes = Message::IntermediateStatus {
        status: 0x0a,
        timeout: None,
    }
    .to_apdu()
    .unwrap()
    .encode()
    .unwrap();
    let (theirs, _) = packets::IntermediateStatusInformation::zvt_deserialize(&bytes).unwrap();
    assert_eq!(theirs.status, 0x0a);

    let lines = vec!["SALE".to_owned(), "RECEIPT: 0007".to_owned()];
    let bytes = Message::PrintTextBlock {
        receipt_type: Some(1),
        lines: lines.clone(),
    }
    .to_apdu()
    .unwrap()
    .encode()
    .unwrap();
    let (theirs, _) = packets::PrintTextBlock::zvt_deserialize(&bytes).unwrap();
    let tlv = theirs.tlv.expect("tlv");
    assert_eq!(tlv.receipt_type, Some(1));
    assert_eq!(tlv.lines.expect("lines").lines, lines);

    let totals = EndOfDayTotals {
        count: 2,
        total_kopecks: 958,
        receipt_from: Some(233),
        receipt_to: Some(234),
    };
    let info = messages::StatusInformation {
        result_code: Some(0),
        amount_kopecks: Some(958),
        individual_totals: Some(totals.to_bmp60().unwrap()),
        ..Default::default()
    };
    let bytes = Message::StatusInformation(Box::new(info))
        .to_apdu()
        .unwrap()
        .encode()
        .unwrap();
    let (theirs, _) = packets::StatusInformation::zvt_deserialize(&bytes).unwrap();
    let single = theirs.single_amounts.expect("BMP 60");
    assert_eq!((single.receipt_no_start, single.receipt_no_end), (233, 234));
    assert_eq!((single.others.num, single.others.total), (2, 958));
}

/// Bridges ZVT-over-TCP (bare APDUs, what the `zvt` crate speaks) to our emulator's serial link
/// layer, like a serial-to-IP converter: APDUs become frames, the emulator's frames become APDUs.
async fn bridge(mut tcp: DuplexStream, mut pt: TerminalCore) {
    let mut decoder = FrameDecoder::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        let now = Instant::now();
        if let Ok(read) = tokio::time::timeout(Duration::from_millis(5), tcp.read(&mut buf)).await {
            match read {
                Ok(0) | Err(_) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        // Cut complete APDUs out of the TCP byte stream.
        while pending.len() >= 3 {
            let (header, len) = if pending[2] == 0xff {
                if pending.len() < 5 {
                    break;
                }
                (5, usize::from(u16::from_le_bytes([pending[3], pending[4]])))
            } else {
                (3, usize::from(pending[2]))
            };
            if pending.len() < header + len {
                break;
            }
            let apdu: Vec<u8> = pending.drain(..header + len).collect();
            pt.handle_input(&frame::encode_frame(&apdu), now);
        }
        pt.handle_timeout(now);
        while let Some(bytes) = pt.poll_transmit(now) {
            for byte in bytes {
                if let Some(Token::Frame(apdu)) = decoder.push(byte) {
                    pt.handle_input(&[ACK], now);
                    if tcp.write_all(&apdu).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

fn spawn_bridged_emulator() -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(4096);
    let pt = TerminalCore::new(EmulatorConfig {
        prompt_delay: Duration::from_millis(10),
        ..Default::default()
    });
    tokio::spawn(bridge(ours, pt));
    theirs
}

#[tokio::test]
async fn their_ecr_registers_enquires_diagnoses_and_closes_the_day_on_our_emulator() {
    let mut stream = spawn_bridged_emulator();

    let registration = packets::Registration {
        password: 0,
        config_byte: KIOSK_CONFIG_BYTE,
        currency: Some(643),
        tlv: None,
    };
    let replies: Vec<_> = sequences::Registration::into_stream(&registration, &mut stream)
        .collect()
        .await;
    let sequences::RegistrationResponse::CompletionData(done) = replies
        .into_iter()
        .next()
        .expect("a reply")
        .expect("registration");
    assert_eq!(done.terminal_id, Some(29_001_234));

    let enquiry = packets::StatusEnquiry {
        password: None,
        service_byte: None,
        tlv: None,
    };
    let replies: Vec<_> = sequences::StatusEnquiry::into_stream(&enquiry, &mut stream)
        .collect()
        .await;
    assert!(
        matches!(
            replies.last(),
            Some(Ok(sequences::StatusEnquiryResponse::CompletionData(_)))
        ),
        "{replies:?}"
    );

    let diagnosis = packets::Diagnosis { tlv: None };
    let replies: Vec<_> = sequences::Diagnosis::into_stream(&diagnosis, &mut stream)
        .collect()
        .await;
    assert!(
        matches!(
            replies.last(),
            Some(Ok(sequences::DiagnosisResponse::CompletionData(_)))
        ),
        "{replies:?}"
    );

    let eod = packets::EndOfDay { password: 0 };
    let replies: Vec<_> = sequences::EndOfDay::into_stream(&eod, &mut stream)
        .collect()
        .await;
    let status = replies
        .iter()
        .find_map(|r| match r {
            Ok(sequences::EndOfDayResponse::StatusInformation(s)) => Some(s),
            _ => None,
        })
        .expect("end-of-day status information");
    assert_eq!(status.amount, Some(0));
    assert!(
        matches!(
            replies.last(),
            Some(Ok(sequences::EndOfDayResponse::CompletionData(_)))
        ),
        "{replies:?}"
    );
}

/// Plays a real terminal's side of a payment (captured APDUs, framed for the serial link) into
/// our ECR core and checks what the kiosk would see and answer.
#[test]
fn our_ecr_core_runs_a_payment_against_captured_terminal_messages() {
    use card_reader::ecr::{EcrConfig, EcrCore, EcrEvent, OpEnd, Operation};

    let mut now = Instant::now();
    let mut ecr = EcrCore::new(EcrConfig::default());
    ecr.start(
        Operation::Authorise {
            amount_kopecks: 2500,
        },
        now,
    )
    .unwrap();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut decoder = FrameDecoder::new();
    let mut deliver =
        |ecr: &mut EcrCore, apdu_hex: Option<&str>, now: Instant, sent: &mut Vec<Vec<u8>>| {
            // Acknowledge whatever the ECR framed, then send the terminal's next message.
            while let Some(bytes) = ecr.poll_transmit() {
                for byte in bytes {
                    if let Some(Token::Frame(apdu)) = decoder.push(byte) {
                        sent.push(apdu);
                        ecr.handle_input(&[ACK], now);
                    }
                }
            }
            if let Some(hex) = apdu_hex {
                ecr.handle_input(&frame::encode_frame(&unhex(hex)), now);
            }
        };
    deliver(&mut ecr, Some("800000"), now, &mut sent);
    deliver(&mut ecr, Some(CAPTURE_INTERMEDIATE), now, &mut sent);
    deliver(&mut ecr, Some(CAPTURE_STATUS_APPROVED), now, &mut sent);
    let mut approval = None;
    while let Some(event) = ecr.poll_event() {
        if let EcrEvent::DecisionNeeded(info) = event {
            approval = Some(info);
        }
    }
    let approval = approval.expect("the captured approval asks for the goods-issued decision");
    assert_eq!(approval.masked_pan.as_deref(), Some("559883******8074"));
    now += Duration::from_millis(5);
    ecr.decide(true, now).unwrap();
    deliver(&mut ecr, Some(CAPTURE_RECEIPT_TEXT_BLOCK), now, &mut sent);
    deliver(&mut ecr, Some(CAPTURE_COMPLETION_EMPTY), now, &mut sent);
    deliver(&mut ecr, None, now, &mut sent);
    let finished = std::iter::from_fn(|| ecr.poll_event())
        .find_map(|e| match e {
            EcrEvent::Finished(r) => Some(r),
            _ => None,
        })
        .expect("finished");
    assert!(matches!(finished.end, OpEnd::Completed(_)));
    assert_eq!(finished.decision, Some(true));
    assert!(finished
        .print_lines
        .iter()
        .any(|l| l.contains("Auth.-No.:")));
    // The ECR sent: 06 01 (amount 25.00), then 80 00 to each terminal message.
    assert_eq!(&sent[0][..2], &[0x06, 0x01]);
    assert!(
        sent[1..].iter().all(|a| a == &[0x80, 0x00, 0x00]),
        "{sent:02x?}"
    );
    assert_eq!(
        sent.len(),
        1 + 4,
        "80 00 to 04 FF, to 04 0F (the decision), to 06 D3, to 06 0F"
    );
}
