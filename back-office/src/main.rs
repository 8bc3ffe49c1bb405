//! `back-office`: the fleet server and finance tools.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use back_office::audit::{self, Act};
use back_office::db::Store;
use back_office::messages::{FileSender, MessageSender};
use back_office::users::{self, Role};
use back_office::{
    accounts, card_terminals, content, export, now_utc, project, reconcile, report_out, settlement,
    terminals, AppState,
};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "back-office",
    version,
    about = "Kiosk back office: sync server, fleet page, reconciliation"
)]
struct Cli {
    /// SQLite file (default) or postgres://user@host/db for fleets.
    #[arg(
        long,
        global = true,
        env = "BACK_OFFICE_DATABASE_URL",
        default_value = "back-office.sqlite"
    )]
    database_url: String,
    /// Alert channels, recipients and rules (JSON, see the README); `serve` alerts only with it.
    #[arg(long, global = true, env = "BACK_OFFICE_ALERTS_CONFIG")]
    alerts_config: Option<PathBuf>,
    /// E-receipt senders (SMTP, SMS gateway) and retries (JSON, see the README); without it
    /// `serve` appends messages to --messages-file (development).
    #[arg(long, global = true, env = "BACK_OFFICE_MESSAGES_CONFIG")]
    messages_config: Option<PathBuf>,
    /// СБП QR payments through a bank (TOML, see the README); without it the kiosks are told
    /// СБП is unavailable.
    #[arg(long, global = true, env = "BACK_OFFICE_SBP_CONFIG")]
    sbp_config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the terminal API, the fleet page and /openapi.json.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A reverse proxy (IP address) whose X-Forwarded-For names the client; repeatable.
        #[arg(long = "trusted-proxy")]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// How long a browser login lasts, in minutes.
        #[arg(long, default_value_t = 480)]
        session_minutes: u64,
        /// Development message sender, used without --messages-config: e-receipts and
        /// confirmations are appended here.
        #[arg(long, default_value = "messages.jsonl")]
        messages_file: PathBuf,
    },
    /// E-receipts and confirmations: delivery status, retries, a test message.
    Messages {
        #[command(subcommand)]
        command: MessagesCommand,
    },
    /// Terminal registration.
    Terminal {
        #[command(subcommand)]
        command: TerminalCommand,
    },
    /// People who log in: technicians, finance, admins.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Per-user API tokens for scripts (`Authorization: Bearer`).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Which kiosk owns a card terminal (ZVT field 29).
    CardTerminal {
        #[command(subcommand)]
        command: CardTerminalCommand,
    },
    /// Reconciliation report for business days FROM..=TO.
    Reconcile {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value = "xlsx")]
        format: Format,
        /// CSV dialect: standard, or excel-ru (';', decimal comma, UTF-8 BOM).
        #[arg(long, value_enum, default_value = "standard")]
        dialect: CsvDialect,
        /// XLSX file, or the directory for the CSV files (one per section).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Import the acquirer's settlement CSV.
    ImportSettlement { file: PathBuf },
    /// Accounts from the billing system.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Replace the information content (JSON ContentBundle); its version is bumped.
    SetContent { file: PathBuf },
    /// Export payments and readings for billing.
    Export {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = ".")]
        out_dir: PathBuf,
        /// CSV dialect: standard, or excel-ru (';', decimal comma, UTF-8 BOM).
        #[arg(long, value_enum, default_value = "standard")]
        dialect: CsvDialect,
    },
    /// Store billing's credited marks (CSV kind,terminal_id,id).
    MarkCredited { file: PathBuf },
    /// Rebuild every projection from the stored journals.
    Rebuild,
    /// Alerts to people (needs --alerts-config).
    Alerts {
        #[command(subcommand)]
        command: AlertsCommand,
    },
}

