//! Every customer-facing sentence the UI builds from typed view state, in Russian.
//! Short, plain words customers know: лицевой счёт, показания, задолженность, аванс, чек.

use crate::format::{group_thousands, minutes_seconds, rubles};
use crate::view::*;

pub fn account_title(purpose: AccountPurpose) -> &'static str {
    match purpose {
        AccountPurpose::Payment => "Введите номер лицевого счёта",
        AccountPurpose::Readings => "Показания: введите номер лицевого счёта",
        AccountPurpose::Certificate => "Справка: введите номер лицевого счёта",
    }
}

/// The «Как пользоваться» page of the default brand (a retailer's `[brand] how_to_use` replaces it).
pub const HOW_TO_USE: [&str; 6] = [
    "1. Нажмите «Оплатить» и введите номер лицевого счёта с квитанции — или поднесите штрихкод квитанции к сканеру.",
    "2. Проверьте услуги и суммы. Сумму можно изменить.",
    "3. Выберите способ оплаты: наличными или картой. Комиссии нет. Сдача не выдаётся: переплата зачисляется авансом.",
    "4. Возьмите чек или получите его по SMS или на e-mail.",
    "Показания: нажмите «Передать показания», введите номер счёта и значения с дисплея счётчика.",
    "Кнопки «Крупный шрифт» и «Контраст» внизу экрана помогут, если плохо видно.",
];

pub const ACCOUNT_HINT: &str = "Номер указан в квитанции, вверху справа.";

pub fn account_error(error: AccountError) -> &'static str {
    match error {
        AccountError::Empty => "Введите номер лицевого счёта.",
        AccountError::Invalid => "Номер введён с ошибкой. Проверьте цифры по квитанции.",
        AccountError::NotFound => "Такой лицевой счёт не найден. Проверьте номер по квитанции.",
        AccountError::Unreachable => {
            "Сейчас нет связи с расчётной системой. Попробуйте через несколько минут."
        }
        AccountError::UnknownBarcode => {
            "Этот штрихкод не наш. Поднесите штрихкод с квитанции за электроэнергию или введите номер."
        }
    }
}

/// Caption for a service's balance: debt, advance or nothing owed.
pub fn balance_caption(balance_kopecks: i64) -> &'static str {
    match balance_kopecks {
        b if b > 0 => "Задолженность",
        b if b < 0 => "Аванс",
        _ => "Задолженности нет",
    }
}

pub fn amount_error(error: AmountError) -> String {
    match error {
        AmountError::TooSmall { min_kopecks } => {
            format!("Сумма должна быть не меньше {}.", rubles(min_kopecks))
        }
        AmountError::TooLarge { max_kopecks } => {
            format!("Сумма должна быть не больше {}.", rubles(max_kopecks))
        }
        AmountError::Malformed => "Введите сумму, например 1500 или 1500,50.".to_owned(),
    }
}

/// The summary's notice in the customer's words, and whether it is a problem (or just news).
pub fn summary_notice(notice: &Reason<SummaryNotice>) -> (String, bool) {
    let text = notice.text_or(|kind| match *kind {
        SummaryNotice::PaymentLimit { limit_kopecks } => format!(
            "Сумма одного платежа в терминале — не больше {}.",
            rubles(limit_kopecks)
        ),
        SummaryNotice::DayLimit { left_kopecks } => format!(
            "Сегодня через терминал можно внести ещё не больше {}.",
            rubles(left_kopecks)
        ),
        SummaryNotice::CardDeclined => "Оплата картой не прошла. Деньги не списаны.".to_owned(),
        SummaryNotice::CardCancelled => "Оплата картой отменена.".to_owned(),
        SummaryNotice::CardReversed => "Оплата отменена, деньги вернутся на карту.".to_owned(),
        SummaryNotice::CashUnavailable => {
            "Приём наличных сейчас недоступен — оплатите картой.".to_owned()
        }
        SummaryNotice::CardUnavailable => {
            "Оплата картой сейчас недоступна — оплатите наличными.".to_owned()
        }
        SummaryNotice::SbpUnavailable => {
            "Оплата по QR-коду сейчас недоступна — оплатите наличными или картой.".to_owned()
        }
        SummaryNotice::SbpDeclined => "Банк не подтвердил оплату. Деньги не списаны.".to_owned(),
        SummaryNotice::SbpExpired => {
            "Время на оплату по QR-коду истекло. Деньги не списаны.".to_owned()
        }
        SummaryNotice::SbpCancelled => "Оплата по QR-коду отменена.".to_owned(),
        SummaryNotice::AmountRejected => "Введите сумму, например 1500 или 1500,50.".to_owned(),
        SummaryNotice::NothingToPay => "Выберите, что оплатить: сумма к оплате — ноль.".to_owned(),
        SummaryNotice::HasDebt { debt_kopecks } => format!(
            "Справка выдаётся, когда задолженности нет. Задолженность: {}.",
            rubles(debt_kopecks)
        ),
    });
    (text, notice.kind.is_problem())
}

