//! Sans-IO meaning of what the ECR core reports: the steps of one authorisation, the terminal's
//! last result (06 20) and a reversal's outcome (06 30). The tokio driver and a deterministic
//! simulation run the same functions; neither owns a rule of its own.

use serde::{Deserialize, Serialize};

use crate::ecr::{EcrEvent, OpEnd, OpResult};
use crate::messages::{StatusInformation, RESULT_ABORTED, RESULT_NOT_POSSIBLE};
use crate::texts;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("cannot open or use the card terminal port: {0}")]
    Io(#[from] std::io::Error),
    #[error("the card-reader task has stopped")]
    Closed,
    #[error("another card-terminal operation is running")]
    Busy,
    #[error("amount {0} kopecks is not payable")]
    BadAmount(i64),
    #[error("an earlier card payment has an unknown outcome and must be recovered first: {0}")]
    RecoveryRequired(String),
    #[error("the terminal refused: {reason_ru} (code {code:#04x})")]
    Terminal { code: u8, reason_ru: String },
    #[error("no definite answer from the terminal: {0}")]
    NoAnswer(String),
    #[error("unexpected answer from the terminal: {0}")]
    Protocol(String),
}

/// What the kiosk may keep of an approved card payment. Masked PAN only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub amount_kopecks: i64,
    pub masked_pan: Option<String>,
    pub auth_code: Option<String>,
    pub receipt_no: Option<u32>,
    pub trace: Option<u32>,
    pub terminal_id: Option<u32>,
    /// Retrieval reference number; standard ZVT status information has no field for it, so it is
    /// filled only if the terminal sends it in the additional text as `RRN:<digits>`.
    pub rrn: Option<String>,
    pub card_name: Option<String>,
    /// The card slip (06 D1 / 06 D3 lines). Empty in [`AuthStep::Approved`] (the slip follows
    /// the goods-issued answer); complete in [`AuthStep::Completed`].
    pub print_lines: Vec<String>,
}

impl Approval {
    pub(crate) fn from_status(
        info: &StatusInformation,
        fallback_amount: i64,
        lines: &[String],
    ) -> Self {
        let rrn = info.additional_text.as_deref().and_then(|t| {
            let at = t.find("RRN:")?;
            let digits: String = t[at + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            (!digits.is_empty()).then_some(digits)
        });
        Approval {
            amount_kopecks: info.amount_kopecks.unwrap_or(fallback_amount),
            masked_pan: info.masked_pan.clone(),
            auth_code: info.auth_code.clone(),
            receipt_no: info.receipt_no,
            trace: info.trace,
            terminal_id: info.terminal_id,
            rrn,
            card_name: info.card_name.clone(),
            print_lines: lines.to_vec(),
        }
    }
}

/// One step of an authorisation, in order; every step but `Prompt` and `Approved` is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Show this on screen (from 04 FF).
    Prompt { code: u8, text_ru: String },
    /// Approved by the terminal: the host journals it, then answers goods issued or not.
    Approved(Approval),
    /// The terminal confirmed completion after 80 00; the money is taken.
    Completed { approval: Approval },
    /// After "not issued" the terminal ended and reverses the payment.
    ReversedByTerminal { approval: Approval },
    /// Declined or refused by the terminal or the issuer.
    Declined { code: u8, reason_ru: String },
    /// Cancelled by the customer (on the terminal or by the host's abort).
    Cancelled,
    /// Link drop or timeout: the outcome must be learned from the terminal.
    OutcomeUnknown {
        detail: String,
        approval: Option<Approval>,
        goods_issued_sent: Option<bool>,
    },
}

impl AuthStep {
    pub fn is_final(&self) -> bool {
        !matches!(self, AuthStep::Prompt { .. } | AuthStep::Approved(_))
    }
}

/// Follows one authorisation's ECR events and says what each means.
#[derive(Debug, Clone)]
pub struct AuthTracker {
    amount_kopecks: i64,
    approval: Option<Approval>,
    finished: bool,
}

