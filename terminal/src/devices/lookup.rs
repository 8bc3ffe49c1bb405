//! The account lookup task: checks the number against the configured scheme (length and check
//! digit), asks the account source (with the offline fallback in front of it) and hands the core an
//! account whose personal data is already masked.

use tokio::sync::mpsc;

use crate::accounts::{Account, AccountError, AccountScheme, AccountSource};
use crate::money::{Money, ServiceDue};
use crate::runtime::CoreEvent;
use crate::session::{AccountProblem, CustomerAccount, DeviceInput, MeterInfo, ZoneInfo};

/// The session's view of a looked-up account.
pub fn customer_account(account: Account) -> CustomerAccount {
    CustomerAccount {
        number: account.number.as_str().to_string(),
        verified: account.verified,
        holder_masked: account.holder_masked,
        address_masked: account.address_masked,
        services: account
            .services
            .into_iter()
            .map(|s| ServiceDue {
                service_id: s.id,
                name: s.name,
                // Unknown (offline) debt shows as nothing owed; the customer types the amount.
                debt: Money::from_kopecks(s.debt_kopecks.unwrap_or(0)),
            })
            .collect(),
        meters: account
            .meters
            .into_iter()
            .map(|m| {
                let zones = m.zones.len();
                MeterInfo {
                    id: m.id.clone(),
                    name: format!("{} № {}", m.name, m.serial),
                    zones: m
                        .zones
                        .iter()
                        .map(|z| ZoneInfo {
                            code: z.code.as_str().to_string(),
                            name: z.code.name_ru(zones).to_string(),
                            previous: z.previous_value,
                        })
                        .collect(),
                    meter: Some(m),
                }
            })
            .collect(),
        paid_today: Money::ZERO,
    }
}

/// Runs the lookup task; returns the channel the core sends account numbers to.
pub fn spawn<S>(
    scheme: AccountScheme,
    source: S,
    core: mpsc::Sender<CoreEvent>,
) -> mpsc::Sender<String>
where
    S: AccountSource + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<String>(8);
    tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            let input = match scheme.parse(&text) {
                Err(e) => DeviceInput::AccountRefused {
                    problem: if matches!(e, AccountError::Empty) {
                        AccountProblem::Empty
                    } else {
                        AccountProblem::Invalid
                    },
                    message: e.customer_message(),
                },
                Ok(number) => match source.lookup(&number) {
                    Ok(Some(account)) => DeviceInput::AccountFound(customer_account(account)),
                    Ok(None) => DeviceInput::AccountNotFound {
                        number: number.as_str().to_string(),
                    },
                    Err(e) => DeviceInput::AccountRefused {
                        problem: AccountProblem::Unreachable,
                        message: e.customer_message(),
                    },
                },
            };
            if core.send(CoreEvent::Device(input, None)).await.is_err() {
                return;
            }
        }
    });
    tx
}
