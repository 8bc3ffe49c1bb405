use super::*;
use backend_sync::event::{CardApproval, FiscalAttributes};
use backend_sync::sbp::SbpState;
use proptest::prelude::*;

pub(super) fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) struct AnyReading;
impl ReadingRules for AnyReading {
    fn check_meter(
        &self,
        _account: &CustomerAccount,
        meter: &MeterInfo,
        inputs: &[ReadingInput],
        _now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, Refused<ReadingProblem>> {
        inputs
            .iter()
            .map(|input| {
                let value: u64 = input.text.trim().parse().map_err(|_| {
                    Refused::new(
                        ReadingProblem::Malformed,
                        format!("«{}» — не число", input.text),
                    )
                })?;
                let previous = meter.zones[0].previous;
                if value < previous {
                    return Err(Refused::new(
                        ReadingProblem::BelowPrevious { previous },
                        format!("Показание {value} меньше предыдущего {previous}"),
                    ));
                }
                Ok((input.zone.clone(), value))
            })
            .collect()
    }
}

pub(super) fn account(debt_rubles: i64) -> CustomerAccount {
    CustomerAccount {
        number: "1000000001".into(),
        verified: true,
        holder_masked: "Ив***в И. И.".into(),
        address_masked: "ул. Ленина, д. 1, кв. **".into(),
        services: vec![
            crate::money::ServiceDue {
                service_id: "el".into(),
                name: "Электроэнергия".into(),
                debt: Money::from_rubles(debt_rubles),
            },
            crate::money::ServiceDue {
                service_id: "fee".into(),
                name: "Обслуживание".into(),
                debt: Money::ZERO,
            },
        ],
        meters: vec![MeterInfo {
            id: "m1".into(),
            name: "Счётчик 1".into(),
            zones: vec![ZoneInfo {
                code: "T1".into(),
                name: "день".into(),
                previous: 1000,
            }],
            meter: None,
        }],
        paid_today: Money::ZERO,
    }
}

pub(super) fn session() -> Session {
    let limits = Limits {
        per_payment: Money::from_rubles(15_000),
        per_day: Money::from_rubles(60_000),
    };
    Session::new(SessionConfig::new("K01", limits), Box::new(AnyReading))
}

fn approval(amount: Money) -> CardApproval {
    CardApproval {
        amount_kopecks: amount.kopecks(),
        receipt_no: 7,
        trace_no: 8,
        masked_pan: "4111********1111".into(),
        auth_code: "A1B2C3".into(),
        card_terminal_id: "52500001".into(),
        rrn: None,
    }
}

pub(super) fn fiscal() -> FiscalAttributes {
    FiscalAttributes {
        fn_number: "9282000100072197".into(),
        fd_number: 1,
        fiscal_sign: "2918241905".into(),
        shift_number: 1,
        time: "2026-11-20T12:00".into(),
        qr: "t=20261120T1200&s=1500.00&fn=9282000100072197&i=1&fp=2918241905&n=1".into(),
    }
}

pub(super) fn drain(s: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).collect()
}

pub(super) fn ui(s: &mut Session, intent: Intent) -> Vec<Output> {
    s.handle(Input::Ui(intent), t0());
    drain(s)
}

pub(super) fn dev(s: &mut Session, input: DeviceInput) -> Vec<Output> {
    s.handle(Input::Device(input), t0());
    drain(s)
}

pub(super) fn journaled(outputs: &[Output]) -> Vec<&JournalEvent> {
    outputs
        .iter()
        .filter_map(|o| {
            if let Output::Journal(e) = o {
                Some(e)
            } else {
                None
            }
        })
        .collect()
}

pub(super) fn to_summary(s: &mut Session, debt: i64) {
    ui(s, Intent::Start(Purpose::Pay));
    let out = ui(s, Intent::SubmitAccount("10000 00001".into()));
    assert_eq!(
        out,
        vec![Output::LookupAccount {
            number: "1000000001".into()
        }]
    );
    dev(s, DeviceInput::AccountFound(account(debt)));
}

#[test]
fn a_refused_scan_opens_the_keypad_with_its_words_and_a_scan_mid_payment_is_ignored() {
    let mut s = session();
    let words = "Это квитанция другой организации: здесь её оплатить нельзя.";
    let out = ui(
        &mut s,
        Intent::ScanRefused {
            message: words.into(),
        },
    );
    assert!(out
        .iter()
        .all(|o| !matches!(o, Output::LookupAccount { .. })));
    match &s.view().screen {
        Screen::AccountEntry {
            purpose: Purpose::Pay,
            error: Some(e),
        } => {
            assert_eq!(e.kind, AccountProblem::UnknownCode);
            assert_eq!(e.message, words);
        }
        other => panic!("{other:?}"),
    }
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    let before = s.view().screen;
    for intent in [
        Intent::ScanRefused {
            message: words.into(),
        },
        Intent::SubmitScannedBill {
            account: "1000000028".into(),
            sum: None,
        },
    ] {
        let out = ui(&mut s, intent);
        assert!(out
            .iter()
            .all(|o| !matches!(o, Output::LookupAccount { .. })));
        assert_eq!(s.view().screen, before, "the cash screen stays");
    }
}

