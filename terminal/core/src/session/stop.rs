//! An orderly stop (SIGTERM from systemd: a `systemctl stop`, a reboot, a package upgrade).
//!
//! Once a stop is asked for, the kiosk takes no new customer (the welcome screen becomes the
//! out-of-service notice) and ends what the customer in front of it is doing the way an idle
//! timeout would, only at once: the cash stacked so far is credited and receipted (a note still
//! stacking is waited for, up to its stack deadline), a card payment not yet authorised is
//! aborted on the terminal, a СБП QR is revoked (a payment the bank confirms is still
//! credited; a bank that stays silent leaves it to the next start), a receipt still to be chosen goes on paper. [`Session::may_stop`]
//! turns true only when no customer's money is in flight, the validator's start-up after a
//! restart is over (it has a deadline) and no receipt or shift renewal is out at the fiscal
//! register. The settling of card payments a restart left open does not hold the stop: a card
//! terminal that does not answer would hold it for good, and the next start resumes it from the
//! journal as it does after a crash.
//!
//! A stop that does not finish in time (systemd kills the process after its stop timeout) is a
//! crash like any other: the recovery rules settle it from the journal at the next start.

use chrono::{DateTime, Utc};

use super::{CardPhase, Intent, Session, State};

impl Session {
    /// Asks for an orderly stop; see the module docs. Asking again changes nothing.
    pub fn request_stop(&mut self, now: DateTime<Utc>) {
        self.now = now;
        if !self.stopping {
            tracing::info!(
                holds_money = self.holds_money(),
                "stop requested: finishing what the customer is doing"
            );
        }
        self.stopping = true;
        self.park_for_stop(now);
    }

    /// True once a stop was asked for.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// True when a stop was asked for and the process may end now without leaving money in
    /// flight or a device request the journal waits for.
    pub fn may_stop(&self) -> bool {
        self.stopping && self.stop_waits_for().is_none()
    }

    /// What an orderly stop still waits for (`None`: nothing), for the log and the simulation.
    pub fn stop_waits_for(&self) -> Option<&'static str> {
        if self.holds_money() {
            Some("the customer's payment")
        } else if matches!(self.state, State::LookingUp { .. }) {
            Some("an account lookup")
        } else if self.is_recovering() {
            // Bounded by `startup_deadline`; then the open cash payments are settled.
            Some("the validator's start-up")
        } else if !self.recovery.is_idle() {
            Some("a receipt recovery asked for")
        } else if self.shift_renewal.pending {
            Some("a shift renewal")
        } else {
            None
        }
    }

    /// Moves the session one step towards a state it may stop in. Called after every input and
    /// timeout while stopping, so a state reached later (a lookup answered, a stack reported)
    /// is parked too.
    pub(super) fn park_for_stop(&mut self, now: DateTime<Utc>) {
        let state = std::mem::replace(&mut self.state, State::Welcome);
        match state {
            // Credits what was stacked (or cancels an empty payment); waits for a stacking note.
            State::Cash(cash) => self.finish_cash(cash, true, now),
            State::Card(card)
                if matches!(
                    card.phase,
                    CardPhase::Authorising {
                        cancel_requested: false
                    }
                ) =>
            {
                // The terminal's answer to the abort (or the approval that raced it) is handled
                // by the card rules as for a customer's cancel.
                self.state = State::Card(card);
                self.on_intent(Intent::Cancel, now);
            }
            // The QR is revoked; the bank's last word is waited for up to its deadline, then the
            // payment stays open in the journal and the next start settles it.
            State::Sbp(sbp) => {
                let next = self.cancel_sbp(sbp, now);
                self.state = next;
            }
            State::ReceiptChoice(credited) => {
                let choice = self.unchosen_receipt();
                self.fiscalise(credited, choice, now);
            }
            // Waiting on a device: its answer comes back here and is parked then.
            waiting @ (State::Card(_)
            | State::Fiscalising(..)
            | State::Printing(..)
            | State::LookingUp { .. }) => self.state = waiting,
            // Nothing of the customer's money is open: back to the (out-of-service) start.
            State::Welcome
            | State::AccountEntry { .. }
            | State::Summary { .. }
            | State::Readings { .. }
            | State::Done { .. }
            | State::ReadingsDone { .. }
            | State::CertificateDone { .. }
            | State::Notice { .. } => self.enter(State::Welcome, now),
        }
    }
}
