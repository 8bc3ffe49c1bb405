//! End to end through a real pty: the async driver against the wire-level emulator, one test
//! per fault. Afterwards the ledger's credited bills equal the emulator's stacked bills and the
//! customer was told what happened.

use std::future::Future;
use std::time::Duration;

use bill_acceptor::testkit::Ledger;
use bill_acceptor::{
    spawn_driver, BillAcceptor, BillCommand, BillEvent, BillLocation, DeviceStatus, DriverConfig,
    Emulator, EmulatorConfig, EmulatorHandle, HostCommand, HostConfig, Protocol, Timing,
};

const WAIT: Duration = Duration::from_secs(10);

fn driver_config(protocol: Protocol, emu: &EmulatorHandle) -> DriverConfig {
    let mut cfg = DriverConfig::new(protocol, emu.device_path());
    cfg.host = HostConfig {
        poll_interval: Duration::from_millis(50),
        reply_timeout: Duration::from_millis(150),
        relink_interval: Duration::from_millis(300),
        ..HostConfig::default()
    };
    cfg.reopen_interval = Duration::from_millis(300);
    cfg
}

struct Rig {
    protocol: Protocol,
    emu: EmulatorHandle,
    acceptor: Option<BillAcceptor>,
    ledger: Ledger,
    /// Lose the host's next ACK when a stacked report arrives.
    drop_ack_on_stacked: bool,
    /// Kill the driver when a stacked report arrives, before the ledger records it.
    crash_on_stacked: bool,
    crashes: u32,
    /// Drivers started after the first.
    restarts: u32,
}

impl Rig {
    async fn new(protocol: Protocol) -> Rig {
        // RUST_LOG=bill_acceptor=debug shows the exchange when a test fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let emu = Emulator::spawn_with(EmulatorConfig {
            protocol,
            timing: Timing::fast(),
            power_off: Duration::from_millis(400),
        })
        .expect("emulator");
        let acceptor = spawn_driver(driver_config(protocol, &emu))
            .await
            .expect("driver");
        let mut rig = Rig {
            protocol,
            emu,
            acceptor: Some(acceptor),
            ledger: Ledger::new(),
            drop_ack_on_stacked: false,
            crash_on_stacked: false,
            crashes: 0,
            restarts: 0,
        };
        rig.until_idle().await;
        rig
    }

    async fn until_idle(&mut self) {
        // After a driver restart, wait for its own Ready too (its RESET would return a bill).
        let ok = self
            .until(|r| {
                let readies = r
                    .ledger
                    .events
                    .iter()
                    .filter(|e| matches!(e, BillEvent::Ready { .. }))
                    .count();
                readies > r.restarts as usize
                    && r.emu.status() == DeviceStatus::Idling
                    && r.ledger.open_intent.is_none()
            })
            .await;
        assert!(
            ok,
            "{}: validator not idle and enabled; events {:?}",
            self.protocol, self.ledger.events
        );
    }

    async fn handle(&mut self, event: BillEvent) {
        if matches!(event, BillEvent::Stacked { .. }) {
            if self.crash_on_stacked {
                self.crash_on_stacked = false;
                self.crashes += 1;
                // The terminal dies before its journal write: nothing confirms, nothing ACKs.
                self.acceptor = None;
                self.acceptor = Some(respawn(self.protocol, &self.emu).await);
                self.restarts += 1;
                return;
            }
            if self.drop_ack_on_stacked {
                self.drop_ack_on_stacked = false;
                self.emu.drop_next_ack(1);
            }
        }
        let commands = self.ledger.on_event(&event);
        let Some(acceptor) = &self.acceptor else {
            return;
        };
        for cmd in commands {
            match cmd {
                HostCommand::Bill(c) => acceptor.command(c).await.expect("command"),
                HostCommand::Confirm(t) => acceptor.confirm(t).await.expect("confirm"),
            }
        }
    }

    /// Serve events until `pred` holds (true) or `WAIT` passes (false).
    async fn until(&mut self, pred: impl Fn(&Rig) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if pred(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            let acceptor = self.acceptor.as_mut().expect("driver");
            tokio::select! {
                ev = acceptor.next_event() => {
                    let ev = ev.expect("driver stopped");
                    self.handle(ev).await;
                }
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    }

    async fn serve_for(&mut self, d: Duration) {
        let end = tokio::time::Instant::now() + d;
        let _ = self
            .until(move |_| tokio::time::Instant::now() >= end)
            .await;
    }

    async fn insert_and_settle(&mut self, rubles: i64) {
        self.emu.insert(rubles).expect("insert");
        let before = self.ledger.credited_total();
        let ok = self
            .until(|r| r.ledger.credited_total() > before && r.emu.status() == DeviceStatus::Idling)
            .await;
        assert!(
            ok,
            "{}: {rubles} not credited; events {:?}",
            self.protocol, self.ledger.events
        );
    }

    fn stacked_reports(&self) -> usize {
        self.ledger
            .events
            .iter()
            .filter(|e| matches!(e, BillEvent::Stacked { .. }))
            .count()
    }

    fn told(&self, fragment: &str) -> bool {
        self.ledger.told.iter().any(|t| t.contains(fragment))
    }

    fn assert_books_balance(&self) {
        assert_eq!(
            self.ledger.credited,
            self.emu.stacked_total(),
            "{}: credited vs stacked; events {:?}",
            self.protocol,
            self.ledger.events
        );
        assert!(
            self.ledger.unresolved.is_empty(),
            "{:?}",
            self.ledger.unresolved
        );
    }
}

/// A new driver on the same emulator once the killed one has let go of the port.
async fn respawn(protocol: Protocol, emu: &EmulatorHandle) -> BillAcceptor {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        match spawn_driver(driver_config(protocol, emu)).await {
            Ok(acceptor) => return acceptor,
            Err(err) if tokio::time::Instant::now() < deadline => {
                let _ = err;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => panic!("restarted driver: {err}"),
        }
    }
}

fn saw(rig: &Rig, f: impl Fn(&BillEvent) -> bool) -> bool {
    rig.ledger.events.iter().any(f)
}

async fn both<F, Fut>(f: F)
where
    F: Fn(Protocol) -> Fut,
    Fut: Future<Output = ()>,
{
    f(Protocol::Ccnet).await;
    f(Protocol::Id003).await;
}

#[tokio::test]
async fn bills_are_credited_on_stacked_with_the_table_from_the_device() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        // A fresh validator reports its power-up first, then the driver resets and configures it.
        assert_eq!(
            rig.ledger.events.first(),
            Some(&BillEvent::PowerUp {
                bill: None,
                denomination_kopecks: None
            })
        );
        let Some(BillEvent::Ready {
            bill_table,
            identification,
        }) = rig.ledger.events.get(1).cloned()
        else {
            panic!("{p}: no Ready: {:?}", rig.ledger.events);
        };
        assert_eq!(bill_table.bills.len(), 8);
        assert!(!identification.part_number.is_empty());
        rig.insert_and_settle(1000).await;
        rig.insert_and_settle(50).await;
        assert_eq!(rig.ledger.credited_total(), 105_000);
        assert_eq!(rig.stacked_reports(), 2);
        assert!(rig.told("Зачислено 1000 ₽"));
        rig.assert_books_balance();
    })
    .await;
}

