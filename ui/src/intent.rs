//! Everything the person at the screen can do. The UI reports intents; the core decides.

pub use ui_model::ServiceOp;

/// One user action, reported through the callback given to [`crate::Ui::on_intent`].
///
/// Every intent is activity for the idle timer; [`Intent::Touched`] is only sent for taps that
/// hit no control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Touched,
    ToggleLargeText,
    ToggleHighContrast,
    /// "Продолжить" on the idle countdown.
    StillHere,
    /// "На главную" in the footer.
    Home,
    Back,

    // Welcome.
    StartPayment,
    StartReadings,
    StartCertificate,
    OpenInfo,
    OpenHowToUse,

    // Keypads and keyboards (account, amount, phone, e-mail, reading, service PIN).
    Digit(u8),
    DecimalComma,
    Char(char),
    Backspace,
    Clear,
    /// Confirm what was typed (account, amount, contact, PIN) or submit the readings.
    Submit,

    // Account summary.
    ToggleService(usize),
    EditAmount(usize),
    ProceedToPayment,

    // Payment.
    ChooseCash,
    ChooseCard,
    /// «По QR-коду СБП»: pay by a dynamic QR code of the Faster Payments System.
    ChooseSbp,
    FinishCash,
    /// Cancel the cash, card or QR payment in progress (offered only when the core allows it).
    CancelPayment,
    ReceiptPaper,
    ReceiptSms,
    ReceiptEmail,
    ReceiptNone,
    /// From the done screen when paper was out: get the receipt by SMS or e-mail.
    RequestElectronicReceipt,
    /// "Готово" on a final screen.
    Finish,

    // Readings and information.
    SelectZone {
        meter: usize,
        zone: usize,
    },
    SelectInfoTopic(usize),
    /// «Напечатать талон» on the readings confirmation.
    PrintSlip,

    // Service mode.
    /// The hidden corner of the header was tapped; the core counts taps and opens the PIN entry.
    ServiceCornerTapped,
    Service(ServiceOp),
    /// One of a service report's choices (e.g. which receipt to reprint).
    ServicePick(usize),
}

impl Intent {
    /// Maps a screen's parameterless action id (`Act.action(...)` in `state.slint`).
    pub(crate) fn from_action(id: &str) -> Option<Intent> {
        Some(match id {
            "large-text" => Intent::ToggleLargeText,
            "high-contrast" => Intent::ToggleHighContrast,
            "still-here" => Intent::StillHere,
            "home" => Intent::Home,
            "back" => Intent::Back,
            "pay" => Intent::StartPayment,
            "readings" => Intent::StartReadings,
            "certificate" => Intent::StartCertificate,
            "info" => Intent::OpenInfo,
            "how-to" => Intent::OpenHowToUse,
            "submit" => Intent::Submit,
            "proceed" => Intent::ProceedToPayment,
            "cash" => Intent::ChooseCash,
            "card" => Intent::ChooseCard,
            "sbp" => Intent::ChooseSbp,
            "finish-cash" => Intent::FinishCash,
            "cancel" => Intent::CancelPayment,
            "receipt-paper" => Intent::ReceiptPaper,
            "receipt-sms" => Intent::ReceiptSms,
            "receipt-email" => Intent::ReceiptEmail,
            "receipt-none" => Intent::ReceiptNone,
            "e-receipt" => Intent::RequestElectronicReceipt,
            "done" => Intent::Finish,
            "print-slip" => Intent::PrintSlip,
            "service-corner" => Intent::ServiceCornerTapped,
            "svc-tests" => Intent::Service(ServiceOp::DeviceTests),
            "svc-encashment" => Intent::Service(ServiceOp::Encashment),
            "svc-paper" => Intent::Service(ServiceOp::PaperReplaced),
            "svc-shift-close" => Intent::Service(ServiceOp::CloseShift),
            "svc-reprint" => Intent::Service(ServiceOp::Reprint),
            "svc-outages" => Intent::Service(ServiceOp::OutageHistory),
            "svc-stuck" => Intent::Service(ServiceOp::StuckNotes),
            "svc-export" => Intent::Service(ServiceOp::ExportJournal),
            "svc-confirm" => Intent::Service(ServiceOp::Confirm),
            "svc-back" => Intent::Service(ServiceOp::Back),
            "svc-exit" => Intent::Service(ServiceOp::Exit),
            _ => return None,
        })
    }

    /// Maps a key of the keypad or the e-mail keyboard.
    pub(crate) fn from_key(key: &str) -> Option<Intent> {
        match key {
            "back" => return Some(Intent::Backspace),
            "clear" => return Some(Intent::Clear),
            "," => return Some(Intent::DecimalComma),
            _ => {}
        }
        let mut chars = key.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return None;
        };
        Some(match c.to_digit(10) {
            Some(d) => Intent::Digit(d as u8),
            None => Intent::Char(c),
        })
    }

    /// Maps an indexed action (`Act.pick(kind, a, b)`); negative indices are ignored.
    pub(crate) fn from_pick(kind: &str, a: i32, b: i32) -> Option<Intent> {
        let a = usize::try_from(a).ok()?;
        let b = usize::try_from(b).ok()?;
        Some(match kind {
            "toggle-service" => Intent::ToggleService(a),
            "edit-amount" => Intent::EditAmount(a),
            "zone" => Intent::SelectZone { meter: a, zone: b },
            "topic" => Intent::SelectInfoTopic(a),
            "report-action" => Intent::ServicePick(a),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_digits_characters_and_editing() {
        assert_eq!(Intent::from_key("7"), Some(Intent::Digit(7)));
        assert_eq!(Intent::from_key("0"), Some(Intent::Digit(0)));
        assert_eq!(Intent::from_key("@"), Some(Intent::Char('@')));
        assert_eq!(Intent::from_key(","), Some(Intent::DecimalComma));
        assert_eq!(Intent::from_key("back"), Some(Intent::Backspace));
        assert_eq!(Intent::from_key("clear"), Some(Intent::Clear));
        assert_eq!(Intent::from_key(""), None);
        assert_eq!(Intent::from_key("ab"), None);
    }

    #[test]
    fn picks_reject_negative_indices() {
        assert_eq!(
            Intent::from_pick("zone", 1, 2),
            Some(Intent::SelectZone { meter: 1, zone: 2 })
        );
        assert_eq!(Intent::from_pick("zone", -1, 2), None);
        assert_eq!(Intent::from_pick("nonsense", 0, 0), None);
    }

    #[test]
    fn unknown_action_ids_are_not_guessed() {
        assert_eq!(Intent::from_action("pay"), Some(Intent::StartPayment));
        assert_eq!(Intent::from_action("Pay"), None);
        assert_eq!(Intent::from_action("sbp"), Some(Intent::ChooseSbp));
    }
}

#[cfg(test)]
mod slint_ids {
    use super::Intent;

    /// Every `Act.action("…")` id used in the .slint files maps to an intent.
    #[test]
    fn every_action_id_in_the_screens_is_known() {
        let mut files = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("slint")];
        let mut ids = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    files.push(entry.unwrap().path());
                }
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for part in source.split("Act.action(\"").skip(1) {
                ids.push(part.split('"').next().unwrap().to_owned());
            }
        }
        assert!(ids.len() > 30, "found only {ids:?}");
        for id in ids {
            assert!(
                Intent::from_action(&id).is_some(),
                "unmapped action id {id:?}"
            );
        }
    }
}
