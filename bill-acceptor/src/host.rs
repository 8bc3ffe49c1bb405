//! Sans-IO host core: the validator session a kiosk runs, for either protocol.
//!
//! Feed it received bytes (`handle_input`), commands (`handle_command`) and the time
//! (`handle_timeout`); take bytes to send (`poll_transmit`), the next wake-up (`poll_timeout`)
//! and typed events (`poll_event`). It owns no port and no clock.
//!
//! Money rules it enforces (see the crate README):
//! - one request in flight and one reply for it: a start waits out replies meant for a previous
//!   host, and a request is repeated only after twice `reply_timeout` of silence (neither protocol
//!   numbers its frames, so a reply taken for the wrong request makes the host acknowledge a
//!   stacked report it never saw);
//! - it polls before it resets, so a stacked/returned/escrowed bill or a power-up with a bill
//!   left from before a restart is reported, not wiped;
//! - a stacked or returned report is not acknowledged to the device until the host confirms it
//!   recorded it ([`HostCore::handle_command`] with [`HostCommand::Confirm`]); the device keeps
//!   repeating it meanwhile, and repeats of one report are reported once.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::frame::{encode_frame, FrameDecoder};
use crate::model::*;
use crate::protocol::WireProtocol;

/// Timing and retry policy.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Time between polls (100–200 ms is what validators expect).
    pub poll_interval: Duration,
    /// How long to wait for a reply. A request is sent again only after twice this long in
    /// silence: a reply that arrives late in the second half is still taken as its reply, so a
    /// slow device cannot leave two replies in flight for one request. (Neither protocol numbers
    /// its frames: a late reply taken for the next request's would make the host acknowledge a
    /// report it never saw, and the validator would drop a stacked bill's report.) A reply later
    /// than twice this is lost as far as the host is concerned.
    pub reply_timeout: Duration,
    /// Retries after a NAK, a garbled or a missing reply before the link counts as lost.
    pub max_retries: u32,
    /// How often HOLD is repeated while the session decides about an escrowed bill.
    pub hold_interval: Duration,
    /// An undecided escrow is returned after this long (the session is gone or stuck).
    pub max_escrow_wait: Duration,
    /// Poll interval while the link is down.
    pub relink_interval: Duration,
    /// High-security bit mask sent with SET SECURITY.
    pub security_mask: u32,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(150),
            reply_timeout: Duration::from_millis(250),
            max_retries: 3,
            hold_interval: Duration::from_secs(5),
            max_escrow_wait: Duration::from_secs(60),
            relink_interval: Duration::from_secs(1),
            security_mask: 0,
        }
    }
}

/// Identifies one stacked/returned report until the host confirms it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ReportToken(pub u64);

/// Where a bill was when the validator powered up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BillLocation {
    /// CCNET 11 / ID003 41: it will be returned to the customer.
    Validator,
    /// CCNET 12 / ID003 42: it goes into the cassette; credit it if its stack was requested.
    Stacker,
}

/// What the host session hears about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BillEvent {
    /// Reset and configured; acceptance stays off until an `Enable` command.
    Ready {
        identification: Identification,
        bill_table: BillTable,
    },
    /// A bill waits for a decision: answer with `Stack` or `Return` (HOLD is sent meanwhile).
    Escrow {
        denomination_kopecks: i64,
    },
    /// The credit point. Confirm `token` once recorded; until then the device is not acknowledged.
    /// `None` only when the driver started while an ID003 device was already reporting VEND VALID.
    Stacked {
        denomination_kopecks: Option<i64>,
        token: ReportToken,
    },
    /// The bill went back to the customer. Confirm `token` once recorded.
    Returned {
        denomination_kopecks: Option<i64>,
        token: ReportToken,
    },
    Rejected {
        reason: RejectReason,
    },
    /// Acceptance was switched off; re-enable after the cassette is replaced.
    CassetteFull,
    /// Acceptance was switched off; an encashment or tampering.
    CassetteRemoved,
    CassetteInserted,
    /// A bill stuck in the validator stays there until a technician clears it: it is neither
    /// credited nor returned (`denomination_kopecks` is the escrowed bill's, if one was held).
    Jammed {
        in_cassette: bool,
        denomination_kopecks: Option<i64>,
    },
    Cheated,
    Failure {
        failure: FailureCode,
    },
    /// A jam or failure reported earlier is over: the validator shows a working state again.
    FaultCleared,
    /// The validator powered up (after a power loss or at start). `bill` says where a bill was.
    PowerUp {
        bill: Option<BillLocation>,
        /// The bill's denomination when this driver knew it (it saw its escrow).
        denomination_kopecks: Option<i64>,
    },
    LinkLost,
    LinkRestored,
    /// A command could not be carried out (no bill in escrow, unknown denomination...).
    CommandRefused {
        command: String,
        why: String,
    },
}