#[test]
fn cash_payment_of_1500_with_two_bills() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    let out = ui(&mut s, Intent::PayCash);
    assert!(matches!(
        out[0],
        Output::Journal(JournalEvent::PaymentStarted {
            method: PaymentMethod::Cash,
            requested_kopecks: 150_000,
            ..
        })
    ));
    assert_eq!(
        out[1],
        Output::Bill(BillCommand::Enable {
            max_bill: Money::from_rubles(15_000)
        })
    );

    // Write-ahead: the intent is journaled before STACK goes out.
    let out = dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(1_000)));
    assert!(matches!(
        out[0],
        Output::Journal(JournalEvent::BillStackRequested {
            denomination_kopecks: 100_000,
            ..
        })
    ));
    assert_eq!(out[1], Output::Bill(BillCommand::Stack));
    // Escrow is not money: nothing credited yet.
    assert!(matches!(
        s.view().screen,
        Screen::Cash {
            inserted: Money::ZERO,
            busy: true,
            ..
        }
    ));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(1_000)));
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(500)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(500)));
    assert!(
        matches!(s.view().screen, Screen::Cash { inserted, .. } if inserted == Money::from_rubles(1_500))
    );

    let out = ui(&mut s, Intent::FinishCash);
    assert_eq!(out[0], Output::Bill(BillCommand::Disable));
    assert!(matches!(
        &out[1],
        Output::Journal(JournalEvent::PaymentCompleted {
            total_kopecks: 150_000,
            ..
        })
    ));
    let out = ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::Paper));
    // Write-ahead: the journal holds the request before the register is asked.
    assert!(matches!(
        &out[0],
        Output::Journal(JournalEvent::ReceiptRequested {
            total_kopecks: 150_000,
            last_fd: None,
            ..
        })
    ));
    let Output::Fiscalise(req) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(req.cash, Money::from_rubles(1_500));
    assert_eq!(req.resume, None, "a first try looks nothing up");
    let receipt_id = req.receipt_id.clone();
    let out = dev(
        &mut s,
        DeviceInput::Fiscalised {
            receipt_id: receipt_id.clone(),
            fiscal: fiscal(),
            printed_by_register: false,
        },
    );
    assert_eq!(
        out.last(),
        Some(&Output::PrintReceipt {
            receipt_id: receipt_id.clone()
        })
    );
    dev(&mut s, DeviceInput::Printed { receipt_id });
    assert!(matches!(
        s.view().screen,
        Screen::Done {
            printed: true,
            certificate_available: true,
            ..
        }
    ));
    s.handle_timeout(t0() + Duration::seconds(21));
    assert!(s.is_idle());
}

#[test]
fn cash_above_the_debt_is_an_advance_and_an_e_receipt_names_the_masked_contact() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(2_000)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(2_000)));
    ui(&mut s, Intent::FinishCash);
    let contact = ReceiptContact::Sms("+79123456789".into());
    let out = ui(
        &mut s,
        Intent::ChooseReceipt(ReceiptChoice::Electronic(contact)),
    );
    let Output::Fiscalise(req) = &out[1] else {
        panic!("{out:?}")
    };
    dev(
        &mut s,
        DeviceInput::Fiscalised {
            receipt_id: req.receipt_id.clone(),
            fiscal: fiscal(),
            printed_by_register: false,
        },
    );
    let Screen::Done {
        total,
        advance,
        delivery,
        printed: false,
        ..
    } = s.view().screen
    else {
        panic!("{:?}", s.view().screen)
    };
    assert_eq!(
        (total, advance),
        (Money::from_rubles(2_000), Money::from_rubles(500))
    );
    assert_eq!(
        delivery,
        ReceiptDelivery::Sent {
            to: "+7 *** ***-67-89".into()
        }
    );
}

#[test]
fn a_bill_above_the_limit_is_returned_with_the_numbers() {
    let mut s = session();
    to_summary(&mut s, 100);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(5_000)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(5_000)));
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(5_000)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(5_000)));
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(2_000)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(2_000)));
    let out = dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(5_000)));
    assert_eq!(out, vec![Output::Bill(BillCommand::Return)]);
    let Screen::Cash {
        notice: Some(notice),
        ..
    } = s.view().screen
    else {
        panic!()
    };
    assert_eq!(notice.kind, CashProblem::OverLimit);
    assert_eq!(
        notice.message,
        "Купюра 5 000,00 ₽ не принята: можно внести ещё не больше 3 000,00 ₽. Возьмите купюру."
    );
}

