//! The payment flow: account, services, amounts, method, cash, card, receipt, done.

use slint::{ComponentHandle, SharedString};

use super::lists;
use crate::format::{phone, rubles, rubles_whole};
use crate::generated::{
    CardData, CashData, DoneData, EntryData, Kiosk, KioskWindow, MethodData, ProcessingData,
    ReceiptData, SbpData, ServiceLine, SummaryData,
};
use crate::qr;
use crate::text;
use crate::view::*;
use slint::Image;

/// Every text of the payment screens shows sums: none may wrap inside a number.
fn s(text: impl AsRef<str>) -> SharedString {
    crate::format::keep_numbers_whole(text.as_ref()).into()
}

pub(super) fn account_entry(w: &KioskWindow, v: &AccountEntry) {
    w.global::<Kiosk>().set_entry(EntryData {
        title: s(text::account_title(v.purpose)),
        hint: s(text::ACCOUNT_HINT),
        field: s("Номер лицевого счёта"),
        value: s(&v.input),
        placeholder: s("Например, 1234567890"),
        error: v
            .error
            .as_ref()
            .map(|e| e.text_or(|kind| text::account_error(*kind).to_owned()))
            .map(s)
            .unwrap_or_default(),
        decimal: false,
        letters: false,
        scanner: v.scanner_available,
        submit: s("Далее"),
        can_submit: !v.input.is_empty(),
    });
}

pub(super) fn account_summary(w: &KioskWindow, v: &AccountSummary) {
    let k = w.global::<Kiosk>();
    let (notice, notice_bad) = v
        .notice
        .as_ref()
        .map(text::summary_notice)
        .unwrap_or_default();
    k.set_summary(SummaryData {
        account: s(&v.account),
        holder: s(&v.holder_masked),
        address: s(&v.address_masked),
        total: s(rubles(v.total_kopecks)),
        can_pay: v.total_kopecks > 0,
        certificate: v.certificate_available,
        notice: s(notice),
        notice_bad,
    });
    lists::services(
        w,
        v.services
            .iter()
            .map(|service| ServiceLine {
                name: s(&service.name),
                caption: s(text::balance_caption(service.balance_kopecks)),
                debt: s(rubles(service.balance_kopecks.abs())),
                to_pay: s(if service.selected {
                    rubles(service.to_pay_kopecks)
                } else {
                    "—".to_owned()
                }),
                selected: service.selected,
                advance: service.balance_kopecks < 0,
            })
            .collect(),
    );
}

pub(super) fn amount_edit(w: &KioskWindow, v: &AmountEdit) {
    let hint = format!(
        "{}: {}",
        text::balance_caption(v.balance_kopecks),
        rubles(v.balance_kopecks.abs())
    );
    w.global::<Kiosk>().set_entry(EntryData {
        title: s(format!("Сумма: {}", v.service_name)),
        hint: s(hint),
        field: s("Сумма в рублях"),
        value: s(if v.input.is_empty() {
            String::new()
        } else {
            format!("{}\u{a0}₽", v.input)
        }),
        placeholder: s("0\u{a0}₽"),
        error: v.error.map(text::amount_error).map(s).unwrap_or_default(),
        decimal: true,
        letters: false,
        scanner: false,
        submit: s("Готово"),
        can_submit: !v.input.is_empty(),
    });
}