#[derive(Subcommand)]
enum MessagesCommand {
    /// The latest messages with their delivery status (addresses masked).
    List {
        /// Only those that missed the standard's 5 minutes.
        #[arg(long)]
        late: bool,
        #[arg(long)]
        terminal: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Queue a failed message again (its attempts start over).
    Retry { id: i64 },
    /// Send one test message through the configured sender (needs --messages-config).
    Test {
        #[arg(value_parser = ["sms", "email"])]
        channel: String,
        /// +79991234567 or an e-mail address.
        address: String,
    },
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Send a test message through each configured channel and say how each went.
    Test,
}

#[derive(Subcommand)]
enum TerminalCommand {
    /// Register a terminal and print its key (give it to the terminal's config once).
    Add {
        id: String,
        /// Issue a new key for an existing terminal.
        #[arg(long)]
        rotate_key: bool,
    },
    /// Print a one-time code a new kiosk enrols with (`terminal enrol`); registers the terminal if
    /// it is new. The key is issued when the kiosk redeems the code, never printed.
    Enrol {
        id: String,
        /// How long the code works, in hours (at most a week).
        #[arg(long, default_value_t = 24)]
        valid_hours: i64,
    },
    List,
    /// Set the terminal's IANA time zone (its business days and shown times); rebuilds projections.
    SetTimeZone {
        id: String,
        time_zone: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is generated and printed once, or read from stdin.
    Add {
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    List,
    /// Change a user's role (audited).
    SetRole {
        name: String,
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Disable a user: their sessions and tokens stop working at once (audited).
    Disable {
        name: String,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue an API token for USER (printed once), carrying the user's role.
    Add {
        user: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// The tokens that work: id, user, label, issued, last used (never the token).
    List,
    /// Revoke the token with this id (from 'token list'); it stops working at once (audited).
    Revoke { id: String },
}

#[derive(Subcommand)]
enum CardTerminalCommand {
    /// Register (or move) card terminal CARD_ID to kiosk TERMINAL; its matches are recomputed.
    Register {
        card_id: String,
        terminal: String,
    },
    List,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("unknown role {s:?}: technician, finance or admin"))
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Import a JSON array of AccountInfo.
    Import { file: PathBuf },
    /// Load the demo accounts and content.
    SeedDemo,
}

#[derive(Clone, Copy, ValueEnum)]
enum CsvDialect {
    Standard,
    ExcelRu,
}

impl From<CsvDialect> for report_out::Dialect {
    fn from(d: CsvDialect) -> Self {
        match d {
            CsvDialect::Standard => report_out::Dialect::Standard,
            CsvDialect::ExcelRu => report_out::Dialect::ExcelRu,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Xlsx,
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not into log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let alerts = cli
        .alerts_config
        .as_deref()
        .map(back_office::alerts::AlertConfig::load)
        .transpose()?;
    if let Command::Alerts {
        command: AlertsCommand::Test,
    } = cli.command
    {
        // Needs no database.
        return alerts_test(alerts).await;
    }
    let messages = cli
        .messages_config
        .as_deref()
        .map(back_office::messages::config::MessagesConfig::load)
        .transpose()?;
    if let Command::Messages {
        command: MessagesCommand::Test { channel, address },
    } = &cli.command
    {
        return messages_test(messages, channel, address).await;
    }
    let sbp = cli
        .sbp_config
        .as_deref()
        .map(back_office::sbp::SbpConfig::load)
        .transpose()?;
    let store = Store::open(&cli.database_url)
        .await
        .with_context(|| format!("opening database {}", redact(&cli.database_url)))?;
    match cli.command {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
            trusted_proxies,
            session_minutes,
            messages_file,
        } => {
            let opts = ServeOptions {
                listen,
                tls: tls_cert.zip(tls_key),
                trusted_proxies,
                session: Duration::from_secs(session_minutes.max(1) * 60),
                messages_file,
                messages,
                alerts,
                sbp,
            };
            serve_command(store, opts).await?;
        }
        Command::Alerts { .. } => unreachable!("answered before the database is opened"),
        Command::Messages { command } => messages_command(&store, command).await?,
        Command::User { command } => user_command(&store, command).await?,
        Command::Token { command } => token_command(&store, command).await?,
        Command::CardTerminal { command } => card_terminal_command(&store, command).await?,
        Command::Terminal {
            command: TerminalCommand::Add { id, rotate_key },
        } => {
            let key = store
                .run(
                    "admin",
                    move |sql| -> Result<String, terminals::TerminalError> {
                        let now = now_utc();
                        let key = terminals::add(sql, &id, rotate_key, &now)?;
                        let action = if rotate_key {
                            "key_rotated"
                        } else {
                            "terminal_added"
                        };
                        audit::record(
                            sql,
                            &Act {
                                actor: "cli",
                                action,
                                target: &id,
                                source: "cli",
                                detail: "",
                            },
                            &now,
                        )?;
                        Ok(key)
                    },
                )
                .await?;
            println!("{key}");
            eprintln!("Keep this key secret: put it in the terminal's config (sync.key). It is shown once.");
        }
        Command::Terminal {
            command: TerminalCommand::SetTimeZone { id, time_zone },
        } => {
            let i = id.clone();
            let tz = store
                .run("admin", move |sql| {
                    back_office::web::admin::set_time_zone_audited(
                        sql, "cli", "cli", &i, &time_zone,
                    )
                })
                .await?;
            println!("{id}: {}", tz.name());
        }
        Command::Terminal {
            command: TerminalCommand::Enrol { id, valid_hours },
        } => {
            let i = id.clone();
            let issued = store
                .run("admin", move |sql| {
                    back_office::enrolment::issue(
                        sql,
                        &i,
                        chrono::Duration::hours(valid_hours),
                        "cli",
                        "cli",
                        chrono::Utc::now(),
                    )
                })
                .await?;
            println!(
                "Enrolment code for terminal {id} (works once, until {} UTC):",
                issued.expires.format("%Y-%m-%d %H:%M")
            );
            println!();
            println!("    {}", issued.code);
            println!();
            println!("On the kiosk, as root:");
            println!(
                "    terminal enrol --back-office https://THIS-SERVER --code {}",
                issued.code
            );
        }
        Command::Terminal {
            command: TerminalCommand::List,
        } => {
            for t in store.read(terminals::list).await? {
                println!(
                    "{}\theld_seq={}\tlast_sync={}\ttime_zone={}",
                    t.id,
                    t.held_seq,
                    t.last_sync_utc.unwrap_or_else(|| "-".into()),
                    t.time_zone.name()
                );
            }
        }
        Command::Reconcile {
            from,
            to,
            format,
            dialect,
            out,
        } => {
            let pb = spinner("building reconciliation report");
            let report = store
                .read(move |sql| reconcile::report(sql, &from, &to))
                .await?;
            pb.finish_with_message(format!(
                "report ready: {} terminal-days, {} findings",
                report.days.len(),
                report.discrepancies()
            ));
            match format {
                Format::Xlsx => {
                    let path = out.unwrap_or_else(|| {
                        PathBuf::from(format!("reconciliation-{}-{}.xlsx", report.from, report.to))
                    });
                    std::fs::write(&path, report_out::xlsx(&report)?)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("{}", path.display());
                }
                Format::Csv => {
                    let dir = out.unwrap_or_else(|| PathBuf::from("."));
                    std::fs::create_dir_all(&dir)?;
                    for s in report_out::SECTIONS {
                        let path = dir.join(format!("{s}-{}-{}.csv", report.from, report.to));
                        std::fs::write(
                            &path,
                            report_out::csv_section(&report, s, dialect.into()).unwrap_or_default(),
                        )
                        .with_context(|| format!("writing {}", path.display()))?;
                        println!("{}", path.display());
                    }
                }
            }
        }
        Command::ImportSettlement { file } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let lines = settlement::parse(&data)?;
            let pb = ProgressBar::new(lines.len() as u64);
            pb.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} lines {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let mut new = 0;
            for chunk in lines.chunks(5000) {
                let chunk = chunk.to_vec();
                let n = chunk.len() as u64;
                new += store
                    .run("settlement", move |sql| {
                        settlement::import(sql, &chunk, &now_utc())
                    })
                    .await?;
                pb.inc(n);
            }
            pb.finish_with_message(format!("{new} new"));
        }
        Command::Accounts {
            command: AccountsCommand::Import { file },
        } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let list: Vec<backend_sync::AccountInfo> = serde_json::from_slice(&data)
                .context("accounts file must be a JSON array of AccountInfo")?;
            let n = list.len();
            store
                .run("admin", move |sql| accounts::upsert(sql, &list))
                .await?;
            println!("{n} accounts stored");
        }
        Command::Accounts {
            command: AccountsCommand::SeedDemo,
        } => {
            store
                .run("admin", |sql| -> Result<u64, back_office::StoreError> {
                    accounts::upsert(sql, &accounts::demo_accounts())?;
                    content::set(sql, content::demo())
                })
                .await?;
            println!("demo accounts and content stored");
        }
        Command::SetContent { file } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let bundle: backend_sync::ContentBundle = serde_json::from_slice(&data)
                .context("content file must be a JSON ContentBundle")?;
            let v = store
                .run("admin", move |sql| content::set(sql, bundle))
                .await?;
            println!("content version {v}");
        }
        Command::Export {
            from,
            to,
            out_dir,
            dialect,
        } => {
            std::fs::create_dir_all(&out_dir)?;
            let (f, t) = (from.clone(), to.clone());
            let (p, r) = store
                .read(move |sql| -> Result<_, back_office::StoreError> {
                    Ok((
                        export::payments_csv(sql, &f, &t)?,
                        export::readings_csv(sql, &f, &t)?,
                    ))
                })
                .await?;
            for (name, data) in [("payments", p), ("readings", r)] {
                let path = out_dir.join(format!("{name}-{from}-{to}.csv"));
                std::fs::write(&path, report_out::in_dialect(&data, dialect.into()))
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("{}", path.display());
            }
        }
        Command::MarkCredited { file } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let (p, r) = store
                .run("credited", move |sql| {
                    export::mark_credited(sql, &data, &now_utc())
                })
                .await?;
            println!("{p} payments and {r} readings marked credited");
        }
        Command::Rebuild => {
            let pb = spinner("replaying journals into projections");
            let n = store
                .run("admin", |sql| project::rebuild(sql, &now_utc()))
                .await?;
            pb.finish_with_message(format!("{n} records replayed"));
        }
    }
    Ok(())
}

/// What `serve` was asked for.
struct ServeOptions {
    listen: String,
    /// Certificate chain and key, PEM.
    tls: Option<(PathBuf, PathBuf)>,
    trusted_proxies: Vec<std::net::IpAddr>,
    session: Duration,
    messages_file: PathBuf,
    messages: Option<back_office::messages::config::MessagesConfig>,
    alerts: Option<back_office::alerts::AlertConfig>,
    sbp: Option<back_office::sbp::SbpSettings>,
}

/// `messages list` / `messages retry`.
async fn messages_command(store: &Store, command: MessagesCommand) -> Result<()> {
    use back_office::messages;
    match command {
        MessagesCommand::List {
            late,
            terminal,
            limit,
        } => {
            let rows = store
                .read(move |sql| {
                    let now = chrono::Utc::now();
                    if late {
                        messages::late_rows(sql, terminal.as_deref(), limit, now)
                    } else {
                        messages::list(sql, terminal.as_deref(), limit, now)
                    }
                })
                .await?;
            println!("id\tterminal\treceipt\tchannel\tto\tstatus\tattempts\tqueued_utc\tdelivered_utc\tseconds\tlast_error");
            for r in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    r.terminal_id,
                    r.receipt_id,
                    r.channel,
                    r.address,
                    r.status.as_str(),
                    r.attempts,
                    r.queued_utc,
                    r.delivered_utc.unwrap_or_default(),
                    r.latency_seconds
                        .map_or_else(String::new, |s| s.to_string()),
                    r.last_error.unwrap_or_default()
                );
            }
        }
        MessagesCommand::Retry { id } => {
            let done = store
                .run("messages", move |sql| messages::dispatch::requeue(sql, id))
                .await?;
            if !done {
                anyhow::bail!("message {id} is not a failed message");
            }
            println!("message {id} queued again");
        }
        MessagesCommand::Test { .. } => unreachable!("answered before the database is opened"),
    }
    Ok(())
}