impl AuthTracker {
    pub fn new(amount_kopecks: i64) -> Self {
        AuthTracker {
            amount_kopecks,
            approval: None,
            finished: false,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The meaning of the next ECR event of this authorisation.
    pub fn on_event(&mut self, event: EcrEvent) -> AuthStep {
        match event {
            EcrEvent::Prompt { status, text_ru } => AuthStep::Prompt {
                code: status,
                text_ru: text_ru.to_owned(),
            },
            EcrEvent::DecisionNeeded(info) => {
                let approval = Approval::from_status(&info, self.amount_kopecks, &[]);
                self.approval = Some(approval.clone());
                AuthStep::Approved(approval)
            }
            EcrEvent::Finished(result) => {
                self.finished = true;
                self.final_step(*result)
            }
        }
    }

    /// The events stopped before a final one (the driver's task is gone).
    pub fn cut_off(&mut self, detail: String) -> AuthStep {
        self.finished = true;
        AuthStep::OutcomeUnknown {
            detail,
            approval: self.approval.clone(),
            goods_issued_sent: None,
        }
    }

    fn final_step(&mut self, result: OpResult) -> AuthStep {
        let approval = result
            .status
            .as_ref()
            .filter(|s| s.result_code == Some(0))
            .map(|s| Approval::from_status(s, self.amount_kopecks, &result.print_lines))
            .or_else(|| self.approval.clone());
        let declined = |code: u8| AuthStep::Declined {
            code,
            reason_ru: texts::result_ru(code),
        };
        let unknown = |detail: String, approval, sent| AuthStep::OutcomeUnknown {
            detail,
            approval,
            goods_issued_sent: sent,
        };
        match (result.end, result.decision) {
            (OpEnd::Unknown(detail) | OpEnd::NotDelivered(detail), decision) => {
                unknown(detail, approval, decision)
            }
            (OpEnd::Completed(_), Some(true)) => match approval {
                Some(approval) => AuthStep::Completed { approval },
                None => unknown("completion without approval data".into(), None, Some(true)),
            },
            (OpEnd::Completed(_) | OpEnd::Aborted(_), Some(false)) => {
                AuthStep::ReversedByTerminal {
                    approval: approval.unwrap_or_default(),
                }
            }
            (OpEnd::Aborted(code), Some(true)) => {
                // Aborted after "issued": the terminal did not keep it, but say so loudly.
                tracing::warn!(code, "terminal aborted after goods were issued");
                unknown(
                    format!("terminal aborted (code {code:#04x}) after goods issued"),
                    approval,
                    Some(true),
                )
            }
            (OpEnd::Aborted(RESULT_ABORTED), None) => AuthStep::Cancelled,
            (OpEnd::Aborted(code) | OpEnd::Refused(code), None) => declined(code),
            (OpEnd::Refused(code), Some(_)) => declined(code),
            (OpEnd::Completed(_), None) => declined(
                result
                    .status
                    .as_ref()
                    .and_then(|s| s.result_code)
                    .unwrap_or(RESULT_NOT_POSSIBLE),
            ),
        }
    }
}

/// An operation's end as an error, unless it completed.
pub(crate) fn ended_ok(result: &OpResult) -> Result<(), CardError> {
    match &result.end {
        OpEnd::Completed(_) => Ok(()),
        OpEnd::Aborted(code) | OpEnd::Refused(code) => Err(CardError::Terminal {
            code: *code,
            reason_ru: texts::result_ru(*code),
        }),
        OpEnd::Unknown(d) | OpEnd::NotDelivered(d) => Err(CardError::NoAnswer(d.clone())),
    }
}

/// The last transaction as the terminal reports it (06 20).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastResult {
    pub result_code: Option<u8>,
    pub receipt_no: Option<u32>,
    pub amount_kopecks: Option<i64>,
    pub approval: Option<Approval>,
}

impl LastResult {
    pub fn approved(&self) -> bool {
        self.result_code == Some(0)
    }
}

/// What a repeat-last-result (06 20) says. A terminal without any transaction refuses with
/// "not possible": that is an empty result, not an error.
pub fn last_result(result: &OpResult) -> Result<LastResult, CardError> {
    match ended_ok(result) {
        Err(CardError::Terminal {
            code: RESULT_NOT_POSSIBLE,
            ..
        }) => return Ok(LastResult::default()),
        other => other?,
    }
    let status = result
        .status
        .as_ref()
        .ok_or_else(|| CardError::Protocol("no status information".into()))?;
    let approval = (status.result_code == Some(0)).then(|| {
        Approval::from_status(
            status,
            status.amount_kopecks.unwrap_or(0),
            &result.print_lines,
        )
    });
    Ok(LastResult {
        result_code: status.result_code,
        receipt_no: status.receipt_no,
        amount_kopecks: status.amount_kopecks,
        approval,
    })
}

/// What a reversal (06 30) did: `Ok(true)` reversed now, `Ok(false)` the terminal does not hold
/// the payment (never booked, or reversed already).
pub fn reversal_done(result: &OpResult) -> Result<bool, CardError> {
    match ended_ok(result) {
        Ok(()) => Ok(true),
        Err(CardError::Terminal {
            code: RESULT_NOT_POSSIBLE,
            ..
        }) => Ok(false),
        Err(e) => Err(e),
    }
}
