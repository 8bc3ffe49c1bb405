//! The sans-IO ECR core against the emulator's terminal core, byte for byte on a fake clock:
//! exchanges where a fault on the line could make the terminal take money the ECR never agreed to.

use std::time::{Duration, Instant};

use card_reader::ecr::{EcrConfig, EcrCore, EcrEvent, OpEnd, Operation};
use card_reader::emulator::{EmulatorConfig, TerminalCore, TxnState};

struct Line {
    ecr: EcrCore,
    pt: TerminalCore,
    now: Instant,
    events: Vec<EcrEvent>,
}

impl Line {
    fn new() -> Self {
        Line {
            ecr: EcrCore::new(EcrConfig::default()),
            pt: TerminalCore::new(EmulatorConfig::default()),
            now: Instant::now(),
            events: Vec::new(),
        }
    }

    /// Runs both sides for `span` of simulated time.
    fn run(&mut self, span: Duration) {
        let end = self.now + span;
        while self.now < end {
            loop {
                let mut moved = false;
                while let Some(b) = self.ecr.poll_transmit() {
                    self.pt.handle_input(&b, self.now);
                    moved = true;
                }
                while let Some(b) = self.pt.poll_transmit(self.now) {
                    self.ecr.handle_input(&b, self.now);
                    moved = true;
                }
                while let Some(e) = self.ecr.poll_event() {
                    self.events.push(e);
                    moved = true;
                }
                if !moved {
                    break;
                }
            }
            let next = [self.ecr.poll_timeout(), self.pt.poll_timeout()]
                .iter()
                .flatten()
                .min()
                .copied()
                .unwrap_or(end)
                .clamp(self.now + Duration::from_millis(1), end);
            self.now = next;
            self.ecr.handle_timeout(self.now);
            self.pt.handle_timeout(self.now);
        }
    }
}

/// Regression (found by `terminal simulate-faults`, seed 1105): the terminal answered "busy" to
/// an authorisation but lost its link-level ACK. The ECR took the "busy" as the end of the
/// operation while its link layer still repeated the command frame; the terminal took the repeat
/// as a new authorisation and the idle ECR confirmed the approval: money taken for a payment the
/// kiosk had already cancelled.
#[test]
fn a_refused_command_is_never_repeated_by_the_link_behind_the_ecrs_back() {
    let mut line = Line::new();
    line.ecr.start(Operation::Registration, line.now).unwrap();
    line.run(Duration::from_secs(2));
    line.events.clear();
    line.pt.faults_mut().busy_next = true;
    line.pt.faults_mut().lose_ack_next = true;
    line.ecr
        .start(
            Operation::Authorise {
                amount_kopecks: 162_000,
            },
            line.now,
        )
        .unwrap();
    line.run(Duration::from_secs(120));
    let refused = line
        .events
        .iter()
        .any(|e| matches!(e, EcrEvent::Finished(r) if matches!(r.end, OpEnd::Refused(_))));
    assert!(refused, "{:?}", line.events);
    let booked: Vec<_> = line
        .pt
        .transactions()
        .iter()
        .filter(|t| t.state == TxnState::Booked)
        .collect();
    assert!(booked.is_empty(), "{:?}", line.pt.transactions());
}