/// `messages test CHANNEL ADDRESS`: one message through the configured sender, now.
async fn messages_test(
    config: Option<back_office::messages::config::MessagesConfig>,
    channel: &str,
    address: &str,
) -> Result<()> {
    let Some(config) = config else {
        anyhow::bail!("no messages configuration: pass --messages-config FILE");
    };
    let routes = config.routes()?;
    let sender = match channel {
        "sms" => routes.sms,
        _ => routes.email,
    };
    let Some(sender) = sender else {
        anyhow::bail!("the messages configuration has no sender for {channel}");
    };
    let m = back_office::messages::OutgoingMessage {
        id: 0,
        terminal_id: "test".into(),
        receipt_id: "test".into(),
        channel: channel.into(),
        address: address.into(),
        body: "Проверка отправки чеков бэк-офиса: это тестовое сообщение.".into(),
        queued_utc: now_utc(),
    };
    sender
        .send(&m)
        .await
        .map_err(|e| anyhow::anyhow!("{channel}: FAILED: {e}"))?;
    println!(
        "{channel}: sent to {}",
        back_office::messages::mask_address(address)
    );
    Ok(())
}

/// `alerts test`: one test message per configured channel; fails if any failed.
async fn alerts_test(config: Option<back_office::alerts::AlertConfig>) -> Result<()> {
    let Some(config) = config else {
        anyhow::bail!("no alert configuration: pass --alerts-config FILE");
    };
    if config.channel_names().is_empty() {
        anyhow::bail!("the alert configuration names no channel");
    }
    let mut failed = 0;
    for (channel, r) in back_office::alerts::dispatch::send_test(&config).await {
        match r {
            Ok(()) => println!("{channel}: sent"),
            Err(e) => {
                failed += 1;
                println!("{channel}: FAILED: {e}");
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} channel(s) failed");
    }
    Ok(())
}

/// Serves until SIGTERM or SIGINT, then lets the requests in flight finish.
async fn serve_command(store: Store, opts: ServeOptions) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(&opts.listen)
        .await
        .with_context(|| format!("binding {}", opts.listen))?;
    let (messages_stop, messages_task) = {
        use back_office::messages::dispatch::{Dispatcher, RetryPolicy, Routes};
        let d = match &opts.messages {
            Some(config) => {
                tracing::info!(senders = %config.describe(), "messages on");
                Dispatcher::new(store.clone(), config.routes()?, config.policy())
            }
            None => {
                tracing::warn!(file = %opts.messages_file.display(), "no --messages-config: e-receipts are appended to a file (development)");
                let sender: Arc<dyn MessageSender> =
                    Arc::new(FileSender::new(opts.messages_file.clone()));
                Dispatcher::new(store.clone(), Routes::all(sender), RetryPolicy::default())
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(d.run(async {
            let _ = rx.await;
        }));
        (tx, task)
    };
    let (alerts_stop, alerts_task) = match opts.alerts {
        Some(config) => {
            tracing::info!(channels = ?config.channel_names(), "alerts on");
            let d = back_office::alerts::dispatch::Dispatcher::new(store.clone(), config).await?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(d.run(async {
                let _ = rx.await;
            }));
            (Some(tx), Some(task))
        }
        None => {
            tracing::warn!("no --alerts-config: alerts are recorded but sent to nobody");
            (None, None)
        }
    };
    let mut state = AppState::new(store.clone())
        .with_session_ttl(opts.session)
        .with_trusted_proxies(opts.trusted_proxies);
    let sbp_task = match opts.sbp {
        Some(settings) => {
            tracing::info!(bank = "tbank", api = %settings.tbank.api_url, "СБП on");
            let service = back_office::sbp::Sbp::new(store.clone(), settings)
                .map_err(|e| anyhow::anyhow!("--sbp-config: {e}"))?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(service.clone().run_poller(async {
                let _ = rx.await;
            }));
            state = state.with_sbp(service);
            Some((tx, task))
        }
        None => {
            tracing::info!("no --sbp-config: the kiosks are told СБП is unavailable");
            None
        }
    };
    let local = listener.local_addr()?;
    match opts.tls {
        Some((cert, key)) => {
            let config = back_office::tls::load_config(&cert, &key)?;
            tracing::info!(listen = %local, scheme = "https", backend = ?store.backend(), "back office serving");
            back_office::serve_tls(listener, config, state, shutdown_signal()).await?;
        }
        None => {
            tracing::info!(listen = %local, scheme = "http", backend = ?store.backend(), "back office serving");
            back_office::serve(listener, state, shutdown_signal()).await?;
        }
    }
    let _ = messages_stop.send(());
    let _ = messages_task.await;
    if let Some((stop, task)) = sbp_task {
        let _ = stop.send(());
        let _ = task.await;
    }
    if let (Some(stop), Some(task)) = (alerts_stop, alerts_task) {
        let _ = stop.send(());
        let _ = task.await;
    }
    tracing::info!("back office stopped: requests in flight finished");
    Ok(())
}

/// Resolves on SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!(signal = "SIGTERM", "shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!(signal = "SIGINT", "shutting down"),
    }
}