pub fn cash_status(status: CashStatus) -> (&'static str, bool) {
    match status {
        CashStatus::Waiting => ("", false),
        CashStatus::Accepting => ("Купюра проверяется…", false),
        CashStatus::Rejected => (
            "Купюра не принята и возвращена. Попробуйте другую купюру.",
            true,
        ),
        CashStatus::LimitReached => (
            "Достигнут предел одного платежа. Нажмите «Завершить оплату».",
            true,
        ),
        CashStatus::DeviceFault => (
            "Купюроприёмник не работает. Внесённые деньги сохранены — нажмите «Завершить оплату».",
            true,
        ),
    }
}

pub fn advance_note(due_kopecks: i64, inserted_kopecks: i64) -> String {
    if inserted_kopecks > due_kopecks {
        format!(
            "Сдача не выдаётся: {} будет зачислено авансом на ваш лицевой счёт.",
            rubles(inserted_kopecks - due_kopecks)
        )
    } else {
        String::new()
    }
}

/// (prompt, detail, failed)
pub fn card_prompt(prompt: &CardPrompt) -> (String, &'static str, bool) {
    match prompt {
        CardPrompt::PresentCard => (
            "Приложите, вставьте или проведите карту".to_owned(),
            "Терминал для карт — справа под экраном.",
            false,
        ),
        CardPrompt::EnterPin => (
            "Введите ПИН-код на терминале для карт".to_owned(),
            "Прикройте клавиатуру рукой.",
            false,
        ),
        CardPrompt::Authorising => ("Ждём ответ банка…".to_owned(), "", false),
        CardPrompt::RemoveCard => ("Заберите карту".to_owned(), "", false),
        CardPrompt::Declined => (
            "Оплата отклонена банком".to_owned(),
            "Деньги не списаны. Можно оплатить другой картой или наличными.",
            true,
        ),
        CardPrompt::Reader(text) => (text.clone(), "", false),
    }
}

/// What the QR payment screen says while there is no code to scan (`None` while there is).
pub fn sbp_wait(status: SbpStatus) -> Option<&'static str> {
    match status {
        SbpStatus::Requesting => Some("Готовим QR-код…"),
        SbpStatus::Showing => None,
        SbpStatus::Checking => Some("Проверяем оплату в банке, не уходите…"),
    }
}

/// The bank's QR payload could not be drawn (too long for a QR code): nothing to scan.
pub const SBP_QR_FAILED: &str =
    "Не удалось показать QR-код. Нажмите «Отменить» и выберите другой способ оплаты.";

/// «Осталось 2:45» under the QR code.
pub fn sbp_countdown(seconds_left: u32) -> String {
    format!("Осталось {}", minutes_seconds(seconds_left))
}

pub fn processing(what: Processing) -> (&'static str, &'static str) {
    match what {
        Processing::Payment => (
            "Проводим платёж…",
            "Не уходите, это займёт несколько секунд.",
        ),
        Processing::Receipt => ("Печатаем чек…", "Возьмите чек из лотка под экраном."),
        Processing::Readings => ("Передаём показания…", "Подождите несколько секунд."),
        Processing::Certificate => ("Готовим справку…", "Подождите несколько секунд."),
        Processing::Account => ("Ищем лицевой счёт…", "Подождите несколько секунд."),
    }
}

pub fn contact_title(kind: ContactKind) -> &'static str {
    match kind {
        ContactKind::Phone => "Номер телефона для чека по SMS",
        ContactKind::Email => "Адрес e-mail для чека",
    }
}

pub fn contact_error(kind: ContactKind) -> &'static str {
    match kind {
        ContactKind::Phone => "Номер неполный: нужно 10 цифр после +7.",
        ContactKind::Email => "Адрес введён с ошибкой. Пример: ivanov@mail.ru",
    }
}