#[test]
fn the_cash_screen_lists_the_validator_s_bills_up_to_what_is_left() {
    let mut s = session();
    let table = [50, 100, 500, 1_000, 5_000, 10, 200, 2_000];
    dev(
        &mut s,
        DeviceInput::BillTable(table.iter().map(|r| Money::from_rubles(*r)).collect()),
    );
    to_summary(&mut s, 100);
    ui(&mut s, Intent::PayCash);
    let rubles = |bills: &[Money]| bills.iter().map(|b| b.kopecks() / 100).collect::<Vec<_>>();
    let Screen::Cash {
        accepted,
        limit,
        max_left,
        ..
    } = s.view().screen
    else {
        panic!()
    };
    assert_eq!(
        rubles(&accepted),
        [10, 50, 100, 200, 500, 1_000, 2_000, 5_000]
    );
    assert_eq!((limit, max_left), (Money::from_rubles(15_000), limit));
    for _ in 0..2 {
        dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(5_000)));
        dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(5_000)));
    }
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(2_000)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(2_000)));
    let Screen::Cash {
        accepted, max_left, ..
    } = s.view().screen
    else {
        panic!()
    };
    assert_eq!(max_left, Money::from_rubles(3_000));
    assert_eq!(rubles(&accepted), [10, 50, 100, 200, 500, 1_000, 2_000]);
}

#[test]
fn the_summary_names_the_limit_the_total_runs_into() {
    let mut s = session();
    to_summary(&mut s, 20_000);
    let Screen::Summary { notice, .. } = s.view().screen else {
        panic!()
    };
    assert_eq!(
        notice,
        Some(Refused::new(
            SummaryProblem::PerPaymentLimit {
                limit: Money::from_rubles(15_000)
            },
            "Сумма одного платежа в терминале — не больше 15 000,00 ₽"
        ))
    );
    ui(
        &mut s,
        Intent::SetServiceAmount {
            index: 0,
            text: "10000".into(),
        },
    );
    assert!(matches!(
        s.view().screen,
        Screen::Summary { notice: None, .. }
    ));
    // What was paid today leaves less of the day's limit than one payment may be.
    let mut s = session();
    ui(&mut s, Intent::Start(Purpose::Pay));
    ui(&mut s, Intent::SubmitAccount("1000000001".into()));
    let mut paid = account(10_000);
    paid.paid_today = Money::from_rubles(55_000);
    dev(&mut s, DeviceInput::AccountFound(paid));
    let Screen::Summary {
        notice: Some(notice),
        ..
    } = s.view().screen
    else {
        panic!()
    };
    assert_eq!(
        notice.kind,
        SummaryProblem::DayLimit {
            left: Money::from_rubles(5_000)
        }
    );
    assert_eq!(
        notice.message,
        "Сегодня через терминал можно внести ещё не больше 5 000,00 ₽"
    );
}

#[test]
fn a_card_decline_comes_back_to_the_summary_with_the_reader_s_text() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    dev(
        &mut s,
        DeviceInput::CardDeclined {
            reason: "Отказ банка: недостаточно средств".into(),
        },
    );
    let Screen::Summary {
        notice: Some(notice),
        ..
    } = s.view().screen
    else {
        panic!()
    };
    assert_eq!(notice.kind, SummaryProblem::CardDeclined);
    assert_eq!(
        notice.message,
        "Оплата не прошла: Отказ банка: недостаточно средств"
    );
}

#[test]
fn account_refusals_are_typed_with_the_exact_words() {
    let mut s = session();
    ui(&mut s, Intent::Start(Purpose::Pay));
    ui(&mut s, Intent::SubmitAccount(" ".into()));
    assert!(matches!(
        s.view().screen,
        Screen::AccountEntry {
            error: Some(Refused {
                kind: AccountProblem::Empty,
                ..
            }),
            ..
        }
    ));
    ui(&mut s, Intent::SubmitAccount("1000000009".into()));
    dev(
        &mut s,
        DeviceInput::AccountNotFound {
            number: "1000000009".into(),
        },
    );
    let Screen::AccountEntry {
        error: Some(error), ..
    } = s.view().screen
    else {
        panic!()
    };
    assert_eq!(error.kind, AccountProblem::NotFound);
    assert_eq!(
        error.message,
        "Лицевой счёт 1000000009 не найден. Проверьте номер по квитанции."
    );
}

#[test]
fn the_countdown_starts_the_warning_before_the_idle_timeout_and_not_on_final_screens() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    let view = s.view();
    let deadline = view.idle_deadline.unwrap();
    assert_eq!(deadline, t0() + Duration::seconds(60));
    assert_eq!(view.countdown_from, Some(deadline - Duration::seconds(20)));
    s.handle_timeout(deadline);
    let view = s.view();
    assert_eq!(view.screen, Screen::Welcome);
    assert_eq!(view.countdown_from, None);
}

