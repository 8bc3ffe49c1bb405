//! Driver benchmarks (run: `cargo bench -p bill-acceptor --bench driver`):
//! - CPU used by the driver of an idle, enabled validator polled every 150 ms;
//! - escrow → STACK latency: from the bill reaching escrow (and from the Escrow event reaching
//!   the host) to STACK arriving at the emulated device, over a real pty.
//!
//! The driver runs on its own thread so its CPU time can be read apart from the emulator's.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bill_acceptor::{
    spawn_driver, BillCommand, BillEvent, DriverConfig, Emulator, EmulatorConfig, Protocol, Timing,
};

fn thread_cpu() -> Duration {
    // SAFETY: getrusage fills a zeroed struct for the calling thread.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let idle_secs: u64 = std::env::var("BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let bills: usize = std::env::var("BENCH_BILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for protocol in [Protocol::Ccnet, Protocol::Id003] {
        run(protocol, idle_secs, bills);
    }
}

fn run(protocol: Protocol, idle_secs: u64, bills: usize) {
    // The emulator gets its own runtime thread.
    let emu_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let emu = {
        let _guard = emu_rt.enter();
        Emulator::spawn_with(EmulatorConfig {
            protocol,
            timing: Timing::fast(),
            power_off: Duration::from_millis(500),
        })
        .unwrap()
    };
    let path = emu.device_path().to_path_buf();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let emu_thread = std::thread::spawn(move || {
        emu_rt.block_on(async {
            while stop_rx.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        drop(emu_rt);
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut acceptor = spawn_driver(DriverConfig::new(protocol, &path)).await.unwrap();
        // Ready, then enable everything.
        loop {
            if let Some(BillEvent::Ready { bill_table, .. }) = acceptor.next_event().await {
                let all: BTreeSet<i64> = bill_table.bills.iter().map(|b| b.denomination_kopecks).collect();
                acceptor.command(BillCommand::Enable(all)).await.unwrap();
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;

        let cpu0 = thread_cpu();
        let wall0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(idle_secs)).await;
        let cpu = thread_cpu() - cpu0;
        let wall = wall0.elapsed();
        println!(
            "{protocol}: idle driver CPU {:.3}% of one core ({:?} CPU over {:?}, poll every 150 ms)",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            cpu,
            wall
        );

        let mut since_escrow = Vec::new();
        let mut since_event = Vec::new();
        for _ in 0..bills {
            while emu.insert(1000).is_err() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let mut event_at = None;
            loop {
                match acceptor.next_event().await.unwrap() {
                    BillEvent::Escrow { .. } => {
                        event_at = Some(Instant::now());
                        acceptor.command(BillCommand::Stack).await.unwrap();
                    }
                    BillEvent::Stacked { token, .. } => {
                        acceptor.confirm(token).await.unwrap();
                        break;
                    }
                    _ => {}
                }
            }
            for (arrived, waited) in emu.take_stack_decisions() {
                since_escrow.push(waited);
                if let Some(at) = event_at {
                    since_event.push(arrived.saturating_duration_since(at));
                }
            }
        }
        since_escrow.sort();
        since_event.sort();
        println!(
            "{protocol}: escrow -> STACK at the device over {} bills: p50 {:?}, p99 {:?}, max {:?}",
            since_escrow.len(),
            percentile(&since_escrow, 0.5),
            percentile(&since_escrow, 0.99),
            since_escrow.last().unwrap()
        );
        println!(
            "{protocol}: Escrow event at host -> STACK at the device: p50 {:?}, p99 {:?}, max {:?}",
            percentile(&since_event, 0.5),
            percentile(&since_event, 0.99),
            since_event.last().unwrap()
        );
        let stacked: u32 = emu.cassette().values().sum();
        assert_eq!(stacked as usize, bills, "every bill stacked");
    });
    drop(rt);
    let _ = stop_tx.send(());
    let _ = emu_thread.join();
}
