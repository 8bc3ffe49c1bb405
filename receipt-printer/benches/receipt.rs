//! Time to build and encode a fiscal receipt; prints bytes per receipt and time on the wire.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use fiscal_register::{EmulatedFiscalModule, FiscalModule, FiscalResult};
use receipt_printer::emulator::PrinterCore;
use receipt_printer::job::{JobConfig, PrintJob};
use receipt_printer::{
    encode_receipt, sample, Emulator, PrinterHandle, PrinterProfile, Receipt, SerialSettings,
};

fn fiscal_result() -> FiscalResult {
    let dir = std::env::temp_dir().join(format!("receipt-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let mut fm = EmulatedFiscalModule::open(dir.join("fn.json"), "9999078900012345", b"bench")
        .expect("fiscal state");
    let _ = fm.open_shift(sample::time());
    let result = fm
        .register(&sample::document(), sample::time())
        .expect("register");
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn build(result: &FiscalResult) -> Receipt {
    let mut receipt = Receipt::fiscal_payment(sample::document(), result.clone());
    receipt.header = sample::header();
    receipt.footer = sample::footer();
    receipt
}

fn job_traffic(bytes: &[u8], profile: &PrinterProfile) -> (usize, usize) {
    let now = std::time::Instant::now();
    let mut job = PrintJob::new(bytes, JobConfig::default(), now);
    let mut core = PrinterCore::new(profile.clone());
    let (mut tx, mut rx) = (0, 0);
    while !job.is_finished() {
        while let Some(out) = job.poll_transmit() {
            tx += out.len();
            core.handle_input(&out);
        }
        while let Some(reply) = core.poll_transmit() {
            rx += reply.len();
            job.handle_input(&reply, now);
        }
    }
    (tx, rx)
}

fn bench(c: &mut Criterion) {
    let result = fiscal_result();
    let profile = PrinterProfile::EPSON_TM_T20;
    let bytes = encode_receipt(&build(&result), &profile).expect("encode");
    let settings = SerialSettings::for_profile(&profile);
    println!(
        "bytes per sample fiscal receipt ({}): {}",
        profile.name,
        bytes.len()
    );
    for baud in [115_200, 38_400, 9_600] {
        let s = SerialSettings { baud, ..settings };
        println!(
            "time on the wire at {baud} baud (8N1): {:.1} ms",
            s.wire_seconds(bytes.len()) * 1000.0
        );
    }
    // The job's own traffic with the default config: receipt bytes plus DLE EOT polls and
    // their one-byte replies, which travel one after another.
    let (tx, rx) = job_traffic(&bytes, &profile);
    println!("job traffic with status polling: {tx} bytes out, {rx} bytes back");
    for baud in [115_200, 9_600] {
        let s = SerialSettings { baud, ..settings };
        println!(
            "job time on the wire at {baud} baud incl. polling: {:.1} ms",
            s.wire_seconds(tx + rx) * 1000.0
        );
    }
    c.bench_function("build + encode fiscal receipt", |b| {
        b.iter(|| encode_receipt(&build(black_box(&result)), &profile).expect("encode"))
    });
    c.bench_function("emulator decode fiscal receipt", |b| {
        b.iter(|| {
            let mut core = PrinterCore::new(profile.clone());
            core.handle_input(black_box(&bytes));
            core.poll_receipt()
        })
    });
    // The whole job through a pty to the emulator: chunking, DLE EOT polls and their round
    // trips (a pty has no baud limit, so this is the protocol overhead, not the wire time).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = Emulator::spawn(profile.clone(), None).expect("emulator");
    let printer = PrinterHandle::new(emulator.path().to_string_lossy(), profile.clone(), settings);
    let receipt = build(&result);
    c.bench_function(
        "print fiscal receipt through pty with status polling",
        |b| b.iter(|| runtime.block_on(printer.print(&receipt)).expect("print")),
    );
    c.bench_function("fiscal sign (HMAC-SHA256 over FFD TLV)", |b| {
        let doc = sample::document();
        b.iter(|| fiscal_register::verify_fiscal_sign(b"bench", black_box(&doc), &result))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