#[test]
fn cancel_while_a_bill_is_stacking_waits_then_credits_it() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(1_000)));
    let out = ui(&mut s, Intent::Cancel);
    assert_eq!(out, vec![Output::Bill(BillCommand::Disable)]);
    let out = dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(1_000)));
    assert!(journaled(&out).iter().any(|e| matches!(
        e,
        JournalEvent::PaymentCompleted {
            total_kopecks: 100_000,
            ..
        }
    )));
    assert!(matches!(s.view().screen, Screen::ReceiptChoice { .. }));
}

#[test]
fn idle_timeout_with_cash_inserted_credits_and_receipts_it() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCash);
    dev(&mut s, DeviceInput::BillEscrow(Money::from_rubles(100)));
    dev(&mut s, DeviceInput::BillStacked(Money::from_rubles(100)));
    let deadline = s.poll_timeout().unwrap();
    s.handle_timeout(deadline);
    let out = drain(&mut s);
    assert!(journaled(&out).iter().any(|e| matches!(
        e,
        JournalEvent::PaymentCompleted {
            total_kopecks: 10_000,
            ..
        }
    )));
    assert!(
        out.iter().any(|o| matches!(o, Output::Fiscalise(_))),
        "a receipt is still made: {out:?}"
    );
}

#[test]
fn card_approval_is_journaled_before_goods_issued_and_credited_on_completion() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    let out = ui(&mut s, Intent::PayCard);
    assert!(matches!(
        out[1],
        Output::Journal(JournalEvent::CardAuthorisationRequested {
            amount_kopecks: 150_000,
            ..
        })
    ));
    assert!(matches!(
        out[2],
        Output::Card(CardCommand::Authorise { .. })
    ));
    let out = dev(
        &mut s,
        DeviceInput::CardApproved(approval(Money::from_rubles(1_500))),
    );
    assert!(matches!(
        out[0],
        Output::Journal(JournalEvent::CardApproved { .. })
    ));
    assert!(matches!(
        out[1],
        Output::Card(CardCommand::GoodsIssued { issued: true, .. })
    ));
    let out = dev(&mut s, DeviceInput::CardCompleted);
    let events = journaled(&out);
    assert!(matches!(
        events[0],
        JournalEvent::CardCompleted {
            amount_kopecks: 150_000,
            ..
        }
    ));
    assert!(matches!(
        events[1],
        JournalEvent::PaymentCompleted {
            method: PaymentMethod::Card,
            total_kopecks: 150_000,
            ..
        }
    ));
}

#[test]
fn an_approval_after_cancel_is_answered_not_issued() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    assert_eq!(
        ui(&mut s, Intent::Cancel),
        vec![Output::Card(CardCommand::Abort)]
    );
    let out = dev(
        &mut s,
        DeviceInput::CardApproved(approval(Money::from_rubles(1_500))),
    );
    assert!(matches!(
        out[1],
        Output::Card(CardCommand::GoodsIssued { issued: false, .. })
    ));
    let out = dev(&mut s, DeviceInput::CardReversed);
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::CardReversed { .. }
    ));
    assert!(!journaled(&out)
        .iter()
        .any(|e| matches!(e, JournalEvent::PaymentCompleted { .. })));
}

/// An unknown outcome in the running process: each step the card glue learns is journaled, the
/// reversal's intent before the reversal command.
#[test]
fn unknown_outcome_steps_are_journaled_reversal_intent_first() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    dev(
        &mut s,
        DeviceInput::CardApproved(approval(Money::from_rubles(1_500))),
    );
    let out = dev(
        &mut s,
        DeviceInput::CardOutcomeUnknown {
            detail: "link down".into(),
        },
    );
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::CardOutcomeUnknown { .. }
    ));
    let pid = match &out[0] {
        Output::Journal(JournalEvent::CardOutcomeUnknown { payment_id, .. }) => payment_id.clone(),
        other => panic!("{other:?}"),
    };
    assert!(out.contains(&Output::Card(CardCommand::Recover {
        payment_id: pid.clone()
    })));
    // The terminal's last transaction is another one: ours cannot be confirmed, so it is reversed.
    let out = dev(
        &mut s,
        DeviceInput::CardRecovery {
            payment_id: pid.clone(),
            step: CardRecoveryStep::LastResult(CardLastResult {
                result_code: Some(0),
                receipt_no: Some(9),
                amount_kopecks: Some(150_000),
                approval: None,
            }),
        },
    );
    assert!(matches!(
        out[0],
        Output::Journal(JournalEvent::CardReversalRequested { receipt_no: 7, .. })
    ));
    assert!(matches!(
        out[1],
        Output::Card(CardCommand::Reverse { receipt_no: 7, .. })
    ));
    let out = dev(
        &mut s,
        DeviceInput::CardRecovery {
            payment_id: pid.clone(),
            step: CardRecoveryStep::Reversed { receipt_no: 7 },
        },
    );
    let events = journaled(&out);
    assert!(matches!(
        events[0],
        JournalEvent::CardReversed {
            receipt_no: 7,
            amount_kopecks: 150_000,
            ..
        }
    ));
    assert!(matches!(events[1], JournalEvent::PaymentCancelled { .. }));
    assert!(!events
        .iter()
        .any(|e| matches!(e, JournalEvent::PaymentCompleted { .. })));
    assert!(out.contains(&Output::Card(CardCommand::Resolved { payment_id: pid })));
}

