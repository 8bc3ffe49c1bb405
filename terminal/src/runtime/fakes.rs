//! In-process stand-ins used only by the `cash-soak` test harness, whose subject is cash: an
//! account list, a card terminal that approves everything and a fiscal register that "prints" text.
//! Everything else (demo, `run`, tests) uses the real drivers against wire-level emulators.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use backend_sync::event::{CardApproval, FiscalAttributes};
use tokio::sync::mpsc;

use super::{CoreEvent, ReceiptJob};
use crate::service::ServiceInput;
use crate::session::{
    CardCommand, CardLastResult, CardRecoveryStep, CustomerAccount, DeviceInput, FiscalRequest,
};

async fn report(core: &mpsc::Sender<CoreEvent>, input: DeviceInput) {
    let _ = core.send(CoreEvent::Device(input, None)).await;
}

/// Answers lookups from a fixed list.
pub fn spawn_lookup(
    accounts: Vec<CustomerAccount>,
    core: mpsc::Sender<CoreEvent>,
) -> mpsc::Sender<String> {
    let (tx, mut rx) = mpsc::channel::<String>(8);
    tokio::spawn(async move {
        while let Some(number) = rx.recv().await {
            let found = accounts.iter().find(|a| a.number == number).cloned();
            let input = match found {
                Some(account) => DeviceInput::AccountFound(account),
                None => DeviceInput::AccountNotFound { number },
            };
            report(&core, input).await;
        }
    });
    tx
}

/// A card terminal that approves every authorisation.
pub fn spawn_card(core: mpsc::Sender<CoreEvent>) -> mpsc::Sender<CardCommand> {
    let (tx, mut rx) = mpsc::channel::<CardCommand>(8);
    tokio::spawn(async move {
        let mut receipt_no = 0u32;
        while let Some(cmd) = rx.recv().await {
            match cmd {
                CardCommand::Authorise { amount, .. } => {
                    receipt_no += 1;
                    report(&core, DeviceInput::CardPrompt("Введите ПИН-код".into())).await;
                    report(
                        &core,
                        DeviceInput::CardApproved(CardApproval {
                            amount_kopecks: amount.kopecks(),
                            receipt_no,
                            trace_no: receipt_no,
                            masked_pan: "220220******1234".into(),
                            auth_code: format!("{:06}", 100_000 + receipt_no),
                            card_terminal_id: "00000001".into(),
                            rrn: None,
                        }),
                    )
                    .await;
                }
                CardCommand::GoodsIssued { issued: true, .. } => {
                    report(&core, DeviceInput::CardCompleted).await
                }
                CardCommand::GoodsIssued { issued: false, .. } => {
                    report(&core, DeviceInput::CardReversed).await
                }
                CardCommand::Abort => report(&core, DeviceInput::CardCancelled).await,
                CardCommand::Diagnose => {
                    let _ = core
                        .send(CoreEvent::Service(ServiceInput::CardDiagnosis(Ok(()))))
                        .await;
                }
                // It keeps nothing across a restart.
                CardCommand::Recover { payment_id } => {
                    let step = CardRecoveryStep::LastResult(CardLastResult::default());
                    report(&core, DeviceInput::CardRecovery { payment_id, step }).await
                }
                CardCommand::Reverse {
                    payment_id,
                    receipt_no,
                } => {
                    let step = CardRecoveryStep::Reversed { receipt_no };
                    report(&core, DeviceInput::CardRecovery { payment_id, step }).await
                }
                CardCommand::Resolved { .. } => {}
            }
        }
    });
    tx
}

