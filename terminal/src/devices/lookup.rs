//! The account lookup task: checks the number against the configured scheme (length and check
//! digit), asks the account source (with the offline fallback in front of it) and hands the core an
//! account whose personal data is already masked. [`spawn`] asks a local source (fixtures),
//! [`spawn_back_office`] the back office.

use tokio::sync::mpsc;

use crate::accounts::{
    fall_back_when_unreachable, Account, AccountError, AccountNumber, AccountScheme, AccountSource,
    LookupError,
};
use crate::money::{Money, ServiceDue};
use crate::runtime::CoreEvent;
use crate::session::{AccountProblem, CustomerAccount, DeviceInput, MeterInfo, ZoneInfo};
use crate::sync::{AvailabilityFeed, BackOfficeAccounts, BackOfficeSetup, SyncSetupError};

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
                // A back-office meter carries no factory number.
                let name = if m.serial.is_empty() {
                    m.name.clone()
                } else {
                    format!("{} № {}", m.name, m.serial)
                };
                MeterInfo {
                    id: m.id.clone(),
                    name,
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
                Err(e) => malformed(e),
                Ok(number) => answer(&number, source.lookup(&number)),
            };
            if core.send(CoreEvent::Device(input, None)).await.is_err() {
                return;
            }
        }
    });
    tx
}

/// Starts the account lookup task against a prepared back office (inside a tokio runtime).
pub fn spawn_for(
    setup: &BackOfficeSetup,
    scheme: AccountScheme,
    core: mpsc::Sender<CoreEvent>,
) -> Result<mpsc::Sender<String>, SyncSetupError> {
    let accounts = BackOfficeAccounts::new(&setup.link)?;
    Ok(spawn_back_office(
        scheme,
        accounts,
        Some(setup.availability.clone()),
        core,
    ))
}

/// Runs the lookup task against the back office, with the offline fallback when it does not
/// answer; each answer (or its absence) sets `online` on `availability`.
pub fn spawn_back_office(
    scheme: AccountScheme,
    accounts: BackOfficeAccounts,
    availability: Option<AvailabilityFeed>,
    core: mpsc::Sender<CoreEvent>,
) -> mpsc::Sender<String> {
    let (tx, mut rx) = mpsc::channel::<String>(8);
    tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            let input = match scheme.parse(&text) {
                Err(e) => malformed(e),
                Ok(number) => {
                    let found = accounts.lookup(&number).await;
                    if let Some(feed) = &availability {
                        feed.set_online(!matches!(found, Err(LookupError::Unreachable(_))));
                    }
                    answer(&number, fall_back_when_unreachable(&number, found))
                }
            };
            if core.send(CoreEvent::Device(input, None)).await.is_err() {
                return;
            }
        }
    });
    tx
}

fn answer(number: &AccountNumber, found: Result<Option<Account>, LookupError>) -> DeviceInput {
    match found {
        Ok(Some(account)) => DeviceInput::AccountFound(customer_account(account)),
        Ok(None) => DeviceInput::AccountNotFound {
            number: number.as_str().to_string(),
        },
        Err(e) => DeviceInput::AccountRefused {
            problem: AccountProblem::Unreachable,
            message: e.customer_message(),
        },
    }
}

/// A number the account scheme refuses (empty, wrong length, wrong check digit).
fn malformed(e: AccountError) -> DeviceInput {
    DeviceInput::AccountRefused {
        problem: if matches!(e, AccountError::Empty) {
            AccountProblem::Empty
        } else {
            AccountProblem::Invalid
        },
        message: e.customer_message(),
    }
}
