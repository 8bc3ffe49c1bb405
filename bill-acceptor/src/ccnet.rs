//! CCNET (CashCode NET) payload codec: commands, poll states, identification and bill table.
//! Pure functions on frame payloads; framing lives in [`crate::frame`].

use crate::model::*;

pub mod cmd {
    pub const ACK: u8 = 0x00;
    pub const NAK: u8 = 0xFF;
    pub const RESET: u8 = 0x30;
    pub const GET_STATUS: u8 = 0x31;
    pub const SET_SECURITY: u8 = 0x32;
    pub const POLL: u8 = 0x33;
    pub const ENABLE_BILL_TYPES: u8 = 0x34;
    pub const STACK: u8 = 0x35;
    pub const RETURN: u8 = 0x36;
    pub const IDENTIFICATION: u8 = 0x37;
    pub const HOLD: u8 = 0x38;
    pub const GET_BILL_TABLE: u8 = 0x41;
    /// Reply only: the device did not understand the command.
    pub const ILLEGAL_COMMAND: u8 = 0x30;
}

/// Bill table: 24 entries of 5 bytes.
pub const BILL_TABLE_ENTRIES: usize = 24;
/// Identification: part number 15 + serial 12 + asset 7.
pub const IDENTIFICATION_LEN: usize = 34;

fn mask3(mask: u32) -> [u8; 3] {
    // Type N is bit N%8 of byte 2-N/8: the first byte holds types 16..23.
    [(mask >> 16) as u8, (mask >> 8) as u8, mask as u8]
}

fn unmask3(bytes: &[u8]) -> u32 {
    (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2])
}

/// Payload (command byte and data) of a host request.
pub fn encode_request(req: &Request) -> Result<Vec<u8>, CodecError> {
    Ok(match req {
        Request::Poll => vec![cmd::POLL],
        Request::Ack => vec![cmd::ACK],
        Request::Nak => vec![cmd::NAK],
        Request::Reset => vec![cmd::RESET],
        Request::Identify => vec![cmd::IDENTIFICATION],
        Request::GetBillTable => vec![cmd::GET_BILL_TABLE],
        Request::SetSecurity(mask) => {
            let mut p = vec![cmd::SET_SECURITY];
            p.extend_from_slice(&mask3(*mask));
            p
        }
        Request::EnableBills { enabled, escrow } => {
            let mut p = vec![cmd::ENABLE_BILL_TYPES];
            p.extend_from_slice(&mask3(*enabled));
            p.extend_from_slice(&mask3(*escrow));
            p
        }
        Request::SetInhibit(_) => return Err(CodecError::NotInProtocol("inhibit")),
        Request::Stack => vec![cmd::STACK],
        Request::Return => vec![cmd::RETURN],
        Request::Hold => vec![cmd::HOLD],
        Request::GetStatus => vec![cmd::GET_STATUS],
    })
}

fn expect_len(what: &'static str, payload: &[u8], expected: usize) -> Result<(), CodecError> {
    if payload.len() == expected {
        Ok(())
    } else {
        Err(CodecError::Length {
            what,
            expected,
            got: payload.len(),
        })
    }
}

/// Request from a host payload (the emulator's side).
pub fn decode_request(payload: &[u8]) -> Result<Request, CodecError> {
    let (&code, data) = payload.split_first().ok_or(CodecError::Empty)?;
    let plain = |req: Request, name| expect_len(name, data, 0).map(|_| req);
    match code {
        cmd::POLL => plain(Request::Poll, "POLL"),
        cmd::ACK => plain(Request::Ack, "ACK"),
        cmd::NAK => plain(Request::Nak, "NAK"),
        cmd::RESET => plain(Request::Reset, "RESET"),
        cmd::IDENTIFICATION => plain(Request::Identify, "IDENTIFICATION"),
        cmd::GET_BILL_TABLE => plain(Request::GetBillTable, "GET BILL TABLE"),
        cmd::STACK => plain(Request::Stack, "STACK"),
        cmd::RETURN => plain(Request::Return, "RETURN"),
        cmd::HOLD => plain(Request::Hold, "HOLD"),
        cmd::GET_STATUS => plain(Request::GetStatus, "GET STATUS"),
        cmd::SET_SECURITY => {
            expect_len("SET SECURITY", data, 3)?;
            Ok(Request::SetSecurity(unmask3(data)))
        }
        cmd::ENABLE_BILL_TYPES => {
            expect_len("ENABLE BILL TYPES", data, 6)?;
            Ok(Request::EnableBills {
                enabled: unmask3(&data[..3]),
                escrow: unmask3(&data[3..]),
            })
        }
        other => Err(CodecError::UnknownCommand(other)),
    }
}

