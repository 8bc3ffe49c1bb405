//! The one trait both wire protocols implement, so the host core, the driver and the emulator are
//! written once.

use serde::{Deserialize, Serialize};

use crate::frame::Framing;
use crate::model::{CodecError, DeviceStatus, Reply, Request};
use crate::{ccnet, id003};

/// Which protocol a validator speaks (config and CLI pick it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// CashCode CCNET, 9600 8N1.
    Ccnet,
    /// JCM ID003, 9600 8E1.
    Id003,
}

impl Protocol {
    pub fn wire(self) -> &'static dyn WireProtocol {
        match self {
            Protocol::Ccnet => &Ccnet,
            Protocol::Id003 => &Id003,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Ccnet => "ccnet",
            Protocol::Id003 => "id003",
        })
    }
}

/// Serial line settings a protocol requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSettings {
    pub baud_rate: u32,
    pub data_bits: serialport::DataBits,
    pub parity: serialport::Parity,
    pub stop_bits: serialport::StopBits,
}

/// Protocol differences the host core, driver and emulator need to know about.
pub trait WireProtocol: Send + Sync {
    fn protocol(&self) -> Protocol;
    fn framing(&self) -> Framing;
    fn line_settings(&self) -> LineSettings;
    fn encode_request(&self, req: &Request) -> Result<Vec<u8>, CodecError>;
    fn decode_request(&self, payload: &[u8]) -> Result<Request, CodecError>;
    fn encode_reply(&self, req: &Request, reply: &Reply) -> Result<Vec<u8>, CodecError>;
    fn decode_reply(&self, req: &Request, payload: &[u8]) -> Result<Reply, CodecError>;
    /// Whether the host acknowledges this poll reply (CCNET: every one; ID003: VEND VALID only).
    fn acks_status(&self, status: &DeviceStatus) -> bool;
    /// Whether identification / bill-table replies are acknowledged (CCNET: every data reply is).
    fn acks_data_replies(&self) -> bool;
    /// Whether a garbled reply is answered with NAK (device resends) rather than by repeating
    /// the request.
    fn naks_garbled_replies(&self) -> bool;
    /// Requests that enable exactly the bill types in `mask` (0 disables acceptance).
    fn enable_requests(&self, mask: u32) -> Vec<Request>;
}

pub struct Ccnet;
pub struct Id003;

impl WireProtocol for Ccnet {
    fn protocol(&self) -> Protocol {
        Protocol::Ccnet
    }
    fn framing(&self) -> Framing {
        Framing::Ccnet
    }
    fn line_settings(&self) -> LineSettings {
        LineSettings {
            baud_rate: 9600,
            data_bits: serialport::DataBits::Eight,
            parity: serialport::Parity::None,
            stop_bits: serialport::StopBits::One,
        }
    }
    fn encode_request(&self, req: &Request) -> Result<Vec<u8>, CodecError> {
        ccnet::encode_request(req)
    }
    fn decode_request(&self, payload: &[u8]) -> Result<Request, CodecError> {
        ccnet::decode_request(payload)
    }
    fn encode_reply(&self, req: &Request, reply: &Reply) -> Result<Vec<u8>, CodecError> {
        ccnet::encode_reply(req, reply)
    }
    fn decode_reply(&self, req: &Request, payload: &[u8]) -> Result<Reply, CodecError> {
        ccnet::decode_reply(req, payload)
    }
    fn acks_status(&self, _status: &DeviceStatus) -> bool {
        true
    }
    fn acks_data_replies(&self) -> bool {
        true
    }
    fn naks_garbled_replies(&self) -> bool {
        true
    }
    fn enable_requests(&self, mask: u32) -> Vec<Request> {
        // Escrow every enabled type: the session decides stack or return.
        vec![Request::EnableBills {
            enabled: mask,
            escrow: mask,
        }]
    }
}

impl WireProtocol for Id003 {
    fn protocol(&self) -> Protocol {
        Protocol::Id003
    }
    fn framing(&self) -> Framing {
        Framing::Id003
    }
    fn line_settings(&self) -> LineSettings {
        LineSettings {
            baud_rate: 9600,
            data_bits: serialport::DataBits::Eight,
            parity: serialport::Parity::Even,
            stop_bits: serialport::StopBits::One,
        }
    }
    fn encode_request(&self, req: &Request) -> Result<Vec<u8>, CodecError> {
        id003::encode_request(req)
    }
    fn decode_request(&self, payload: &[u8]) -> Result<Request, CodecError> {
        id003::decode_request(payload)
    }
    fn encode_reply(&self, req: &Request, reply: &Reply) -> Result<Vec<u8>, CodecError> {
        id003::encode_reply(req, reply)
    }
    fn decode_reply(&self, req: &Request, payload: &[u8]) -> Result<Reply, CodecError> {
        id003::decode_reply(req, payload)
    }
    fn acks_status(&self, status: &DeviceStatus) -> bool {
        matches!(status, DeviceStatus::Stacked(_))
    }
    fn acks_data_replies(&self) -> bool {
        false
    }
    fn naks_garbled_replies(&self) -> bool {
        false
    }
    fn enable_requests(&self, mask: u32) -> Vec<Request> {
        let mask = mask & 0xFFFF;
        vec![
            Request::EnableBills {
                enabled: mask,
                escrow: mask,
            },
            Request::SetInhibit(mask == 0),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_settings_per_protocol() {
        let c = Protocol::Ccnet.wire().line_settings();
        assert_eq!(c.parity, serialport::Parity::None);
        assert_eq!(c.data_bits, serialport::DataBits::Eight);
        assert_eq!(c.stop_bits, serialport::StopBits::One);
        assert_eq!(c.baud_rate, 9600);
        let j = Protocol::Id003.wire().line_settings();
        assert_eq!(j.parity, serialport::Parity::Even);
        assert_eq!(j.data_bits, serialport::DataBits::Eight);
        assert_eq!(j.baud_rate, 9600);
    }
}
