//! Protocol-neutral vocabulary shared by the CCNET and ID003 codecs, the host core and the emulator.

use serde::Serialize;

/// A host → device request, independent of protocol. Each codec maps it to its own bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// CCNET POLL 33 / ID003 status request 11.
    Poll,
    /// Acknowledge the last data response (CCNET 00 / ID003 50). No reply follows.
    Ack,
    /// CCNET only: the last response was garbled; the device resends it.
    Nak,
    Reset,
    /// CCNET IDENTIFICATION 37 / ID003 version request 88.
    Identify,
    /// CCNET GET BILL TABLE 41 / ID003 currency assign request 8A.
    GetBillTable,
    /// CCNET SET SECURITY 32 (24 bits) / ID003 security C1 (16 bits): bit N = high security for type N.
    SetSecurity(u32),
    /// CCNET ENABLE BILL TYPES 34 / ID003 enable/disable C0: bit N = bill type N enabled
    /// (ID003 only has 16 types and ignores the escrow mask: it always escrows).
    EnableBills {
        enabled: u32,
        escrow: u32,
    },
    /// ID003 only, inhibit C3: true stops acceptance (CCNET disables through an empty enable mask).
    SetInhibit(bool),
    Stack,
    Return,
    Hold,
    /// CCNET GET STATUS 31 / ID003 enable-status request 80: which types are enabled.
    GetStatus,
}

/// Device state as reported to a poll. Bill types are indexes into the device's bill table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    PowerUp,
    PowerUpWithBillInValidator,
    PowerUpWithBillInStacker,
    Initializing,
    Idling,
    Accepting,
    Stacking,
    Returning,
    Disabled,
    Holding,
    Busy,
    Rejecting(RejectReason),
    CassetteFull,
    CassetteRemoved,
    ValidatorJammed,
    CassetteJammed,
    Cheated,
    Paused,
    Failure(FailureCode),
    Escrow(u8),
    /// The credit point: CCNET 81 + type, ID003 VEND VALID 15 (which carries no type: `None`).
    Stacked(Option<u8>),
    /// CCNET 82 + type (ID003 reports returning, then idling).
    Returned(u8),
    /// ID003 16: stacking finished after VEND VALID was acknowledged (informational).
    StackFinished,
    /// ID003 4A: the device received a bad frame.
    CommunicationError,
}

impl DeviceStatus {
    /// A bill is in the validator and the host must not reset or disturb it.
    pub fn bill_in_flight(self) -> bool {
        matches!(
            self,
            DeviceStatus::Accepting
                | DeviceStatus::Escrow(_)
                | DeviceStatus::Holding
                | DeviceStatus::Stacking
                | DeviceStatus::Returning
                | DeviceStatus::Stacked(_)
                | DeviceStatus::Returned(_)
        )
    }
}

/// Everything a device may answer, independent of protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ack,
    Nak,
    /// CCNET 30 ILLEGAL COMMAND / ID003 4B INVALID COMMAND.
    IllegalCommand,
    Status(DeviceStatus),
    Identification(Identification),
    BillTable(BillTable),
    /// Reply to GET STATUS: enabled types and (CCNET only) high-security types.
    Settings {
        enabled: u32,
        security: u32,
    },
}

/// Why the validator rejected a bill: a coarse kind plus the device's own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RejectReason {
    pub kind: RejectKind,
    pub code: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    Insertion,
    Magnetic,
    RemainedInHead,
    Multiplying,
    Conveying,
    Identification,
    Verification,
    Optic,
    Inhibit,
    Capacity,
    Operation,
    Length,
    Calibration,
    PhotoPattern,
    PhotoLevel,
    TrueBillFeature,
    Stacker,
    Unknown,
}

/// A hardware failure: a coarse kind plus the device's own code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FailureCode {
    pub kind: FailureKind,
    pub code: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    StackMotor,
    TransportMotorSpeed,
    TransportMotor,
    AligningMotor,
    InitialCassetteStatus,
    OpticCanal,
    MagneticCanal,
    CapacitanceCanal,
    Solenoid,
    PbUnit,
    CassetteNotReady,
    HeadRemoved,
    Rom,
    Ram,
    Unknown,
}