#[test]
fn unknown_outcome_the_terminal_kept_is_credited() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    // Approved and answered "issued"; the link goes before the terminal confirms.
    dev(
        &mut s,
        DeviceInput::CardApproved(approval(Money::from_rubles(1_500))),
    );
    let out = dev(
        &mut s,
        DeviceInput::CardOutcomeUnknown {
            detail: "timeout".into(),
        },
    );
    let pid = match &out[0] {
        Output::Journal(JournalEvent::CardOutcomeUnknown { payment_id, .. }) => payment_id.clone(),
        other => panic!("{other:?}"),
    };
    let out = dev(
        &mut s,
        DeviceInput::CardRecovery {
            payment_id: pid,
            step: CardRecoveryStep::LastResult(CardLastResult {
                result_code: Some(0),
                receipt_no: Some(7),
                amount_kopecks: None,
                approval: None,
            }),
        },
    );
    let events = journaled(&out);
    assert!(matches!(
        events[0],
        JournalEvent::CardCompleted {
            amount_kopecks: 150_000,
            ..
        }
    ));
    assert!(matches!(
        events[1],
        JournalEvent::PaymentCompleted {
            method: PaymentMethod::Card,
            total_kopecks: 150_000,
            ..
        }
    ));
}

#[test]
fn paper_out_keeps_the_payment_and_offers_the_qr_and_an_e_receipt() {
    let mut s = session();
    to_summary(&mut s, 1_500);
    ui(&mut s, Intent::PayCard);
    dev(
        &mut s,
        DeviceInput::CardApproved(approval(Money::from_rubles(1_500))),
    );
    dev(&mut s, DeviceInput::CardCompleted);
    let out = ui(&mut s, Intent::ChooseReceipt(ReceiptChoice::Paper));
    let Output::Fiscalise(req) = &out[1] else {
        panic!()
    };
    let id = req.receipt_id.clone();
    dev(
        &mut s,
        DeviceInput::Fiscalised {
            receipt_id: id.clone(),
            fiscal: fiscal(),
            printed_by_register: false,
        },
    );
    let out = dev(
        &mut s,
        DeviceInput::PrintFailed {
            receipt_id: id.clone(),
            reason: "paper out".into(),
        },
    );
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::ReceiptUnprinted { .. }
    ));
    assert!(matches!(
        s.view().screen,
        Screen::Done {
            printed: false,
            qr: Some(_),
            ..
        }
    ));
    let out = ui(
        &mut s,
        Intent::ChooseReceipt(ReceiptChoice::Electronic(ReceiptContact::Sms(
            "+79990001122".into(),
        ))),
    );
    assert!(
        matches!(journaled(&out)[0], JournalEvent::EReceiptRequested { receipt_id, .. } if *receipt_id == id)
    );
}

#[test]
fn readings_refusal_then_success() {
    let mut s = session();
    ui(&mut s, Intent::Start(Purpose::Readings));
    ui(&mut s, Intent::SubmitAccount("1000000001".into()));
    dev(&mut s, DeviceInput::AccountFound(account(0)));
    let input = |t: &str| {
        Intent::SubmitReadings(vec![ReadingInput {
            meter_id: "m1".into(),
            zone: "T1".into(),
            text: t.into(),
        }])
    };
    let out = ui(&mut s, input("900"));
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::MeterReadingRefused { .. }
    ));
    let Screen::Readings { refusals, .. } = s.view().screen else {
        panic!()
    };
    assert_eq!(refusals[0].message, "Показание 900 меньше предыдущего 1000");
    assert_eq!(
        refusals[0].kind,
        ReadingProblem::BelowPrevious { previous: 1000 }
    );
    let out = ui(&mut s, input("1100"));
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::MeterReadingAccepted {
            value: 1100,
            previous: 1000,
            ..
        }
    ));
    assert!(matches!(s.view().screen, Screen::ReadingsDone { .. }));
    let out = ui(&mut s, Intent::PrintReadingSlip);
    assert!(matches!(
        out[0],
        Output::PrintSlip(SlipRequest::Readings { .. })
    ));
}

