//! The `terminal` command: run the kiosk, run the demo, check config, hash the service PIN, enrol
//! with the back office, verify and export the journal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use terminal::journal::{ExportFormat, Journal};

#[derive(Parser)]
#[command(
    name = "terminal",
    version,
    about = "Self-service payment kiosk for an electricity retailer"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk (with a window on a display).
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the journal, fiscal state and stored receipts live (not with --simulate: var/sim).
        #[arg(long, default_value = "var/kiosk")]
        data_dir: PathBuf,
        #[cfg(feature = "sim")]
        #[command(flatten)]
        sim: sim::RunArgs,
    },
    #[cfg(feature = "sim")]
    #[command(flatten)]
    Sim(sim::Command),
    /// The hash-chained journal.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Read a service PIN (4–12 digits) from standard input and print its hash for
    /// `[service] pin_hash` (asked twice without echo on a terminal; else the first line).
    PinHash,
    /// Enrol this kiosk with the one-time code `back-office terminal enrol ID` printed: fetches
    /// the terminal's id, key and time zone over HTTPS, writes the key file (0640) and sets
    /// them in the config (comments kept). Run as root on the kiosk.
    Enrol {
        /// The back office, e.g. https://bo.example.ru
        #[arg(long)]
        back_office: String,
        /// The code as printed (XXXXX-XXXXX-XXXXX-XXXXX); it works once.
        #[arg(long)]
        code: String,
        #[arg(long, default_value = "/etc/kiosk/kiosk.toml")]
        config: PathBuf,
        /// Default: the config's [back_office] key_file, else terminal.key beside the config.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// PEM CA certificate of a back office no public CA signed; kept as [back_office] ca_file.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Check the whole chain; names the first bad sequence number.
    Verify {
        #[arg(long, default_value = "var/journal.sqlite")]
        journal: PathBuf,
    },
    /// Write entries as JSON lines or CSV to stdout.
    Export {
        #[arg(long, default_value = "var/journal.sqlite")]
        journal: PathBuf,
        #[arg(long, default_value_t = 1)]
        from: u64,
        #[arg(long, default_value_t = u64::MAX)]
        to: u64,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file and list every problem.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The fault simulation's faults are its purpose: their warnings would only drown its report.
    let quiet = match &cli.command {
        #[cfg(feature = "sim")]
        Command::Sim(command) => command.log_level(),
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KIOSK_LOG")
                .unwrap_or_else(|_| quiet.into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        #[cfg(feature = "sim")]
        Command::Sim(command) => sim::run(command),
        Command::Journal {
            command: JournalCommand::Verify { journal },
        } => verify(&journal),
        Command::Journal {
            command:
                JournalCommand::Export {
                    journal,
                    from,
                    to,
                    format,
                },
        } => export(&journal, from, to, format),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => check_config(&file),
        Command::PinHash => pin_hash(),
        Command::Enrol {
            back_office,
            code,
            config,
            key_file,
            ca_file,
        } => enrol(terminal::enrol::EnrolRequest {
            back_office,
            code,
            config,
            key_file,
            ca_file,
        }),
        #[cfg(feature = "sim")]
        Command::Run {
            sim: args @ sim::RunArgs { simulate: true, .. },
            ..
        } => sim::run_simulated(args),
        Command::Run {
            config: Some(path),
            data_dir,
            ..
        } => run_configured(&path, data_dir),
        Command::Run { config: None, .. } => {
            if cfg!(feature = "sim") {
                eprintln!("terminal run: give --config FILE for the kiosk's devices, or --simulate for emulated ones");
            } else {
                eprintln!("terminal run: give --config FILE (this build has no simulated devices: it was built without the `sim` feature)");
            }
            ExitCode::from(2)
        }
    }
}

fn verify(path: &std::path::Path) -> ExitCode {
    let journal = match Journal::open_for_audit(path) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("cannot open journal {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match journal.verify() {
        Ok(n) => {
            println!("journal OK: {n} entries, chain intact");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("journal BROKEN at entry {}: {}", e.seq, e.reason);
            ExitCode::FAILURE
        }
    }
}

fn export(path: &std::path::Path, from: u64, to: u64, format: ExportFormat) -> ExitCode {
    let result = Journal::open_for_audit(path)
        .and_then(|j| j.export(from, to, format, &mut std::io::stdout().lock()));
    match result {
        Ok(n) => {
            eprintln!("exported {n} entries");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("export failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match terminal::config::check(path) {
        Ok(config) => {
            let missing = config.missing_files();
            for problem in &missing {
                println!("warning: {problem}");
            }
            if let Some(problem) = config.key_file_problem() {
                println!("{}: {problem}", path.display());
                return ExitCode::FAILURE;
            }
            println!("{}: OK", path.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                println!("{}: {problem}", path.display());
            }
            println!("{} problem(s) found", problems.len());
            ExitCode::FAILURE
        }
    }
}

fn run_configured(path: &std::path::Path, data_dir: PathBuf) -> ExitCode {
    let config = match terminal::config::Config::load(path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    match terminal::kiosk::run_configured(config, data_dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terminal run: {e}");
            ExitCode::from(2)
        }
    }
}

fn enrol(request: terminal::enrol::EnrolRequest) -> ExitCode {
    match terminal::enrol::enrol(&request) {
        Ok(done) => {
            println!(
                "enrolled as terminal {} (time zone {})",
                done.terminal_id, done.time_zone
            );
            println!("key written to {} (mode 0640)", done.key_file.display());
            println!(
                "{}: [terminal] id, timezone and [back_office] url, key_file set",
                request.config.display()
            );
            println!("next: terminal config check {}", request.config.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("terminal enrol: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `terminal pin-hash`: the PIN never reaches stdout, stderr or a log; only its hash is printed.
fn pin_hash() -> ExitCode {
    use std::io::IsTerminal;
    let pin = if std::io::stdin().is_terminal() {
        read_pin_twice()
    } else {
        read_pin_line()
    };
    let pin = match pin {
        Ok(pin) => pin,
        Err(e) => {
            eprintln!("terminal pin-hash: {e}");
            return ExitCode::from(2);
        }
    };
    match terminal::service_pin::hash_pin(&pin) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(terminal::service_pin::ServicePinError::WeakPin) => {
            eprintln!("terminal pin-hash: refused: the service PIN must be 4 to 12 digits 0-9, nothing else");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("terminal pin-hash: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The first line of a pipe or file, without its line end.
fn read_pin_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the PIN from standard input: {e}"))?;
    if line.is_empty() {
        return Err("no PIN on standard input".into());
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Asks twice on the terminal with echo off (`stty -echo`; restored however the read ends).
fn read_pin_twice() -> Result<String, String> {
    struct EchoOff;
    impl Drop for EchoOff {
        fn drop(&mut self) {
            let _ = std::process::Command::new("stty").arg("echo").status();
            eprintln!();
        }
    }
    let ask = |prompt: &str| -> Result<String, String> {
        eprint!("{prompt}");
        let off = std::process::Command::new("stty").arg("-echo").status();
        if !off.is_ok_and(|s| s.success()) {
            return Err("cannot turn the terminal's echo off (stty -echo failed); \
                        pipe the PIN in instead, e.g. from a file"
                .into());
        }
        let _echo = EchoOff;
        read_pin_line()
    };
    let first = ask("Service PIN (4-12 digits): ")?;
    let second = ask("The same PIN again: ")?;
    if first != second {
        return Err("the two PINs differ; nothing printed".into());
    }
    Ok(first)
}

/// The development and test commands (the `sim` feature): the kiosk on emulated devices, the demo,
/// the soak harnesses and the simulations.
#[cfg(feature = "sim")]
mod sim {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use clap::{Args, Subcommand};

    #[derive(Args)]
    pub struct RunArgs {
        /// Use emulated devices.
        #[arg(long)]
        pub simulate: bool,
        /// With --simulate: sync to this back office (terminal SIM01) instead of an embedded one.
        #[arg(long, requires = "back_office_key_file", conflicts_with = "config")]
        back_office_url: Option<String>,
        /// With --back-office-url: the file holding SIM01's key (`back-office terminal add SIM01`).
        #[arg(long, requires = "back_office_url")]
        back_office_key_file: Option<PathBuf>,
        /// With --simulate: the fiscal register (`shtrih`: the Shtrih-M KKT emulator, driven by
        /// the real driver, prints the receipts).
        #[arg(long, value_enum, default_value = "emulated", requires = "simulate")]
        fiscal: terminal::sim_devices::SimFiscal,
        /// With --simulate: the retailer's look from this file's [brand] table (a kiosk config,
        /// or e.g. config/brand-example/brand.toml).
        #[arg(long, requires = "simulate")]
        brand: Option<PathBuf>,
    }

    #[derive(Subcommand)]
    pub enum Command {
        /// A scripted customer pays 1 500,00 ₽ in cash on simulated devices; prints the receipt.
        Demo,
        /// Test harness: a scripted customer pays in cash forever against a validator on --port.
        #[command(hide = true)]
        CashSoak(terminal::soak::SoakArgs),
        /// Test harness: a scripted customer pays by card forever against a card terminal on --port.
        #[command(hide = true)]
        CardSoak(terminal::card_soak::CardSoakArgs),
        /// Fast-forward a fleet of simulated kiosks through the real health monitor.
        SimulateFleet(terminal::health::fleet_sim::FleetArgs),
        /// Seeded fault simulation of the kiosk (session core, validator host core and model, ZVT
        /// ECR core and terminal model, on one fake clock); prints one JSON line, exits non-zero on
        /// any invariant violation.
        SimulateFaults {
            /// Replay this one seed.
            #[arg(long, conflicts_with = "seeds")]
            seed: Option<u64>,
            /// How many seeds to run (from --first-seed).
            #[arg(long, default_value_t = 100)]
            seeds: u64,
            #[arg(long, default_value_t = 0)]
            first_seed: u64,
            /// Simulated hours per seed.
            #[arg(long, default_value_t = 24.0)]
            hours: f64,
        },
    }

    impl Command {
        /// The log level when `KIOSK_LOG` is unset.
        pub fn log_level(&self) -> &'static str {
            match self {
                // The fault simulation's faults are its purpose: their warnings would only drown
                // its report.
                Command::SimulateFaults { .. } => "error",
                _ => "warn",
            }
        }
    }

    pub fn run(command: Command) -> ExitCode {
        match command {
            Command::Demo => demo(),
            Command::SimulateFaults {
                seed,
                seeds,
                first_seed,
                hours,
            } => {
                let (first, count) = match seed {
                    Some(s) => (s, 1),
                    None => (first_seed, seeds),
                };
                simulate_faults(first, count, hours)
            }
            Command::SimulateFleet(args) => {
                match terminal::health::fleet_sim::run_cli(&args, &mut std::io::stdout().lock()) {
                    Ok(_) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("fleet simulation failed: {e:#}");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::CashSoak(args) => match runtime().block_on(terminal::soak::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("cash soak stopped: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::CardSoak(args) => match runtime().block_on(terminal::card_soak::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("card soak stopped: {e}");
                    ExitCode::FAILURE
                }
            },
        }
    }

    fn simulate_faults(first: u64, count: u64, hours: f64) -> ExitCode {
        let report = terminal::fault_sim::run_many(first, count, hours);
        match serde_json::to_string(&report) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("report not written: {e}"),
        }
        for v in &report.violations {
            eprintln!("{v}");
        }
        if report.violations.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// `terminal run --simulate`.
    pub fn run_simulated(args: RunArgs) -> ExitCode {
        let link = match (args.back_office_url, args.back_office_key_file) {
            (Some(url), Some(key_file)) => {
                match terminal::sync::BackOfficeLink::from_key_file(
                    &url,
                    terminal::simulate::SIM_TERMINAL_ID,
                    &key_file,
                ) {
                    Ok(link) => Some(link),
                    Err(e) => {
                        eprintln!("terminal run --simulate: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => None,
        };
        let brand = match args.brand.as_deref().map(ui::Brand::from_file) {
            None => ui::Brand::default(),
            Some(Ok(brand)) => brand,
            Some(Err(e)) => {
                eprintln!("terminal run --simulate: {e}");
                return ExitCode::from(2);
            }
        };
        match terminal::simulate::run(PathBuf::from("var/sim"), link, args.fiscal, brand) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("terminal run --simulate: {e}");
                ExitCode::from(2)
            }
        }
    }

    fn demo() -> ExitCode {
        match runtime().block_on(terminal::demo::run_demo()) {
            Ok((receipt, entries)) => {
                println!("{receipt}");
                println!("Журнал: {entries} записей, цепочка проверена.");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot start the async runtime: {e}");
                std::process::exit(1);
            }
        }
    }
}
