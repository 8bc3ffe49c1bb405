//! ID003 (JCM) payload codec: commands, statuses, version and currency-assign (bill table).
//! Pure functions on frame payloads; framing lives in [`crate::frame`].

use crate::model::*;

pub mod cmd {
    pub const STATUS_REQUEST: u8 = 0x11;
    pub const ACK: u8 = 0x50;
    pub const RESET: u8 = 0x40;
    pub const STACK_1: u8 = 0x41;
    pub const RETURN: u8 = 0x43;
    pub const HOLD: u8 = 0x44;
    pub const ENABLE: u8 = 0xC0;
    pub const SECURITY: u8 = 0xC1;
    pub const INHIBIT: u8 = 0xC3;
    pub const ENABLE_STATUS: u8 = 0x80;
    pub const VERSION_REQUEST: u8 = 0x88;
    pub const CURRENCY_ASSIGN_REQUEST: u8 = 0x8A;
    /// Reply only.
    pub const INVALID_COMMAND: u8 = 0x4B;
}

/// Escrow codes are 0x61 + bill type index.
pub const ESCROW_CODE_BASE: u8 = 0x61;

fn expect_len(what: &'static str, data: &[u8], expected: usize) -> Result<(), CodecError> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(CodecError::Length {
            what,
            expected,
            got: data.len(),
        })
    }
}

pub fn encode_request(req: &Request) -> Result<Vec<u8>, CodecError> {
    Ok(match req {
        Request::Poll => vec![cmd::STATUS_REQUEST],
        Request::Ack => vec![cmd::ACK],
        Request::Nak => return Err(CodecError::NotInProtocol("NAK")),
        Request::Reset => vec![cmd::RESET],
        Request::Identify => vec![cmd::VERSION_REQUEST],
        Request::GetBillTable => vec![cmd::CURRENCY_ASSIGN_REQUEST],
        Request::SetSecurity(mask) => vec![cmd::SECURITY, *mask as u8, (*mask >> 8) as u8],
        // ID003 bits say "inhibited": invert the enable mask.
        Request::EnableBills { enabled, .. } => {
            vec![cmd::ENABLE, !(*enabled as u8), !((*enabled >> 8) as u8)]
        }
        Request::SetInhibit(on) => vec![cmd::INHIBIT, u8::from(*on)],
        Request::Stack => vec![cmd::STACK_1],
        Request::Return => vec![cmd::RETURN],
        Request::Hold => vec![cmd::HOLD],
        Request::GetStatus => vec![cmd::ENABLE_STATUS],
    })
}

pub fn decode_request(payload: &[u8]) -> Result<Request, CodecError> {
    let (&code, data) = payload.split_first().ok_or(CodecError::Empty)?;
    let plain = |req: Request, name| expect_len(name, data, 0).map(|_| req);
    match code {
        cmd::STATUS_REQUEST => plain(Request::Poll, "STATUS REQUEST"),
        cmd::ACK => plain(Request::Ack, "ACK"),
        cmd::RESET => plain(Request::Reset, "RESET"),
        cmd::STACK_1 => plain(Request::Stack, "STACK-1"),
        cmd::RETURN => plain(Request::Return, "RETURN"),
        cmd::HOLD => plain(Request::Hold, "HOLD"),
        cmd::ENABLE_STATUS => plain(Request::GetStatus, "ENABLE STATUS"),
        cmd::VERSION_REQUEST => plain(Request::Identify, "VERSION REQUEST"),
        cmd::CURRENCY_ASSIGN_REQUEST => plain(Request::GetBillTable, "CURRENCY ASSIGN"),
        cmd::SECURITY => {
            expect_len("SECURITY", data, 2)?;
            Ok(Request::SetSecurity(
                u32::from(data[0]) | (u32::from(data[1]) << 8),
            ))
        }
        cmd::ENABLE => {
            expect_len("ENABLE/DISABLE", data, 2)?;
            let enabled = u32::from(!data[0]) | (u32::from(!data[1]) << 8);
            Ok(Request::EnableBills {
                enabled,
                escrow: enabled,
            })
        }
        cmd::INHIBIT => {
            expect_len("INHIBIT", data, 1)?;
            Ok(Request::SetInhibit(data[0] != 0))
        }
        other => Err(CodecError::UnknownCommand(other)),
    }
}

pub fn reject_reason(code: u8) -> RejectReason {
    let kind = match code {
        0x71 => RejectKind::Insertion,
        0x72 => RejectKind::Magnetic,
        0x73 => RejectKind::RemainedInHead,
        0x74 => RejectKind::Calibration,
        0x75 => RejectKind::Conveying,
        0x76 => RejectKind::Identification,
        0x77 | 0x7E => RejectKind::PhotoPattern,
        0x78 => RejectKind::PhotoLevel,
        0x79 => RejectKind::Inhibit,
        0x7B => RejectKind::Operation,
        0x7C => RejectKind::Stacker,
        0x7D => RejectKind::Length,
        0x7F => RejectKind::TrueBillFeature,
        _ => RejectKind::Unknown,
    };
    RejectReason { kind, code }
}

