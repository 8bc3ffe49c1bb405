//! The back office's tables. `journal` is the truth as the terminals wrote it; every other table
//! except `terminals`, `nonces`, `accounts`, `content`, `settlement`, `card_terminals` (which kiosk
//! owns which card terminal), the people tables (`users`, `api_tokens`, `sessions`,
//! `login_throttle`, `audit`), the incident tables and the alert tables (`alert_threads`,
//! `alert_events`, `alert_deliveries`: what was sent to people, never re-sent by a rebuild), the
//! СБП tables (`sbp_qrs`: each QR's state at the bank; `sbp_registry`: the bank's registry lines —
//! bank-side facts, not the journal's) and `enrolment_codes` is a projection of it, rebuilt by
//! [`crate::project::rebuild`].

use crate::db::{Backend, Sql, StoreError};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS terminals (
    id TEXT PRIMARY KEY,
    key_hex TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    held_seq BIGINT NOT NULL DEFAULT 0,
    held_hash TEXT NOT NULL,
    last_sync_utc TEXT,
    last_heartbeat_utc TEXT,
    heartbeat_json TEXT
);
CREATE TABLE IF NOT EXISTS nonces (
    terminal_id TEXT NOT NULL, nonce TEXT NOT NULL, ts BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, nonce)
);
CREATE TABLE IF NOT EXISTS journal (
    terminal_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL, kind TEXT NOT NULL,
    payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    PRIMARY KEY (terminal_id, seq)
);
CREATE TABLE IF NOT EXISTS incidents (
    id {ID}, time_utc TEXT NOT NULL, terminal_id TEXT, code TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS payments (
    terminal_id TEXT NOT NULL, payment_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL,
    day TEXT NOT NULL, account TEXT NOT NULL, method TEXT NOT NULL, total_kopecks BIGINT NOT NULL,
    allocations TEXT NOT NULL, credited_utc TEXT,
    PRIMARY KEY (terminal_id, payment_id)
);
CREATE INDEX IF NOT EXISTS payments_by_day ON payments (day, terminal_id, method, total_kopecks, credited_utc);
CREATE INDEX IF NOT EXISTS payments_uncredited ON payments (day, terminal_id, seq) WHERE credited_utc IS NULL;
CREATE INDEX IF NOT EXISTS payments_account ON payments (account);
CREATE TABLE IF NOT EXISTS bills (
    terminal_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL, day TEXT NOT NULL,
    denomination_kopecks BIGINT NOT NULL, payment_id TEXT,
    PRIMARY KEY (terminal_id, seq)
);
CREATE INDEX IF NOT EXISTS bills_by_day ON bills (day, terminal_id, denomination_kopecks);
CREATE INDEX IF NOT EXISTS bills_by_seq ON bills (terminal_id, seq, denomination_kopecks);
CREATE TABLE IF NOT EXISTS card_ops (
    terminal_id TEXT NOT NULL, payment_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL,
    day TEXT NOT NULL, card_terminal_id TEXT NOT NULL, receipt_no BIGINT NOT NULL, rrn TEXT,
    masked_pan TEXT NOT NULL, auth_code TEXT NOT NULL, amount_kopecks BIGINT NOT NULL,
    state TEXT NOT NULL,
    settle_until TEXT NOT NULL,
    settled_net BIGINT,
    PRIMARY KEY (terminal_id, payment_id)
);
CREATE INDEX IF NOT EXISTS card_ops_day ON card_ops (day, terminal_id, state, amount_kopecks, settled_net);
CREATE INDEX IF NOT EXISTS card_ops_receipt ON card_ops (card_terminal_id, receipt_no);
CREATE TABLE IF NOT EXISTS receipts (
    terminal_id TEXT NOT NULL, receipt_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL,
    day TEXT NOT NULL, payment_id TEXT, total_kopecks BIGINT NOT NULL, fn_number TEXT NOT NULL,
    fd_number BIGINT NOT NULL, fiscal_sign TEXT NOT NULL, qr TEXT NOT NULL,
    printed BIGINT NOT NULL, print_problem TEXT,
    PRIMARY KEY (terminal_id, receipt_id)
);
CREATE INDEX IF NOT EXISTS receipts_by_day ON receipts (day, terminal_id, total_kopecks, printed);
CREATE TABLE IF NOT EXISTS fiscal_docs (
    terminal_id TEXT NOT NULL, fn_number TEXT NOT NULL, fd_number BIGINT NOT NULL,
    day TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (terminal_id, fn_number, fd_number)
);
CREATE TABLE IF NOT EXISTS fd_gaps (
    terminal_id TEXT NOT NULL, fn_number TEXT NOT NULL, missing_from BIGINT NOT NULL,
    missing_to BIGINT NOT NULL, day TEXT NOT NULL,
    PRIMARY KEY (terminal_id, fn_number, missing_from)
);
CREATE INDEX IF NOT EXISTS fd_gaps_day ON fd_gaps (day);
CREATE TABLE IF NOT EXISTS readings (
    terminal_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL, day TEXT NOT NULL,
    registration_no TEXT NOT NULL, account TEXT NOT NULL, meter_id TEXT NOT NULL, zone TEXT NOT NULL,
    value BIGINT NOT NULL, previous BIGINT NOT NULL, credited_utc TEXT,
    PRIMARY KEY (terminal_id, seq)
);
CREATE INDEX IF NOT EXISTS readings_account ON readings (account, meter_id, zone);
CREATE TABLE IF NOT EXISTS encashments (
    terminal_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL, day TEXT NOT NULL,
    encashment_id TEXT NOT NULL, counted TEXT NOT NULL, counted_total_kopecks BIGINT NOT NULL,
    terminal_expected_total_kopecks BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, seq)
);
CREATE TABLE IF NOT EXISTS outages (
    terminal_id TEXT NOT NULL, outage_id TEXT NOT NULL, started_utc TEXT NOT NULL,
    last_utc TEXT NOT NULL, day TEXT NOT NULL, level TEXT NOT NULL, working_minutes BIGINT NOT NULL,
    breach BIGINT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (terminal_id, outage_id)
);
CREATE TABLE IF NOT EXISTS stuck_notes (
    terminal_id TEXT NOT NULL, reference TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL,
    day TEXT NOT NULL, payment_id TEXT, account TEXT NOT NULL, denomination_kopecks BIGINT NOT NULL,
    reason TEXT NOT NULL, resolved_seq BIGINT, resolved_utc TEXT, resolved_day TEXT, outcome TEXT,
    resolution_payment_id TEXT,
    PRIMARY KEY (terminal_id, reference)
);
CREATE INDEX IF NOT EXISTS stuck_notes_open ON stuck_notes (terminal_id, resolved_seq);
CREATE TABLE IF NOT EXISTS service_log (
    terminal_id TEXT NOT NULL, seq BIGINT NOT NULL, time_utc TEXT NOT NULL, operation TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (terminal_id, seq)
);
CREATE TABLE IF NOT EXISTS device_states (
    terminal_id TEXT NOT NULL, device TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL,
    time_utc TEXT NOT NULL,
    PRIMARY KEY (terminal_id, device)
);
CREATE TABLE IF NOT EXISTS messages (
    id {ID}, terminal_id TEXT NOT NULL, receipt_id TEXT NOT NULL, channel TEXT NOT NULL,
    address TEXT NOT NULL, body TEXT NOT NULL, queued_utc TEXT NOT NULL, sent_utc TEXT,
    attempts BIGINT NOT NULL DEFAULT 0, last_error TEXT,
    UNIQUE (terminal_id, receipt_id, channel, address)
);
CREATE TABLE IF NOT EXISTS settlement (
    card_terminal_id TEXT NOT NULL, receipt_no BIGINT NOT NULL, day TEXT NOT NULL,
    operation TEXT NOT NULL, amount_kopecks BIGINT NOT NULL, rrn TEXT, masked_pan TEXT,
    auth_code TEXT, imported_utc TEXT NOT NULL,
    day_prev TEXT NOT NULL,
    matched BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (card_terminal_id, receipt_no, day, operation)
);
CREATE INDEX IF NOT EXISTS settlement_unmatched ON settlement (matched, day);
CREATE TABLE IF NOT EXISTS incident_counts (
    id {ID}, agg_key TEXT NOT NULL UNIQUE, first_utc TEXT NOT NULL, last_utc TEXT NOT NULL,
    source TEXT NOT NULL, terminal_id TEXT, code TEXT NOT NULL, count BIGINT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS terminal_settings (
    terminal_id TEXT PRIMARY KEY, time_zone TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS card_terminals (
    card_terminal_id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, registered_utc TEXT NOT NULL, how TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1, created_utc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, label TEXT NOT NULL,
    created_utc TEXT NOT NULL, last_used_utc TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, csrf TEXT NOT NULL,
    created_utc TEXT NOT NULL, expires_utc TEXT NOT NULL, source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS login_throttle (
    key TEXT PRIMARY KEY, failures BIGINT NOT NULL, window_start TEXT NOT NULL, locked_until TEXT
);
CREATE TABLE IF NOT EXISTS audit (
    id {ID}, time_utc TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL,
    source TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_threads (
    id {ID}, terminal_id TEXT NOT NULL, subject TEXT NOT NULL, rule TEXT NOT NULL,
    opened_utc TEXT NOT NULL, closed_utc TEXT, planned BIGINT NOT NULL DEFAULT 0,
    telegram_message_id TEXT, email_message_id TEXT
);
CREATE INDEX IF NOT EXISTS alert_threads_open ON alert_threads (terminal_id, subject, closed_utc);
CREATE TABLE IF NOT EXISTS alert_events (
    id {ID}, thread_id BIGINT NOT NULL, terminal_id TEXT NOT NULL, rule TEXT NOT NULL,
    step TEXT NOT NULL, urgent BIGINT NOT NULL, event_utc TEXT NOT NULL, due_utc TEXT NOT NULL,
    text TEXT NOT NULL, status TEXT NOT NULL, created_utc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_events_pending ON alert_events (status, due_utc);
CREATE TABLE IF NOT EXISTS alert_deliveries (
    event_id BIGINT NOT NULL, channel TEXT NOT NULL, attempts BIGINT NOT NULL DEFAULT 0,
    next_try_utc TEXT NOT NULL, status TEXT NOT NULL, last_error TEXT, delivered_utc TEXT,
    PRIMARY KEY (event_id, channel)
);
CREATE TABLE IF NOT EXISTS accounts (account TEXT PRIMARY KEY, info_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS content (id BIGINT PRIMARY KEY, content_version BIGINT NOT NULL, json TEXT NOT NULL);
";

/// Tables filled from the journal (cleared by a rebuild).
pub const PROJECTIONS: &[&str] = &[
    "payments",
    "bills",
    "card_ops",
    "receipts",
    "fiscal_docs",
    "fd_gaps",
    "readings",
    "encashments",
    "outages",
    "device_states",
    "service_log",
    "stuck_notes",
    "shifts",
];

/// The numbered migrations, oldest first: (version, what it does, SQL with `{ID}` for an
/// auto-increment primary key). A database records each applied one in `schema_version`; a
/// database from before versioning gets the baseline, which only creates what is missing.
/// A later change of a table is a new entry here, never an edit of an applied one.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "baseline: the journal, projections, people, incidents, stuck notes and alerts",
        SCHEMA,
    ),
    (
        2,
        "messages: delivery status, claims with a lease, retry time, queue-to-delivery latency",
        MESSAGES_DELIVERY,
    ),
    (
        3,
        "shifts: each closed fiscal shift's Z-report totals, and the shift of every receipt",
        SHIFTS,
    ),
    (
        4,
        "enrolment codes: one-time codes a new kiosk redeems for its key",
        ENROLMENT_CODES,
    ),
    (
        5,
        "СБП: the bank-side state of each QR payment and the bank's registry lines",
        SBP,
    ),
];

/// Migration 5. `sbp_qrs`: one row per kiosk payment id (its QR at the bank: state as the bank
/// confirmed it, the bank's raw status, the kiosk's revoke, the poller's schedule, refunds);
/// `sbp_registry`: the bank's daily registry lines as finance uploaded them.
const SBP: &str = "
CREATE TABLE IF NOT EXISTS sbp_qrs (
    payment_id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, account TEXT NOT NULL,
    amount_kopecks BIGINT NOT NULL, bank TEXT NOT NULL, bank_payment_id TEXT NOT NULL,
    payload TEXT NOT NULL, expires_utc TEXT NOT NULL, state TEXT NOT NULL, bank_status TEXT NOT NULL,
    detail TEXT NOT NULL, revoke_requested BIGINT NOT NULL DEFAULT 0, created_utc TEXT NOT NULL,
    updated_utc TEXT NOT NULL, day TEXT NOT NULL, paid_utc TEXT, checked_utc TEXT,
    next_poll_utc TEXT NOT NULL, polls BIGINT NOT NULL DEFAULT 0,
    refunded_kopecks BIGINT NOT NULL DEFAULT 0, refund_reason TEXT, refunded_by TEXT, refunded_utc TEXT
);
CREATE INDEX IF NOT EXISTS sbp_qrs_due ON sbp_qrs (state, next_poll_utc);
CREATE INDEX IF NOT EXISTS sbp_qrs_bank ON sbp_qrs (bank_payment_id);
CREATE INDEX IF NOT EXISTS sbp_qrs_day ON sbp_qrs (day);
CREATE TABLE IF NOT EXISTS sbp_registry (
    bank_payment_id TEXT NOT NULL, operation TEXT NOT NULL, time_utc TEXT NOT NULL, day TEXT NOT NULL,
    order_id TEXT NOT NULL, amount_kopecks BIGINT NOT NULL, imported_utc TEXT NOT NULL,
    PRIMARY KEY (bank_payment_id, operation, time_utc)
);
CREATE INDEX IF NOT EXISTS sbp_registry_order ON sbp_registry (order_id, operation);
CREATE INDEX IF NOT EXISTS sbp_registry_day ON sbp_registry (day, operation);
";

/// Migration 4. Only the SHA-256 of a code is stored; `redeemed_utc` and `redeemed_from` say
/// when and from which address it was spent.
const ENROLMENT_CODES: &str = "
CREATE TABLE IF NOT EXISTS enrolment_codes (
    code_hash TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, issued_utc TEXT NOT NULL,
    expires_utc TEXT NOT NULL, redeemed_utc TEXT, redeemed_from TEXT
);
CREATE INDEX IF NOT EXISTS enrolment_codes_terminal ON enrolment_codes (terminal_id);
";

/// Migration 3. `fn_number` is `''` when the terminal did not know it; a receipt's
/// `shift_number` is the one its fiscal attributes name.
const SHIFTS: &str = "
CREATE TABLE IF NOT EXISTS shifts (
    terminal_id TEXT NOT NULL, fn_number TEXT NOT NULL, shift_number BIGINT NOT NULL,
    seq BIGINT NOT NULL, time_utc TEXT NOT NULL, day TEXT NOT NULL, fd_number BIGINT,
    z_receipts BIGINT NOT NULL, z_total_kopecks BIGINT NOT NULL, z_cash_kopecks BIGINT NOT NULL,
    z_card_kopecks BIGINT NOT NULL,
    PRIMARY KEY (terminal_id, fn_number, shift_number)
);
CREATE INDEX IF NOT EXISTS shifts_day ON shifts (day);
ALTER TABLE receipts ADD COLUMN shift_number BIGINT;
CREATE INDEX IF NOT EXISTS receipts_shift ON receipts (terminal_id, fn_number, shift_number);
";

/// Migration 2. `status` is `queued`, `sending`, `delivered` or `failed`; `claim` and
/// `claimed_until` are the lease of the worker sending it; `sent_utc` is when it was delivered.
const MESSAGES_DELIVERY: &str = "
ALTER TABLE messages ADD COLUMN status TEXT NOT NULL DEFAULT 'queued';
ALTER TABLE messages ADD COLUMN next_try_utc TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN claim TEXT;
ALTER TABLE messages ADD COLUMN claimed_until TEXT;
ALTER TABLE messages ADD COLUMN latency_ms BIGINT;
UPDATE messages SET status = 'delivered' WHERE sent_utc IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_due ON messages (status, next_try_utc);
CREATE INDEX IF NOT EXISTS messages_terminal ON messages (terminal_id, id);
";

/// Brings the schema to the newest version: applies, each in its own transaction, every
/// migration the database has not recorded. Safe to run on every start and by two servers at
/// once (a version recorded meanwhile is skipped).
pub fn create(sql: &mut dyn Sql) -> Result<(), StoreError> {
    let id = match sql.backend() {
        Backend::Sqlite => "INTEGER PRIMARY KEY",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    sql.batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_utc TEXT NOT NULL)",
    )?;
    for (version, name, text) in MIGRATIONS {
        crate::db::transaction(sql, |sql| -> Result<(), StoreError> {
            if sql.backend() == Backend::Postgres {
                // One server migrates at a time; the other then sees the version recorded.
                sql.exec("SELECT pg_advisory_xact_lock(7311015)", &[])?;
            }
            let done = sql
                .query_one(
                    "SELECT 1 FROM schema_version WHERE version = $1",
                    crate::params![*version],
                )?
                .is_some();
            if done {
                return Ok(());
            }
            apply(sql, &text.replace("{ID}", id))?;
            sql.exec(
                "INSERT INTO schema_version (version, name, applied_utc) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                crate::params![*version, *name, crate::now_utc()],
            )?;
            tracing::info!(version, name, "schema migration applied");
            Ok(())
        })?;
    }
    Ok(())
}

/// Runs a migration's statements; an `ALTER TABLE t ADD COLUMN c …` whose column is there
/// already is skipped, so a database whose tables are newer than its `schema_version` says
/// (restored from a dump without it, or from before versioning) still migrates.
fn apply(sql: &mut dyn Sql, text: &str) -> Result<(), StoreError> {
    for stmt in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let words: Vec<&str> = stmt.split_whitespace().take(6).collect();
        if let ["ALTER", "TABLE", table, "ADD", "COLUMN", column] = words[..] {
            let q = match sql.backend() {
                Backend::Sqlite => "SELECT 1 FROM pragma_table_info($1) WHERE name = $2",
                Backend::Postgres => {
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2"
                }
            };
            if sql.query_one(q, crate::params![table, column])?.is_some() {
                continue;
            }
        }
        sql.batch(stmt)?;
    }
    Ok(())
}

/// The newest migration the database has applied (0 for none).
pub fn version(sql: &mut dyn Sql) -> Result<i64, StoreError> {
    Ok(sql
        .query_one(
            "SELECT CAST(MAX(version) AS BIGINT) FROM schema_version",
            &[],
        )?
        .and_then(|r| r.opt_int(0))
        .unwrap_or(0))
}