/// What the host session asks of the validator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BillCommand {
    /// Accept exactly these denominations (kopecks); unknown ones are ignored.
    Enable(BTreeSet<i64>),
    Disable,
    Stack,
    Return,
}

/// Everything the core accepts from its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostCommand {
    Bill(BillCommand),
    Confirm(ReportToken),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// First poll done or pending; identification and table follow, no reset yet.
    Starting,
    /// Reporting whatever was pending at start (escrow, stacked, returned) before RESET.
    Resolving,
    /// Acceptance switched off; RESET follows once a poll shows no bill came in meanwhile
    /// (a RESET would hand a bill being inserted back unreported).
    Quiescing,
    /// RESET sent; waiting for the device to finish initialising.
    Resetting,
    /// Initialised; SET SECURITY then Ready.
    Configuring,
    Running,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    Stack,
    Return,
}

#[derive(Clone, Debug)]
struct EscrowState {
    bill_type: u8,
    denomination_kopecks: Option<i64>,
    decision: Option<Decision>,
    since: Instant,
    last_hold: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReportKind {
    Stacked,
    Returned,
}

#[derive(Clone, Debug)]
struct MoneyReport {
    kind: ReportKind,
    token: ReportToken,
    confirmed: bool,
}

#[derive(Clone, Debug)]
struct Exchange {
    req: Request,
    bytes: Vec<u8>,
    sent_at: Instant,
    deadline: Instant,
    attempts: u32,
    /// The reply is overdue: the host waits one more `reply_timeout` for it before sending the
    /// request again.
    overdue: bool,
}

/// The protocol-neutral validator session (see the module docs).
pub struct HostCore {
    wire: &'static dyn WireProtocol,
    cfg: HostConfig,
    decoder: FrameDecoder,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<BillEvent>,
    queue: VecDeque<Request>,
    exchange: Option<Exchange>,
    next_poll: Instant,
    /// Nothing is sent before this: replies still on their way to a previous host (a restarted
    /// process, a re-opened port) must not be taken for answers to this one's requests.
    quiet_until: Instant,
    phase: Phase,
    link_up: bool,
    identification: Option<Identification>,
    table: Option<BillTable>,
    last_status: Option<DeviceStatus>,
    escrow: Option<EscrowState>,
    report: Option<MoneyReport>,
    /// Denomination of the last bill whose stack we requested, for power-up reports.
    last_stack_denomination: Option<i64>,
    wanted: Option<BTreeSet<i64>>,
    next_token: u64,
}

impl HostCore {
    pub fn new(wire: &'static dyn WireProtocol, cfg: HostConfig, now: Instant) -> Self {
        let quiet_until = now + 2 * cfg.reply_timeout;
        let mut core = Self {
            wire,
            cfg,
            decoder: FrameDecoder::new(wire.framing()),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            queue: VecDeque::new(),
            exchange: None,
            next_poll: now,
            quiet_until,
            phase: Phase::Starting,
            link_up: true,
            identification: None,
            table: None,
            last_status: None,
            escrow: None,
            report: None,
            last_stack_denomination: None,
            wanted: None,
            next_token: 1,
        };
        // Poll first: whatever the device holds from before must be seen before any RESET.
        core.queue.push_back(Request::Poll);
        core.queue.push_back(Request::Identify);
        core.queue.push_back(Request::GetBillTable);
        core
    }

    pub fn bill_table(&self) -> Option<&BillTable> {
        self.table.as_ref()
    }

    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<BillEvent> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Instant {
        match &self.exchange {
            Some(ex) => ex.deadline,
            None => self.next_poll.max(self.quiet_until),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(ex) = &mut self.exchange {
            if now >= ex.deadline && !ex.overdue {
                ex.overdue = true;
                ex.deadline = now + self.cfg.reply_timeout;
            } else if now >= ex.deadline {
                tracing::debug!(request = ?ex.req, attempts = ex.attempts, "no reply");
                self.decoder.clear();
                self.retry(now);
            }
        }
        self.check_escrow_timers(now);
        self.pump(now);
    }

    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        self.decoder.push(bytes);
        while let Some(item) = self.decoder.next_frame() {
            match item {
                Err(err) => {
                    tracing::debug!(%err, "garbled reply");
                    if self.exchange.is_some() {
                        self.decoder.clear();
                        self.retry_garbled(now);
                    }
                    break;
                }
                Ok(frame) => self.handle_frame(frame.payload, now),
            }
        }
        let skipped = self.decoder.take_skipped();
        if skipped > 0 {
            tracing::debug!(skipped, "noise between frames");
        }
        self.pump(now);
    }

