//! The card reader task: the ZVT driver on one side, the core on the other.
//!
//! An approval goes to the core first; the core journals it and only then answers "goods issued"
//! (80 00) or "not issued" (84 66, the terminal reverses). When the outcome is unknown (link drop,
//! timeout) the reader is asked for the last result and the payment is settled — credited if it
//! was approved and completed, reversed if approved but not completed — before anything else.

use backend_sync::event::CardApproval;
use card_reader::{Approval, AuthEvent, CardReader, Recovery, UnknownPayment};
use tokio::sync::mpsc;
use tracing::warn;

use crate::runtime::CoreEvent;
use crate::service::ServiceInput;
use crate::session::{CardCommand, DeviceInput};

/// The journal's view of an approval: masked PAN only.
pub fn card_approval(a: &Approval) -> CardApproval {
    CardApproval {
        amount_kopecks: a.amount_kopecks,
        receipt_no: a.receipt_no.unwrap_or(0),
        trace_no: a.trace.unwrap_or(0),
        masked_pan: a.masked_pan.clone().unwrap_or_default(),
        auth_code: a.auth_code.clone().unwrap_or_default(),
        card_terminal_id: a.terminal_id.map(|t| t.to_string()).unwrap_or_default(),
        rrn: a.rrn.clone(),
    }
}

async fn report(core: &mpsc::Sender<CoreEvent>, input: DeviceInput) -> bool {
    core.send(CoreEvent::Device(input, None)).await.is_ok()
}

/// Waits for the core's goods-issued decision (it comes after the approval is journaled).
async fn decision(commands: &mut mpsc::Receiver<CardCommand>) -> Option<bool> {
    while let Some(command) = commands.recv().await {
        if let CardCommand::GoodsIssued { issued, .. } = command {
            return Some(issued);
        }
    }
    None
}

/// Learns and settles an authorisation whose outcome is unknown.
async fn settle(
    reader: &CardReader,
    unknown: UnknownPayment,
    core: &mpsc::Sender<CoreEvent>,
    commands: &mut mpsc::Receiver<CardCommand>,
) {
    match reader.recover(&unknown).await {
        Ok(Recovery::Credited(approval)) => {
            report(core, DeviceInput::CardApproved(card_approval(&approval))).await;
            // The terminal holds the money already; whatever the answer, it is completed.
            let _ = decision(commands).await;
            report(core, DeviceInput::CardCompleted).await;
        }
        Ok(Recovery::Reversed(_)) => {
            report(core, DeviceInput::CardReversed).await;
        }
        Ok(Recovery::NotCharged) => {
            report(
                core,
                DeviceInput::CardDeclined {
                    reason: "оплата не прошла, деньги не списаны".into(),
                },
            )
            .await;
        }
        Err(e) => warn!(error = %e, "card outcome still unknown; the reader stays blocked"),
    }
}

async fn authorise(
    reader: &CardReader,
    payment_id: &str,
    amount_kopecks: i64,
    core: &mpsc::Sender<CoreEvent>,
    commands: &mut mpsc::Receiver<CardCommand>,
) {
    let mut auth = match reader.authorise(amount_kopecks, payment_id).await {
        Ok(auth) => auth,
        Err(e) => {
            report(
                core,
                DeviceInput::CardDeclined {
                    reason: format!("терминал недоступен ({e})"),
                },
            )
            .await;
            return;
        }
    };
    loop {
        let event = tokio::select! {
            event = auth.next_event() => event,
            command = commands.recv() => {
                if let Some(CardCommand::Abort) = command {
                    let _ = reader.abort();
                }
                continue;
            }
        };
        let Some(event) = event else { return };
        match event {
            AuthEvent::Prompt { text_ru, .. } => {
                report(core, DeviceInput::CardPrompt(text_ru)).await;
            }
            AuthEvent::Approved(pending) => {
                report(
                    core,
                    DeviceInput::CardApproved(card_approval(&pending.approval)),
                )
                .await;
                // No answer (the core is gone) answers "not issued": the safe default.
                let issued = decision(commands).await.unwrap_or(false);
                pending.goods_issued(issued);
            }
            AuthEvent::Completed { .. } => {
                report(core, DeviceInput::CardCompleted).await;
                return;
            }
            AuthEvent::ReversedByTerminal { .. } => {
                report(core, DeviceInput::CardReversed).await;
                return;
            }
            AuthEvent::Declined { reason_ru, .. } => {
                report(core, DeviceInput::CardDeclined { reason: reason_ru }).await;
                return;
            }
            AuthEvent::Cancelled => {
                report(core, DeviceInput::CardCancelled).await;
                return;
            }
            AuthEvent::OutcomeUnknown {
                detail,
                approval,
                goods_issued_sent,
            } => {
                report(core, DeviceInput::CardOutcomeUnknown { detail }).await;
                let unknown = UnknownPayment {
                    amount_kopecks,
                    approval,
                    goods_issued_sent: goods_issued_sent.unwrap_or(false),
                };
                settle(reader, unknown, core, commands).await;
                return;
            }
        }
    }
}

/// Runs the task; returns the channel the core sends [`CardCommand`]s to.
pub fn spawn(reader: CardReader, core: mpsc::Sender<CoreEvent>) -> mpsc::Sender<CardCommand> {
    let (tx, mut commands) = mpsc::channel::<CardCommand>(16);
    tokio::spawn(async move {
        if let Err(e) = reader.registration().await {
            warn!(error = %e, "card terminal registration failed");
        }
        while let Some(command) = commands.recv().await {
            match command {
                CardCommand::Authorise { payment_id, amount } => {
                    authorise(&reader, &payment_id, amount.kopecks(), &core, &mut commands).await;
                }
                CardCommand::Diagnose => {
                    let result = reader.diagnosis().await.map_err(|e| e.to_string());
                    if let Err(reason) = &result {
                        warn!(%reason, "card reader diagnosis failed");
                    }
                    let input = ServiceInput::CardDiagnosis(result);
                    if core.send(CoreEvent::Service(input)).await.is_err() {
                        return;
                    }
                }
                CardCommand::GoodsIssued { .. } | CardCommand::Abort => {}
            }
        }
    });
    tx
}