pub(super) fn payment_method(w: &KioskWindow, v: &PaymentMethod) {
    w.global::<Kiosk>().set_method(MethodData {
        total: s(rubles(v.total_kopecks)),
        cash: v.cash_available,
        card: v.card_available,
        cash_note: s(match (v.cash_available, v.over_limit_kopecks) {
            (_, Some(0)) => "На сегодня предел платежей через терминал исчерпан.".to_owned(),
            (false, _) => "Приём наличных временно не работает.".to_owned(),
            (true, Some(limit)) => format!(
                "Можно внести не больше {}; остаток — следующим платежом.",
                rubles(limit)
            ),
            (true, None) => "Сдача не выдаётся: переплата зачисляется авансом.".to_owned(),
        }),
        card_note: s(match (v.card_available, v.over_limit_kopecks) {
            (true, _) | (false, Some(0)) => String::new(),
            (false, Some(limit)) => format!(
                "Картой — не больше {} за платёж: уменьшите сумму.",
                rubles(limit)
            ),
            (false, None) => "Оплата картой временно не работает.".to_owned(),
        }),
        sbp: v.sbp_available,
        sbp_offered: v.sbp_offered,
        // A QR payment is one payment like a card's: it cannot go over the limit either.
        sbp_note: s(match (v.sbp_available, v.over_limit_kopecks) {
            (true, _) | (false, Some(0)) => String::new(),
            (false, Some(limit)) => format!(
                "По QR-коду — не больше {} за платёж: уменьшите сумму.",
                rubles(limit)
            ),
            // Not offered: the button is not shown, nor its note.
            (false, None) => String::new(),
        }),
    });
}

pub(super) fn cash(w: &KioskWindow, v: &CashInsertion) {
    let (status, status_bad) = text::cash_status(v.status.kind);
    let status = v.status.text_or(|_| status.to_owned());
    let notes: Vec<String> = v
        .accepted_notes_kopecks
        .iter()
        .map(|k| rubles_whole(*k))
        .collect();
    w.global::<Kiosk>().set_cash(CashData {
        due: s(rubles(v.due_kopecks)),
        inserted: s(rubles(v.inserted_kopecks)),
        remaining: s(rubles((v.due_kopecks - v.inserted_kopecks).max(0))),
        limit: s(rubles(v.limit_kopecks)),
        left: s(rubles(v.left_kopecks.max(0))),
        notes: s(notes.join(", ")),
        status: s(status),
        status_bad,
        can_finish: v.can_finish,
        can_cancel: v.can_cancel,
        advance_note: s(text::advance_note(v.due_kopecks, v.inserted_kopecks)),
    });
}

pub(super) fn card(w: &KioskWindow, v: &CardPayment) {
    let (prompt, detail, failed) = text::card_prompt(&v.prompt);
    w.global::<Kiosk>().set_card(CardData {
        amount: s(rubles(v.amount_kopecks)),
        prompt: s(prompt),
        detail: s(detail),
        can_cancel: v.can_cancel,
        failed,
    });
}

pub(super) fn sbp(w: &KioskWindow, v: &SbpPayment) {
    let k = w.global::<Kiosk>();
    let previous = k.get_sbp();
    // Only a code that can still be paid is on screen: none while it is made or checked.
    let payload = match v.status {
        SbpStatus::Showing => v.qr_payload.as_deref(),
        SbpStatus::Requesting | SbpStatus::Checking => None,
    };
    let qr = qr::cached(&previous.qr_payload, &previous.qr, payload).unwrap_or_else(|error| {
        tracing::warn!(%error, "СБП QR code could not be drawn");
        Image::default()
    });
    let drawn = payload.filter(|_| qr.size().width > 0);
    let wait = text::sbp_wait(v.status);
    let next = SbpData {
        amount: s(rubles(v.amount_kopecks)),
        qr_visible: drawn.is_some(),
        qr,
        // Remembered only when drawn, so a failed payload is not taken for a drawn one.
        qr_payload: s(drawn.unwrap_or_default()),
        countdown: s(match (drawn, v.seconds_left) {
            (Some(_), Some(seconds)) => text::sbp_countdown(seconds),
            _ => String::new(),
        }),
        busy: wait.is_some(),
        message: s(match (wait, drawn) {
            (Some(wait), _) => wait,
            (None, Some(_)) => "",
            (None, None) => text::SBP_QR_FAILED,
        }),
        can_cancel: v.can_cancel,
    };
    if !same_sbp_except_image(&previous, &next) {
        k.set_sbp(next);
    }
}