#[test]
fn certificate_needs_zero_debt() {
    let mut s = session();
    ui(&mut s, Intent::Start(Purpose::Certificate));
    ui(&mut s, Intent::SubmitAccount("1000000001".into()));
    dev(&mut s, DeviceInput::AccountFound(account(1_500)));
    assert!(matches!(
        s.view().screen,
        Screen::Summary {
            notice: Some(Refused {
                kind: SummaryProblem::HasDebt { .. },
                ..
            }),
            ..
        }
    ));
    let mut s = session();
    ui(&mut s, Intent::Start(Purpose::Certificate));
    ui(&mut s, Intent::SubmitAccount("1000000001".into()));
    let out = dev(&mut s, DeviceInput::AccountFound(account(0)));
    assert!(matches!(
        journaled(&out)[0],
        JournalEvent::NoDebtCertificateIssued { .. }
    ));
    let Screen::CertificateDone {
        printed: true,
        account,
        holder_masked,
        time,
        ..
    } = s.view().screen
    else {
        panic!("{:?}", s.view().screen)
    };
    // The screen names whose certificate it is and as of when (masked, as on the summary).
    assert_eq!(
        (account.as_str(), holder_masked.as_str(), time),
        ("1000000001", "Ив***в И. И.", t0())
    );
}

// ---------- property test: arbitrary interleavings ----------

#[derive(Debug, Clone)]
enum Op {
    Ui(u8),
    Escrow(u8),
    Device(u8),
    Timeout,
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Ui),
        2 => any::<u8>().prop_map(Op::Escrow),
        4 => any::<u8>().prop_map(Op::Device),
        1 => Just(Op::Timeout),
        1 => any::<u16>().prop_map(Op::Wait),
    ]
}

const BILLS: [i64; 8] = [10, 50, 100, 200, 500, 1000, 2000, 5000];

/// A world around the core: devices answer what they were asked, in random ways.
#[derive(Default)]
struct World {
    lookup: Option<String>,
    stack: bool,
    escrow: Option<Money>,
    authorise: Option<Money>,
    goods: Option<bool>,
    /// The receipt task takes requests in order, like the real one.
    fiscalise: std::collections::VecDeque<String>,
    print: std::collections::VecDeque<String>,
    enabled: bool,
    /// The bank behind the back office: QRs asked for → (amount, revoked, paid).
    sbp: std::collections::BTreeMap<String, (Money, bool, bool)>,
}

impl World {
    /// Whether a device still owes the session an answer.
    fn owes_an_answer(&self) -> bool {
        self.lookup.is_some()
            || self.stack
            || self.goods.is_some()
            || self.authorise.is_some()
            || !self.fiscalise.is_empty()
            || !self.print.is_empty()
            || !self.sbp.is_empty()
    }

    fn absorb(&mut self, outputs: &[Output], journal: &mut Vec<JournalEvent>) {
        for o in outputs {
            match o {
                Output::Journal(e) => {
                    journal.push(e.clone());
                }
                Output::LookupAccount { number } => self.lookup = Some(number.clone()),
                Output::Bill(BillCommand::Stack) => self.stack = true,
                Output::Bill(BillCommand::Return) => self.escrow = None,
                Output::Bill(BillCommand::Enable { .. }) => self.enabled = true,
                Output::Bill(BillCommand::Disable) => self.enabled = false,
                Output::Card(CardCommand::Authorise { amount, .. }) => {
                    self.authorise = Some(*amount)
                }
                Output::Card(CardCommand::GoodsIssued { issued, .. }) => self.goods = Some(*issued),
                Output::Card(
                    CardCommand::Abort
                    | CardCommand::Diagnose
                    | CardCommand::Recover { .. }
                    | CardCommand::Reverse { .. }
                    | CardCommand::Resolved { .. },
                ) => {}
                Output::Sbp(SbpCommand::Create {
                    payment_id, amount, ..
                }) => {
                    self.sbp.insert(payment_id.clone(), (*amount, false, false));
                }
                Output::Sbp(SbpCommand::Revoke { payment_id }) => {
                    if let Some(qr) = self.sbp.get_mut(payment_id) {
                        qr.1 = true;
                    }
                }
                Output::Fiscalise(req) => self.fiscalise.push_back(req.receipt_id.clone()),
                Output::PrintReceipt { receipt_id } => self.print.push_back(receipt_id.clone()),
                // No shift is ever journaled here, so none is renewed.
                Output::PrintSlip(_) | Output::RenewShift => {}
            }
        }
    }

