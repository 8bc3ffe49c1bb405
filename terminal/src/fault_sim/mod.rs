//! Deterministic fault simulation of the kiosk (the way TigerBeetle's VOPR tests itself): the
//! production session core, the production bill-validator host core with the validator
//! emulator's own state machine, and the production ZVT ECR core with the card-terminal
//! emulator's own state machine, wired in memory on one fake clock. A seeded RNG picks customers
//! (pay cash or by card, finish, cancel, walk away) and faults at every step (power loss and jams
//! in every bill state, garbled replies, lost ACKs, slow replies, card link drops, declines, busy
//! terminals and lost ACKs mid-authorisation, the fiscal register switched off, losing a sale's
//! answer or cut off mid-sale, paper out, process crashes that drop all memory and rebuild the
//! core from the journal, and orderly stops (SIGTERM) that must finish the customer's payment
//! within systemd's stop timeout before the restart). Invariants are checked after every step
//! and at the end; a failing seed replays with `terminal simulate-faults --seed N`.
//!
//! The translation between the session core and the drivers is the device tasks' own
//! ([`crate::devices::bill::driver_command`], [`crate::devices::bill::session_input`],
//! [`crate::devices::card::session_input`], [`crate::devices::card::last_result`], and the
//! receipt task's [`crate::devices::fiscal::Fiscaliser`] over the Shtrih-M register and the KKT
//! emulator's core): no rule is copied here. Printing is modelled as answering in order.

mod card;
mod fiscal;
mod sbp;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use backend_sync::JournalEvent;
use bill_acceptor::emulator::{DeviceCore, Timing, ValidatorModel};
use bill_acceptor::{BillEvent, DeviceStatus, HostCommand, HostConfig, HostCore, Protocol};
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::devices::bill::{driver_command, session_input, BillHealth};
use crate::health::DeviceCondition;
use crate::journal::Journal;
use crate::ledger::Ledger;
use crate::money::{Limits, Money, ServiceDue};
use crate::session::{
    CardCommand, CustomerAccount, DeviceInput, Input, Intent, Output, Purpose, ReceiptChoice,
    SbpScreen, Screen, Session, SessionConfig,
};
use backend_sync::event::PaymentMethod;
use card::CardSide;
use card_reader::emulator::TxnState;
use fiscal::{Cut, FiscalSide};
use sbp::SbpSide;

/// Every kind of fault the simulation injects, by name (the report counts them).
const FAULTS: [&str; 20] = [
    "power_loss",
    "jam",
    "garbled_reply",
    "lost_ack",
    "slow_replies",
    "crash",
    "crash_before_journal",
    "fiscal_failure",
    "paper_out",
    "card_link_drop",
    "card_declined",
    "card_busy",
    "card_lost_ack",
    "card_crash",
    "kkt_lost_answer",
    "kkt_off_mid_sale",
    "kkt_crash_mid_sale",
    "orderly_stop",
    "sbp_link_down",
    "sbp_paid_after_revoke",
];

/// How long systemd waits for an orderly stop (`TimeoutStopSec=` of `kiosk-terminal.service`).
const STOP_TIMEOUT: Duration = Duration::from_secs(150);

/// How long the health desk may take to learn what the validator's own state shows.
const HEALTH_LAG: Duration = Duration::from_secs(10);

/// What one or more seeds did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub seeds: u64,
    pub simulated_hours: f64,
    pub sessions: u64,
    pub bills_inserted: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub stuck_notes: u64,
    /// Card payments credited, card outcomes the kiosk had to learn from the terminal, and
    /// approvals reversed (by the terminal after "not issued" or by recovery's 06 30).
    pub card_payments: u64,
    pub card_outcomes_unknown: u64,
    pub card_reversals: u64,
    /// СБП payments credited, and those whose customer the kiosk let go before the bank's answer.
    pub sbp_payments: u64,
    pub sbp_outcomes_unknown: u64,
    /// Receipts the simulated fiscal drive holds (one per credited payment).
    pub fiscal_receipts: u64,
    /// Receipts an earlier try had registered (a crash or a lost answer kept them out of the
    /// journal), found in the fiscal drive instead of sold again.
    pub fiscal_found_earlier: u64,
    /// Shifts the core renewed between customers before their 24 hours ran out.
    pub shift_renewals: u64,
    pub violations: Vec<String>,
    /// Simulated time over wall time.
    pub speed_up: f64,
}

impl Report {
    fn merge(&mut self, other: Report) {
        self.seeds += other.seeds;
        self.simulated_hours += other.simulated_hours;
        self.sessions += other.sessions;
        self.bills_inserted += other.bills_inserted;
        for (k, v) in other.faults {
            *self.faults.entry(k).or_default() += v;
        }
        self.stuck_notes += other.stuck_notes;
        self.card_payments += other.card_payments;
        self.card_outcomes_unknown += other.card_outcomes_unknown;
        self.card_reversals += other.card_reversals;
        self.sbp_payments += other.sbp_payments;
        self.sbp_outcomes_unknown += other.sbp_outcomes_unknown;
        self.fiscal_receipts += other.fiscal_receipts;
        self.fiscal_found_earlier += other.fiscal_found_earlier;
        self.shift_renewals += other.shift_renewals;
        self.violations.extend(other.violations);
    }
}

