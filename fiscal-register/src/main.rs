//! `fiscal-register`: a wire-level KKT emulator on a pty, and a probe for technicians that
//! talks to a real (or emulated) Shtrih-M KKT. Glue only: the protocol lives in the library.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use fiscal_register::shtrih::emulator::{Fault, KktConfig, KktEmulator, Printed, ReceiptSink};
use fiscal_register::shtrih::{DriverConfig, ShtrihDriver, ShtrihRegister};
use fiscal_register::{sample, FiscalModule, TaxSystem};

#[derive(Parser)]
#[command(name = "fiscal-register", about = "Shtrih-M KKT emulator and probe")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the KKT emulator on a new pty and links PATH to it. Reads faults from stdin.
    Emulate {
        #[arg(long)]
        link: PathBuf,
        #[arg(long, default_value = "9999078900012345")]
        fn_number: String,
        #[arg(long, default_value = "emulator-key")]
        key: String,
        #[arg(long, default_value_t = 30)]
        password: u32,
        /// Each printed document is written here as JSON.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Talks to a KKT.
    Probe {
        #[arg(long)]
        port: PathBuf,
        #[arg(long, default_value_t = 115_200)]
        baud: u32,
        #[arg(long, default_value_t = 30)]
        password: u32,
        #[command(subcommand)]
        action: Probe,
    },
}

#[derive(Subcommand)]
enum Probe {
    /// Short status, FN status and OFD exchange.
    Status,
    OpenShift,
    /// Sells one service for AMOUNT roubles (e.g. 150.00) in cash, general tax system.
    Sale {
        amount: String,
    },
    /// Closes the shift (Z-report).
    ZReport,
}

struct JsonSink {
    dir: Option<PathBuf>,
}

impl ReceiptSink for JsonSink {
    fn printed(&mut self, printed: &Printed) {
        let (name, json) = match printed {
            Printed::Receipt { document, result } => (
                format!("fd-{:06}.json", result.fd_number),
                serde_json::json!({ "document": document, "result": result }),
            ),
            Printed::ShiftReport(z) => {
                (format!("fd-{:06}.json", z.fd_number), serde_json::json!(z))
            }
        };
        println!("printed {name}");
        if let Some(dir) = &self.dir {
            if let Err(e) = std::fs::write(dir.join(&name), json.to_string()) {
                tracing::warn!(error = %e, "cannot save the printed document");
            }
        }
    }
}

fn parse_kopecks(text: &str) -> anyhow::Result<i64> {
    let (roubles, kopecks) = text.split_once(['.', ',']).unwrap_or((text, "0"));
    let kopecks = format!("{kopecks:0<2}");
    if kopecks.len() != 2 {
        bail!("amount {text:?}: at most two digits after the point");
    }
    let r: i64 = roubles
        .parse()
        .with_context(|| format!("amount {text:?}"))?;
    let k: i64 = kopecks
        .parse()
        .with_context(|| format!("amount {text:?}"))?;
    Ok(r * 100 + k)
}

fn emulate(config: KktConfig, link: PathBuf, out: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir)?;
    }
    let emulator = KktEmulator::spawn(config, Some(&link), Some(Box::new(JsonSink { dir: out })))?;
    println!(
        "KKT emulator on {} (link {})",
        emulator.path().display(),
        link.display()
    );
    println!("commands: paper-out | paper-in | paper-ends | cover-open | cover-close | memory-near-full | ofd-offline | ofd-online | lose-answer | silent | answer | quit");
    for line in std::io::stdin().lock().lines() {
        let (fault, on) = match line?.trim() {
            "paper-out" => (Fault::PaperOut, true),
            "paper-in" => (Fault::PaperOut, false),
            "paper-ends" => (Fault::PaperEndsDuringPrint, true),
            "cover-open" => (Fault::CoverOpen, true),
            "cover-close" => (Fault::CoverOpen, false),
            "memory-near-full" => (Fault::MemoryNearFull, true),
            "ofd-offline" => (Fault::OfdOffline, true),
            "ofd-online" => (Fault::OfdOffline, false),
            "lose-answer" => (Fault::LoseAnswerAfterRegistration, true),
            "silent" => (Fault::Silent, true),
            "answer" => (Fault::Silent, false),
            "quit" => return Ok(()),
            "" => continue,
            other => {
                println!("unknown command {other:?}");
                continue;
            }
        };
        emulator.set_fault(fault, on);
        println!("ok; last FD {}", emulator.last_fd());
    }
    // Standard input closed (run as a service): keep the KKT up until killed.
    loop {
        std::thread::park();
    }
}

fn probe(config: DriverConfig, action: Probe) -> anyhow::Result<()> {
    let driver = ShtrihDriver::spawn(config)?;
    let mut kkt = ShtrihRegister::new(driver.exchange(), true);
    let now = chrono::Local::now().naive_local();
    match action {
        Probe::Status => {
            let short = kkt.short_status()?;
            println!(
                "mode {:?}, submode {:?}, paper {}, cover open {}",
                short.mode,
                short.submode,
                short.paper_present(),
                short.cover_open()
            );
            println!("{:#?}", kkt.status(now)?);
        }
        Probe::OpenShift => println!("{:#?}", kkt.open_shift(now)?),
        Probe::Sale { amount } => {
            let mut doc = sample::cash_sale(parse_kopecks(&amount)?);
            doc.seller.tax_system = TaxSystem::General;
            let result = kkt.register(&doc, now)?;
            println!(
                "{result:#?}\nQR: {}",
                fiscal_register::qr_string(&doc, &result)
            );
        }
        Probe::ZReport => println!("{:#?}", kkt.close_shift(now)?),
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match Cli::parse().command {
        Command::Emulate {
            link,
            fn_number,
            key,
            password,
            out,
        } => {
            let config = KktConfig {
                fn_number,
                key: key.into_bytes(),
                seller: sample::seller(),
                password,
                start_time: chrono::Local::now().naive_local(),
            };
            emulate(config, link, out)
        }
        Command::Probe {
            port,
            baud,
            password,
            action,
        } => {
            let mut config = DriverConfig::new(port);
            config.baud = baud;
            config.password = password;
            probe(config, action)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_roubles_with_kopecks() {
        assert_eq!(parse_kopecks("150.00").unwrap(), 15_000);
        assert_eq!(parse_kopecks("1,5").unwrap(), 150);
        assert_eq!(parse_kopecks("7").unwrap(), 700);
        assert!(parse_kopecks("1.234").is_err());
        assert!(parse_kopecks("abc").is_err());
    }
}