    /// The port was lost (unplugged, closed): report it once; polling resumes when it returns.
    pub fn handle_port_lost(&mut self, now: Instant) {
        self.exchange = None;
        self.decoder.clear();
        self.link_lost(now);
    }

    pub fn handle_command(&mut self, cmd: HostCommand, now: Instant) {
        match cmd {
            HostCommand::Confirm(token) => self.confirm(token),
            HostCommand::Bill(BillCommand::Enable(set)) => {
                self.wanted = Some(set);
                if self.phase == Phase::Running {
                    self.apply_enable();
                }
            }
            HostCommand::Bill(BillCommand::Disable) => {
                self.wanted = None;
                if self.phase == Phase::Running {
                    self.apply_enable();
                }
            }
            HostCommand::Bill(BillCommand::Stack) => self.decide(Decision::Stack),
            HostCommand::Bill(BillCommand::Return) => self.decide(Decision::Return),
        }
        self.pump(now);
    }

    fn confirm(&mut self, token: ReportToken) {
        match &mut self.report {
            Some(r) if r.token == token => {
                r.confirmed = true;
                // The next poll shows the report again and is acknowledged then.
            }
            _ => tracing::debug!(?token, "confirm of a report no longer pending"),
        }
    }

    fn decide(&mut self, decision: Decision) {
        let name = match decision {
            Decision::Stack => "stack",
            Decision::Return => "return",
        };
        match &mut self.escrow {
            Some(e) if e.decision.is_none() => {
                e.decision = Some(decision);
                if decision == Decision::Stack {
                    self.last_stack_denomination = e.denomination_kopecks;
                }
                // Decisions go before queued polls and settings.
                self.queue.push_front(match decision {
                    Decision::Stack => Request::Stack,
                    Decision::Return => Request::Return,
                });
            }
            Some(_) => self.refuse(name, "a decision for this bill was already sent"),
            None => self.refuse(name, "no bill in escrow"),
        }
    }

    fn refuse(&mut self, command: &str, why: &str) {
        tracing::warn!(command, why, "command refused");
        self.events.push_back(BillEvent::CommandRefused {
            command: command.to_string(),
            why: why.to_string(),
        });
    }

    fn apply_enable(&mut self) {
        let mask = match (&self.wanted, &self.table) {
            (Some(set), Some(table)) => table.mask_for(set),
            _ => 0,
        };
        for req in self.wire.enable_requests(mask) {
            self.queue.push_back(req);
        }
    }

    /// Send the next queued request or a due poll, if nothing is in flight.
    fn pump(&mut self, now: Instant) {
        if self.exchange.is_some() || now < self.quiet_until {
            return;
        }
        let req = if let Some(req) = self.queue.pop_front() {
            req
        } else if now >= self.next_poll {
            Request::Poll
        } else {
            return;
        };
        self.send(req, now, 0);
    }

    fn send(&mut self, req: Request, now: Instant, attempts: u32) {
        let bytes = match self
            .wire
            .encode_request(&req)
            .map_err(|e| e.to_string())
            .and_then(|p| encode_frame(self.wire.framing(), &p).map_err(|e| e.to_string()))
        {
            Ok(bytes) => bytes,
            Err(err) => {
                tracing::error!(?req, %err, "request cannot be encoded; skipped");
                return;
            }
        };
        if req == Request::Poll {
            let interval = if self.link_up {
                self.cfg.poll_interval
            } else {
                self.cfg.relink_interval
            };
            self.next_poll = now + interval;
        }
        self.transmit.push_back(bytes.clone());
        self.exchange = Some(Exchange {
            req,
            bytes,
            sent_at: now,
            deadline: now + self.cfg.reply_timeout,
            attempts,
            overdue: false,
        });
    }

    fn send_unanswered(&mut self, req: Request) {
        match self
            .wire
            .encode_request(&req)
            .ok()
            .and_then(|p| encode_frame(self.wire.framing(), &p).ok())
        {
            Some(bytes) => self.transmit.push_back(bytes),
            None => tracing::error!(?req, "request cannot be encoded"),
        }
    }