/// CCNET reject reason byte → typed reason.
pub fn reject_reason(code: u8) -> RejectReason {
    let kind = match code {
        0x60 => RejectKind::Insertion,
        0x61 => RejectKind::Magnetic,
        0x62 => RejectKind::RemainedInHead,
        0x63 => RejectKind::Multiplying,
        0x64 => RejectKind::Conveying,
        0x65 => RejectKind::Identification,
        0x66 => RejectKind::Verification,
        0x67 => RejectKind::Optic,
        0x68 => RejectKind::Inhibit,
        0x69 => RejectKind::Capacity,
        0x6A => RejectKind::Operation,
        0x6C => RejectKind::Length,
        _ => RejectKind::Unknown,
    };
    RejectReason { kind, code }
}

/// CCNET failure code byte → typed failure.
pub fn failure_code(code: u8) -> FailureCode {
    let kind = match code {
        0x50 => FailureKind::StackMotor,
        0x51 => FailureKind::TransportMotorSpeed,
        0x52 => FailureKind::TransportMotor,
        0x53 => FailureKind::AligningMotor,
        0x54 => FailureKind::InitialCassetteStatus,
        0x55 => FailureKind::OpticCanal,
        0x56 => FailureKind::MagneticCanal,
        0x5F => FailureKind::CapacitanceCanal,
        _ => FailureKind::Unknown,
    };
    FailureCode { kind, code }
}

/// Poll-state payload of a status.
pub fn encode_status(status: &DeviceStatus) -> Result<Vec<u8>, CodecError> {
    use DeviceStatus::*;
    Ok(match *status {
        PowerUp => vec![0x10],
        PowerUpWithBillInValidator => vec![0x11],
        PowerUpWithBillInStacker => vec![0x12],
        Initializing => vec![0x13],
        Idling => vec![0x14],
        Accepting => vec![0x15],
        Stacking => vec![0x17],
        Returning => vec![0x18],
        Disabled => vec![0x19],
        Holding => vec![0x1A],
        Busy => vec![0x1B],
        Rejecting(r) => vec![0x1C, r.code],
        CassetteFull => vec![0x41],
        CassetteRemoved => vec![0x42],
        ValidatorJammed => vec![0x43],
        CassetteJammed => vec![0x44],
        Cheated => vec![0x45],
        Paused => vec![0x46],
        Failure(f) => vec![0x47, f.code],
        Escrow(t) => vec![0x80, t],
        Stacked(Some(t)) => vec![0x81, t],
        Stacked(None) => return Err(CodecError::NotInProtocol("stacked without bill type")),
        Returned(t) => vec![0x82, t],
        StackFinished => return Err(CodecError::NotInProtocol("stack finished")),
        CommunicationError => return Err(CodecError::NotInProtocol("communication error")),
    })
}

/// Status from a poll-reply payload.
pub fn decode_status(payload: &[u8]) -> Result<DeviceStatus, CodecError> {
    use DeviceStatus::*;
    let (&code, data) = payload.split_first().ok_or(CodecError::Empty)?;
    let with_byte = |name| {
        expect_len(name, data, 1)?;
        Ok::<u8, CodecError>(data[0])
    };
    // States without data may still carry a byte (CCNET BUSY gives its duration): ignore it.
    let plain = |s: DeviceStatus| Ok::<DeviceStatus, CodecError>(s);
    match code {
        0x10 => plain(PowerUp),
        0x11 => plain(PowerUpWithBillInValidator),
        0x12 => plain(PowerUpWithBillInStacker),
        0x13 => plain(Initializing),
        0x14 => plain(Idling),
        0x15 => plain(Accepting),
        0x17 => plain(Stacking),
        0x18 => plain(Returning),
        0x19 => plain(Disabled),
        0x1A => plain(Holding),
        0x1B => plain(Busy),
        0x1C => Ok(Rejecting(reject_reason(with_byte("rejecting")?))),
        0x41 => plain(CassetteFull),
        0x42 => plain(CassetteRemoved),
        0x43 => plain(ValidatorJammed),
        0x44 => plain(CassetteJammed),
        0x45 => plain(Cheated),
        0x46 => plain(Paused),
        0x47 => Ok(Failure(failure_code(with_byte("failure")?))),
        0x80 => Ok(Escrow(with_byte("escrow")?)),
        0x81 => Ok(Stacked(Some(with_byte("stacked")?))),
        0x82 => Ok(Returned(with_byte("returned")?)),
        other => Err(CodecError::UnknownState(other)),
    }
}

