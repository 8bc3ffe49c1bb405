//! Every error code a Shtrih-M KKT answers with, as a typed value with the Russian text the
//! service screen shows, and the errors of the host link and session.
//!
//! Codes 01h–20h (and 2Fh, 30h) come from the fiscal storage (ФН) and are passed through by the
//! KKT; the rest are the KKT's own. Sources: the KKT codes of "Протокол ККТ 2.0" (appendix
//! "Коды ошибок", `javapos_shtrih/Doc/SHTRIH/ПротоколККТ_2.0_11_asemenov_rev1.docx`), whose
//! 01h–25h were the old fiscal memory's (ФП) and are replaced in FN firmware by the FN table of
//! "Протокол ФР (Команды работы с ФН).docx" (01h–20h), completed with 0Ah–0Eh, 2Fh and 30h of
//! the later FN firmware. The EKLZ codes (A1h–B2h) belong to pre-FN machines and are left out:
//! they arrive as `Unknown` with their number.

macro_rules! error_codes {
    ($( $code:literal => $name:ident, $text:literal; )*) => {
        /// An error code from a KKT reply (the byte after the command echo).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $name, )*
            /// A code not in the protocol document this driver was written from.
            Unknown(u8),
        }

        impl ErrorCode {
            /// The code for a reply byte; 00h (no error) is `None`.
            pub fn from_byte(b: u8) -> Option<ErrorCode> {
                match b {
                    0 => None,
                    $( $code => Some(ErrorCode::$name), )*
                    other => Some(ErrorCode::Unknown(other)),
                }
            }

            /// The byte on the wire.
            pub fn byte(self) -> u8 {
                match self {
                    $( ErrorCode::$name => $code, )*
                    ErrorCode::Unknown(b) => b,
                }
            }

            /// The text for the service screen.
            pub fn text_ru(self) -> &'static str {
                match self {
                    $( ErrorCode::$name => $text, )*
                    ErrorCode::Unknown(_) => "Неизвестная ошибка ККТ (см. код)",
                }
            }

            /// Every code the table knows (for tests and the service screen's help).
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$name, )* ];
        }
    };
}