pub fn receipt_outcome(outcome: &ReceiptOutcome) -> String {
    match outcome {
        ReceiptOutcome::Printed => "Возьмите чек из лотка под экраном.".to_owned(),
        ReceiptOutcome::Sent { to } => format!("Чек отправлен: {to}"),
        ReceiptOutcome::PaperOut { .. } => String::new(),
        ReceiptOutcome::Declined => "Чек сохранён в налоговой, бумажный не печатали.".to_owned(),
        ReceiptOutcome::Later => {
            "Платёж зачислен. Чек не удалось оформить — он будет оформлен и отправлен позже."
                .to_owned()
        }
    }
}

pub const PAPER_OUT_QR: &str =
    "Бумага закончилась. Отсканируйте QR-код телефоном — это ваш кассовый чек, он действителен.";

pub fn zone_name(zone: TariffZone) -> &'static str {
    match zone {
        TariffZone::Single => "Показания",
        TariffZone::Day => "День (Т1)",
        TariffZone::Night => "Ночь (Т2)",
        TariffZone::Peak => "Пик (Т1)",
        TariffZone::SemiPeak => "Полупик (Т3)",
    }
}

pub fn reading_refusal(refusal: &ReadingRefusal) -> String {
    match refusal {
        ReadingRefusal::BelowPrevious { previous } => format!(
            "Не принято: значение меньше прежних показаний ({previous}). \
             Проверьте цифры на дисплее счётчика."
        ),
        ReadingRefusal::TooHigh { consumption, max } => format!(
            "Не принято: расход {consumption} кВт·ч слишком большой (не больше {max}). \
             Проверьте цифры; если всё верно — обратитесь в офис."
        ),
        ReadingRefusal::TooManyDigits { digits } => format!(
            "Не принято: у счётчика {digits} цифр до запятой. Цифры после запятой не вводите."
        ),
        ReadingRefusal::OutsideWindow { from_day, to_day } => format!(
            "Показания принимаются с {from_day} по {to_day} число месяца. Сегодня передать их нельзя."
        ),
        ReadingRefusal::Missing => "Введите показания для этой зоны.".to_owned(),
        ReadingRefusal::Unreachable => {
            "Сейчас нет связи с расчётной системой. Показания не переданы — попробуйте позже."
                .to_owned()
        }
        ReadingRefusal::Malformed => {
            "Не принято: введите только цифры с табло счётчика, без запятой.".to_owned()
        }
        ReadingRefusal::AlreadyAccepted => "Эти показания уже приняты.".to_owned(),
        ReadingRefusal::UnknownMeter => {
            "Такого прибора учёта нет на этом лицевом счёте.".to_owned()
        }
    }
}

/// A reading refusal: the terminal's explanation, or the UI's words for its kind.
pub fn reading_reason(reason: &Reason<ReadingRefusal>) -> String {
    reason.text_or(reading_refusal)
}

pub fn readings_window(from_day: u8, to_day: u8) -> String {
    format!("Показания принимаются с {from_day} по {to_day} число месяца.")
}

pub fn readings_slip(printed: bool, can_print: bool) -> &'static str {
    match (printed, can_print) {
        (true, _) => "Возьмите талон с регистрационным номером.",
        (false, true) => "Напечатайте талон или запишите регистрационный номер.",
        (false, false) => "Запишите или сфотографируйте регистрационный номер.",
    }
}

pub fn certificate(outcome: &CertificateOutcome) -> (String, bool) {
    match outcome {
        CertificateOutcome::Printed => {
            ("Справка напечатана. Возьмите её из лотка.".to_owned(), true)
        }
        CertificateOutcome::HasDebt { debt_kopecks } => (
            format!(
                "Справку выдать нельзя: задолженность {}. Оплатите её — и справка будет готова.",
                rubles(*debt_kopecks)
            ),
            false,
        ),
        CertificateOutcome::PrinterUnavailable => (
            "Принтер не работает. Справку можно получить в офисе или по запросу на сайте."
                .to_owned(),
            false,
        ),
    }
}

fn feature_name(feature: Feature) -> &'static str {
    match feature {
        Feature::Cash => "приём наличных",
        Feature::Card => "оплата картой",
        Feature::PaperReceipt => "печать чеков (чек можно получить по SMS или e-mail)",
        Feature::ElectronicReceipt => "отправка чеков по SMS и e-mail",
        Feature::Readings => "приём показаний",
        Feature::Certificate => "выдача справок",
        Feature::Online => {
            "связь с расчётной системой (платежи принимаются, долг может быть не обновлён)"
        }
    }
}