fn ascii_field(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

fn pad_ascii(s: &str, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = s.bytes().filter(|b| b.is_ascii()).take(len).collect();
    out.resize(len, b' ');
    out
}

pub fn encode_identification(id: &Identification) -> Vec<u8> {
    let mut p = pad_ascii(&id.part_number, 15);
    p.extend(pad_ascii(&id.serial_number, 12));
    let mut asset = hex_decode(&id.asset_number);
    asset.resize(7, 0);
    p.extend(asset);
    p
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| s.get(2 * i..2 * i + 2))
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect()
}

pub fn decode_identification(payload: &[u8]) -> Result<Identification, CodecError> {
    expect_len("identification", payload, IDENTIFICATION_LEN)?;
    Ok(Identification {
        part_number: ascii_field(&payload[..15]),
        serial_number: ascii_field(&payload[15..27]),
        asset_number: payload[27..].iter().map(|b| format!("{b:02x}")).collect(),
    })
}

/// 120-byte table: per type, denomination digit, 3-letter country, exponent (bit 7 = divide).
pub fn encode_bill_table(table: &BillTable) -> Result<Vec<u8>, CodecError> {
    let mut p = vec![0u8; BILL_TABLE_ENTRIES * 5];
    for bill in &table.bills {
        let index = usize::from(bill.index);
        if index >= BILL_TABLE_ENTRIES {
            return Err(CodecError::BadBillTable {
                index,
                why: "type index beyond 23",
            });
        }
        // One significant digit is how CashCode lists bills; fall back to a full byte.
        let (digit, exp, negative) = decimal_from_kopecks(bill.denomination_kopecks, 9)
            .or_else(|| decimal_from_kopecks(bill.denomination_kopecks, 255))
            .ok_or(CodecError::BadBillTable {
                index,
                why: "denomination has no digit/exponent form",
            })?;
        let entry = &mut p[index * 5..index * 5 + 5];
        entry[0] = digit as u8;
        let country = pad_ascii(&bill.country, 3);
        entry[1..4].copy_from_slice(&country);
        entry[4] = exp | if negative { 0x80 } else { 0 };
    }
    Ok(p)
}

pub fn decode_bill_table(payload: &[u8]) -> Result<BillTable, CodecError> {
    expect_len("bill table", payload, BILL_TABLE_ENTRIES * 5)?;
    let mut bills = Vec::new();
    for (index, entry) in payload.chunks_exact(5).enumerate() {
        if entry[0] == 0 {
            continue;
        }
        let exp = entry[4] & 0x7F;
        let negative = entry[4] & 0x80 != 0;
        let denomination_kopecks = kopecks_from_decimal(u16::from(entry[0]), exp, negative).ok_or(
            CodecError::BadBillTable {
                index,
                why: "denomination is not a whole number of kopecks or overflows",
            },
        )?;
        bills.push(BillType {
            index: index as u8,
            denomination_kopecks,
            country: ascii_field(&entry[1..4]),
        });
    }
    Ok(BillTable { bills })
}

/// Payload of a device reply to `req`.
pub fn encode_reply(req: &Request, reply: &Reply) -> Result<Vec<u8>, CodecError> {
    let _ = req;
    Ok(match reply {
        Reply::Ack => vec![cmd::ACK],
        Reply::Nak => vec![cmd::NAK],
        Reply::IllegalCommand => vec![cmd::ILLEGAL_COMMAND],
        Reply::Status(s) => encode_status(s)?,
        Reply::Identification(id) => encode_identification(id),
        Reply::BillTable(t) => encode_bill_table(t)?,
        Reply::Settings { enabled, security } => {
            let mut p = mask3(*enabled).to_vec();
            p.extend_from_slice(&mask3(*security));
            p
        }
    })
}