error_codes! {
    0x01 => FnUnknownCommand, "ФН: неизвестная команда, неверный формат посылки или неизвестные параметры";
    0x02 => FnWrongState, "ФН: неверное состояние ФН";
    0x03 => FnFailure, "ФН: отказ ФН";
    0x04 => FnCryptoFailure, "ФН: отказ криптографического сопроцессора";
    0x05 => FnLifetimeOver, "ФН: закончен срок эксплуатации ФН";
    0x06 => FnArchiveFull, "ФН: архив ФН переполнен";
    0x07 => FnBadDateTime, "ФН: неверные дата и/или время";
    0x08 => FnNoData, "ФН: нет запрошенных данных";
    0x09 => FnBadParameter, "ФН: некорректное значение параметров команды";
    0x0A => FnBadCommand, "ФН: некорректная команда";
    0x0B => FnForbiddenTags, "ФН: неразрешённые реквизиты";
    0x0C => FnDuplicateData, "ФН: дублирование данных";
    0x0D => FnMissingData, "ФН: отсутствуют данные, необходимые для корректного учёта в ФН";
    0x0E => FnTooManyItems, "ФН: количество позиций в документе превысило допустимый предел";
    0x10 => FnTlvTooLarge, "ФН: превышение размеров TLV-данных";
    0x11 => FnNoTransport, "ФН: нет транспортного соединения";
    0x12 => FnCryptoExhausted, "ФН: исчерпан ресурс криптографического сопроцессора";
    0x14 => FnStorageExhausted, "ФН: исчерпан ресурс хранения документов для ОФД";
    0x15 => FnOfdWaitExhausted, "ФН: превышено время ожидания передачи сообщения в ОФД (30 дней)";
    0x16 => FnShiftOver24h, "ФН: продолжительность смены более 24 часов";
    0x17 => FnBadTimeDifference, "ФН: неверная разница во времени между двумя операциями";
    0x20 => FnOfdMessageRejected, "ФН: сообщение от ОФД не может быть принято";
    0x26 => PaidBelowTotal, "Вносимая клиентом сумма меньше суммы чека";
    0x2B => CannotUndoPrevious, "Невозможно отменить предыдущую команду";
    0x2C => AlreadyCleared, "Обнулённая касса (повторное гашение невозможно)";
    0x2D => DepartmentBelowStorno, "Сумма чека по секции меньше суммы сторно";
    0x2E => NoCashForPayout, "В ККТ нет денег для выплаты";
    0x2F => FnTimeout, "Таймаут обмена с ФН";
    0x30 => FnNoAnswer, "ФН не отвечает";
    0x32 => FullClearingRequired, "Требуется выполнение общего гашения";
    0x33 => BadParameters, "Некорректные параметры в команде";
    0x34 => NoData, "Нет данных";
    0x35 => BadParameterForSettings, "Некорректный параметр при данных настройках";
    0x36 => BadParametersForModel, "Некорректные параметры в команде для данной реализации ККТ";
    0x37 => UnsupportedCommand, "Команда не поддерживается в данной реализации ККТ";
    0x38 => RomError, "Ошибка в ПЗУ";
    0x39 => FirmwareError, "Внутренняя ошибка ПО ККТ";
    0x3A => ChargeOverflowInShift, "Переполнение накопления по надбавкам в смене";
    0x3B => ShiftAccumulationOverflow, "Переполнение накопления в смене";
    0x3C => ShiftOpenOperationImpossible, "Смена открыта – операция невозможна";
    0x3D => ShiftClosedOperationImpossible, "Смена не открыта – операция невозможна";
    0x3E => DepartmentOverflow, "Переполнение накопления по секциям в смене";
    0x3F => DiscountOverflowInShift, "Переполнение накопления по скидкам в смене";
    0x40 => DiscountRange, "Переполнение диапазона скидок";
    0x41 => CashPaymentRange, "Переполнение диапазона оплаты наличными";
    0x42 => Payment2Range, "Переполнение диапазона оплаты типом 2";
    0x43 => Payment3Range, "Переполнение диапазона оплаты типом 3";
    0x44 => Payment4Range, "Переполнение диапазона оплаты типом 4";
    0x45 => PaymentsBelowTotal, "Сумма всех типов оплаты меньше итога чека";
    0x46 => NotEnoughCash, "Не хватает наличности в кассе";
    0x47 => TaxOverflowInShift, "Переполнение накопления по налогам в смене";
    0x48 => ReceiptTotalOverflow, "Переполнение итога чека";
    0x49 => NotInThisReceiptType, "Операция невозможна в открытом чеке данного типа";
    0x4A => ReceiptOpen, "Открыт чек – операция невозможна";
    0x4B => ReceiptBufferFull, "Буфер чека переполнен";
    0x4C => TaxTurnoverOverflow, "Переполнение накопления по обороту налогов в смене";
    0x4D => CashlessAboveTotal, "Вносимая безналичной оплатой сумма больше суммы чека";
    0x4E => ShiftOver24h, "Смена превысила 24 часа";
    0x4F => WrongPassword, "Неверный пароль";
    0x50 => PrintingPrevious, "Идёт печать предыдущей команды";
    0x51 => CashOverflowInShift, "Переполнение накоплений наличными в смене";
    0x52 => Payment2OverflowInShift, "Переполнение накоплений по типу оплаты 2 в смене";
    0x53 => Payment3OverflowInShift, "Переполнение накоплений по типу оплаты 3 в смене";
    0x54 => Payment4OverflowInShift, "Переполнение накоплений по типу оплаты 4 в смене";
    0x55 => ReceiptClosedOperationImpossible, "Чек закрыт – операция невозможна";
    0x56 => NoDocumentToRepeat, "Нет документа для повтора";
    0x58 => WaitingContinuePrint, "Ожидание команды продолжения печати";
    0x59 => DocumentOpenedByOther, "Документ открыт другим оператором";
    0x5A => DiscountAboveReceipt, "Скидка превышает накопления в чеке";
    0x5B => ChargeRange, "Переполнение диапазона надбавок";
    0x5C => Low24V, "Понижено напряжение 24 В";
    0x5D => TableUndefined, "Таблица не определена";
    0x5E => WrongOperation, "Некорректная операция";
    0x5F => NegativeReceiptTotal, "Отрицательный итог чека";
    0x60 => MultiplyOverflow, "Переполнение при умножении";
    0x61 => PriceRange, "Переполнение диапазона цены";
    0x62 => QuantityRange, "Переполнение диапазона количества";
    0x63 => DepartmentRange, "Переполнение диапазона отдела";
    0x65 => NotEnoughInDepartment, "Не хватает денег в секции";
    0x66 => DepartmentMoneyOverflow, "Переполнение денег в секции";
    0x68 => NotEnoughTaxTurnover, "Не хватает денег по обороту налогов";
    0x69 => TaxTurnoverMoneyOverflow, "Переполнение денег по обороту налогов";
    0x6A => I2cPowerFailure, "Ошибка питания в момент ответа по I2C";
    0x6B => NoReceiptPaper, "Нет чековой ленты";
    0x6C => NoJournalPaper, "Нет контрольной ленты";
    0x6D => NotEnoughTax, "Не хватает денег по налогу";
    0x6E => TaxMoneyOverflow, "Переполнение денег по налогу";
    0x6F => PayoutOverflowInShift, "Переполнение по выплате в смене";
    0x71 => CutterFailure, "Ошибка отрезчика";
    0x72 => NotInThisSubmode, "Команда не поддерживается в данном подрежиме";
    0x73 => NotInThisMode, "Команда не поддерживается в данном режиме";
    0x74 => RamError, "Ошибка ОЗУ";
    0x75 => PowerFailure, "Ошибка питания";
    0x76 => PrinterNoTachoPulses, "Ошибка принтера: нет импульсов с тахогенератора";
    0x77 => PrinterNoSensorSignal, "Ошибка принтера: нет сигнала с датчиков";
    0x78 => FirmwareReplaced, "Замена ПО";
    0x7A => FieldNotEditable, "Поле не редактируется";
    0x7B => HardwareError, "Ошибка оборудования";
    0x7C => DateMismatch, "Не совпадает дата";
    0x7D => BadDateFormat, "Неверный формат даты";
    0x7E => BadLengthField, "Неверное значение в поле длины";
    0x7F => ReceiptTotalRange, "Переполнение диапазона итога чека";
    0x84 => CashOverflow, "Переполнение наличности";
    0x85 => SalesOverflowInShift, "Переполнение по продажам в смене";
    0x86 => PurchasesOverflowInShift, "Переполнение по покупкам в смене";
    0x87 => SaleReturnsOverflowInShift, "Переполнение по возвратам продаж в смене";
    0x88 => PurchaseReturnsOverflowInShift, "Переполнение по возвратам покупок в смене";
    0x89 => CashInOverflowInShift, "Переполнение по внесению в смене";
    0x8A => ChargesOverflowInReceipt, "Переполнение по надбавкам в чеке";
    0x8B => DiscountsOverflowInReceipt, "Переполнение по скидкам в чеке";
    0x8C => NegativeChargeTotal, "Отрицательный итог надбавки в чеке";
    0x8D => NegativeDiscountTotal, "Отрицательный итог скидки в чеке";
    0x8E => ZeroReceiptTotal, "Нулевой итог чека";
    0x8F => NotFiscalised, "Касса не фискализирована";
    0x90 => FieldTooLong, "Поле превышает размер, установленный в настройках";
    0x91 => OutsidePrintField, "Выход за границу поля печати при данных настройках шрифта";
    0x92 => FieldsOverlap, "Наложение полей";
    0x93 => RamRestored, "Восстановление ОЗУ прошло успешно";
    0x94 => ReceiptOperationLimit, "Исчерпан лимит операций в чеке";
    0xA0 => OfdExchangeError, "Ошибка связи с ОФД";
    0xC0 => ConfirmDateTime, "Контроль даты и времени (подтвердите дату и время)";
    0xC2 => Overvoltage, "Превышение напряжения в блоке питания";
    0xC4 => ShiftNumberMismatch, "Несовпадение номеров смен";
    0xC6 => NoSlipDocument, "Подкладной документ отсутствует";
    0xC7 => FieldNotEditableInMode, "Поле не редактируется в данном режиме";
    0xC8 => PrinterLinkLost, "Нет связи с принтером или отсутствуют импульсы от таходатчика";
    0xC9 => PrintHeadOverheated, "Перегрев печатающей головки";
    0xCA => TemperatureOutOfRange, "Температура вне условий эксплуатации";
    0xCF => BadDateEntered, "Неверная дата (часы сброшены, установите дату)";
}