/// `user add`: the password from stdin, or generated and printed once.
async fn user_add(store: &Store, name: String, role: Role, password_stdin: bool) -> Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        (line.trim_end_matches(['\r', '\n']).to_string(), false)
    } else {
        (users::generate_password(), true)
    };
    let hash = users::hash_password(&password)?;
    let n = name.clone();
    store
        .run("users", move |sql| -> Result<(), users::UserError> {
            let now = now_utc();
            users::add(sql, &n, role, &hash, &now)?;
            audit::record(
                sql,
                &Act {
                    actor: "cli",
                    action: "user_added",
                    target: &n,
                    source: "cli",
                    detail: role.as_str(),
                },
                &now,
            )?;
            Ok(())
        })
        .await?;
    if generated {
        println!("{password}");
        eprintln!(
            "User {name} ({}) added. The password above is shown once.",
            role.as_str()
        );
    } else {
        eprintln!("User {name} ({}) added.", role.as_str());
    }
    Ok(())
}

async fn user_command(store: &Store, command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => user_add(store, name, role, password_stdin).await?,
        UserCommand::List => {
            for u in store.read(users::list).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    u.name,
                    u.role.as_str(),
                    if u.enabled { "enabled" } else { "disabled" },
                    u.created_utc
                );
            }
        }
        UserCommand::SetRole { name, role } => {
            let n = name.clone();
            let old = store
                .run("users", move |sql| {
                    back_office::web::admin::set_role_audited(sql, "cli", "cli", &n, role)
                })
                .await?;
            println!("{name}: {} -> {}", old.as_str(), role.as_str());
        }
        UserCommand::Disable { name } => {
            let n = name.clone();
            store
                .run("users", move |sql| -> Result<(), users::UserError> {
                    users::disable(sql, &n)?;
                    audit::record(
                        sql,
                        &Act {
                            actor: "cli",
                            action: "user_disabled",
                            target: &n,
                            source: "cli",
                            detail: "",
                        },
                        &now_utc(),
                    )?;
                    Ok(())
                })
                .await?;
            println!("{name} disabled");
        }
    }
    Ok(())
}