fn same_sbp_except_image(a: &SbpData, b: &SbpData) -> bool {
    (
        &a.amount,
        a.qr_visible,
        &a.qr_payload,
        &a.countdown,
        a.busy,
        &a.message,
        a.can_cancel,
    ) == (
        &b.amount,
        b.qr_visible,
        &b.qr_payload,
        &b.countdown,
        b.busy,
        &b.message,
        b.can_cancel,
    )
}

pub(super) fn processing(w: &KioskWindow, v: Processing) {
    let (title, detail) = text::processing(v);
    w.global::<Kiosk>().set_processing(ProcessingData {
        title: s(title),
        detail: s(detail),
    });
}

pub(super) fn receipt_choice(w: &KioskWindow, v: &ReceiptChoice) {
    w.global::<Kiosk>().set_receipt(ReceiptData {
        amount: s(rubles(v.amount_kopecks)),
        paper: v.paper_available,
        sms: v.sms_available,
        email: v.email_available,
        paper_note: s(if v.paper_available {
            ""
        } else {
            "Бумага для чеков закончилась: получите чек по SMS или на e-mail."
        }),
    });
}

pub(super) fn contact_entry(w: &KioskWindow, v: &ContactEntry) {
    let (field, value, placeholder) = match v.kind {
        ContactKind::Phone => ("Номер телефона", phone(&v.input), ""),
        ContactKind::Email => ("Адрес e-mail", v.input.clone(), "name@mail.ru"),
    };
    w.global::<Kiosk>().set_entry(EntryData {
        title: s(text::contact_title(v.kind)),
        hint: s("Номер или адрес используется только для отправки чека."),
        field: s(field),
        value: s(value),
        placeholder: s(placeholder),
        error: s(if v.invalid {
            text::contact_error(v.kind)
        } else {
            ""
        }),
        decimal: false,
        letters: v.kind == ContactKind::Email,
        scanner: false,
        submit: s("Отправить чек"),
        can_submit: !v.input.is_empty(),
    });
}

pub(super) fn done(w: &KioskWindow, v: &Done) {
    let k = w.global::<Kiosk>();
    let previous = k.get_done();
    let (qr_visible, qr_payload) = match &v.receipt {
        ReceiptOutcome::PaperOut { fiscal_qr } => (true, fiscal_qr.as_str()),
        _ => (false, ""),
    };
    let qr = qr::cached(
        &previous.qr_payload,
        &previous.qr,
        qr_visible.then_some(qr_payload),
    )
    .unwrap_or_else(|error| {
        tracing::warn!(%error, "fiscal QR code could not be drawn");
        Default::default()
    });
    let mut receipt = text::receipt_outcome(&v.receipt);
    if v.advance_kopecks > 0 {
        receipt.push_str(&format!(
            " Аванс {} зачислен на лицевой счёт.",
            rubles(v.advance_kopecks)
        ));
    }
    let next = DoneData {
        title: s("Оплата прошла. Спасибо!"),
        amount: s(rubles(v.amount_kopecks)),
        receipt: s(receipt.trim()),
        notice: s(v.notice.as_deref().unwrap_or_default()),
        qr_visible,
        qr,
        qr_payload: s(qr_payload),
        qr_caption: s(if qr_visible { text::PAPER_OUT_QR } else { "" }),
        offer_e_receipt: qr_visible,
        certificate: v.certificate_available,
    };
    // Slint's `Image` never equals an empty image, so compare the rest ourselves: an unchanged
    // done screen must not be redrawn.
    if !same_except_image(&previous, &next) {
        k.set_done(next);
    }
}

fn same_except_image(a: &DoneData, b: &DoneData) -> bool {
    (
        &a.title,
        &a.amount,
        &a.receipt,
        &a.notice,
        a.qr_visible,
        &a.qr_payload,
        &a.qr_caption,
        a.offer_e_receipt,
        a.certificate,
    ) == (
        &b.title,
        &b.amount,
        &b.receipt,
        &b.notice,
        b.qr_visible,
        &b.qr_payload,
        &b.qr_caption,
        b.offer_e_receipt,
        b.certificate,
    )
}