#[tokio::test]
async fn a_fake_bill_is_rejected_and_the_customer_told() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.emu.insert_fake().unwrap();
        assert!(
            rig.until(|r| saw(r, |e| matches!(e, BillEvent::Rejected { .. })))
                .await
        );
        assert!(rig.told("не принята"));
        rig.until_idle().await;
        rig.insert_and_settle(100).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 10_000);
    })
    .await;
}

#[tokio::test]
async fn a_jam_with_a_bill_in_escrow_credits_nothing() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.ledger.hold_decisions = true;
        rig.emu.insert(500).unwrap();
        assert!(
            rig.until(|r| saw(r, |e| matches!(e, BillEvent::Escrow { .. })))
                .await
        );
        rig.emu.jam();
        assert!(
            rig.until(|r| saw(r, |e| matches!(
                e,
                BillEvent::Jammed {
                    denomination_kopecks: Some(50_000),
                    ..
                }
            )))
            .await,
            "{p}: {:?}",
            rig.ledger.events
        );
        assert!(rig.told("неисправен"));
        rig.emu.clear_jam().unwrap();
        rig.ledger.hold_decisions = false;
        rig.until_idle().await;
        rig.insert_and_settle(200).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 20_000);
    })
    .await;
}

#[tokio::test]
async fn a_full_cassette_disables_acceptance_until_it_is_replaced() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.insert_and_settle(100).await;
        rig.emu.cassette_full();
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::CassetteFull))
                .await
        );
        assert!(rig.told("оплатите картой"));
        assert!(
            rig.emu.insert(100).is_err(),
            "a full validator takes no bills"
        );
        let collected = rig.emu.remove_cassette().unwrap();
        assert_eq!(collected.get(&10_000), Some(&1));
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::CassetteRemoved))
                .await
        );
        rig.emu.insert_cassette().unwrap();
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::CassetteInserted))
                .await
        );
        rig.until_idle().await;
        rig.insert_and_settle(100).await;
        rig.assert_books_balance();
        assert_eq!(rig.emu.cassette().get(&10_000), Some(&1));
    })
    .await;
}