impl ErrorCode {
    /// True for the fiscal storage's own codes (the FN must be looked at, not the KKT).
    pub fn is_fn(self) -> bool {
        matches!(self.byte(), 0x01..=0x20 | 0x2F | 0x30)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02X}h {}", self.byte(), self.text_ru())
    }
}

/// Why an exchange with the KKT failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShtrihError {
    /// The KKT answered the command with an error: the command was not executed.
    #[error("KKT refused {command}: {code}")]
    Refused {
        command: crate::shtrih::frame::Command,
        code: ErrorCode,
    },
    /// No byte came back to ENQ: cable, power or port.
    #[error("no link to the KKT: no answer to ENQ")]
    NoLink,
    /// The command surely did not reach the KKT (it kept answering NAK, or the link was idle
    /// before anything was accepted): safe to send again.
    #[error("{command} was not delivered to the KKT")]
    NotDelivered {
        command: crate::shtrih::frame::Command,
    },
    /// The KKT took the command but its answer never came: it may or may not have been
    /// executed. The caller must ask the FN what happened before doing anything else.
    #[error("{command} was accepted by the KKT but its answer was lost; outcome unknown")]
    OutcomeUnknown {
        command: crate::shtrih::frame::Command,
    },
    /// The answer does not fit the command.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The driver task is gone.
    #[error("the KKT driver has stopped")]
    DriverStopped,
    #[error("KKT port: {0}")]
    Port(String),
}