async fn token_command(store: &Store, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Add { user, label } => {
            let token = store
                .run("users", move |sql| {
                    back_office::web::admin::add_token_audited(sql, "cli", "cli", &user, &label)
                })
                .await?;
            println!("{token}");
            eprintln!(
                "Token id {} (for 'token list' and 'token revoke'). Keep the token secret: send it as 'Authorization: Bearer <token>'. It is shown once.",
                users::token_id(&token)
            );
        }
        TokenCommand::List => {
            for t in store.read(users::list_tokens).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    t.id,
                    t.user,
                    t.label,
                    t.created_utc,
                    t.last_used_utc.as_deref().unwrap_or("never used")
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let t = store
                .run("users", move |sql| {
                    back_office::web::admin::revoke_token_audited(sql, "cli", "cli", &id)
                })
                .await?;
            println!("token {} of {} revoked", t.id, t.user);
        }
    }
    Ok(())
}

async fn card_terminal_command(store: &Store, command: CardTerminalCommand) -> Result<()> {
    match command {
        CardTerminalCommand::Register { card_id, terminal } => {
            let (c, t) = (card_id.clone(), terminal.clone());
            let prev = store
                .run(
                    "settlement",
                    move |sql| -> Result<_, card_terminals::CardTerminalError> {
                        let now = now_utc();
                        let prev = card_terminals::register(sql, &c, &t, &now)?;
                        let detail = format!("previous owner {}", prev.as_deref().unwrap_or("-"));
                        audit::record(
                            sql,
                            &Act {
                                actor: "cli",
                                action: "card_terminal_registered",
                                target: &format!("{c} -> {t}"),
                                source: "cli",
                                detail: &detail,
                            },
                            &now,
                        )?;
                        Ok(prev)
                    },
                )
                .await?;
            println!(
                "{card_id} -> {terminal} (before: {})",
                prev.as_deref().unwrap_or("none")
            );
        }
        CardTerminalCommand::List => {
            for c in store.read(card_terminals::list).await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    c.card_terminal_id, c.terminal_id, c.how, c.registered_utc
                );
            }
        }
    }
    Ok(())
}

/// Hides a password in a database URL for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
