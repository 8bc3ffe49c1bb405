//! Kiosk-side overhead of one card payment: the time the ECR side spends outside waiting on the
//! terminal (encoding, framing, CRC, parsing, state machine), and the whole payment over a pty
//! against an emulator with no artificial delays (adds tokio, the pty and the emulator's work).

// Amounts are written roubles_kopecks (1234_00 = 1234.00 RUB).
#![allow(clippy::inconsistent_digit_grouping)]

use std::time::{Duration, Instant};

use card_reader::ecr::{EcrConfig, EcrCore, EcrEvent, Operation};
use card_reader::emulator::core::{EmulatorConfig, TerminalCore};
use card_reader::{AuthEvent, CardReader, DriverConfig, Emulator};
use criterion::{criterion_group, criterion_main, Criterion};

fn instant_terminal() -> TerminalCore {
    TerminalCore::new(EmulatorConfig {
        prompt_delay: Duration::ZERO,
        ..Default::default()
    })
}

/// One payment between the cores in memory; returns the time spent inside the ECR core.
fn one_payment(ecr: &mut EcrCore, pt: &mut TerminalCore, clock: &mut Instant) -> Duration {
    let mut ecr_time = Duration::ZERO;
    let t = Instant::now();
    ecr.start(
        Operation::Authorise {
            amount_kopecks: 1234_00,
        },
        *clock,
    )
    .expect("start");
    ecr_time += t.elapsed();
    loop {
        *clock += Duration::from_micros(100);
        let t = Instant::now();
        let mut to_pt = Vec::new();
        while let Some(bytes) = ecr.poll_transmit() {
            to_pt.extend(bytes);
        }
        ecr_time += t.elapsed();
        pt.handle_input(&to_pt, *clock);
        pt.handle_timeout(*clock);
        let mut to_ecr = Vec::new();
        while let Some(bytes) = pt.poll_transmit(*clock) {
            to_ecr.extend(bytes);
        }
        let t = Instant::now();
        ecr.handle_input(&to_ecr, *clock);
        ecr.handle_timeout(*clock);
        let mut finished = false;
        while let Some(event) = ecr.poll_event() {
            match event {
                EcrEvent::DecisionNeeded(_) => ecr.decide(true, *clock).expect("decide"),
                EcrEvent::Finished(_) => finished = true,
                EcrEvent::Prompt { .. } => {}
            }
        }
        ecr_time += t.elapsed();
        if finished {
            // Let the PT receive our final 80 00.
            let mut to_pt = Vec::new();
            while let Some(bytes) = ecr.poll_transmit() {
                to_pt.extend(bytes);
            }
            pt.handle_input(&to_pt, *clock);
            let mut to_ecr = Vec::new();
            while let Some(bytes) = pt.poll_transmit(*clock) {
                to_ecr.extend(bytes);
            }
            // The PT's link ACK to that 80 00: without it the next command would queue behind it.
            let t = Instant::now();
            ecr.handle_input(&to_ecr, *clock);
            ecr_time += t.elapsed();
            return ecr_time;
        }
    }
}

fn bench_core(c: &mut Criterion) {
    c.bench_function("ecr_core_cpu_per_payment", |b| {
        b.iter_custom(|iters| {
            let mut ecr = EcrCore::new(EcrConfig::default());
            let mut pt = instant_terminal();
            let mut clock = Instant::now();
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += one_payment(&mut ecr, &mut pt, &mut clock);
            }
            total
        })
    });
}

fn bench_pty(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = Emulator::spawn_with(EmulatorConfig {
        prompt_delay: Duration::ZERO,
        ..Default::default()
    })
    .expect("emulator");
    let reader = runtime.block_on(async {
        let reader = CardReader::open(emulator.path(), DriverConfig::default()).expect("open");
        reader.registration().await.expect("registration");
        reader
    });
    let mut group = c.benchmark_group("pty");
    group.sample_size(20);
    group.bench_function("payment_wall_time_zero_delay_emulator", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut auth = reader.authorise(1234_00, "bench").await.expect("authorise");
                while let Some(event) = auth.next_event().await {
                    match event {
                        AuthEvent::Approved(p) => p.goods_issued(true),
                        AuthEvent::Completed { .. } => break,
                        AuthEvent::Prompt { .. } => {}
                        other => panic!("{other:?}"),
                    }
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench_core, bench_pty);
criterion_main!(benches);
