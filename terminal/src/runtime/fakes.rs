//! In-process stand-ins for devices, behind the same channels the real device tasks use. They let
//! the core run anywhere (tests, `terminal demo`) until a wire-level emulator is wired in; they follow
//! the same rules a real device does (a stacked bill waits for its journal acknowledgement).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use backend_sync::event::{CardApproval, FiscalAttributes};
use tokio::sync::{mpsc, oneshot};

use super::{CoreEvent, ReceiptJob};
use crate::money::Money;
use crate::session::{BillCommand, CardCommand, CustomerAccount, DeviceInput};

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

/// A bill validator: bills are "inserted" through [`FakeBillHandle::insert`].
#[derive(Clone)]
pub struct FakeBillHandle {
    insert: mpsc::Sender<Money>,
    /// Bills stacked so far: the ground truth to compare the journal with.
    pub cassette: Arc<Mutex<Vec<Money>>>,
}

impl FakeBillHandle {
    pub async fn insert(&self, bill: Money) {
        let _ = self.insert.send(bill).await;
    }
}

pub fn spawn_bill(core: mpsc::Sender<CoreEvent>) -> (mpsc::Sender<BillCommand>, FakeBillHandle) {
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<BillCommand>(8);
    let (ins_tx, mut ins_rx) = mpsc::channel::<Money>(8);
    let cassette = Arc::new(Mutex::new(Vec::new()));
    let handle = FakeBillHandle {
        insert: ins_tx,
        cassette: cassette.clone(),
    };
    tokio::spawn(async move {
        let mut max_bill: Option<Money> = None;
        let mut escrow: Option<Money> = None;
        loop {
            tokio::select! {
                cmd = cmd_rx.recv() => match cmd {
                    None => return,
                    Some(BillCommand::Enable { max_bill: m }) => max_bill = Some(m),
                    Some(BillCommand::Disable) => max_bill = None,
                    Some(BillCommand::Stack) => if let Some(bill) = escrow.take() {
                        if let Ok(mut c) = cassette.lock() { c.push(bill); }
                        let (ack, acked) = oneshot::channel();
                        let _ = core.send(CoreEvent::Device(DeviceInput::BillStacked(bill), Some(ack))).await;
                        let _ = acked.await;
                    },
                    Some(BillCommand::Return) => if let Some(bill) = escrow.take() {
                        report(&core, DeviceInput::BillReturned(bill)).await;
                    },
                },
                bill = ins_rx.recv(), if escrow.is_none() => match bill {
                    None => return,
                    Some(bill) if max_bill.is_some() => {
                        escrow = Some(bill);
                        report(&core, DeviceInput::BillEscrow(bill)).await;
                    }
                    Some(_) => report(&core, DeviceInput::BillRejected { reason: "Приём купюр сейчас выключен".into() }).await,
                },
            }
        }
    });
    (cmd_tx, handle)
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
            }
        }
    });
    tx
}
