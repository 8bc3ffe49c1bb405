//! `bill-acceptor`: the emulator and a probe for real validators, for technicians and tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::io::AsyncBufReadExt;

use bill_acceptor::{
    spawn_driver, BillCommand, BillEvent, DriverConfig, Emulator, EmulatorConfig, Protocol,
};

#[derive(Parser)]
#[command(version, about = "CCNET / ID003 bill acceptor emulator and probe")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Emulate a validator on a new pty linked at PATH; script it on stdin, one command a line:
    /// insert N, insert-fake, jam, clear-jam, cassette-full, remove-cassette, insert-cassette,
    /// cheat, power-loss, garble N, delay MS, drop-ack N, status. Exits on end of input.
    Emulate {
        #[arg(long, value_enum)]
        protocol: Protocol,
        /// Symlink to create pointing at the pty device.
        #[arg(long)]
        link: PathBuf,
    },
    /// Reset and identify a real validator, print its bill table, enable every bill and print
    /// each event as a JSON line; bills are returned unless --stack.
    Probe {
        #[arg(long, value_enum)]
        protocol: Protocol,
        #[arg(long)]
        port: PathBuf,
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Stack accepted bills instead of returning them.
        #[arg(long)]
        stack: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match Cli::parse().command {
        Command::Emulate { protocol, link } => emulate(protocol, link).await,
        Command::Probe {
            protocol,
            port,
            seconds,
            stack,
        } => probe(protocol, port, seconds, stack).await,
    }
}

fn rubles_map(kopecks: &BTreeMap<i64, u32>) -> BTreeMap<String, u32> {
    kopecks
        .iter()
        .map(|(k, n)| (format!("{}", k / 100), *n))
        .collect()
}

async fn emulate(protocol: Protocol, link: PathBuf) -> anyhow::Result<()> {
    let mut emu =
        Emulator::spawn_with(EmulatorConfig::new(protocol)).context("creating the pty")?;
    emu.link_to(&link)
        .with_context(|| format!("linking {}", link.display()))?;
    eprintln!(
        "emulating a {protocol} validator on {} (linked at {})",
        emu.device_path().display(),
        link.display()
    );
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else { continue };
        let arg = words.next();
        let number = |what: &str| -> Result<i64, String> {
            arg.ok_or(format!("{cmd} needs {what}"))?
                .parse::<i64>()
                .map_err(|_| format!("{cmd}: {what} must be a whole number"))
        };
        let result: Result<(), String> = match cmd {
            "insert" => number("a denomination in rubles")
                .and_then(|r| emu.insert(r).map_err(|e| e.to_string())),
            "insert-fake" => emu.insert_fake().map_err(|e| e.to_string()),
            "jam" => {
                emu.jam();
                Ok(())
            }
            "clear-jam" => emu.clear_jam().map_err(|e| e.to_string()),
            "cassette-full" => {
                emu.cassette_full();
                Ok(())
            }
            "remove-cassette" => emu.remove_cassette().map(|_| ()).map_err(|e| e.to_string()),
            "insert-cassette" => emu.insert_cassette().map_err(|e| e.to_string()),
            "cheat" => emu.cheat().map_err(|e| e.to_string()),
            "power-loss" => {
                emu.power_loss();
                Ok(())
            }
            "garble" => number("a count").map(|n| emu.garble_next(n.clamp(0, 1000) as u32)),
            "delay" => number("milliseconds")
                .map(|ms| emu.set_reply_delay(Duration::from_millis(ms.clamp(0, 60_000) as u64))),
            "drop-ack" => number("a count").map(|n| emu.drop_next_ack(n.clamp(0, 1000) as u32)),
            "status" => {
                let cassette = emu.cassette();
                let total: i64 = cassette.iter().map(|(k, n)| k * i64::from(*n)).sum();
                let line = serde_json::json!({
                    "status": format!("{:?}", emu.status()),
                    "cassette": rubles_map(&cassette),
                    "cassette_total_kopecks": total,
                    "stacked_since_start": rubles_map(&emu.stacked_total()),
                });
                println!("{line}");
                Ok(())
            }
            other => Err(format!("unknown command {other:?}")),
        };
        if let Err(err) = result {
            eprintln!("error: {err}");
        }
    }
    Ok(())
}

async fn probe(protocol: Protocol, port: PathBuf, seconds: u64, stack: bool) -> anyhow::Result<()> {
    let mut acceptor = spawn_driver(DriverConfig::new(protocol, &port))
        .await
        .with_context(|| format!("opening {}", port.display()))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let event = tokio::select! {
            ev = acceptor.next_event() => ev,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        let Some(event) = event else {
            anyhow::bail!("the driver stopped");
        };
        println!("{}", serde_json::to_string(&event)?);
        match &event {
            BillEvent::Ready { bill_table, .. } => {
                let all: BTreeSet<i64> = bill_table
                    .bills
                    .iter()
                    .map(|b| b.denomination_kopecks)
                    .collect();
                acceptor.command(BillCommand::Enable(all)).await?;
            }
            BillEvent::Escrow { .. } => {
                let decision = if stack {
                    BillCommand::Stack
                } else {
                    BillCommand::Return
                };
                acceptor.command(decision).await?;
            }
            // The probe keeps no journal: confirm at once.
            BillEvent::Stacked { token, .. } | BillEvent::Returned { token, .. } => {
                acceptor.confirm(*token).await?;
            }
            _ => {}
        }
    }
    acceptor.command(BillCommand::Disable).await?;
    // Let the disable reach the device before the port closes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(())
}
