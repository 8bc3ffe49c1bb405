//! The fiscal register in the simulation: the production [`Fiscaliser`] and Shtrih-M register
//! (host session, handshake, exactly-once recovery) over an in-memory line to the KKT
//! emulator's own core and FN model, on the simulation's clock. The KKT is a device with its own
//! power: it keeps its documents when the kiosk's process dies.
//!
//! Faults: the KKT switched off for a whole request, the KKT losing the answer to a sale it
//! registered, the KKT going silent after any one request of a sale, and the process dying
//! after any one request (its answer never read).

use std::time::Instant;

use backend_sync::JournalEvent;
use chrono::{DateTime, Utc};
use fiscal_register::shtrih::emulator::{Fault, KktConfig};
use fiscal_register::shtrih::testkit::{sample_config, MemoryLink};
use fiscal_register::shtrih::{
    Exchange, HostSession, LinkConfig, Reply, Request, ShtrihError, ShtrihRegister,
};
use fiscal_register::{DocumentKind, FiscalError, FoundDocument, VatRate};

use crate::devices::fiscal::{FiscalOutcome, Fiscaliser};
use crate::session::FiscalRequest;

/// Where a sale is cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cut {
    /// The KKT falls silent once it answered this many requests, until the job ends.
    KktOff { after: usize },
    /// The process dies once the KKT ran this many requests (the last one's answer unread).
    ProcessDies { after: usize },
}

/// The kiosk's end of the line: the KKT emulator through the in-memory link, cut where told.
pub(super) struct SimLine {
    link: MemoryLink,
    password: u32,
    cut: Option<Cut>,
    calls: usize,
    /// The process is dead: nothing more leaves it.
    dead: bool,
}

impl Exchange for SimLine {
    fn call(&mut self, request: Request) -> Result<Reply, ShtrihError> {
        if self.dead {
            return Err(ShtrihError::NoLink);
        }
        if self.cut == Some(Cut::ProcessDies { after: self.calls }) {
            self.dead = true;
            return Err(ShtrihError::NoLink);
        }
        self.calls += 1;
        let reply = self.link.call(request);
        match self.cut {
            Some(Cut::KktOff { after }) if self.calls == after => {
                self.link.kkt.set_fault(Fault::Silent, true);
            }
            Some(Cut::ProcessDies { after }) if self.calls == after => {
                self.dead = true;
                return Err(ShtrihError::NoLink);
            }
            _ => {}
        }
        reply
    }
}

/// The simulated fiscal register.
pub(super) struct FiscalSide {
    fiscaliser: Fiscaliser<ShtrihRegister<SimLine>>,
    /// Where the simulation's clock and the link's clock started.
    started: (Instant, Instant),
}

impl FiscalSide {
    pub(super) fn new(now: Instant, t0: DateTime<Utc>, tz: chrono_tz::Tz) -> FiscalSide {
        let config = KktConfig {
            start_time: t0.with_timezone(&tz).naive_local(),
            ..sample_config()
        };
        let seller = config.seller.clone();
        let password = config.password;
        let link = MemoryLink::new(config, LinkConfig::default());
        let started = (now, link.now);
        let line = SimLine {
            link,
            password,
            cut: None,
            calls: 0,
            dead: false,
        };
        FiscalSide {
            // The host prints (the simulation's printer runs out of paper on its own).
            fiscaliser: Fiscaliser::new(
                Box::new(ShtrihRegister::new(line, false)),
                seller,
                VatRate::Vat20,
                tz,
            ),
            started,
        }
    }

    fn line<T>(&self, f: impl FnOnce(&mut SimLine) -> T) -> Option<T> {
        self.fiscaliser.module().with_exchange(f).ok()
    }

    /// Runs one receipt-task job at `now`, cut where told; the KKT is back on afterwards.
    fn job<T>(
        &mut self,
        now: Instant,
        cut: Option<Cut>,
        f: impl FnOnce(&mut Fiscaliser<ShtrihRegister<SimLine>>) -> T,
    ) -> T {
        let link_now = self.started.1 + (now - self.started.0);
        self.line(|line| {
            line.link.now = line.link.now.max(link_now);
            line.cut = cut;
            line.calls = 0;
        });
        let out = f(&mut self.fiscaliser);
        self.line(|line| {
            line.cut = None;
            line.link.kkt.set_fault(Fault::Silent, false);
        });
        out
    }

    /// Fiscalises `req` at `now`, cut where told.
    pub(super) fn fiscalise(
        &mut self,
        req: &FiscalRequest,
        now: Instant,
        wall: DateTime<Utc>,
        cut: Option<Cut>,
    ) -> FiscalOutcome {
        self.job(now, cut, |fiscaliser| fiscaliser.fiscalise(req, wall))
    }