/// Fiscalises with running FD numbers and "prints" plain text into `printed`.
pub fn spawn_receipts(
    core: mpsc::Sender<CoreEvent>,
    printed: Arc<Mutex<Vec<String>>>,
) -> mpsc::Sender<ReceiptJob> {
    let (tx, mut rx) = mpsc::channel::<ReceiptJob>(8);
    tokio::spawn(async move {
        let mut fd_number = 0u32;
        let mut texts: HashMap<String, String> = HashMap::new();
        while let Some(job) = rx.recv().await {
            match job {
                ReceiptJob::Fiscalise(req) => {
                    fd_number += 1;
                    let (fiscal, text) = fake_fiscalisation(&req, fd_number);
                    texts.insert(req.receipt_id.clone(), text);
                    report(
                        &core,
                        DeviceInput::Fiscalised {
                            receipt_id: req.receipt_id,
                            fiscal,
                            printed_by_register: false,
                        },
                    )
                    .await;
                }
                ReceiptJob::Print { receipt_id } => {
                    if let (Some(text), Ok(mut out)) = (texts.get(&receipt_id), printed.lock()) {
                        out.push(text.clone());
                    }
                    report(&core, DeviceInput::Printed { receipt_id }).await;
                }
                ReceiptJob::Slip(slip) => {
                    if let Ok(mut out) = printed.lock() {
                        out.push(format!("{slip:?}"));
                    }
                }
                ReceiptJob::TestPage => {
                    if let Ok(mut out) = printed.lock() {
                        out.push("ТЕСТОВАЯ СТРАНИЦА".into());
                    }
                    let input = ServiceInput::TestPagePrinted(Ok(()));
                    let _ = core.send(CoreEvent::Service(input)).await;
                }
                ReceiptJob::CloseShift => {
                    let input =
                        ServiceInput::ShiftClosed(Err("no fiscal module in the fakes".into()));
                    let _ = core.send(CoreEvent::Service(input)).await;
                }
                ReceiptJob::RenewShift => {
                    let input = DeviceInput::ShiftRenewalFailed {
                        reason: "no fiscal module in the fakes".into(),
                    };
                    let _ = core.send(CoreEvent::Device(input, None)).await;
                }
                ReceiptJob::EncashmentSlip(slip) => {
                    let receipt = crate::slips::encashment(&slip);
                    if let Ok(mut out) = printed.lock() {
                        out.push(receipt_printer::plain_text(&receipt, 40));
                    }
                    let input = ServiceInput::EncashmentSlipPrinted(Ok(()));
                    let _ = core.send(CoreEvent::Service(input)).await;
                }
            }
        }
    });
    tx
}

/// A fiscal document with running numbers for `req`, and its receipt as plain text.
fn fake_fiscalisation(req: &FiscalRequest, fd_number: u32) -> (FiscalAttributes, String) {
    let total = req.cash + req.card;
    let fiscal = FiscalAttributes {
        fn_number: "9999078900000001".into(),
        fd_number,
        fiscal_sign: format!(
            "{:010}",
            1_000_000_007u64 * u64::from(fd_number) % 10_000_000_000
        ),
        shift_number: 1,
        time: chrono::Utc::now().format("%Y-%m-%dT%H:%M").to_string(),
        qr: format!(
            "t={}&s={}.{:02}&fn=9999078900000001&i={fd_number}&fp=0&n=1",
            chrono::Utc::now().format("%Y%m%dT%H%M"),
            total.kopecks() / 100,
            total.kopecks() % 100
        ),
    };
    let mut text = format!("КАССОВЫЙ ЧЕК / ПРИХОД\nЛицевой счёт {}\n", req.account);
    for a in &req.allocations {
        text.push_str(&format!("{:<24}{:>16}\n", a.name, a.total().format_plain()));
    }
    text.push_str(&format!(
        "ИТОГ{:>36}\nНАЛИЧНЫМИ{:>31}\nБЕЗНАЛИЧНЫМИ{:>28}\nФД {} ФП {}\n",
        total.format_plain(),
        req.cash.format_plain(),
        req.card.format_plain(),
        fd_number,
        fiscal.fiscal_sign
    ));
    (fiscal, text)
}

/// The soaks' СБП task: they never offer СБП (no heartbeat says the bank answers), so nothing
/// is ever asked of it.
pub fn no_sbp() -> mpsc::Sender<crate::session::SbpCommand> {
    let (tx, mut rx) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            tracing::warn!(?command, "a soak asked for СБП; nothing to carry it");
        }
    });
    tx
}
