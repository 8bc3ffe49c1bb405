//! `back-office`: the fleet server and finance tools.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use back_office::db::Store;
use back_office::messages::{FileSender, MessageSender};
use back_office::{
    accounts, content, export, now_utc, project, reconcile, report_out, settlement, terminals,
    AppState,
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the terminal API, the fleet page and /openapi.json.
    Serve {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Require `Authorization: Bearer TOKEN` on finance and fleet endpoints.
        #[arg(long, env = "BACK_OFFICE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Development message sender: e-receipts and confirmations are appended here.
        #[arg(long, default_value = "messages.jsonl")]
        messages_file: PathBuf,
    },
    /// Terminal registration.
    Terminal {
        #[command(subcommand)]
        command: TerminalCommand,
    },
    /// Reconciliation report for business days FROM..=TO.
    Reconcile {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        #[arg(long, value_enum, default_value = "xlsx")]
        format: Format,
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
    },
    /// Store billing's credited marks (CSV kind,terminal_id,id).
    MarkCredited { file: PathBuf },
    /// Rebuild every projection from the stored journals.
    Rebuild,
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
    List,
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Import a JSON array of AccountInfo.
    Import { file: PathBuf },
    /// Load the demo accounts and content.
    SeedDemo,
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
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let store = Store::open(&cli.database_url)
        .await
        .with_context(|| format!("opening database {}", redact(&cli.database_url)))?;
    match cli.command {
        Command::Serve {
            listen,
            admin_token,
            messages_file,
        } => {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("binding {listen}"))?;
            let sender: Arc<dyn MessageSender> = Arc::new(FileSender::new(messages_file));
            let _dispatcher = back_office::messages::spawn_dispatcher(
                store.clone(),
                sender,
                Duration::from_secs(5),
            );
            tracing::info!(listen = %listener.local_addr()?, backend = ?store.backend(), "back office serving");
            let state = AppState {
                store,
                admin_token: admin_token.map(Arc::from),
            };
            back_office::serve(listener, state, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        }
        Command::Terminal {
            command: TerminalCommand::Add { id, rotate_key },
        } => {
            let key = store
                .run("admin", move |sql| {
                    terminals::add(sql, &id, rotate_key, &now_utc())
                })
                .await?;
            println!("{key}");
            eprintln!("Keep this key secret: put it in the terminal's config (sync.key). It is shown once.");
        }
        Command::Terminal {
            command: TerminalCommand::List,
        } => {
            for t in store.read(terminals::list).await? {
                println!(
                    "{}\theld_seq={}\tlast_sync={}",
                    t.id,
                    t.held_seq,
                    t.last_sync_utc.unwrap_or_else(|| "-".into())
                );
            }
        }
        Command::Reconcile {
            from,
            to,
            format,
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
                            report_out::csv_section(&report, s).unwrap_or_default(),
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
        Command::Export { from, to, out_dir } => {
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
                std::fs::write(&path, data)
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