    /// One device answer picked by `pick`; `kind` steers success or failure.
    fn answer(&mut self, pick: u8, forced_ok: bool) -> Option<DeviceInput> {
        let ok = forced_ok || pick % 3 != 0;
        if let Some(number) = self.lookup.take() {
            return Some(if ok || number.is_empty() {
                DeviceInput::AccountFound(account(i64::from(pick % 4) * 700))
            } else {
                DeviceInput::AccountNotFound { number }
            });
        }
        if self.stack {
            self.stack = false;
            let bill = self.escrow.take().unwrap_or(Money::from_rubles(100));
            // Every outcome a validator has for a bill on its way to the stacker.
            return Some(match (ok, pick % 5) {
                (true, _) | (false, 0) => DeviceInput::BillStacked(bill),
                (false, 1) => DeviceInput::BillReturned(bill),
                (false, 2) => DeviceInput::BillJammed { denomination: None },
                (false, 3) => DeviceInput::BillPowerUp {
                    bill: Some(BillPlace::Stacker),
                },
                _ => DeviceInput::BillPowerUp { bill: None },
            });
        }
        if let Some(issued) = self.goods.take() {
            return Some(if issued && ok {
                DeviceInput::CardCompleted
            } else {
                DeviceInput::CardReversed
            });
        }
        if let Some(amount) = self.authorise.take() {
            return Some(match (forced_ok, pick % 5) {
                (true, _) | (false, 0 | 1) => DeviceInput::CardApproved(approval(amount)),
                (false, 2) => DeviceInput::CardDeclined {
                    reason: "недостаточно средств".into(),
                },
                (false, 3) => DeviceInput::CardCancelled,
                _ => {
                    self.authorise = Some(amount);
                    DeviceInput::CardPrompt("Введите ПИН-код".into())
                }
            });
        }
        if let Some((payment_id, (amount, revoked, paid))) =
            self.sbp.iter().next().map(|(k, v)| (k.clone(), *v))
        {
            // Every answer a bank has, repeated ones included; once paid it stays paid.
            let state = match (paid, forced_ok, revoked, pick % 6) {
                (true, true, _, _) | (false, true, false, _) => SbpState::Paid,
                (false, true, true, _) => SbpState::Revoked,
                (true, false, _, _) | (false, false, _, 1 | 2) => SbpState::Paid,
                (false, false, _, 3) => SbpState::Declined,
                (false, false, _, 4) => SbpState::Expired,
                (false, false, true, 5) => SbpState::Revoked,
                _ => SbpState::Pending,
            };
            if state == SbpState::Paid {
                self.sbp.insert(payment_id.clone(), (amount, revoked, true));
            }
            // A final answer is the last, except that a paid one may come again (a duplicate).
            if state.is_final() && (forced_ok || state != SbpState::Paid || pick % 2 == 0) {
                self.sbp.remove(&payment_id);
            }
            return Some(DeviceInput::Sbp(SbpReport {
                payment_id,
                state,
                amount,
                payload: (state == SbpState::Pending).then(|| "https://qr.nspk.ru/X?sum=1".into()),
                expires_at: None,
                bank_payment_id: Some("1".into()),
                detail: String::new(),
            }));
        }
        if let Some(receipt_id) = self.fiscalise.pop_front() {
            return Some(if ok {
                DeviceInput::Fiscalised {
                    receipt_id,
                    fiscal: fiscal(),
                    printed_by_register: pick % 7 == 0,
                }
            } else {
                DeviceInput::FiscalisationFailed {
                    receipt_id,
                    reason: "ФН не отвечает".into(),
                }
            });
        }
        if let Some(receipt_id) = self.print.pop_front() {
            return Some(if ok {
                DeviceInput::Printed { receipt_id }
            } else {
                DeviceInput::PrintFailed {
                    receipt_id,
                    reason: "paper out".into(),
                }
            });
        }
        None
    }
}

fn intent(n: u8) -> Intent {
    match n % 18 {
        0 => Intent::Start(Purpose::Pay),
        1 => Intent::Start(Purpose::Readings),
        2 => Intent::Start(Purpose::Certificate),
        3 => Intent::SubmitAccount("1000000001".into()),
        4 => Intent::SetServiceAmount {
            index: usize::from(n / 16 % 3),
            text: format!("{},50", n),
        },
        5 => Intent::PayCash,
        6 => Intent::PayCard,
        7 => Intent::FinishCash,
        8 => Intent::ChooseReceipt(ReceiptChoice::Paper),
        9 => Intent::ChooseReceipt(ReceiptChoice::Electronic(ReceiptContact::Email(
            "a@b.ru".into(),
        ))),
        10 => Intent::SubmitReadings(vec![ReadingInput {
            meter_id: "m1".into(),
            zone: "T1".into(),
            text: format!("{}", u64::from(n) * 9),
        }]),
        11 => Intent::RequestCertificate,
        12 => Intent::Cancel,
        13 => Intent::Home,
        14 => Intent::SubmitScannedBill {
            account: "1000000001".into(),
            sum: Some(Money::from_kopecks(i64::from(n) * 1000)),
        },
        15 => Intent::ScanRefused {
            message: "Это не платёжный QR-код квитанции".into(),
        },
        16 => Intent::PaySbp,
        _ => Intent::Touch,
    }
}

