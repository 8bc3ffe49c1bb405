//! Sans-IO ZVT codec: serial frames, APDUs, BMP fields, TLV containers, BCD.

pub mod apdu;
pub mod bcd;
pub mod bmp;
pub mod crc;
pub mod frame;
pub mod tlv;

pub use apdu::Apdu;

/// Malformed bytes from the terminal or the ECR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("APDU declares {declared} data bytes but carries {actual}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error("APDU data of {0} bytes is too long")]
    TooLong(usize),
    #[error("invalid BCD digit")]
    BadBcd,
    #[error("value {value} does not fit into {len} BCD bytes")]
    BcdOverflow { value: u64, len: usize },
    #[error("invalid LLVAR length byte {0:#04x}")]
    BadVarLength(u8),
    #[error("unknown BMP {0:#04x}")]
    UnknownBmp(u8),
    #[error("BMP {tag:#04x} value has wrong length {len}")]
    BadFieldLength { tag: u8, len: usize },
    #[error("invalid TLV length byte {0:#04x}")]
    BadTlvLength(u8),
    #[error("TLV tag longer than four bytes")]
    BadTlvTag,
    #[error("unexpected APDU {0:#06x}")]
    Unexpected(u16),
    #[error("amount {0} kopecks is out of range")]
    BadAmount(i64),
}