pub fn failure_code(code: u8) -> FailureCode {
    let kind = match code {
        0xA2 => FailureKind::StackMotor,
        0xA5 => FailureKind::TransportMotorSpeed,
        0xA6 => FailureKind::TransportMotor,
        0xA8 => FailureKind::Solenoid,
        0xA9 => FailureKind::PbUnit,
        0xAB => FailureKind::CassetteNotReady,
        0xAF => FailureKind::HeadRemoved,
        0xB0 | 0xB1 | 0xB3 => FailureKind::Rom,
        0xB2 => FailureKind::Ram,
        _ => FailureKind::Unknown,
    };
    FailureCode { kind, code }
}

pub fn encode_status(status: &DeviceStatus) -> Result<Vec<u8>, CodecError> {
    use DeviceStatus::*;
    Ok(match *status {
        Idling => vec![0x11],
        Accepting => vec![0x12],
        Escrow(t) => vec![
            0x13,
            ESCROW_CODE_BASE
                .checked_add(t)
                .ok_or(CodecError::NotInProtocol("bill type beyond escrow codes"))?,
        ],
        Stacking => vec![0x14],
        Stacked(_) => vec![0x15],
        StackFinished => vec![0x16],
        Rejecting(r) => vec![0x17, r.code],
        Returning => vec![0x18],
        Holding => vec![0x19],
        Disabled => vec![0x1A],
        Initializing => vec![0x1B],
        PowerUp => vec![0x40],
        PowerUpWithBillInValidator => vec![0x41],
        PowerUpWithBillInStacker => vec![0x42],
        CassetteFull => vec![0x43],
        CassetteRemoved => vec![0x44],
        ValidatorJammed => vec![0x45],
        CassetteJammed => vec![0x46],
        Paused => vec![0x47],
        Cheated => vec![0x48],
        Failure(f) => vec![0x49, f.code],
        CommunicationError => vec![0x4A],
        Busy => return Err(CodecError::NotInProtocol("busy")),
        Returned(_) => return Err(CodecError::NotInProtocol("returned with bill type")),
    })
}

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
        0x11 => plain(Idling),
        0x12 => plain(Accepting),
        0x13 => {
            let esc = with_byte("escrow")?;
            esc.checked_sub(ESCROW_CODE_BASE)
                .map(Escrow)
                .ok_or(CodecError::UnexpectedReply(esc, "escrow code"))
        }
        0x14 => plain(Stacking),
        0x15 => plain(Stacked(None)),
        0x16 => plain(StackFinished),
        0x17 => Ok(Rejecting(reject_reason(with_byte("rejecting")?))),
        0x18 => plain(Returning),
        0x19 => plain(Holding),
        0x1A => plain(Disabled),
        0x1B => plain(Initializing),
        0x40 => plain(PowerUp),
        0x41 => plain(PowerUpWithBillInValidator),
        0x42 => plain(PowerUpWithBillInStacker),
        0x43 => plain(CassetteFull),
        0x44 => plain(CassetteRemoved),
        0x45 => plain(ValidatorJammed),
        0x46 => plain(CassetteJammed),
        0x47 => plain(Paused),
        0x48 => plain(Cheated),
        0x49 => Ok(Failure(failure_code(with_byte("failure")?))),
        0x4A => plain(CommunicationError),
        other => Err(CodecError::UnknownState(other)),
    }
}

/// Currency assign: 4 bytes per type (escrow code, JCM country code, base, exponent).
pub fn encode_bill_table(table: &BillTable) -> Result<Vec<u8>, CodecError> {
    let mut p = vec![cmd::CURRENCY_ASSIGN_REQUEST];
    for bill in &table.bills {
        let index = usize::from(bill.index);
        let (base, exp, negative) = decimal_from_kopecks(bill.denomination_kopecks, 255)
            .filter(|&(_, _, neg)| !neg)
            .ok_or(CodecError::BadBillTable {
                index,
                why: "denomination is not whole units",
            })?;
        let _ = negative;
        let country =
            u8::from_str_radix(bill.country.trim_start_matches("0x"), 16).map_err(|_| {
                CodecError::BadBillTable {
                    index,
                    why: "ID003 country must be a hex byte",
                }
            })?;
        let code = ESCROW_CODE_BASE
            .checked_add(bill.index)
            .ok_or(CodecError::BadBillTable {
                index,
                why: "type index beyond escrow codes",
            })?;
        p.extend_from_slice(&[code, country, base as u8, exp]);
    }
    Ok(p)
}