impl ShtrihError {
    /// The text for the service screen.
    pub fn text_ru(&self) -> String {
        match self {
            ShtrihError::Refused { code, .. } => code.text_ru().to_string(),
            ShtrihError::NoLink => "Нет связи с ККТ".into(),
            ShtrihError::NotDelivered { .. } => "Команда не принята ККТ".into(),
            ShtrihError::OutcomeUnknown { .. } => {
                "Ответ ККТ потерян; выполняется проверка документа в ФН".into()
            }
            ShtrihError::Malformed(_) => "Неверный ответ ККТ".into(),
            ShtrihError::DriverStopped => "Драйвер ККТ остановлен".into(),
            ShtrihError::Port(_) => "Порт ККТ недоступен".into(),
        }
    }

    /// True when the command may have been executed although no answer says so.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, ShtrihError::OutcomeUnknown { .. })
    }
}

impl From<crate::shtrih::frame::ShortReply> for ShtrihError {
    fn from(e: crate::shtrih::frame::ShortReply) -> Self {
        ShtrihError::Malformed(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_russian_text() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_byte(code.byte()), Some(*code));
            assert!(code.text_ru().chars().any(|c| ('а'..='я').contains(&c)));
        }
        assert_eq!(ErrorCode::from_byte(0), None);
        assert_eq!(ErrorCode::from_byte(0xEE), Some(ErrorCode::Unknown(0xEE)));
        assert!(ErrorCode::FnShiftOver24h.is_fn());
        assert!(!ErrorCode::NoReceiptPaper.is_fn());
    }
}