    fn retry(&mut self, now: Instant) {
        let Some(ex) = self.exchange.take() else {
            return;
        };
        if ex.attempts >= self.cfg.max_retries {
            tracing::warn!(request = ?ex.req, "no valid reply after retries");
            // A decision or setting that never got through is tried again once the link is back.
            if ex.req != Request::Poll && ex.req != Request::Hold {
                self.queue.push_front(ex.req);
            }
            self.link_lost(now);
            return;
        }
        self.transmit.push_back(ex.bytes.clone());
        self.exchange = Some(Exchange {
            deadline: now + self.cfg.reply_timeout,
            attempts: ex.attempts + 1,
            overdue: false,
            ..ex
        });
    }

    fn retry_garbled(&mut self, now: Instant) {
        let naks = self.wire.naks_garbled_replies();
        match &mut self.exchange {
            Some(ex) if naks && ex.attempts < self.cfg.max_retries => {
                // CCNET: NAK makes the device resend the same reply; the exchange stays open.
                ex.attempts += 1;
                ex.deadline = now + self.cfg.reply_timeout;
                ex.overdue = false;
                self.send_unanswered(Request::Nak);
            }
            _ => self.retry(now),
        }
    }

    fn link_lost(&mut self, now: Instant) {
        if self.link_up {
            self.link_up = false;
            self.events.push_back(BillEvent::LinkLost);
        }
        self.next_poll = now + self.cfg.relink_interval;
    }

    fn handle_frame(&mut self, payload: Vec<u8>, now: Instant) {
        let Some(ex) = self.exchange.take() else {
            tracing::debug!(
                len = payload.len(),
                "reply with no request in flight; ignored"
            );
            return;
        };
        let reply = match self.wire.decode_reply(&ex.req, &payload) {
            Ok(reply) => reply,
            Err(err) => {
                tracing::warn!(request = ?ex.req, %err, "reply not understood");
                self.exchange = Some(ex);
                self.retry(now);
                return;
            }
        };
        if reply == Reply::Nak {
            // The device saw a damaged request: send it again.
            self.exchange = Some(ex);
            self.retry(now);
            return;
        }
        if !self.link_up {
            self.link_up = true;
            self.events.push_back(BillEvent::LinkRestored);
        }
        if ex.req == Request::Poll {
            self.next_poll = ex.sent_at + self.cfg.poll_interval;
        }
        if matches!(
            reply,
            Reply::Identification(_) | Reply::BillTable(_) | Reply::Settings { .. }
        ) && self.wire.acks_data_replies()
        {
            self.send_unanswered(Request::Ack);
        }
        self.handle_reply(ex.req, reply, now);
    }

    fn handle_reply(&mut self, req: Request, reply: Reply, now: Instant) {
        match (req, reply) {
            (Request::Poll, Reply::Status(status)) => self.handle_status(status, now),
            (Request::Identify, Reply::Identification(id)) => self.identification = Some(id),
            (Request::GetBillTable, Reply::BillTable(table)) => {
                tracing::info!(bills = table.bills.len(), "bill table read");
                self.table = Some(table);
                if self.phase == Phase::Starting {
                    self.phase = Phase::Resolving;
                }
            }
            (Request::Reset, Reply::Ack) => {
                self.phase = Phase::Resetting;
            }
            (Request::SetSecurity(_), Reply::Ack) => {
                if self.phase == Phase::Configuring {
                    self.phase = Phase::Running;
                    self.events.push_back(BillEvent::Ready {
                        identification: self.identification.clone().unwrap_or_default(),
                        bill_table: self.table.clone().unwrap_or_default(),
                    });
                    self.apply_enable();
                }
            }
            (req, Reply::IllegalCommand) => {
                tracing::warn!(?req, "device refused the command");
                if matches!(req, Request::Stack | Request::Return) {
                    self.refuse("stack/return", "the validator refused it");
                }
            }
            (_, Reply::Ack) => {}
            (req, reply) => tracing::warn!(?req, ?reply, "unexpected reply"),
        }
    }

    fn denomination(&self, bill_type: u8) -> Option<i64> {
        self.table.as_ref()?.denomination_of(bill_type)
    }