    /// Renews the shift at `now`, as the receipt task does for [`crate::session::Output::RenewShift`].
    pub(super) fn renew_shift(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> (Vec<JournalEvent>, Result<(), FiscalError>) {
        self.job(now, None, |fiscaliser| fiscaliser.renew_shift(wall))
    }

    /// The KKT is off for the next job (`true`) or back on.
    pub(super) fn switch_off(&mut self, off: bool) {
        self.line(|line| line.link.kkt.set_fault(Fault::Silent, off));
    }

    /// The KKT registers the next sale and loses its answer.
    pub(super) fn lose_next_answer(&mut self) {
        self.line(|line| {
            line.link
                .kkt
                .set_fault(Fault::LoseAnswerAfterRegistration, true)
        });
    }

    /// A new process opens the port: a fresh host session, nothing cut, nothing remembered.
    pub(super) fn restart(&mut self) {
        self.fiscaliser.forget();
        self.line(|line| {
            line.link.host = HostSession::new(LinkConfig::default(), line.password);
            line.dead = false;
            line.cut = None;
        });
    }

    /// The receipts the FN holds.
    pub(super) fn receipts(&self) -> Vec<FoundDocument> {
        self.line(|line| {
            line.link
                .kkt
                .documents()
                .iter()
                .filter(|d| matches!(d.kind, DocumentKind::Receipt(_)))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use backend_sync::event::{PaymentMethod, ServiceAmount};
    use backend_sync::JournalEvent;
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::ledger::Ledger;
    use crate::session::{DeviceInput, Input, Output, Session};

    fn t0() -> DateTime<Utc> {
        "2026-12-01T07:00:00Z".parse().unwrap()
    }

    /// A payment of 1 500 ₽ credited before the process died, its receipt not yet made.
    fn credited_payment() -> Vec<JournalEvent> {
        vec![JournalEvent::PaymentCompleted {
            payment_id: "P1".into(),
            account: "1000000001".into(),
            method: PaymentMethod::Cash,
            total_kopecks: 150_000,
            allocations: vec![ServiceAmount {
                service_id: "el".into(),
                service_name: "Электроэнергия".into(),
                debt_kopecks: 150_000,
                advance_kopecks: 0,
            }],
        }]
    }

    /// A process started on `journal`: the core rebuilt from it, the validator settled.
    fn start(journal: &[JournalEvent], now: DateTime<Utc>) -> Session {
        let mut session = Session::new(
            super::super::session_config(),
            Box::new(super::super::NoReadings),
        );
        let day = now.date_naive();
        session.restore(Ledger::replay(
            journal
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 + 1, day, e)),
        ));
        session.begin_recovery(now);
        session.validator_settled(now);
        session
    }

    /// Journals the session's entries; returns the receipt request it made, if any.
    fn drain(session: &mut Session, journal: &mut Vec<JournalEvent>) -> Option<FiscalRequest> {
        let mut request = None;
        while let Some(output) = session.poll_output() {
            match output {
                Output::Journal(event) => journal.push(event),
                Output::Fiscalise(req) => request = Some(req),
                _ => {}
            }
        }
        request
    }

    fn fiscalised_fds(journal: &[JournalEvent]) -> Vec<u32> {
        journal
            .iter()
            .filter_map(|e| match e {
                JournalEvent::ReceiptFiscalised { fiscal, .. } => Some(fiscal.fd_number),
                _ => None,
            })
            .collect()
    }

    /// SIGKILL at every request of a sale (shift opening, lines, close, reads), then a restart:
    /// the FN holds exactly one receipt for the payment and the journal names it.
    #[test]
    fn a_crash_at_any_request_of_a_sale_leaves_exactly_one_fiscal_document() {
        let tz = super::super::session_config().tz;
        let mut completed_on_first_try = false;
        for after in 0..24 {
            let start_at = Instant::now();
            let mut kkt = FiscalSide::new(start_at, t0(), tz);
            let mut journal = credited_payment();

            let mut first = start(&journal, t0());
            let req = drain(&mut first, &mut journal).expect("recovery asks for the receipt");
            assert_eq!(req.resume, None);
            let cut = Some(Cut::ProcessDies { after });
            let outcome = kkt.fiscalise(&req, start_at, t0(), cut);
            if !kkt.line(|l| l.dead).unwrap_or(false) {
                // The whole sale ran before the cut: the first process journals it.
                completed_on_first_try = true;
                journal.extend(outcome.journal);
                first.handle(Input::Device(outcome.input), t0());
                drain(&mut first, &mut journal);
                assert_eq!(fiscalised_fds(&journal).len(), 1, "after {after}");
                assert_eq!(kkt.receipts().len(), 1, "after {after}");
                continue;
            }
            kkt.restart();

            let later = t0() + chrono::Duration::minutes(1);
            let mut second = start(&journal, later);
            let req = drain(&mut second, &mut journal).expect("the receipt is asked for again");
            assert!(req.resume.is_some(), "the second try looks first");
            let link_later = start_at + std::time::Duration::from_secs(60);
            let outcome = kkt.fiscalise(&req, link_later, later, None);
            journal.extend(outcome.journal);
            second.handle(Input::Device(outcome.input), later);
            drain(&mut second, &mut journal);

            let in_fn = kkt.receipts();
            assert_eq!(in_fn.len(), 1, "cut after {after} requests: {in_fn:?}");
            assert_eq!(
                fiscalised_fds(&journal),
                vec![in_fn[0].fd_number],
                "after {after}"
            );
            assert_eq!(in_fn[0].total, Some(150_000));
        }
        assert!(completed_on_first_try, "the cuts cover the whole sale");
    }

    /// The KKT falls silent after any request of a sale: the try fails (the sale may have been
    /// made), the retry finds it or sells it, never both.
    #[test]
    fn a_kkt_gone_silent_mid_sale_still_ends_with_exactly_one_fiscal_document() {
        let tz = super::super::session_config().tz;
        for after in 1..24 {
            let start_at = Instant::now();
            let mut kkt = FiscalSide::new(start_at, t0(), tz);
            let mut journal = credited_payment();
            let mut session = start(&journal, t0());
            let mut req = drain(&mut session, &mut journal).expect("a receipt request");
            let mut cut = Some(Cut::KktOff { after });
            let mut now = t0();
            for attempt in 0.. {
                assert!(attempt < 5, "after {after}: still not fiscalised");
                let link_now = start_at + (now - t0()).to_std().unwrap();
                let outcome = kkt.fiscalise(&req, link_now, now, cut.take());
                journal.extend(outcome.journal);
                let failed = matches!(outcome.input, DeviceInput::FiscalisationFailed { .. });
                session.handle(Input::Device(outcome.input), now);
                drain(&mut session, &mut journal);
                if !failed {
                    break;
                }
                now = session.next_fiscal_retry().expect("a retry is planned");
                session.handle_timeout(now);
                req = drain(&mut session, &mut journal).expect("the retry's request");
                assert!(req.resume.is_some());
            }
            let in_fn = kkt.receipts();
            assert_eq!(in_fn.len(), 1, "silent after {after}: {in_fn:?}");
            assert_eq!(fiscalised_fds(&journal), vec![in_fn[0].fd_number]);
        }
    }

    fn request(payment: &str, resume: Option<crate::session::FiscalResume>) -> FiscalRequest {
        FiscalRequest {
            receipt_id: format!("R-{payment}"),
            payment_id: payment.into(),
            account: "1000000001".into(),
            allocations: vec![crate::money::Allocation {
                service_id: "el".into(),
                name: "Электроэнергия".into(),
                to_debt: crate::money::Money::from_rubles(500),
                to_advance: crate::money::Money::ZERO,
            }],
            cash: crate::money::Money::from_rubles(500),
            card: crate::money::Money::ZERO,
            contact: None,
            card_approval: None,
            sbp_operation: None,
            stuck_notes: Vec::new(),
            resume,
        }
    }

    /// Regression (seed 1002): two receipts of one total queued together, the second a retry
    /// whose earlier try registered nothing. The first sold FD n after the retry's request was
    /// made, so the journal's `claimed` could not name it, and the retry took FD n for its own:
    /// one FD journaled for two payments, one payment without a fiscal document.
    #[test]
    fn a_retry_never_takes_a_document_made_for_a_receipt_queued_before_it() {
        let tz = super::super::session_config().tz;
        let now = Instant::now();
        let mut kkt = FiscalSide::new(now, t0(), tz);
        let fresh = kkt.fiscalise(&request("P2", None), now, t0(), None);
        let DeviceInput::Fiscalised { fiscal: first, .. } = fresh.input else {
            panic!("{:?}", fresh.input)
        };
        let resume = crate::session::FiscalResume {
            fn_number: None,
            after_fd: 0,
            claimed: Vec::new(),
        };
        let retry = kkt.fiscalise(&request("P1", Some(resume)), now, t0(), None);
        assert!(!retry.found_earlier, "P2's receipt is not P1's");
        let DeviceInput::Fiscalised { fiscal: second, .. } = retry.input else {
            panic!("{:?}", retry.input)
        };
        assert_ne!(first.fd_number, second.fd_number);
        assert_eq!(kkt.receipts().len(), 2);
    }
}