pub fn decode_bill_table(payload: &[u8]) -> Result<BillTable, CodecError> {
    let (&code, data) = payload.split_first().ok_or(CodecError::Empty)?;
    if code != cmd::CURRENCY_ASSIGN_REQUEST {
        return Err(CodecError::UnexpectedReply(code, "currency assign request"));
    }
    let mut bills = Vec::new();
    // Some firmware appends bytes after the entries; a trailing partial entry is ignored.
    for (index, entry) in data.chunks_exact(4).enumerate() {
        if entry[2] == 0 {
            continue;
        }
        let type_index =
            entry[0]
                .checked_sub(ESCROW_CODE_BASE)
                .ok_or(CodecError::BadBillTable {
                    index,
                    why: "escrow code below 0x61",
                })?;
        let denomination_kopecks = kopecks_from_decimal(u16::from(entry[2]), entry[3], false)
            .ok_or(CodecError::BadBillTable {
                index,
                why: "denomination overflows",
            })?;
        bills.push(BillType {
            index: type_index,
            denomination_kopecks,
            country: format!("0x{:02x}", entry[1]),
        });
    }
    Ok(BillTable { bills })
}

pub fn encode_reply(req: &Request, reply: &Reply) -> Result<Vec<u8>, CodecError> {
    Ok(match reply {
        Reply::Ack => match req {
            // Setting commands are answered by echoing them.
            Request::SetSecurity(_) | Request::EnableBills { .. } | Request::SetInhibit(_) => {
                encode_request(req)?
            }
            _ => vec![cmd::ACK],
        },
        Reply::Nak => return Err(CodecError::NotInProtocol("NAK")),
        Reply::IllegalCommand => vec![cmd::INVALID_COMMAND],
        Reply::Status(s) => encode_status(s)?,
        Reply::Identification(id) => {
            let mut p = vec![cmd::VERSION_REQUEST];
            p.extend(id.part_number.bytes().filter(u8::is_ascii).take(200));
            p
        }
        Reply::BillTable(t) => encode_bill_table(t)?,
        // Inhibit bits, as in C0.
        Reply::Settings { enabled, .. } => {
            vec![
                cmd::ENABLE_STATUS,
                !(*enabled as u8),
                !((*enabled >> 8) as u8),
            ]
        }
    })
}

pub fn decode_reply(req: &Request, payload: &[u8]) -> Result<Reply, CodecError> {
    let first = *payload.first().ok_or(CodecError::Empty)?;
    if payload == [cmd::INVALID_COMMAND] {
        return Ok(Reply::IllegalCommand);
    }
    match req {
        Request::Poll => decode_status(payload).map(Reply::Status),
        Request::Identify if first == cmd::VERSION_REQUEST => {
            Ok(Reply::Identification(Identification {
                part_number: payload[1..]
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
                    .to_string(),
                ..Identification::default()
            }))
        }
        Request::GetBillTable => decode_bill_table(payload).map(Reply::BillTable),
        Request::GetStatus if first == cmd::ENABLE_STATUS => {
            expect_len("enable status reply", &payload[1..], 2)?;
            Ok(Reply::Settings {
                enabled: u32::from(!payload[1]) | (u32::from(!payload[2]) << 8),
                security: 0,
            })
        }
        Request::SetSecurity(_) | Request::EnableBills { .. } | Request::SetInhibit(_) => {
            if payload == encode_request(req)? {
                Ok(Reply::Ack)
            } else {
                Err(CodecError::UnexpectedReply(first, "a setting echo"))
            }
        }
        _ if payload == [cmd::ACK] => Ok(Reply::Ack),
        _ => Err(CodecError::UnexpectedReply(first, "a command")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escrow_codes_and_vend_valid() {
        assert_eq!(decode_status(&[0x13, 0x63]), Ok(DeviceStatus::Escrow(2)));
        assert_eq!(decode_status(&[0x15]), Ok(DeviceStatus::Stacked(None)));
        assert!(decode_status(&[0x13, 0x10]).is_err());
        assert_eq!(
            decode_status(&[0x17, 0x79]),
            Ok(DeviceStatus::Rejecting(RejectReason {
                kind: RejectKind::Inhibit,
                code: 0x79
            }))
        );
    }

    #[test]
    fn enable_inverts_into_inhibit_bits() {
        let req = Request::EnableBills {
            enabled: 0b0000_0101,
            escrow: 0b0000_0101,
        };
        let p = encode_request(&req).unwrap();
        assert_eq!(p, vec![0xC0, 0b1111_1010, 0xFF]);
        assert_eq!(decode_request(&p).unwrap(), req);
        assert_eq!(decode_reply(&req, &p), Ok(Reply::Ack));
    }

    #[test]
    fn currency_assign_table() {
        // 1000 units as base 1, exponent 3; a zero base marks an empty slot.
        let payload = [
            0x8A, 0x61, 0x2A, 0x01, 0x03, 0x62, 0x2A, 0x00, 0x00, 0x63, 0x2A, 0x05, 0x02,
        ];
        let table = decode_bill_table(&payload).unwrap();
        assert_eq!(table.denomination_of(0), Some(100_000));
        assert_eq!(table.denomination_of(1), None);
        assert_eq!(table.denomination_of(2), Some(50_000));
    }
}