pub fn degraded_notice(notice: &DegradedNotice) -> String {
    let names: Vec<&str> = notice
        .unavailable
        .iter()
        .map(|f| feature_name(*f))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("Временно не работает: {}.", names.join("; "))
    }
}

pub const OUT_OF_SERVICE_TITLE: &str = "Терминал временно не работает";
pub const OUT_OF_SERVICE_MESSAGE: &str =
    "Мы уже чиним его. Оплатить и передать показания можно в офисе или на сайте.";

pub fn pin_error(error: PinError) -> String {
    match error {
        PinError::Wrong { attempts_left } => {
            format!("Неверный ПИН-код. Осталось попыток: {attempts_left}.")
        }
        PinError::Locked { minutes } => {
            format!("Вход заблокирован на {minutes} мин.")
        }
    }
}

/// `12345` → `12 345` (for meter values and kWh; input that is not a number is shown as is).
pub fn meter_value(raw: &str) -> String {
    raw.parse::<u64>()
        .map(group_thousands)
        .unwrap_or_else(|_| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_lists_what_does_not_work() {
        let notice = DegradedNotice {
            unavailable: vec![Feature::Card, Feature::PaperReceipt],
            hotline: "8 800 000-00-00".into(),
        };
        let text = degraded_notice(&notice);
        assert!(text.starts_with("Временно не работает: оплата картой; печать чеков"));
        assert_eq!(degraded_notice(&DegradedNotice::default()), "");
    }

    #[test]
    fn every_refusal_explains_itself() {
        let refusals = [
            ReadingRefusal::BelowPrevious {
                previous: "12 345".into(),
            },
            ReadingRefusal::TooHigh {
                consumption: "9 000".into(),
                max: "3 000".into(),
            },
            ReadingRefusal::TooManyDigits { digits: 5 },
            ReadingRefusal::OutsideWindow {
                from_day: 15,
                to_day: 25,
            },
            ReadingRefusal::Missing,
            ReadingRefusal::Unreachable,
            ReadingRefusal::Malformed,
            ReadingRefusal::AlreadyAccepted,
            ReadingRefusal::UnknownMeter,
        ];
        for r in &refusals {
            assert!(reading_refusal(r).len() > 20, "{r:?}");
        }
        assert!(reading_refusal(&refusals[0]).contains("12 345"));
    }

    #[test]
    fn qr_payment_notices_say_whether_money_left_the_account() {
        for kind in [SummaryNotice::SbpDeclined, SummaryNotice::SbpExpired] {
            let (text, problem) = summary_notice(&kind.into());
            assert!(text.contains("Деньги не списаны"), "{text}");
            assert!(problem);
        }
        let (text, problem) = summary_notice(&SummaryNotice::SbpUnavailable.into());
        assert!(text.contains("наличными или картой") && problem, "{text}");
        assert_eq!(
            summary_notice(&SummaryNotice::SbpCancelled.into()),
            ("Оплата по QR-коду отменена.".to_owned(), false)
        );
        assert_eq!(sbp_countdown(165), "Осталось 2:45");
        assert_eq!(sbp_wait(SbpStatus::Showing), None);
    }

    #[test]
    fn balance_captions() {
        assert_eq!(balance_caption(100), "Задолженность");
        assert_eq!(balance_caption(-100), "Аванс");
        assert_eq!(balance_caption(0), "Задолженности нет");
    }
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[test]
    fn the_terminal_s_words_win_over_the_kind_s() {
        let exact = Reason::explained(
            SummaryNotice::DayLimit {
                left_kopecks: 100_000,
            },
            "Сегодня через терминал можно внести ещё не больше 1 000,00 ₽",
        );
        assert_eq!(
            summary_notice(&exact).0,
            "Сегодня через терминал можно внести ещё не больше 1\u{a0}000,00\u{a0}₽",
            "the words as they are, a number never broken across lines"
        );
        let typed: Reason<SummaryNotice> = SummaryNotice::PaymentLimit {
            limit_kopecks: 1_500_000,
        }
        .into();
        assert!(summary_notice(&typed).0.contains("15\u{a0}000,00"));
        assert!(!summary_notice(&SummaryNotice::CardCancelled.into()).1);
        assert!(!summary_notice(&SummaryNotice::SbpCancelled.into()).1);
        let refusal: Reason<ReadingRefusal> = Reason::explained(
            ReadingRefusal::Malformed,
            "Показание «12,5» должно состоять только из цифр",
        );
        assert_eq!(
            reading_reason(&refusal),
            "Показание «12,5» должно состоять только из цифр"
        );
    }
}