/// Reply to `req` from a device payload (the host's side).
pub fn decode_reply(req: &Request, payload: &[u8]) -> Result<Reply, CodecError> {
    let first = *payload.first().ok_or(CodecError::Empty)?;
    if payload.len() == 1 {
        match first {
            cmd::NAK => return Ok(Reply::Nak),
            cmd::ILLEGAL_COMMAND => return Ok(Reply::IllegalCommand),
            _ => {}
        }
    }
    match req {
        Request::Poll => decode_status(payload).map(Reply::Status),
        Request::Identify => decode_identification(payload).map(Reply::Identification),
        Request::GetBillTable => decode_bill_table(payload).map(Reply::BillTable),
        Request::GetStatus => {
            expect_len("GET STATUS reply", payload, 6)?;
            Ok(Reply::Settings {
                enabled: unmask3(&payload[..3]),
                security: unmask3(&payload[3..]),
            })
        }
        _ if payload == [cmd::ACK] => Ok(Reply::Ack),
        _ => Err(CodecError::UnexpectedReply(first, "a command")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_mask_layout_matches_the_spec() {
        // Type 4 (bit 4 of the last byte) and type 17 (bit 1 of the first byte).
        let p = encode_request(&Request::EnableBills {
            enabled: (1 << 4) | (1 << 17),
            escrow: 1 << 4,
        })
        .unwrap();
        assert_eq!(p, vec![0x34, 0x02, 0x00, 0x10, 0x00, 0x00, 0x10]);
        assert_eq!(
            decode_request(&p).unwrap(),
            Request::EnableBills {
                enabled: (1 << 4) | (1 << 17),
                escrow: 1 << 4
            }
        );
    }

    #[test]
    fn design_md_replies_decode() {
        assert_eq!(decode_status(&[0x80, 0x04]), Ok(DeviceStatus::Escrow(4)));
        assert_eq!(
            decode_status(&[0x81, 0x04]),
            Ok(DeviceStatus::Stacked(Some(4)))
        );
        assert_eq!(decode_status(&[0x14]), Ok(DeviceStatus::Idling));
        assert_eq!(
            decode_status(&[0x1C, 0x60]),
            Ok(DeviceStatus::Rejecting(RejectReason {
                kind: RejectKind::Insertion,
                code: 0x60
            }))
        );
        assert_eq!(decode_status(&[0x99]), Err(CodecError::UnknownState(0x99)));
        assert!(decode_status(&[0x80]).is_err());
        // BUSY may carry its duration.
        assert_eq!(decode_status(&[0x1B, 0x05]), Ok(DeviceStatus::Busy));
    }

    #[test]
    fn bill_table_of_a_rub_validator() {
        // 1000 RUB as CashCode lists it: digit 1, "RUS", exponent 3; 0.5 as digit 5, exponent 0x81.
        let mut payload = vec![0u8; 120];
        payload[5..10].copy_from_slice(&[1, b'R', b'U', b'S', 3]);
        payload[10..15].copy_from_slice(&[5, b'R', b'U', b'S', 0x81]);
        let table = decode_bill_table(&payload).unwrap();
        assert_eq!(
            table.bills,
            vec![
                BillType {
                    index: 1,
                    denomination_kopecks: 100_000,
                    country: "RUS".into()
                },
                BillType {
                    index: 2,
                    denomination_kopecks: 50,
                    country: "RUS".into()
                }
            ]
        );
        assert_eq!(encode_bill_table(&table).unwrap(), payload);
    }

    #[test]
    fn identification_fields() {
        let mut payload = b"SM-RU1353      ".to_vec();
        payload.extend_from_slice(b"41K012345678");
        payload.extend_from_slice(&[0, 0, 0, 0, 0, 0x12, 0x34]);
        let id = decode_identification(&payload).unwrap();
        assert_eq!(id.part_number, "SM-RU1353");
        assert_eq!(id.serial_number, "41K012345678");
        assert_eq!(id.asset_number, "00000000001234");
        assert_eq!(encode_identification(&id), payload);
    }
}
