//! View state: exactly what each screen shows, as plain data.
//!
//! The terminal's session core produces a [`ViewState`] after every event; the UI only draws it.
//! Money is `i64` kopecks (the core's unit) and the UI formats it (`1 500,00 ₽`, see
//! [`crate::format`]). Refusals and errors are typed here ([`Reason`]) and [`crate::text`] words
//! each kind; when the terminal's domain rules already explained a refusal in the customer's words
//! (with the numbers in it: the limit, the previous reading, the reader's decline text), the
//! reason carries that text and the screen shows it exactly. Text the core receives from outside
//! (card reader prompts, information pages, names of devices) is passed through as `String`.
//!
//! Nothing typed by the customer is kept by the UI: every keystroke goes to the core as an
//! [`crate::Intent`] and comes back in the next view state. Clearing personal data on the idle
//! timeout is therefore the core switching back to [`Screen::Welcome`].

/// Everything on the glass at one moment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ViewState {
    pub screen: Screen,
    pub accessibility: Accessibility,
    /// Seconds left before the idle timeout clears the session; `Some` shows the countdown.
    pub idle_countdown: Option<u32>,
    /// Degraded mode: what does not work now (shown as a banner on customer screens).
    pub notice: Option<DegradedNotice>,
}

/// Display modes reachable from every customer screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accessibility {
    pub large_text: bool,
    pub high_contrast: bool,
}

/// A feature of the kiosk that may be unavailable while a device or the link is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Cash,
    Card,
    PaperReceipt,
    ElectronicReceipt,
    Readings,
    Certificate,
    /// The billing system is unreachable: payments are accepted, debts may be out of date.
    Online,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DegradedNotice {
    pub unavailable: Vec<Feature>,
    pub hotline: String,
}

/// A typed reason, with the terminal's exact words for it when it has them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reason<K> {
    pub kind: K,
    /// Shown as is; `None`: the UI words `kind` itself ([`crate::text`]).
    pub text: Option<String>,
}

impl<K> Reason<K> {
    /// A reason with the terminal's own explanation.
    pub fn explained(kind: K, text: impl Into<String>) -> Reason<K> {
        Reason {
            kind,
            text: Some(text.into()),
        }
    }

    /// The terminal's text (its numbers kept whole on screen), or `word(kind)` when there is
    /// none.
    pub fn text_or(&self, word: impl FnOnce(&K) -> String) -> String {
        match &self.text {
            Some(text) if !text.is_empty() => crate::format::keep_numbers_whole(text),
            _ => word(&self.kind),
        }
    }
}

impl<K> From<K> for Reason<K> {
    fn from(kind: K) -> Reason<K> {
        Reason { kind, text: None }
    }
}

/// One variant per screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    Welcome(Welcome),
    HowToUse,
    AccountEntry(AccountEntry),
    AccountSummary(AccountSummary),
    AmountEdit(AmountEdit),
    PaymentMethod(PaymentMethod),
    CashInsertion(CashInsertion),
    CardPayment(CardPayment),
    /// A payment by the Faster Payments System (СБП): a dynamic QR code the customer's bank
    /// app pays.
    SbpPayment(SbpPayment),
    Processing(Processing),
    ReceiptChoice(ReceiptChoice),
    ContactEntry(ContactEntry),
    Done(Done),
    MeterReadings(MeterReadings),
    ReadingsDone(ReadingsDone),
    Info(Info),
    NoDebtCertificate(NoDebtCertificate),
    OutOfService(OutOfService),
    /// A stop the terminal explains itself, with the way back.
    Notice(Notice),
    ServicePin(ServicePin),
    ServiceStatus(ServiceStatus),
    ServiceReport(ServiceReport),
}