    fn handle_status(&mut self, status: DeviceStatus, now: Instant) {
        let previous = self.last_status.replace(status);
        let repeated = previous == Some(status);

        // During start-up the table may be unknown: only acknowledge what carries no money.
        if self.phase == Phase::Starting {
            if !matches!(status, DeviceStatus::Stacked(_) | DeviceStatus::Returned(_))
                && self.wire.acks_status(&status)
            {
                self.send_unanswered(Request::Ack);
            }
            // Forget it so the next poll (table known) handles it afresh.
            self.last_status = None;
            return;
        }

        let mut ack = self.wire.acks_status(&status);
        if !matches!(status, DeviceStatus::Stacked(_) | DeviceStatus::Returned(_)) {
            self.report = None;
        }
        match status {
            DeviceStatus::PowerUp
            | DeviceStatus::PowerUpWithBillInValidator
            | DeviceStatus::PowerUpWithBillInStacker => {
                // A power-up right after our own RESET is expected, not news.
                let after_our_reset =
                    self.phase == Phase::Resetting && !self.queue.contains(&Request::Reset);
                if !repeated && !after_our_reset {
                    let bill = match status {
                        DeviceStatus::PowerUpWithBillInValidator => Some(BillLocation::Validator),
                        DeviceStatus::PowerUpWithBillInStacker => Some(BillLocation::Stacker),
                        _ => None,
                    };
                    let denomination_kopecks = match bill {
                        Some(BillLocation::Stacker) => self.last_stack_denomination,
                        Some(BillLocation::Validator) => {
                            self.escrow.as_ref().and_then(|e| e.denomination_kopecks)
                        }
                        None => None,
                    };
                    self.events.push_back(BillEvent::PowerUp {
                        bill,
                        denomination_kopecks,
                    });
                    self.escrow = None;
                    self.last_stack_denomination = None;
                    if self.phase != Phase::Resetting {
                        self.start_reset();
                    }
                }
            }
            DeviceStatus::Escrow(bill_type) => self.on_escrow(bill_type, now),
            DeviceStatus::Holding => {}
            DeviceStatus::Stacked(bill_type) => {
                ack = self.on_money_report(ReportKind::Stacked, bill_type);
            }
            DeviceStatus::Returned(bill_type) => {
                ack = self.on_money_report(ReportKind::Returned, Some(bill_type));
            }
            // Conditions are reported when they start, not on every poll.
            DeviceStatus::Rejecting(_)
            | DeviceStatus::CassetteFull
            | DeviceStatus::CassetteRemoved
            | DeviceStatus::ValidatorJammed
            | DeviceStatus::CassetteJammed
            | DeviceStatus::Cheated
            | DeviceStatus::Failure(_)
                if !repeated =>
            {
                self.on_condition(status)
            }
            DeviceStatus::Idling | DeviceStatus::Disabled => {
                // ID003 has no "returned" report: an escrowed bill that leaves without VEND VALID
                // went back to the customer.
                if let Some(e) = self.escrow.take() {
                    if e.decision == Some(Decision::Stack)
                        && previous != Some(DeviceStatus::Returning)
                    {
                        tracing::error!(
                            denomination_kopecks = ?e.denomination_kopecks,
                            "bill left the validator after STACK without a stacked report"
                        );
                    } else {
                        let token = self.new_token();
                        self.events.push_back(BillEvent::Returned {
                            denomination_kopecks: e.denomination_kopecks,
                            token,
                        });
                    }
                }
            }
            _ => {}
        }
        let fault = |s: Option<DeviceStatus>| {
            matches!(
                s,
                Some(
                    DeviceStatus::ValidatorJammed
                        | DeviceStatus::CassetteJammed
                        | DeviceStatus::Failure(_)
                )
            )
        };
        if fault(previous) && !fault(Some(status)) {
            self.events.push_back(BillEvent::FaultCleared);
        }
        if previous == Some(DeviceStatus::CassetteRemoved)
            && status != DeviceStatus::CassetteRemoved
        {
            self.events.push_back(BillEvent::CassetteInserted);
        }
        if ack {
            self.send_unanswered(Request::Ack);
        }
        self.advance_phase(status);
    }

    fn on_condition(&mut self, status: DeviceStatus) {
        let event = match status {
            DeviceStatus::Rejecting(reason) => BillEvent::Rejected { reason },
            DeviceStatus::CassetteFull => {
                self.force_disable();
                BillEvent::CassetteFull
            }
            DeviceStatus::CassetteRemoved => {
                self.force_disable();
                BillEvent::CassetteRemoved
            }
            DeviceStatus::ValidatorJammed | DeviceStatus::CassetteJammed => BillEvent::Jammed {
                in_cassette: status == DeviceStatus::CassetteJammed,
                denomination_kopecks: self.escrow.take().and_then(|e| e.denomination_kopecks),
            },
            DeviceStatus::Cheated => BillEvent::Cheated,
            DeviceStatus::Failure(failure) => BillEvent::Failure { failure },
            _ => return,
        };
        self.events.push_back(event);
    }