/// What the device says it is.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct Identification {
    /// CCNET part number (15 chars) / ID003 version string.
    pub part_number: String,
    /// CCNET serial number (12 chars); empty for ID003.
    pub serial_number: String,
    /// CCNET asset number (7 bytes, hex); empty for ID003.
    pub asset_number: String,
}

/// One accepted bill type from the device's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BillType {
    /// Index the device uses in escrow/stacked reports and enable masks.
    pub index: u8,
    pub denomination_kopecks: i64,
    /// CCNET: 3-letter country code (e.g. "RUS"); ID003: the JCM country byte in hex.
    pub country: String,
}

/// The device's bill table: only the slots that hold a bill.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize)]
pub struct BillTable {
    pub bills: Vec<BillType>,
}

impl BillTable {
    pub fn denomination_of(&self, index: u8) -> Option<i64> {
        self.bills
            .iter()
            .find(|b| b.index == index)
            .map(|b| b.denomination_kopecks)
    }

    pub fn index_of(&self, denomination_kopecks: i64) -> Option<u8> {
        self.bills
            .iter()
            .find(|b| b.denomination_kopecks == denomination_kopecks)
            .map(|b| b.index)
    }

    /// Bit mask (bit N = type N) of the types whose denomination is in `allowed`.
    pub fn mask_for(&self, allowed: &std::collections::BTreeSet<i64>) -> u32 {
        self.bills
            .iter()
            .filter(|b| allowed.contains(&b.denomination_kopecks) && b.index < 32)
            .fold(0, |mask, b| mask | (1 << b.index))
    }
}

/// Why a payload could not be understood.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("empty payload")]
    Empty,
    #[error("unknown command {0:#04x}")]
    UnknownCommand(u8),
    #[error("unknown state {0:#04x}")]
    UnknownState(u8),
    #[error("{what}: expected {expected} bytes, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("unexpected reply {0:#04x} to {1}")]
    UnexpectedReply(u8, &'static str),
    #[error("bill table entry {index}: {why}")]
    BadBillTable { index: usize, why: &'static str },
    #[error("{0} cannot be expressed in this protocol")]
    NotInProtocol(&'static str),
}

/// Decimal value `digit * 10^exp` (or `/ 10^exp` when `negative`) in kopecks, if it is whole.
pub(crate) fn kopecks_from_decimal(base: u16, exp: u8, negative: bool) -> Option<i64> {
    let pow = 10i64.checked_pow(u32::from(exp))?;
    let kopecks = i64::from(base).checked_mul(100)?;
    if negative {
        (kopecks % pow == 0).then_some(kopecks / pow)
    } else {
        kopecks.checked_mul(pow)
    }
}

/// Inverse of [`kopecks_from_decimal`] for a single leading `digit_max` range: the smallest
/// exponent form `(base, exp, negative)` with `base <= digit_max`.
pub(crate) fn decimal_from_kopecks(kopecks: i64, digit_max: u16) -> Option<(u16, u8, bool)> {
    if kopecks <= 0 {
        return None;
    }
    // Try rubles * 10^exp first, then fractions of a ruble.
    let mut value = kopecks;
    if value % 100 == 0 {
        value /= 100;
        let mut exp = 0u8;
        while value % 10 == 0 && value > i64::from(digit_max) {
            value /= 10;
            exp += 1;
        }
        if value <= i64::from(digit_max) {
            return Some((u16::try_from(value).ok()?, exp, false));
        }
        return None;
    }
    for exp in 1..=2u8 {
        let scaled = kopecks * 10i64.pow(u32::from(exp)) / 100;
        if scaled * 100 == kopecks * 10i64.pow(u32::from(exp)) && scaled <= i64::from(digit_max) {
            return Some((u16::try_from(scaled).ok()?, exp, true));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_conversions() {
        assert_eq!(kopecks_from_decimal(1, 3, false), Some(100_000));
        assert_eq!(kopecks_from_decimal(5, 1, true), Some(50));
        assert_eq!(decimal_from_kopecks(100_000, 255), Some((100, 1, false)));
        assert_eq!(decimal_from_kopecks(100_000, 9), Some((1, 3, false)));
        assert_eq!(decimal_from_kopecks(50, 9), Some((5, 1, true)));
        assert_eq!(decimal_from_kopecks(500_000, 9), Some((5, 3, false)));
    }
}