impl Default for Screen {
    fn default() -> Self {
        Screen::Welcome(Welcome::default())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    pub payment_available: bool,
    pub readings_available: bool,
    pub certificate_available: bool,
    /// A bill barcode/QR scanner is configured: tell the customer they may scan the bill.
    pub scanner_available: bool,
}

impl Default for Welcome {
    fn default() -> Self {
        Welcome {
            payment_available: true,
            readings_available: true,
            certificate_available: true,
            scanner_available: false,
        }
    }
}

/// What the account number is being entered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountPurpose {
    #[default]
    Payment,
    Readings,
    Certificate,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountEntry {
    pub purpose: AccountPurpose,
    /// Digits typed so far.
    pub input: String,
    pub error: Option<Reason<AccountError>>,
    pub scanner_available: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountError {
    /// «Далее» with nothing typed.
    Empty,
    /// Wrong length or check digit: most likely a typo.
    Invalid,
    NotFound,
    /// The billing system cannot be asked now.
    Unreachable,
    /// The scanned barcode is not one of our bills.
    UnknownBarcode,
}

/// One service (electricity, fees...) of the account with its balance and what will be paid.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceDebt {
    pub name: String,
    /// Positive: debt (задолженность); negative: advance (аванс, overpaid).
    pub balance_kopecks: i64,
    pub to_pay_kopecks: i64,
    pub selected: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountSummary {
    pub account: String,
    /// Already masked by the core (152-FZ), e.g. «Ив***в И. И.».
    pub holder_masked: String,
    pub address_masked: String,
    pub services: Vec<ServiceDebt>,
    pub total_kopecks: i64,
    pub certificate_available: bool,
    /// A refused action (card declined, amount not accepted) or the limit the total runs into.
    pub notice: Option<Reason<SummaryNotice>>,
}

/// What the account summary tells the customer above the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryNotice {
    /// The total is above what one payment may be.
    PaymentLimit {
        limit_kopecks: i64,
    },
    /// The total is above what is left of today's limit for this account.
    DayLimit {
        left_kopecks: i64,
    },
    CardDeclined,
    CardCancelled,
    /// An approved card payment was reversed: the money goes back to the card.
    CardReversed,
    CashUnavailable,
    CardUnavailable,
    /// The back office or the bank cannot take a QR payment now.
    SbpUnavailable,
    /// The bank answered that the QR payment did not go through.
    SbpDeclined,
    /// The time to pay the QR code ran out and the bank saw no payment.
    SbpExpired,
    /// The customer cancelled the QR payment (and the bank confirmed nothing was paid).
    SbpCancelled,
    /// A typed amount was not accepted.
    AmountRejected,
    NothingToPay,
    /// A no-debt certificate was asked for while there is a debt.
    HasDebt {
        debt_kopecks: i64,
    },
}

impl SummaryNotice {
    /// A refusal or a limit (shown as an error) rather than news (shown as information).
    pub fn is_problem(self) -> bool {
        !matches!(
            self,
            SummaryNotice::CardCancelled
                | SummaryNotice::CardReversed
                | SummaryNotice::SbpCancelled
        )
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AmountEdit {
    pub service_name: String,
    pub balance_kopecks: i64,
    /// As typed: digits and at most one decimal comma, e.g. "1500,5".
    pub input: String,
    pub error: Option<AmountError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    TooSmall { min_kopecks: i64 },
    TooLarge { max_kopecks: i64 },
    Malformed,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PaymentMethod {
    pub total_kopecks: i64,
    pub cash_available: bool,
    pub card_available: bool,
    /// The kiosk takes QR payments (СБП) now: the back office's bank answers. Without it the
    /// method is not on the screen at all.
    pub sbp_offered: bool,
    /// A QR payment can take this total (offered, and within the limit).
    pub sbp_available: bool,
    /// The total is above what one payment may be now (per payment, or what is left of the
    /// day's limit): a card or QR payment cannot take it, cash is taken up to it.
    pub over_limit_kopecks: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CashInsertion {
    pub due_kopecks: i64,
    pub inserted_kopecks: i64,
    /// Denominations the acceptor takes now (from its bill table), in kopecks.
    pub accepted_notes_kopecks: Vec<i64>,
    /// Most this payment may take (the per-payment limit, or what is left of the day's).
    pub limit_kopecks: i64,
    /// What may still be inserted: `limit_kopecks` minus what was inserted.
    pub left_kopecks: i64,
    pub status: Reason<CashStatus>,
    pub can_finish: bool,
    /// Cancel is offered only while nothing has been stacked.
    pub can_cancel: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CashStatus {
    #[default]
    Waiting,
    /// A bill is being checked/stacked.
    Accepting,
    /// The last bill was returned (worn, fake or not accepted).
    Rejected,
    /// The next bill would exceed the limit: the acceptor is disabled.
    LimitReached,
    /// The acceptor failed: what was inserted is kept and can be paid.
    DeviceFault,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CardPayment {
    pub amount_kopecks: i64,
    pub prompt: CardPrompt,
    pub can_cancel: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum CardPrompt {
    #[default]
    PresentCard,
    EnterPin,
    Authorising,
    RemoveCard,
    Declined,
    /// The reader's own display text, passed through.
    Reader(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SbpPayment {
    pub amount_kopecks: i64,
    pub status: SbpStatus,
    /// The QR payload (`https://qr.nspk.ru/...&sum=...`) while it can be paid.
    pub qr_payload: Option<String>,
    /// Seconds left to pay (the countdown); None while the QR is being made.
    pub seconds_left: Option<u32>,
    pub can_cancel: bool,
}

/// Where a QR payment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SbpStatus {
    /// The bank is making the QR code.
    #[default]
    Requesting,
    /// The QR code is on screen and can be paid.
    Showing,
    /// The QR code is gone (cancelled, or the time ran out) and the bank is asked whether it was
    /// paid after all: a payment confirmed at the last second still counts.
    Checking,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Processing {
    #[default]
    Payment,
    Receipt,
    Readings,
    Certificate,
    Account,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReceiptChoice {
    pub amount_kopecks: i64,
    pub paper_available: bool,
    pub sms_available: bool,
    pub email_available: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactKind {
    #[default]
    Phone,
    Email,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactEntry {
    pub kind: ContactKind,
    /// For a phone: the ten digits after +7 typed so far. For e-mail: the address so far.
    pub input: String,
    pub invalid: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum ReceiptOutcome {
    #[default]
    Printed,
    /// Sent as an e-receipt; `to` is masked by the core (`+7 *** ***-45-67`, `iv***@mail.ru`).
    Sent {
        to: String,
    },
    /// No paper: show the fiscal receipt's QR code (the `t=…&s=…&fn=…` string).
    PaperOut {
        fiscal_qr: String,
    },
    Declined,
    /// The receipt could not be made now; it is made and sent later.
    Later,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Done {
    pub amount_kopecks: i64,
    pub receipt: ReceiptOutcome,
    /// Part of the inserted cash went to the advance (no change is given).
    pub advance_kopecks: i64,
    pub certificate_available: bool,
    /// A note went stuck in the validator: what the customer must know, with its reference.
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeterReadings {
    pub account: String,
    pub meters: Vec<MeterView>,
    /// The meter and zone the keypad types into.
    pub selected: (usize, usize),
    /// Days of the month readings are accepted, e.g. (15, 25).
    pub window_days: Option<(u8, u8)>,
    /// A refusal of the whole submission (outside the window, billing unreachable).
    pub error: Option<Reason<ReadingRefusal>>,
    pub can_submit: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeterView {
    pub serial: String,
    pub zones: Vec<ZoneView>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZoneView {
    pub zone: TariffZone,
    pub previous: String,
    pub input: String,
    pub state: ZoneState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TariffZone {
    #[default]
    Single,
    Day,
    Night,
    Peak,
    SemiPeak,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum ZoneState {
    #[default]
    Empty,
    Entered,
    Accepted,
    Refused(Reason<ReadingRefusal>),
}

/// Why a reading is not accepted (the standard: explained at once).
#[derive(Debug, Clone, PartialEq)]
pub enum ReadingRefusal {
    BelowPrevious {
        previous: String,
    },
    /// Consumption larger than plausible for the meter.
    TooHigh {
        consumption: String,
        max: String,
    },
    TooManyDigits {
        digits: u8,
    },
    OutsideWindow {
        from_day: u8,
        to_day: u8,
    },
    Missing,
    Unreachable,
    /// Not a whole number, zero, or a zone typed twice.
    Malformed,
    /// The same values were accepted before.
    AlreadyAccepted,
    /// The meter is not on this account.
    UnknownMeter,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReadingsDone {
    pub registration_number: String,
    /// Pre-formatted local date and time, e.g. "27.11.2026 14:35".
    pub registered_at: String,
    pub terminal_id: String,
    /// One line per zone: ("№ 0123456 · День", "12 345").
    pub lines: Vec<(String, String)>,
    pub slip_printed: bool,
    /// «Напечатать талон» is offered (not printed yet, and the printer works).
    pub can_print_slip: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Info {
    pub topics: Vec<InfoTopic>,
    pub selected: usize,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InfoTopic {
    pub title: String,
    pub entries: Vec<InfoEntry>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct InfoEntry {
    pub heading: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct NoDebtCertificate {
    pub account: String,
    pub holder_masked: String,
    pub as_of: String,
    pub outcome: CertificateOutcome,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum CertificateOutcome {
    #[default]
    Printed,
    HasDebt {
        debt_kopecks: i64,
    },
    PrinterUnavailable,
}

/// Why the terminal cannot do what the customer came for (no meters on the account, no
/// certificate while the billing system is unreachable…): the terminal's words, shown as is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Notice {
    pub message: String,
    pub hotline: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutOfService {
    pub nearest_office: String,
    pub office_hours: String,
    pub hotline: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServicePin {
    /// Only the count is shown (as dots), never the digits.
    pub digits_entered: usize,
    pub error: Option<PinError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinError {
    Wrong { attempts_left: u32 },
    Locked { minutes: u32 },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceStatus {
    pub terminal_id: String,
    pub devices: Vec<DeviceLine>,
    pub cash_in_box: String,
    pub paper: String,
    pub shift: String,
    /// Most recent first: (time, message).
    pub last_errors: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceLine {
    pub name: String,
    pub state: String,
    pub ok: bool,
}

/// A service operation's screen: its lines, optional choices and a confirm button.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceReport {
    pub title: String,
    pub lines: Vec<(String, String)>,
    /// Buttons that pick one item (e.g. receipts to reprint); reported as
    /// [`crate::Intent::ServicePick`] with the index.
    pub choices: Vec<String>,
    /// Label of the confirm button (e.g. "Подтвердить инкассацию"); `None` hides it.
    pub confirm: Option<String>,
    pub busy: bool,
}