#[tokio::test]
async fn removing_and_inserting_the_cassette_is_reported() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.insert_and_settle(2000).await;
        rig.emu.remove_cassette().unwrap();
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::CassetteRemoved))
                .await
        );
        assert!(rig.emu.insert(100).is_err());
        rig.emu.insert_cassette().unwrap();
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::CassetteInserted))
                .await
        );
        rig.until_idle().await;
        rig.insert_and_settle(200).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 220_000);
    })
    .await;
}

#[tokio::test]
async fn cheating_gives_the_bill_back_without_credit() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.ledger.hold_decisions = true;
        rig.emu.insert(5000).unwrap();
        assert!(
            rig.until(|r| saw(r, |e| matches!(e, BillEvent::Escrow { .. })))
                .await
        );
        rig.emu.cheat().unwrap();
        assert!(rig.until(|r| saw(r, |e| *e == BillEvent::Cheated)).await);
        assert!(rig.told("прервана"));
        rig.ledger.hold_decisions = false;
        rig.until_idle().await;
        rig.insert_and_settle(10).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 1_000);
    })
    .await;
}

/// Power is cut while the validator is in `state` (reached by `reach`), then it comes back.
async fn power_loss_in(p: Protocol, state: &str) {
    let mut rig = Rig::new(p).await;
    match state {
        "idle" => {}
        "accepting" => {
            rig.emu.insert(100).unwrap();
            assert!(
                rig.until(|r| r.emu.status() == DeviceStatus::Accepting)
                    .await
            );
        }
        "escrow" => {
            rig.ledger.hold_decisions = true;
            rig.emu.insert(100).unwrap();
            assert!(
                rig.until(|r| saw(r, |e| matches!(e, BillEvent::Escrow { .. })))
                    .await
            );
        }
        "stacking" => {
            rig.emu.insert(100).unwrap();
            assert!(
                rig.until(|r| r.emu.status() == DeviceStatus::Stacking)
                    .await
            );
        }
        "stacked-unconfirmed" => {
            rig.ledger.hold_confirms = true;
            rig.emu.insert(100).unwrap();
            assert!(
                rig.until(|r| saw(r, |e| matches!(e, BillEvent::Stacked { .. })))
                    .await
            );
            // The journal write never happened: forget the report, keep the open intent.
            rig.ledger
                .events
                .retain(|e| !matches!(e, BillEvent::Stacked { .. }));
            rig.ledger.hold_confirms = false;
        }
        other => unreachable!("{other}"),
    }
    rig.emu.power_loss();
    assert!(
        rig.until(|r| saw(r, |e| matches!(e, BillEvent::PowerUp { .. })))
            .await,
        "{p} {state}: {:?}",
        rig.ledger.events
    );
    rig.ledger.hold_decisions = false;
    rig.until_idle().await;
    match state {
        "stacking" | "stacked-unconfirmed" => {
            assert!(saw(&rig, |e| matches!(
                e,
                BillEvent::PowerUp {
                    bill: Some(BillLocation::Stacker),
                    ..
                }
            )));
            assert_eq!(rig.ledger.credited_total(), 10_000, "{p} {state}");
            assert!(rig.told("после сбоя питания"));
        }
        "accepting" | "escrow" => {
            assert!(saw(&rig, |e| matches!(
                e,
                BillEvent::PowerUp {
                    bill: Some(BillLocation::Validator),
                    ..
                }
            )));
            assert_eq!(rig.ledger.credited_total(), 0, "{p} {state}");
            assert!(rig.told("будет возвращена"));
            assert_eq!(rig.emu.returned_to_customer(), vec![10_000]);
        }
        _ => assert!(saw(&rig, |e| *e
            == BillEvent::PowerUp {
                bill: None,
                denomination_kopecks: None
            })),
    }
    rig.assert_books_balance();
    rig.insert_and_settle(500).await;
    rig.assert_books_balance();
}

#[tokio::test]
async fn power_loss_when_idle() {
    both(|p| power_loss_in(p, "idle")).await;
}

