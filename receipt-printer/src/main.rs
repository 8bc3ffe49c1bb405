//! `receipt-printer`: run the printer emulator on a pty, or probe a real printer.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use fiscal_register::FiscalModule;
use receipt_printer::emulator::render_png;
use receipt_printer::{Emulator, PrinterHandle, PrinterProfile, Receipt, SerialSettings};

#[derive(Parser)]
#[command(
    name = "receipt-printer",
    about = "ESC/POS receipt printer tools for the kiosk"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Emulate a printer on a pty; stdin takes fault commands.
    Emulate {
        #[arg(long, default_value = "tm-t20")]
        profile: String,
        /// Symlink to create pointing at the pty (the path a driver opens).
        #[arg(long)]
        link: Option<PathBuf>,
        /// Directory where each receipt is saved as text and PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Talk to a printer on a serial port.
    Probe {
        #[arg(long, default_value = "tm-t20")]
        profile: String,
        #[arg(long)]
        port: String,
        /// Serial speed; the profile's default when absent.
        #[arg(long)]
        baud: Option<u32>,
        action: ProbeAction,
    },
    /// Render the sample fiscal receipt (emulated fiscal module) to text and PNG.
    Sample {
        #[arg(long, default_value = "tm-t20")]
        profile: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ProbeAction {
    Status,
    TestPage,
}

fn profile(id: &str) -> anyhow::Result<PrinterProfile> {
    PrinterProfile::by_id(id).ok_or_else(|| {
        anyhow!(
            "unknown profile {id:?}; known: {}",
            PrinterProfile::ids().join(", ")
        )
    })
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Emulate {
            profile: p,
            link,
            out,
        } => emulate(profile(&p)?, link, out),
        Command::Probe {
            profile: p,
            port,
            baud,
            action,
        } => probe(profile(&p)?, port, baud, action),
        Command::Sample { profile: p, out } => sample(profile(&p)?, out),
    }
}

fn emulate(profile: PrinterProfile, link: Option<PathBuf>, out: PathBuf) -> anyhow::Result<()> {
    let emulator =
        Emulator::spawn(profile.clone(), Some(out.clone())).context("cannot start the emulator")?;
    if let Some(link) = &link {
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(emulator.path(), link)
            .with_context(|| format!("cannot create link {}", link.display()))?;
    }
    println!(
        "emulating {} on {} (receipts in {})",
        profile.name,
        link.as_deref().unwrap_or(emulator.path()).display(),
        out.display()
    );
    println!("commands: paper-near-end, paper-ok, paper-out, paper-out-after N, paper-in, cover-open, cover-close, cutter-jam, offline, online, silent, answer, status, quit");
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("paper-near-end"), _) => emulator.paper_near_end(true),
            (Some("paper-ok"), _) => emulator.paper_near_end(false),
            (Some("paper-out"), None) => emulator.paper_out(),
            (Some("paper-out-after"), Some(n)) => match n.parse() {
                Ok(n) => emulator.paper_out_after(n),
                Err(_) => eprintln!("paper-out-after needs a number of lines"),
            },
            (Some("paper-in"), _) => emulator.paper_in(),
            (Some("cover-open"), _) => emulator.cover_open(),
            (Some("cover-close"), _) => emulator.cover_close(),
            (Some("cutter-jam"), _) => emulator.cutter_jam(),
            (Some("offline"), _) => emulator.offline(true),
            (Some("online"), _) => emulator.offline(false),
            (Some("silent"), _) => emulator.silent(true),
            (Some("answer"), _) => emulator.silent(false),
            (Some("status"), _) => {}
            (Some("quit"), _) => break,
            (None, _) => continue,
            (Some(other), _) => {
                eprintln!("unknown command {other:?}");
                continue;
            }
        }
        println!("{:?}", emulator.status());
    }
    if let Some(link) = &link {
        let _ = std::fs::remove_file(link);
    }
    Ok(())
}

fn probe(
    profile: PrinterProfile,
    port: String,
    baud: Option<u32>,
    action: ProbeAction,
) -> anyhow::Result<()> {
    let mut settings = SerialSettings::for_profile(&profile);
    if let Some(baud) = baud {
        settings.baud = baud;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let printer = PrinterHandle::new(port, profile.clone(), settings);
    runtime.block_on(async {
        match action {
            ProbeAction::Status => {
                let status = printer.status().await?;
                println!("{status:#?}");
            }
            ProbeAction::TestPage => {
                let page = Receipt::test_page(&profile, chrono::Local::now().naive_local());
                let status = printer.print(&page).await?;
                println!("test page printed; {status:?}");
            }
        }
        Ok::<_, anyhow::Error>(())
    })
}

fn sample(profile: PrinterProfile, out: PathBuf) -> anyhow::Result<()> {
    use receipt_printer::sample;
    std::fs::create_dir_all(&out)?;
    let dir = tempfile_dir(&out)?;
    let mut fiscal = fiscal_register::EmulatedFiscalModule::open(
        dir.join("fn.json"),
        "9999078900012345",
        b"sample-device-key",
    )?;
    let shift_time = sample::time() - chrono::Duration::hours(2);
    fiscal.open_shift(shift_time)?;
    let result = fiscal.register(&sample::document(), sample::time())?;
    let mut receipt = Receipt::fiscal_payment(sample::document(), result);
    receipt.header = sample::header();
    receipt.footer = sample::footer();
    let bytes = receipt_printer::encode_receipt(&receipt, &profile)?;
    let mut core = receipt_printer::emulator::PrinterCore::new(profile.clone());
    core.handle_input(&bytes);
    let Some(decoded) = core.poll_receipt() else {
        bail!("the emulator produced no receipt")
    };
    std::fs::write(out.join("sample-receipt.txt"), decoded.text())?;
    std::fs::write(
        out.join("sample-receipt.png"),
        render_png(&decoded, profile.dots)?,
    )?;
    std::fs::write(out.join("sample-receipt.escpos"), &bytes)?;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", decoded.text());
    Ok(())
}

fn tempfile_dir(out: &std::path::Path) -> anyhow::Result<PathBuf> {
    let dir = out.join(format!(".fn-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