    fn new_token(&mut self) -> ReportToken {
        let token = ReportToken(self.next_token);
        self.next_token += 1;
        token
    }

    /// Stacked/returned: report once per streak, acknowledge only once confirmed.
    fn on_money_report(&mut self, kind: ReportKind, bill_type: Option<u8>) -> bool {
        if let Some(r) = &self.report {
            if r.kind == kind {
                return r.confirmed;
            }
        }
        let escrow = self.escrow.take();
        let denomination_kopecks = bill_type
            .and_then(|t| self.denomination(t))
            .or_else(|| escrow.and_then(|e| e.denomination_kopecks));
        let token = self.new_token();
        self.events.push_back(match kind {
            ReportKind::Stacked => BillEvent::Stacked {
                denomination_kopecks,
                token,
            },
            ReportKind::Returned => BillEvent::Returned {
                denomination_kopecks,
                token,
            },
        });
        self.report = Some(MoneyReport {
            kind,
            token,
            confirmed: false,
        });
        self.last_stack_denomination = None;
        false
    }

    fn on_escrow(&mut self, bill_type: u8, now: Instant) {
        if self
            .escrow
            .as_ref()
            .is_some_and(|e| e.bill_type == bill_type)
        {
            return;
        }
        let denomination_kopecks = self.denomination(bill_type);
        self.escrow = Some(EscrowState {
            bill_type,
            denomination_kopecks,
            decision: None,
            since: now,
            last_hold: now,
        });
        match denomination_kopecks {
            Some(denomination_kopecks) => self.events.push_back(BillEvent::Escrow {
                denomination_kopecks,
            }),
            None => {
                tracing::warn!(
                    bill_type,
                    "escrowed bill type is not in the bill table; returning it"
                );
                self.decide(Decision::Return);
            }
        }
    }

    /// HOLD while the session decides; give the bill back if it never does.
    fn check_escrow_timers(&mut self, now: Instant) {
        let Some(e) = &mut self.escrow else {
            return;
        };
        if e.decision.is_some() || !self.link_up {
            return;
        }
        if now.duration_since(e.since) >= self.cfg.max_escrow_wait {
            tracing::warn!("no decision for the escrowed bill; returning it");
            self.decide(Decision::Return);
        } else if now.duration_since(e.last_hold) >= self.cfg.hold_interval {
            e.last_hold = now;
            if !self.queue.contains(&Request::Hold) {
                self.queue.push_back(Request::Hold);
            }
        }
    }

    fn force_disable(&mut self) {
        self.wanted = None;
        if self.phase == Phase::Running {
            self.apply_enable();
        }
    }

    fn start_reset(&mut self) {
        self.phase = Phase::Resetting;
        self.queue.retain(|r| !matches!(r, Request::Hold));
        self.queue.push_back(Request::Reset);
    }

    fn advance_phase(&mut self, status: DeviceStatus) {
        let settled = !status.bill_in_flight()
            && self.escrow.is_none()
            && self.report.is_none()
            && !matches!(
                status,
                DeviceStatus::Initializing | DeviceStatus::Busy | DeviceStatus::StackFinished
            );
        match self.phase {
            Phase::Resolving if settled => {
                self.phase = Phase::Quiescing;
                for req in self.wire.enable_requests(0) {
                    self.queue.push_back(req);
                }
            }
            Phase::Quiescing if settled && self.queue.is_empty() => self.start_reset(),
            Phase::Resetting
                if settled
                    && !self.queue.contains(&Request::Reset)
                    && !matches!(
                        status,
                        DeviceStatus::PowerUp
                            | DeviceStatus::PowerUpWithBillInValidator
                            | DeviceStatus::PowerUpWithBillInStacker
                    ) =>
            {
                self.phase = Phase::Configuring;
                if self.identification.is_none() {
                    self.queue.push_back(Request::Identify);
                }
                if self.table.is_none() {
                    self.queue.push_back(Request::GetBillTable);
                }
                self.queue
                    .push_back(Request::SetSecurity(self.cfg.security_mask));
            }
            _ => {}
        }
    }
}