/// Runs `seeds` seeds from `first_seed`, each for `hours` of simulated kiosk time, on every core
/// (each seed is its own world; the report merges them in seed order, so it does not depend on
/// how many threads ran).
pub fn run_many(first_seed: u64, seeds: u64, hours: f64) -> Report {
    let started = std::time::Instant::now();
    let next = std::sync::atomic::AtomicU64::new(first_seed);
    let end = first_seed.saturating_add(seeds);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut done: Vec<(u64, Report)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seed >= end {
                            return mine;
                        }
                        mine.push((seed, run_seed(seed, hours)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            // A seed that panics is a failure of the run, never a seed quietly missing.
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(seed, _)| *seed);
    let mut report = Report::default();
    for (_, one) in done {
        report.merge(one);
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    report.speed_up = report.simulated_hours * 3600.0 / wall;
    report
}

/// One seed: a kiosk day (or `hours`) of customers and faults; the violations name the seed.
pub fn run_seed(seed: u64, hours: f64) -> Report {
    let mut kiosk = Kiosk::new(seed);
    let end = kiosk.start + Duration::from_secs_f64(hours * 3600.0);
    while kiosk.now < end && kiosk.violations.is_empty() {
        kiosk.step();
    }
    kiosk.settle();
    let events = kiosk.journal.events().unwrap_or_default();
    let count = |what: fn(&JournalEvent) -> bool| Kiosk::count(&events, what);
    let mut report = Report {
        seeds: 1,
        simulated_hours: hours,
        sessions: kiosk.sessions,
        bills_inserted: kiosk.bills_inserted,
        faults: kiosk.faults.clone(),
        stuck_notes: count(|e| matches!(e, JournalEvent::BillStuck { .. })),
        card_payments: count(|e| {
            matches!(
                e,
                JournalEvent::PaymentCompleted {
                    method: PaymentMethod::Card,
                    ..
                }
            )
        }),
        card_outcomes_unknown: count(|e| matches!(e, JournalEvent::CardOutcomeUnknown { .. })),
        card_reversals: count(|e| matches!(e, JournalEvent::CardReversed { .. })),
        sbp_payments: count(|e| {
            matches!(
                e,
                JournalEvent::PaymentCompleted {
                    method: PaymentMethod::Sbp,
                    ..
                }
            )
        }),
        sbp_outcomes_unknown: count(|e| matches!(e, JournalEvent::SbpOutcomeUnknown { .. })),
        fiscal_receipts: kiosk.fiscal.receipts().len() as u64,
        fiscal_found_earlier: kiosk.fiscal_found_earlier,
        shift_renewals: kiosk.shift_renewals,
        violations: Vec::new(),
        speed_up: 0.0,
    };
    report.violations = kiosk
        .violations
        .iter()
        .map(|v| {
            format!(
                "seed {seed}: {v} (replay: terminal simulate-faults --seed {seed} --hours {hours}); faults: {:?}",
                kiosk.trace
            )
        })
        .collect();
    report
}

/// What the simulated customer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Customer {
    Away {
        next_arrival: Instant,
    },
    /// Walking through the screens; acts at `at`.
    Active {
        at: Instant,
        bills_left: u8,
    },
}

struct Kiosk {
    rng: StdRng,
    start: Instant,
    now: Instant,
    t0: DateTime<Utc>,
    session: Session,
    journal: Journal,
    host: HostCore,
    device: DeviceCore,
    /// The validator's health as the bill task follows it, and since when the emulator is jammed.
    bill_health: BillHealth,
    jammed_since: Option<Instant>,
    /// Entries were journaled since the cassette was last checked against the validator.
    journaled_since_check: bool,
    card: CardSide,
    sbp: SbpSide,
    /// Denominations the validator reported (kopecks).
    table: BTreeSet<i64>,
    customer: Customer,
    /// Receipt task requests, answered in order.
    receipts: VecDeque<(Instant, Output)>,
    fiscal: FiscalSide,
    /// Shifts renewed between customers on the core's schedule.
    shift_renewals: u64,
    /// How the next sale is cut short.
    fiscal_fault: Option<FiscalFault>,
    fiscal_found_earlier: u64,
    paper_out: bool,
    crash_before_journal: bool,
    /// The process dies at the card's goods-issued answer: before it reaches the terminal, or
    /// right after.
    crash_at_goods_issued: bool,
    /// Counts process starts: what the previous process was about to deliver dies with it.
    incarnation: u64,
    /// An orderly stop (SIGTERM) was asked for then; the process restarts once it may stop.
    stopping_since: Option<Instant>,
    /// The next fault, and the technician's visit to a jammed validator.
    next_fault: Instant,
    technician_at: Option<Instant>,
    /// The run is over: no more customers, no more faults; the kiosk settles.
    closing: bool,
    sessions: u64,
    bills_inserted: u64,
    faults: BTreeMap<&'static str, u64>,
    trace: Vec<String>,
    violations: Vec<String>,
}

fn host_config() -> HostConfig {
    HostConfig {
        poll_interval: Duration::from_millis(150),
        reply_timeout: Duration::from_millis(100),
        relink_interval: Duration::from_millis(500),
        ..HostConfig::default()
    }
}

fn session_config() -> SessionConfig {
    let limits = Limits {
        per_payment: Money::from_rubles(15_000),
        per_day: Money::from_rubles(1_000_000_000),
    };
    SessionConfig::new("SIM01", limits)
}

fn demo_account() -> CustomerAccount {
    CustomerAccount {
        number: "1000000001".into(),
        verified: true,
        holder_masked: "Ив***в И. И.".into(),
        address_masked: "ул. Ленина, д. *".into(),
        services: vec![
            ServiceDue {
                service_id: "el".into(),
                name: "Электроэнергия".into(),
                debt: Money::from_rubles(1_500),
            },
            ServiceDue {
                service_id: "odn".into(),
                name: "ОДН".into(),
                debt: Money::from_rubles(120),
            },
        ],
        meters: Vec::new(),
        paid_today: Money::ZERO,
    }
}

impl Kiosk {
    fn new(seed: u64) -> Kiosk {
        let start = Instant::now();
        let t0 = DateTime::parse_from_rfc3339("2026-12-01T06:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let protocol = Protocol::Ccnet;
        let mut kiosk = Kiosk {
            rng: StdRng::seed_from_u64(seed),
            start,
            now: start,
            t0,
            session: Session::new(session_config(), Box::new(NoReadings)),
            journal: Journal::in_memory().expect("an in-memory journal opens"),
            host: HostCore::new(protocol.wire(), host_config(), start),
            device: DeviceCore::new(
                protocol.wire(),
                ValidatorModel::new(protocol, Timing::default()),
            ),
            bill_health: BillHealth::default(),
            jammed_since: None,
            journaled_since_check: false,
            card: CardSide::new(start),
            sbp: SbpSide::default(),
            table: BTreeSet::new(),
            customer: Customer::Away {
                next_arrival: start + Duration::from_secs(5),
            },
            receipts: VecDeque::new(),
            fiscal: FiscalSide::new(start, t0, session_config().tz),
            shift_renewals: 0,
            fiscal_fault: None,
            fiscal_found_earlier: 0,
            paper_out: false,
            crash_before_journal: false,
            crash_at_goods_issued: false,
            incarnation: 0,
            stopping_since: None,
            next_fault: start + Duration::from_secs(30),
            technician_at: None,
            closing: false,
            sessions: 0,
            bills_inserted: 0,
            faults: FAULTS.iter().map(|f| (*f, 0)).collect(),
            trace: Vec::new(),
            violations: Vec::new(),
        };
        kiosk.session.begin_recovery(t0);
        kiosk.session.begin_card_recovery(t0);
        kiosk.drain();
        kiosk.sbp_offered(true);
        kiosk
    }

    fn wall(&self) -> DateTime<Utc> {
        self.t0 + chrono::Duration::from_std(self.now - self.start).unwrap_or_default()
    }

    /// One step: advance the clock to the next thing that happens, then let it happen.
    fn step(&mut self) {
        let next = self.next_wake();
        self.now = next.max(self.now + Duration::from_millis(1));
        let now = self.now;
        let wall = self.wall();
        if self.session.poll_timeout().is_some_and(|t| t <= wall) {
            self.session.handle_timeout(wall);
            self.drain();
        }
        if now >= self.next_fault && !self.closing {
            self.inject_fault();
        }
        if self.technician_at.is_some_and(|t| now >= t) {
            self.technician();
        }
        self.customer_acts();
        self.answer_receipts();
        self.exchange();
        self.exchange_card();
        self.exchange_sbp();
        self.check_every_step();
        self.check_stop();
    }

    /// An orderly stop ends once the session may stop (then the process starts again), and
    /// within systemd's stop timeout.
    fn check_stop(&mut self) {
        let Some(since) = self.stopping_since else {
            return;
        };
        if self.session.may_stop() {
            // Card payments a restart left open may stay for the next start (their terminal may
            // not answer); cash is settled before the stop.
            let open: Vec<String> = self
                .session
                .ledger()
                .open_payments
                .values()
                .filter(|p| p.method == PaymentMethod::Cash)
                .map(|p| p.payment_id.clone())
                .collect();
            if !open.is_empty() {
                self.violations
                    .push(format!("an orderly stop left cash payments open: {open:?}"));
            }
            self.crash();
        } else if self.now - since > STOP_TIMEOUT {
            self.violations.push(format!(
                "an orderly stop did not end within {STOP_TIMEOUT:?}: waiting for {} on {:?}",
                self.session.stop_waits_for().unwrap_or("nothing"),
                self.session.view().screen
            ));
        }
    }

    fn next_wake(&self) -> Instant {
        let wall_to_instant = |t: DateTime<Utc>| {
            let d = (t - self.t0).to_std().unwrap_or_default();
            self.start + d
        };
        let far = self.now + Duration::from_secs(3_600);
        let mut wake = [
            Some(self.host.poll_timeout()),
            self.device.poll_timeout(),
            self.card.poll_timeout(),
            self.sbp.next_wake(),
            self.session.poll_timeout().map(wall_to_instant),
            Some(self.next_fault),
            self.technician_at,
            self.receipts.front().map(|(t, _)| *t),
            match self.customer {
                // No one comes once the run is closing.
                Customer::Away { .. } if self.closing => None,
                Customer::Away { next_arrival } => Some(next_arrival),
                Customer::Active { at, .. } => Some(at),
            },
        ]
        .iter()
        .flatten()
        .min()
        .copied()
        .unwrap_or(self.now);
        // Nobody at the kiosk and nothing in flight: skip the idle polling to the next event.
        let quiet = matches!(self.customer, Customer::Away { .. })
            && self.session.is_idle()
            && self.receipts.is_empty()
            && self.card.is_idle()
            && self.device.model.status() == DeviceStatus::Disabled;
        if quiet {
            let skip_to = [
                Some(self.next_fault),
                self.technician_at,
                match self.customer {
                    Customer::Away { next_arrival } => Some(next_arrival),
                    Customer::Active { .. } => None,
                },
                // The core's own deadlines (start-up recovery, fiscal retries) are never skipped.
                self.session.poll_timeout().map(wall_to_instant),
            ]
            .iter()
            .flatten()
            .min()
            .copied()
            .unwrap_or(wake)
            .min(far);
            if skip_to > wake {
                wake = skip_to;
            }
        }
        wake
    }

    fn fault(&mut self, kind: &'static str) {
        *self.faults.entry(kind).or_default() += 1;
        let at = self.now - self.start;
        let status = self.device.model.status();
        self.trace
            .push(format!("{:.3}s {kind} ({status:?})", at.as_secs_f64()));
        if self.trace.len() > 40 {
            self.trace.remove(0);
        }
    }

    fn inject_fault(&mut self) {
        // Faults come more often while money moves, so every bill state gets hit.
        let busy = !self.session.is_idle();
        let gap = if busy { 200..6_000 } else { 30_000..600_000 };
        self.next_fault = self.now + Duration::from_millis(self.rng.gen_range(gap));
        let now = self.now;
        // Weighted: the bill path's faults most, whole-process crashes least; while a card
        // payment runs, the card's faults.
        const WEIGHTS: [u32; 20] = [4, 4, 2, 2, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        const CARD_WEIGHTS: [u32; 20] =
            [0, 0, 0, 0, 0, 1, 0, 0, 1, 4, 1, 2, 2, 3, 0, 0, 0, 1, 0, 0];
        // A QR on the screen: the link to the back office, the race with a revocation, crashes.
        const SBP_WEIGHTS: [u32; 20] = [0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 4, 3];
        let weights = match self.session.view().screen {
            Screen::Card { .. } => CARD_WEIGHTS,
            Screen::Sbp(SbpScreen { .. }) => SBP_WEIGHTS,
            _ => WEIGHTS,
        };
        let mut pick = self.rng.gen_range(0..weights.iter().sum::<u32>());
        let kind = weights
            .iter()
            .position(|w| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .unwrap_or(0);
        match kind {
            0 => {
                self.fault("power_loss");
                let off = Duration::from_millis(self.rng.gen_range(50..2_500));
                self.device.power_loss(now, off);
            }
            1 => {
                self.fault("jam");
                self.device.model.jam(now);
                let visit = Duration::from_secs(self.rng.gen_range(30..600));
                self.technician_at.get_or_insert(now + visit);
            }
            2 => {
                self.fault("garbled_reply");
                self.device.faults.garble_replies += self.rng.gen_range(1..4);
            }
            3 => {
                self.fault("lost_ack");
                self.device.faults.drop_acks += 1;
            }
            4 => {
                self.fault("slow_replies");
                self.device.faults.reply_delay = Duration::from_millis(self.rng.gen_range(0..190));
            }
            5 => {
                self.fault("crash");
                self.crash();
            }
            6 => {
                self.fault("crash_before_journal");
                self.crash_before_journal = true;
            }
            7 => {
                self.fault("fiscal_failure");
                self.fiscal_fault = Some(FiscalFault::Off);
            }
            8 => {
                self.fault("paper_out");
                self.paper_out = !self.paper_out;
            }
            9 => {
                self.fault("card_link_drop");
                self.card.terminal.faults_mut().drop_link_next = true;
            }
            10 => {
                self.fault("card_declined");
                self.card.terminal.faults_mut().decline_next = true;
            }
            11 => {
                self.fault("card_busy");
                self.card.terminal.faults_mut().busy_next = true;
            }
            12 => {
                self.fault("card_lost_ack");
                self.card.terminal.faults_mut().lose_ack_next = true;
            }
            13 => {
                self.fault("card_crash");
                self.crash_at_goods_issued = true;
            }
            14 => {
                self.fault("kkt_lost_answer");
                self.fiscal.lose_next_answer();
            }
            15 => {
                self.fault("kkt_off_mid_sale");
                self.fiscal_fault = Some(FiscalFault::OffMidSale);
            }
            16 => {
                self.fault("kkt_crash_mid_sale");
                self.fiscal_fault = Some(FiscalFault::CrashMidSale);
            }
            17 => {
                self.fault("orderly_stop");
                self.stopping_since.get_or_insert(now);
                self.session.request_stop(self.wall());
                self.drain();
            }
            18 => {
                self.fault("sbp_link_down");
                let down = Duration::from_secs(self.rng.gen_range(1..180));
                self.sbp.down_until = Some(now + down);
                // The health desk's view of it: the method leaves the screen.
                self.sbp_offered(false);
            }
            _ => {
                self.fault("sbp_paid_after_revoke");
                self.sbp.pay_next_at_revoke = true;
            }
        }
    }

    /// What the health desk tells the session about СБП (the back office's heartbeat).
    fn sbp_offered(&mut self, offered: bool) {
        self.device_input(DeviceInput::Availability(crate::session::Availability {
            sbp: offered,
            ..crate::session::Availability::default()
        }));
    }

    /// The СБП watchers' reports, unless the process died meanwhile.
    fn exchange_sbp(&mut self) {
        let was_down = self.sbp.down_until.is_some();
        let reports = self.sbp.exchange(self.now, &mut self.rng);
        if was_down && self.sbp.down_until.is_none() {
            self.sbp_offered(true);
        }
        self.deliver(reports);
    }

    /// The process dies: every piece of memory is gone; the core is rebuilt from the journal and
    /// a fresh driver opens the port. The validator (its own power) keeps going.
    fn crash(&mut self) {
        self.incarnation += 1;
        self.stopping_since = None;
        let day = self.wall().date_naive();
        let events = self.journal.events().unwrap_or_default();
        let ledger = Ledger::replay(events.iter().map(|(seq, e)| (*seq, day, e)));
        let mut config = session_config();
        config.first_document_no = self.journal.last_seq() + 1;
        self.session = Session::new(config, Box::new(NoReadings));
        self.session.restore(ledger);
        self.session.begin_recovery(self.wall());
        self.host = HostCore::new(Protocol::Ccnet.wire(), host_config(), self.now);
        // The new process learns the validator's state afresh: the lag counts from its start.
        self.bill_health = BillHealth::default();
        self.jammed_since = None;
        self.card.restart(self.now);
        self.sbp.restart();
        self.fiscal.restart();
        self.receipts.clear();
        self.table.clear();
        if let Customer::Active { .. } = self.customer {
            // The customer sees a blank screen and leaves.
            self.leave();
        }
        self.session.begin_card_recovery(self.wall());
        self.drain();
        let offered = self.sbp.down_until.is_none();
        self.sbp_offered(offered);
    }

    fn leave(&mut self) {
        let pause = Duration::from_secs(self.rng.gen_range(20..600));
        self.customer = Customer::Away {
            next_arrival: self.now + pause,
        };
    }

    /// The technician clears the jam and resolves stuck notes from what they find.
    fn technician(&mut self) {
        self.technician_at = None;
        if !self.session.is_idle() {
            self.technician_at = Some(self.now + Duration::from_secs(60));
            return;
        }
        let _ = self.device.model.clear_jam(self.now);
        self.resolve_stuck_notes();
    }

    /// Notes in the cassette that the journal does not count are the stuck notes found there;
    /// the others were in the bill path and are handed back.
    fn resolve_stuck_notes(&mut self) {
        let mut surplus = self.device.model.stacked_total();
        for (d, n) in self.session.ledger().cassette.clone() {
            if let Some(m) = surplus.get_mut(&d) {
                *m = m.saturating_sub(n);
            }
        }
        let notes: Vec<_> = self
            .session
            .ledger()
            .stuck_notes
            .values()
            .cloned()
            .collect();
        for note in notes {
            let d = note.denomination.kopecks();
            let found = surplus.get(&d).copied().unwrap_or(0) > 0;
            if found {
                if let Some(m) = surplus.get_mut(&d) {
                    *m -= 1;
                }
            }
            self.session
                .resolve_stuck_note(&note.reference, found, self.wall());
            self.drain();
        }
    }

    fn customer_acts(&mut self) {
        match self.customer {
            Customer::Away { next_arrival } if self.now >= next_arrival && !self.closing => {
                if self.session.is_idle() && !self.session.holds_customers(self.wall()) {
                    self.sessions += 1;
                    let bills = self.rng.gen_range(1..5);
                    self.customer = Customer::Active {
                        at: self.now,
                        bills_left: bills,
                    };
                    self.ui(Intent::Start(Purpose::Pay));
                } else {
                    self.customer = Customer::Away {
                        next_arrival: self.now + Duration::from_secs(30),
                    };
                }
            }
            Customer::Active { at, bills_left } if self.now >= at => {
                let think = Duration::from_millis(self.rng.gen_range(300..4_000));
                self.customer = Customer::Active {
                    at: self.now + think,
                    bills_left,
                };
                self.customer_screen(bills_left);
            }
            _ => {}
        }
    }

    fn customer_screen(&mut self, bills_left: u8) {
        let screen = self.session.view().screen;
        let roll = self.rng.gen_range(0..100);
        match screen {
            Screen::Welcome => self.leave(),
            Screen::AccountEntry { .. } => self.ui(Intent::SubmitAccount("1000000001".into())),
            Screen::Summary { .. } if roll < 3 => self.ui(Intent::Home),
            Screen::Summary { card, .. } if card && roll < 30 => self.ui(Intent::PayCard),
            Screen::Summary { sbp, .. } if sbp && roll < 50 => self.ui(Intent::PaySbp),
            Screen::Summary { cash, .. } if cash => self.ui(Intent::PayCash),
            Screen::Summary { .. } => self.ui(Intent::Home),
            Screen::Cash { busy: true, .. } => {}
            // Walking away mid-payment: the session's idle timeout has to end it.
            Screen::Cash { .. } if roll < 2 => self.leave(),
            Screen::Cash { .. } if roll < 4 => self.ui(Intent::Cancel),
            Screen::Cash { accepted, .. } if bills_left > 0 && !accepted.is_empty() => {
                let bill = accepted[self.rng.gen_range(0..accepted.len())];
                let rubles = bill.kopecks() / 100;
                if self.device.model.insert(rubles, self.now).is_ok() {
                    self.bills_inserted += 1;
                    self.customer = Customer::Active {
                        at: self.now + Duration::from_millis(800),
                        bills_left: bills_left - 1,
                    };
                }
            }
            Screen::Cash { .. } => self.ui(Intent::FinishCash),
            // At the card terminal: most wait for it, some cancel, a few walk away.
            Screen::Card {
                can_cancel: true, ..
            } if roll < 3 => self.ui(Intent::Cancel),
            Screen::Card { .. } if roll < 4 => self.leave(),
            Screen::Card { .. } => {}
            // A QR on the screen: most pay it in their bank's app (the bank decides when),
            // some cancel, a few walk away.
            Screen::Sbp(SbpScreen {
                checking: false, ..
            }) if roll < 3 => self.ui(Intent::Cancel),
            Screen::Sbp(SbpScreen { .. }) if roll < 4 => self.leave(),
            Screen::Sbp(SbpScreen { .. }) => {}
            Screen::ReceiptChoice { .. } if roll < 3 => self.leave(),
            Screen::ReceiptChoice { paper: true, .. } => {
                self.ui(Intent::ChooseReceipt(ReceiptChoice::Paper))
            }
            Screen::ReceiptChoice { .. } => {
                self.ui(Intent::ChooseReceipt(ReceiptChoice::ScreenOnly))
            }
            Screen::Done { .. } | Screen::Notice { .. } => {
                self.ui(Intent::Home);
                self.leave();
            }
            Screen::LookingUp { .. } | Screen::Processing { .. } => {}
            _ => self.ui(Intent::Home),
        }
    }

    fn ui(&mut self, intent: Intent) {
        self.session.handle(Input::Ui(intent), self.wall());
        self.drain();
    }

    fn device_input(&mut self, input: DeviceInput) {
        self.session.handle(Input::Device(input), self.wall());
        self.drain();
    }

    /// Carries out the session's outputs in order, the way the runtime does.
    fn drain(&mut self) {
        let mut card_inputs = Vec::new();
        while let Some(output) = self.session.poll_output() {
            match output {
                Output::Journal(event) => {
                    tracing::trace!(at = ?(self.now - self.start), ?event, "journal");
                    self.journaled_since_check = true;
                    if let Err(e) = self.journal.append(&event, self.wall()) {
                        self.violations.push(format!("journal append failed: {e}"));
                    }
                }
                Output::LookupAccount { .. } => {
                    self.receipts
                        .push_back((self.now + Duration::from_millis(200), output));
                }
                Output::Bill(command) => {
                    let now = self.now;
                    let driver = driver_command(&command, &self.table);
                    self.host.handle_command(HostCommand::Bill(driver), now);
                }
                Output::Fiscalise(_) | Output::PrintReceipt { .. } | Output::RenewShift => {
                    let delay = Duration::from_millis(self.rng.gen_range(100..1_500));
                    self.receipts.push_back((self.now + delay, output));
                }
                Output::Card(command) => {
                    tracing::trace!(at = ?(self.now - self.start), ?command, "card command");
                    let answer = matches!(command, CardCommand::GoodsIssued { .. });
                    if answer && std::mem::take(&mut self.crash_at_goods_issued) {
                        // The approval is journaled; the answer goes out or not, then all is lost.
                        if self.rng.gen_bool(0.5) {
                            self.card.command(command, self.now, &mut Vec::new());
                            self.card.exchange(self.now, &mut Vec::new());
                        }
                        self.crash();
                        return;
                    }
                    self.card.command(command, self.now, &mut card_inputs)
                }
                Output::Sbp(command) => self.sbp.command(command, self.now),
                Output::PrintSlip(_) => {}
            }
        }
        self.deliver(card_inputs);
    }

    /// Hands the card side's reports to the core, unless the process died meanwhile.
    fn deliver(&mut self, inputs: Vec<DeviceInput>) {
        let incarnation = self.incarnation;
        for input in inputs {
            if self.incarnation != incarnation {
                return;
            }
            self.device_input(input);
        }
    }

    /// Moves bytes between the ECR core and the card terminal, and their reports to the core.
    fn exchange_card(&mut self) {
        let mut inputs = Vec::new();
        self.card.exchange(self.now, &mut inputs);
        self.deliver(inputs);
    }

    /// The receipt task and the back office's account lookup, answering in order.
    fn answer_receipts(&mut self) {
        while self.receipts.front().is_some_and(|(t, _)| *t <= self.now) {
            let Some((_, output)) = self.receipts.pop_front() else {
                return;
            };
            let input = match output {
                Output::LookupAccount { .. } => DeviceInput::AccountFound(demo_account()),
                Output::Fiscalise(req) => {
                    if !self.fiscalise(&req) {
                        return; // the process died mid-sale
                    }
                    continue;
                }
                Output::RenewShift => {
                    let (now, wall) = (self.now, self.wall());
                    let (journal, result) = self.fiscal.renew_shift(now, wall);
                    self.shift_renewals += u64::from(result.is_ok());
                    self.journal_receipt_task(journal, wall);
                    match result {
                        Ok(()) => continue,
                        Err(e) => DeviceInput::ShiftRenewalFailed {
                            reason: e.to_string(),
                        },
                    }
                }
                Output::PrintReceipt { receipt_id } if self.paper_out => DeviceInput::PrintFailed {
                    receipt_id,
                    reason: "paper out (simulated)".into(),
                },
                Output::PrintReceipt { receipt_id } => DeviceInput::Printed { receipt_id },
                _ => continue,
            };
            self.device_input(input);
        }
    }

    /// The receipt task's fiscal half on the simulated KKT; false when the process died.
    fn fiscalise(&mut self, req: &crate::session::FiscalRequest) -> bool {
        // Up to a dozen requests make a sale (status reads, lines, tags, close, lookups).
        let cut = match self.fiscal_fault.take() {
            None => None,
            Some(FiscalFault::Off) => {
                self.fiscal.switch_off(true);
                None
            }
            Some(FiscalFault::OffMidSale) => Some(Cut::KktOff {
                after: self.rng.gen_range(1..12),
            }),
            Some(FiscalFault::CrashMidSale) => Some(Cut::ProcessDies {
                after: self.rng.gen_range(0..12),
            }),
        };
        let (now, wall) = (self.now, self.wall());
        let outcome = self.fiscal.fiscalise(req, now, wall, cut);
        if matches!(cut, Some(Cut::ProcessDies { .. })) {
            self.crash();
            return false;
        }
        self.fiscal_found_earlier += u64::from(outcome.found_earlier);
        self.journal_receipt_task(outcome.journal, wall);
        self.device_input(outcome.input);
        true
    }

    /// The receipt task's reports, journaled the way the runtime journals them.
    fn journal_receipt_task(
        &mut self,
        events: Vec<JournalEvent>,
        wall: chrono::DateTime<chrono::Utc>,
    ) {
        for event in events {
            self.journaled_since_check = true;
            match self.journal.append(&event, wall) {
                Ok(record) => {
                    let day = wall.date_naive();
                    self.session.journaled(record.seq, day, &event);
                }
                Err(e) => self.violations.push(format!("journal append failed: {e}")),
            }
        }
    }

    /// Moves bytes between the host core and the validator, and the host's events to the core.
    fn exchange(&mut self) {
        let now = self.now;
        if now >= self.host.poll_timeout() {
            self.host.handle_timeout(now);
        }
        for _ in 0..8 {
            let mut moved = false;
            while let Some(bytes) = self.host.poll_transmit() {
                self.device.handle_input(&bytes, now);
                moved = true;
            }
            while let Some(bytes) = self.device.poll_transmit(now) {
                self.host.handle_input(&bytes, now);
                moved = true;
            }
            while let Some(event) = self.host.poll_event() {
                moved = true;
                self.on_bill_event(event);
            }
            if !moved {
                break;
            }
        }
    }

    fn on_bill_event(&mut self, event: BillEvent) {
        let now = self.now;
        self.bill_health.on_event(&event);
        if let BillEvent::Ready { bill_table, .. } = &event {
            self.table = bill_table
                .bills
                .iter()
                .map(|b| b.denomination_kopecks)
                .collect();
        }
        let token = match &event {
            BillEvent::Stacked { token, .. } | BillEvent::Returned { token, .. } => Some(*token),
            _ => None,
        };
        if token.is_some() && std::mem::take(&mut self.crash_before_journal) {
            // Dies between the report and its journal entry: the device must repeat it.
            self.crash();
            return;
        }
        let ready = matches!(event, BillEvent::Ready { .. });
        if let Some(input) = session_input(&event) {
            self.device_input(input);
        }
        if ready && self.session.is_recovering() {
            self.device_input(DeviceInput::BillValidatorSettled);
        }
        if let Some(token) = token {
            // Journaled (the in-memory journal is durable on return): the device may be told.
            self.host.handle_command(HostCommand::Confirm(token), now);
        }
    }

    /// Invariants that hold at every step: nothing is credited that is not in the cassette, and a
    /// jammed validator is reported down within seconds.
    fn check_every_step(&mut self) {
        if self.device.model.status() == DeviceStatus::ValidatorJammed {
            let since = *self.jammed_since.get_or_insert(self.now);
            let up = self.bill_health.condition() == DeviceCondition::Up;
            if up && self.now - since > HEALTH_LAG {
                self.violations.push(format!(
                    "the validator has been jammed for {:?}; health still says it is up",
                    self.now - since
                ));
            }
        } else {
            self.jammed_since = None;
        }
        // Credits change only with journal entries: check after each batch of them.
        if !std::mem::take(&mut self.journaled_since_check) {
            return;
        }
        let device = self.device.model.stacked_total();
        for (d, n) in self.session.ledger().cassette.clone() {
            if device.get(&d).copied().unwrap_or(0) < n {
                self.violations.push(format!(
                    "{n} × {d} kopecks credited as stacked, the validator stacked {}",
                    device.get(&d).copied().unwrap_or(0)
                ));
            }
        }
    }

    /// No more faults: the technician comes, customers leave, every deadline passes.
    fn settle(&mut self) {
        self.device.faults.reply_delay = Duration::ZERO;
        self.device.faults.garble_replies = 0;
        self.device.faults.drop_acks = 0;
        self.crash_before_journal = false;
        self.crash_at_goods_issued = false;
        *self.card.terminal.faults_mut() = Default::default();
        self.sbp.down_until = None;
        self.sbp.pay_next_at_revoke = false;
        self.sbp_offered(true);
        self.fiscal_fault = None;
        self.fiscal.switch_off(false);
        self.paper_out = false;
        self.closing = true;
        let _ = self.device.model.clear_jam(self.now);
        self.technician_at = None;
        self.customer = Customer::Away {
            next_arrival: self.now,
        };
        self.settle_until_quiet(Duration::from_secs(2 * 3600));
        self.resolve_stuck_notes();
        self.settle_until_quiet(Duration::from_secs(600));
        self.check_at_end();
    }

    /// Steps until nothing is left to do (or `limit` of simulated time passed).
    fn settle_until_quiet(&mut self, limit: Duration) {
        let until = self.now + limit;
        while self.now < until && self.violations.is_empty() {
            self.step();
            let done = self.session.is_idle()
                && !self.session.is_recovering()
                && self.receipts.is_empty()
                && self.card.is_idle()
                && self.sbp.is_idle()
                && self.session.next_fiscal_retry().is_none()
                && self.session.ledger().unreceipted.is_empty();
            if done {
                return;
            }
        }
    }

    fn check_at_end(&mut self) {
        let ledger = self.session.ledger().clone();
        if !self.session.is_idle() {
            self.violations.push(format!(
                "the session never ended: {:?}",
                self.session.view().screen
            ));
        }
        if !ledger.open_payments.is_empty() {
            self.violations.push(format!(
                "payments left open: {:?}",
                ledger.open_payments.keys()
            ));
        }
        if !ledger.stuck_notes.is_empty() {
            self.violations.push(format!(
                "stuck notes left unresolved: {:?}",
                ledger.stuck_notes.keys()
            ));
        }
        if let Some(p) = ledger.unreceipted.keys().next() {
            let history: Vec<String> = self
                .journal
                .events()
                .unwrap_or_default()
                .iter()
                .filter(|(_, e)| serde_json::to_string(e).is_ok_and(|j| j.contains(p.as_str())))
                .map(|(seq, e)| format!("{seq} {}", e.kind()))
                .collect();
            self.violations.push(format!(
                "credited payment {p} has no receipt; its entries: {history:?}"
            ));
        }
        // Every note in the cassette is credited to exactly one payment.
        if ledger.cassette.clone() != self.device.model.stacked_total() {
            self.violations.push(format!(
                "the journal counts {:?} in the cassette, the validator stacked {:?}",
                ledger.cassette.clone(),
                self.device.model.stacked_total()
            ));
        }
        let events = self.journal.events().unwrap_or_default();
        let credited = |method: PaymentMethod| -> i64 {
            events
                .iter()
                .filter_map(|(_, e)| match e {
                    JournalEvent::PaymentCompleted {
                        total_kopecks,
                        method: m,
                        ..
                    } if *m == method => Some(*total_kopecks),
                    _ => None,
                })
                .sum()
        };
        // The card terminal's batch is what the journal credited by card; every approval ended
        // booked or reversed.
        let booked: i64 = self
            .card
            .transactions()
            .iter()
            .filter(|t| t.state == TxnState::Booked)
            .map(|t| t.amount_kopecks)
            .sum();
        if credited(PaymentMethod::Card) != booked {
            self.violations.push(format!(
                "credited {} kopecks by card, the card terminal booked {booked}: {:?}",
                credited(PaymentMethod::Card),
                self.card.transactions()
            ));
        }
        // What the bank holds as paid is what the journal credited by СБП, payment by payment.
        let mut sbp_credited: BTreeMap<String, i64> = BTreeMap::new();
        for (_, e) in &events {
            if let JournalEvent::PaymentCompleted {
                payment_id,
                method: PaymentMethod::Sbp,
                total_kopecks,
                ..
            } = e
            {
                *sbp_credited.entry(payment_id.clone()).or_default() += total_kopecks;
            }
        }
        let bank_paid: BTreeMap<String, i64> = self
            .sbp
            .paid()
            .into_iter()
            .map(|(p, m)| (p, m.kopecks()))
            .collect();
        if sbp_credited != bank_paid {
            self.violations.push(format!(
                "credited by СБП {sbp_credited:?}, the bank holds as paid {bank_paid:?}"
            ));
        }
        if let Some(t) = self
            .card
            .transactions()
            .iter()
            .find(|t| t.state == TxnState::AwaitingConfirmation)
        {
            self.violations.push(format!(
                "card approval {} neither completed nor reversed",
                t.receipt_no
            ));
        }
        let credited = credited(PaymentMethod::Cash);
        let stacked: i64 = ledger
            .cassette
            .clone()
            .iter()
            .map(|(d, n)| d * i64::from(*n))
            .sum();
        if credited != stacked {
            self.violations
                .push(format!("credited {credited} kopecks, stacked {stacked}"));
        }
        // One fiscal document per credited payment.
        let mut receipts: BTreeMap<String, u32> = BTreeMap::new();
        for (_, e) in &events {
            if let JournalEvent::ReceiptFiscalised {
                payment_id: Some(p),
                ..
            } = e
            {
                *receipts.entry(p.clone()).or_default() += 1;
            }
        }
        if let Some((p, n)) = receipts.iter().find(|(_, n)| **n > 1) {
            self.violations
                .push(format!("payment {p} has {n} fiscal documents"));
        }
        // The fiscal drive holds exactly the receipts the journal names, with their totals.
        let mut journaled: BTreeMap<u32, i64> = BTreeMap::new();
        for (_, e) in &events {
            if let JournalEvent::ReceiptFiscalised {
                fiscal,
                total_kopecks,
                ..
            } = e
            {
                if journaled.insert(fiscal.fd_number, *total_kopecks).is_some() {
                    self.violations.push(format!(
                        "FD {} is journaled for two receipts",
                        fiscal.fd_number
                    ));
                }
            }
        }
        let in_fn = self.fiscal.receipts();
        for doc in &in_fn {
            if journaled.get(&doc.fd_number).copied() != doc.total {
                self.violations.push(format!(
                    "the FN holds receipt FD {} of {:?} kopecks; the journal has {:?}",
                    doc.fd_number,
                    doc.total,
                    journaled.get(&doc.fd_number)
                ));
            }
        }
        if in_fn.len() != journaled.len() {
            self.violations.push(format!(
                "the FN holds {} receipts, the journal {}",
                in_fn.len(),
                journaled.len()
            ));
        }
        // The ledger rebuilt from the journal is the live one.
        let day = self.wall().date_naive();
        let replayed = Ledger::replay(events.iter().map(|(seq, e)| (*seq, day, e)));
        if replayed.cassette != ledger.cassette || replayed.stuck_notes != ledger.stuck_notes {
            self.violations
                .push("the ledger rebuilt from the journal differs from the live one".into());
        }
        if let Err(e) = self.journal.verify() {
            self.violations
                .push(format!("the journal's chain does not verify: {e}"));
        }
    }

    fn count(events: &[(u64, JournalEvent)], what: impl Fn(&JournalEvent) -> bool) -> u64 {
        events.iter().filter(|(_, e)| what(e)).count() as u64
    }
}

/// How the next sale reaches the fiscal register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FiscalFault {
    /// The KKT is switched off for the whole job.
    Off,
    /// It falls silent after a random request of the sale.
    OffMidSale,
    /// The process dies after a random request of the sale.
    CrashMidSale,
}

/// The cash simulation enters no readings.
struct NoReadings;
impl crate::session::ReadingRules for NoReadings {
    fn check_meter(
        &self,
        _account: &CustomerAccount,
        _meter: &crate::session::MeterInfo,
        _inputs: &[crate::session::ReadingInput],
        _now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64)>, crate::session::Refused<crate::session::ReadingProblem>> {
        Ok(Vec::new())
    }
}
