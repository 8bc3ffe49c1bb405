//! `card-reader`: the ZVT terminal emulator on a pty and a probe for technicians.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use card_reader::{AuthEvent, CardReader, DriverConfig, Emulator, EmulatorConfig};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "card-reader",
    about = "ZVT card terminal: emulator and technician probe"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Emulate a payment terminal on a pty linked at PATH. Stdin commands: decline-next,
    /// drop-link-next, cancel-next, busy-next, lose-ack-next, delay MS, unmasked-pan on|off,
    /// status, quit.
    Emulate {
        #[arg(long)]
        link: PathBuf,
        /// How long the terminal waits for the ECR's answer to an approval before reversing it.
        #[arg(long, default_value_t = 10_000)]
        confirm_timeout_ms: u64,
        #[arg(long, default_value_t = 400)]
        prompt_delay_ms: u64,
    },
    /// Talk to a terminal (or the emulator) on DEV.
    Probe {
        #[arg(long)]
        port: PathBuf,
        #[command(subcommand)]
        action: ProbeAction,
    },
}

#[derive(Subcommand)]
enum ProbeAction {
    /// Registration then status enquiry.
    Status,
    /// A payment of AMOUNT roubles (e.g. 12.34); answers "goods issued" unless --not-issued.
    Pay {
        amount: String,
        #[arg(long)]
        not_issued: bool,
    },
    /// Close the terminal's batch and print its totals.
    EndOfDay,
}

fn parse_roubles(text: &str) -> anyhow::Result<i64> {
    let (whole, frac) = text.split_once(['.', ',']).unwrap_or((text, "0"));
    if whole.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 2
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        bail!("amount must look like 123 or 123.45, got {text:?}");
    }
    let roubles: i64 = whole.parse().context("amount too large")?;
    let kopecks: i64 = format!("{frac:0<2}").parse().context("bad kopecks")?;
    roubles
        .checked_mul(100)
        .and_then(|r| r.checked_add(kopecks))
        .context("amount too large")
}

fn emulate(link: PathBuf, confirm_timeout_ms: u64, prompt_delay_ms: u64) -> anyhow::Result<()> {
    let config = EmulatorConfig {
        confirm_timeout: Duration::from_millis(confirm_timeout_ms),
        prompt_delay: Duration::from_millis(prompt_delay_ms),
        ..Default::default()
    };
    let emulator = Emulator::spawn_with(config).context("cannot create the pty")?;
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link)
            .with_context(|| format!("cannot replace {}", link.display()))?;
    }
    std::os::unix::fs::symlink(emulator.path(), &link)
        .with_context(|| format!("cannot link {} to the pty", link.display()))?;
    println!(
        "emulating a ZVT terminal on {} -> {}",
        link.display(),
        emulator.path().display()
    );
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => {}
            ["decline-next"] => emulator.decline_next(),
            ["drop-link-next"] => emulator.drop_link_next(),
            ["cancel-next"] => emulator.cancel_next(),
            ["busy-next"] => emulator.busy_next(),
            ["lose-ack-next"] => emulator.lose_ack_next(),
            ["delay", ms] => match ms.parse::<u64>() {
                Ok(ms) => emulator.set_delay(Duration::from_millis(ms)),
                Err(_) => eprintln!("delay needs milliseconds, got {ms:?}"),
            },
            ["unmasked-pan", "on"] => emulator.set_unmasked_pan(true),
            ["unmasked-pan", "off"] => emulator.set_unmasked_pan(false),
            ["status"] => {
                let status = serde_json::json!({
                    "registered": emulator.is_registered(),
                    "idle": emulator.is_idle(),
                    "batch": emulator.batch(),
                    "transactions": emulator.transactions(),
                });
                println!("{status}");
            }
            ["quit"] => {
                QUIT.store(true, std::sync::atomic::Ordering::Relaxed);
                break;
            }
            other => eprintln!("unknown command {other:?}"),
        }
    }
    if !line_quit_requested() {
        // Stdin closed (e.g. run from a service): keep emulating until killed.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    let _ = std::fs::remove_file(&link);
    Ok(())
}

// `quit` ends the loop with `break`; EOF ends it too. Distinguish them through a flag.
static QUIT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
fn line_quit_requested() -> bool {
    QUIT.load(std::sync::atomic::Ordering::Relaxed)
}

async fn probe(port: PathBuf, action: ProbeAction) -> anyhow::Result<()> {
    let reader = CardReader::open(&port, DriverConfig::default())
        .context("cannot open the terminal port")?;
    let registered = reader.registration().await.context("registration failed")?;
    println!("registered: {}", serde_json::to_string(&registered)?);
    match action {
        ProbeAction::Status => {
            let status = reader
                .status_enquiry()
                .await
                .context("status enquiry failed")?;
            println!(
                "status: {} (ready: {})",
                serde_json::to_string(&status)?,
                status.ready()
            );
        }
        ProbeAction::Pay { amount, not_issued } => {
            let kopecks = parse_roubles(&amount)?;
            let mut auth = reader.authorise(kopecks, "probe").await?;
            while let Some(event) = auth.next_event().await {
                match event {
                    AuthEvent::Prompt { text_ru, .. } => println!("prompt: {text_ru}"),
                    AuthEvent::Approved(pending) => {
                        println!("approved: {}", serde_json::to_string(&pending.approval)?);
                        pending.goods_issued(!not_issued);
                    }
                    AuthEvent::Completed { approval } => {
                        println!("completed: {}", serde_json::to_string(&approval)?);
                        for line in &approval.print_lines {
                            println!("  | {line}");
                        }
                    }
                    AuthEvent::ReversedByTerminal { .. } => {
                        println!("not issued: the terminal reverses")
                    }
                    AuthEvent::Declined { code, reason_ru } => {
                        println!("declined: {reason_ru} ({code:#04x})")
                    }
                    AuthEvent::Cancelled => println!("cancelled"),
                    AuthEvent::OutcomeUnknown { detail, .. } => {
                        println!("OUTCOME UNKNOWN: {detail}; run `probe status` and check the terminal's last result");
                    }
                }
            }
        }
        ProbeAction::EndOfDay => {
            let totals = reader.end_of_day().await.context("end of day failed")?;
            println!("end of day: {}", serde_json::to_string(&totals)?);
        }
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
            confirm_timeout_ms,
            prompt_delay_ms,
        } => emulate(link, confirm_timeout_ms, prompt_delay_ms),
        Command::Probe { port, action } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(probe(port, action))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_roubles;

    #[test]
    fn roubles() {
        assert_eq!(parse_roubles("12.34").unwrap(), 1234);
        assert_eq!(parse_roubles("12,3").unwrap(), 1230);
        assert_eq!(parse_roubles("7").unwrap(), 700);
        assert!(parse_roubles("1.234").is_err());
        assert!(parse_roubles("-5").is_err());
    }
}