fn totals(journal: &[JournalEvent]) -> (i64, i64, i64) {
    let (mut stacked, mut card, mut credited) = (0, 0, 0);
    // A stuck note found in the cassette (or reported stacked late) is stacked cash too.
    let mut stuck = std::collections::BTreeMap::new();
    for e in journal.iter().cloned() {
        match e {
            JournalEvent::BillStuck {
                reference,
                denomination_kopecks,
                ..
            } => {
                stuck.insert(reference, denomination_kopecks);
            }
            JournalEvent::StuckNoteResolved {
                reference, outcome, ..
            } if outcome != backend_sync::event::StuckNoteOutcome::HandedBack => {
                stacked += stuck.remove(&reference).unwrap_or(0);
            }
            JournalEvent::BillStacked {
                denomination_kopecks,
                payment_id,
            } => {
                stacked += denomination_kopecks;
                if payment_id.is_none() {
                    credited += denomination_kopecks;
                }
            }
            // Electronic money: the card terminal's completion, the bank's СБП confirmation.
            JournalEvent::CardCompleted { amount_kopecks, .. }
            | JournalEvent::SbpPaid { amount_kopecks, .. } => card += amount_kopecks,
            JournalEvent::PaymentCompleted { total_kopecks, .. } => credited += total_kopecks,
            _ => {}
        }
    }
    (stacked, card, credited)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn credited_equals_stacked_plus_card_and_every_session_ends(ops in proptest::collection::vec(op(), 1..120)) {
        let mut s = session();
        let mut world = World::default();
        let mut journal: Vec<JournalEvent> = Vec::new();
        let mut now = t0();
        s.handle(Input::Device(DeviceInput::Availability(Availability { sbp: true, ..Availability::default() })), now);
        for op in ops {
            match op {
                Op::Ui(n) => s.handle(Input::Ui(intent(n)), now),
                Op::Escrow(n) => {
                    if world.enabled && world.escrow.is_none() {
                        let bill = Money::from_rubles(BILLS[usize::from(n) % BILLS.len()]);
                        world.escrow = Some(bill);
                        s.handle(Input::Device(DeviceInput::BillEscrow(bill)), now);
                    }
                }
                Op::Device(n) => {
                    if let Some(input) = world.answer(n, false) {
                        s.handle(Input::Device(input), now);
                    }
                }
                Op::Timeout => {
                    if let Some(at) = s.poll_timeout() {
                        now = now.max(at);
                        s.handle_timeout(now);
                    }
                }
                Op::Wait(secs) => now += Duration::seconds(i64::from(secs % 200)),
            }
            let out = drain(&mut s);
            world.absorb(&out, &mut journal);
        }
        // Let every device finish what it was asked and the customer walk away.
        for _ in 0..200 {
            // (Asking `answer` here would take an answer the session never sees.)
            if s.is_idle() && !world.owes_an_answer() {
                break;
            }
            if let Some(input) = world.answer(1, true) {
                s.handle(Input::Device(input), now);
            } else if let Some(at) = s.poll_timeout() {
                now = now.max(at);
                s.handle_timeout(now);
            }
            let out = drain(&mut s);
            world.absorb(&out, &mut journal);
        }
        prop_assert!(s.is_idle(), "session did not end: {:?}", s.view().screen);
        prop_assert!(s.ledger().open_payments.is_empty(), "open: {:?}", s.ledger().open_payments);
        // Nothing is credited twice: one completion per payment, one bank confirmation per QR.
        let mut completed = std::collections::BTreeSet::new();
        let mut confirmed = std::collections::BTreeSet::new();
        for e in &journal {
            match e {
                JournalEvent::PaymentCompleted { payment_id, .. } => {
                    prop_assert!(completed.insert(payment_id.clone()), "{} credited twice", payment_id)
                }
                JournalEvent::SbpPaid { payment_id, .. } => {
                    prop_assert!(confirmed.insert(payment_id.clone()), "{} confirmed twice", payment_id)
                }
                _ => {}
            }
        }

        let (stacked, card, credited) = totals(&journal);
        prop_assert_eq!(credited, stacked + card);
        // Every credited payment got a fiscal receipt or a recorded failure to make one.
        let events = &journal;
        for e in events {
            if let JournalEvent::PaymentCompleted { payment_id, .. } = e {
                let receipted = events.iter().any(|r| matches!(r,
                    JournalEvent::ReceiptFiscalised { payment_id: Some(p), .. } | JournalEvent::FiscalisationFailed { payment_id: Some(p), .. } if p == payment_id));
                prop_assert!(receipted, "payment {} has no receipt", payment_id);
            }
        }
    }
}