#[tokio::test]
async fn power_loss_while_accepting() {
    both(|p| power_loss_in(p, "accepting")).await;
}

#[tokio::test]
async fn power_loss_with_a_bill_in_escrow() {
    both(|p| power_loss_in(p, "escrow")).await;
}

#[tokio::test]
async fn power_loss_while_stacking() {
    both(|p| power_loss_in(p, "stacking")).await;
}

#[tokio::test]
async fn power_loss_before_the_stacked_report_was_confirmed() {
    both(|p| power_loss_in(p, "stacked-unconfirmed")).await;
}

#[tokio::test]
async fn slow_replies_are_tolerated_and_a_dead_line_is_reported() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.emu.set_reply_delay(Duration::from_millis(100));
        rig.insert_and_settle(100).await;
        // Later than the host waits in all its tries (twice the reply timeout each).
        rig.emu.set_reply_delay(Duration::from_millis(2000));
        assert!(rig.until(|r| saw(r, |e| *e == BillEvent::LinkLost)).await);
        assert!(rig.told("временно недоступен"));
        rig.emu.set_reply_delay(Duration::ZERO);
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::LinkRestored))
                .await
        );
        rig.until_idle().await;
        rig.insert_and_settle(1000).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 110_000);
    })
    .await;
}

#[tokio::test]
async fn garbled_replies_are_retried() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.emu.insert(200).unwrap();
        assert!(
            rig.until(|r| r.emu.status() == DeviceStatus::Stacking)
                .await
        );
        rig.emu.garble_next(2);
        assert!(rig.until(|r| r.ledger.credited_total() == 20_000).await);
        // More damage than the retries cover: the link is lost, then comes back.
        rig.emu.garble_next(12);
        assert!(rig.until(|r| saw(r, |e| *e == BillEvent::LinkLost)).await);
        assert!(
            rig.until(|r| saw(r, |e| *e == BillEvent::LinkRestored))
                .await
        );
        rig.until_idle().await;
        rig.insert_and_settle(2000).await;
        rig.assert_books_balance();
        assert_eq!(rig.stacked_reports(), 2);
    })
    .await;
}

#[tokio::test]
async fn a_lost_ack_repeats_the_stacked_report_but_it_counts_once() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.drop_ack_on_stacked = true;
        rig.insert_and_settle(1000).await;
        rig.serve_for(Duration::from_millis(500)).await;
        assert!(!rig.drop_ack_on_stacked);
        assert_eq!(rig.stacked_reports(), 1, "{p}: {:?}", rig.ledger.events);
        rig.insert_and_settle(100).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 110_000);
    })
    .await;
}

#[tokio::test]
async fn a_terminal_crash_before_the_journal_write_loses_nothing_and_counts_once() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.crash_on_stacked = true;
        rig.emu.insert(5000).unwrap();
        assert!(
            rig.until(|r| r.ledger.credited_total() == 500_000).await,
            "{p}: {:?}",
            rig.ledger.events
        );
        assert_eq!(rig.crashes, 1);
        // The restarted driver saw the stacked report again before any RESET.
        assert_eq!(rig.stacked_reports(), 1);
        rig.until_idle().await;
        rig.insert_and_settle(50).await;
        rig.assert_books_balance();
        assert_eq!(rig.ledger.credited_total(), 505_000);
    })
    .await;
}

#[tokio::test]
async fn a_restarted_driver_reports_a_bill_still_in_escrow() {
    both(|p| async move {
        let mut rig = Rig::new(p).await;
        rig.ledger.hold_decisions = true;
        rig.emu.insert(1000).unwrap();
        assert!(
            rig.until(|r| saw(r, |e| matches!(e, BillEvent::Escrow { .. })))
                .await
        );
        rig.acceptor = None;
        rig.ledger.hold_decisions = false;
        rig.acceptor = Some(respawn(p, &rig.emu).await);
        rig.restarts += 1;
        assert!(
            rig.until(|r| r.ledger.credited_total() == 100_000).await,
            "{p}: {:?}",
            rig.ledger.events
        );
        rig.assert_books_balance();
    })
    .await;
}

#[tokio::test]
async fn disable_stops_acceptance() {
    let mut rig = Rig::new(Protocol::Ccnet).await;
    rig.acceptor
        .as_ref()
        .unwrap()
        .command(BillCommand::Disable)
        .await
        .unwrap();
    assert!(
        rig.until(|r| r.emu.status() == DeviceStatus::Disabled)
            .await
    );
    assert!(rig.emu.insert(100).is_err());
}
