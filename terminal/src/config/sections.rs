//! One parser per config section: each reads its keys, records every problem and returns the
//! section only when all of it is right.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use chrono_tz::Tz;
use toml::{Table, Value};

use super::checks::{check_inn, check_url};
use super::reader::{kind, Section};
use super::{
    AccountsConfig, AgentConfig, AgentKind, BackOfficeConfig, BillAcceptorConfig, BillProtocol,
    CardProtocol, CardReaderConfig, Config, ConfigError, DevicesConfig, FiscalConfig, FiscalKind,
    HealthTuning, Limits, PrinterConfig, ReadingsConfig, ScannerConfig, SellerConfig,
    ServiceConfig, TaxSystem, TerminalConfig, MAX_LIMIT_RUB, RUBLE_BANKNOTES,
};
use crate::accounts::{AccountScheme, ChecksumKind, MAX_ACCOUNT_LENGTH, MIN_ACCOUNT_LENGTH};
use crate::readings::AcceptanceWindow;

pub(super) fn parse_root(
    root: &Table,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<Config> {
    let root = Section {
        path: String::new(),
        table: root,
    };
    root.deny_unknown(
        &[
            "terminal",
            "devices",
            "fiscal",
            "seller",
            "back_office",
            "limits",
            "accounts",
            "readings",
            "working_hours",
            "service",
            "health",
            "gpio",
            "brand",
        ],
        errors,
    );
    let terminal = root
        .table("terminal", errors)
        .and_then(|s| parse_terminal(&s, errors));
    let devices = root
        .table("devices", errors)
        .and_then(|s| parse_devices(&s, errors));
    let fiscal = root
        .table("fiscal", errors)
        .and_then(|s| parse_fiscal(&s, errors));
    let seller = root
        .table("seller", errors)
        .and_then(|s| parse_seller(&s, errors));
    let back_office = root
        .table("back_office", errors)
        .and_then(|s| parse_back_office(&s, base_dir, errors));
    let limits = root
        .table("limits", errors)
        .and_then(|s| parse_limits(&s, errors));
    let accounts = root
        .optional_section("accounts", errors, |s, errors| {
            parse_accounts(s, base_dir, errors)
        })
        .map(|accounts| {
            accounts.unwrap_or(AccountsConfig {
                scheme: AccountScheme::default(),
                fixture_file: None,
            })
        });
    let readings = root
        .table("readings", errors)
        .and_then(|s| parse_readings(&s, errors));
    let working_hours = root
        .optional_section("working_hours", errors, parse_working_hours)
        .map(Option::unwrap_or_default);
    let health = root
        .optional_section("health", errors, |s, errors| {
            deserialize_section::<HealthTuning>(s, errors)
        })
        .map(Option::unwrap_or_default);
    let gpio = root.optional_section("gpio", errors, |s, errors| {
        deserialize_section::<crate::gpio::GpioConfig>(s, errors)
    });
    let service = root
        .table("service", errors)
        .and_then(|s| parse_service(&s, base_dir, errors));
    let brand = root
        .optional_section("brand", errors, |s, errors| {
            parse_brand(s, base_dir, errors)
        })
        .map(Option::unwrap_or_default);

    if let (Some(devices), Some(fiscal)) = (&devices, &fiscal) {
        check_port_clashes(devices, fiscal, errors);
    }

    Some(Config {
        terminal: terminal?,
        devices: devices?,
        fiscal: fiscal?,
        seller: seller?,
        back_office: back_office?,
        limits: limits?,
        accounts: accounts?,
        readings: readings?,
        working_hours: working_hours?,
        service: service?,
        health: health?,
        gpio: gpio?,
        brand: brand?,
    })
}

/// `[brand]`: its shape is `ui::BrandSpec`'s, its checks (contrast, logo, texts) the UI's own.
fn parse_brand(
    s: &Section<'_>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ui::Brand> {
    let spec = deserialize_section::<ui::BrandSpec>(s, errors)?;
    spec.check(base_dir)
        .map_err(|problems| {
            errors.extend(
                problems
                    .into_iter()
                    .map(|p| ConfigError::key(s.key(p.key), p.reason)),
            );
        })
        .ok()
}

/// A section whose shape a serde type owns (the health module's and the GPIO's); its error
/// names the section.
fn deserialize_section<T: serde::de::DeserializeOwned>(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match Value::Table(s.table.clone()).try_into::<T>() {
        Ok(value) => Some(value),
        Err(e) => {
            errors.push(ConfigError::key(
                s.path.clone(),
                e.message().trim().to_string(),
            ));
            None
        }
    }
}

/// `[working_hours]` must be a calendar the health monitor can count working minutes with.
fn parse_working_hours(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<Table> {
    if s.table.is_empty() {
        return Some(Table::new());
    }
    let calendar = deserialize_section::<crate::health::CalendarConfig>(s, errors)?;
    match crate::health::WorkingCalendar::new(calendar) {
        Ok(_) => Some(s.table.clone()),
        Err(e) => {
            errors.push(ConfigError::key(s.path.clone(), e.to_string()));
            None
        }
    }
}

pub(super) fn parse_terminal(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<TerminalConfig> {
    s.deny_unknown(&["id", "name", "office", "timezone"], errors);
    let id = s.checked(
        "id",
        s.string("id", errors).map(str::to_string),
        |id| {
            if backend_sync::wire::is_kiosk_terminal_id(id) {
                Ok(())
            } else {
                Err(format!(
                    "expected 1–16 characters A–Z or 0–9 (e.g. \"0042\"), got \"{id}\""
                ))
            }
        },
        errors,
    );
    let name = s.text("name", errors);
    let office = s.text("office", errors);
    let timezone = s.string("timezone", errors).and_then(|tz| match tz.parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            s.err(
                errors,
                "timezone",
                format!("unknown time zone \"{tz}\" (expected an IANA name such as \"Europe/Moscow\")"),
            );
            None
        }
    });
    Some(TerminalConfig {
        id: id?,
        name: name?,
        office: office?,
        timezone: timezone?,
    })
}

pub(super) fn parse_devices(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<DevicesConfig> {
    s.deny_unknown(
        &["bill_acceptor", "card_reader", "printer", "scanner"],
        errors,
    );
    let present = |key: &str| s.table.contains_key(key);
    if !present("bill_acceptor") && !present("card_reader") {
        errors.push(ConfigError::key(
            "devices",
            "at least one of bill_acceptor or card_reader must be configured, or no payment is possible",
        ));
    }
    let bill_acceptor = s.optional_section("bill_acceptor", errors, parse_bill_acceptor);
    let card_reader = s.optional_section("card_reader", errors, parse_card_reader);
    let printer = s.optional_section("printer", errors, parse_printer);
    let scanner = s.optional_section("scanner", errors, parse_scanner);
    Some(DevicesConfig {
        bill_acceptor: bill_acceptor?,
        card_reader: card_reader?,
        printer: printer?,
        scanner: scanner?,
    })
}

/// `[devices.scanner]`: `mode = "serial"` with `port` (and `baud`, `terminator`), or
/// `mode = "hid"` with the evdev `device` (and `layout`, `grab`).
pub(super) fn parse_scanner(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<ScannerConfig> {
    #[derive(Clone, Copy)]
    enum Mode {
        Serial,
        Hid,
    }
    let mode = s.choice(
        "mode",
        &[("serial", Mode::Serial), ("hid", Mode::Hid)],
        errors,
    )?;
    match mode {
        Mode::Serial => {
            s.deny_unknown(&["mode", "port", "baud", "terminator"], errors);
            let port = s.port("port", errors);
            let baud = s.or_default("baud", ScannerConfig::DEFAULT_BAUD, || {
                s.integer_in("baud", 1_200..=921_600, errors)
                    .and_then(|b| u32::try_from(b).ok())
            });
            let terminator = s.or_default("terminator", b"\r".to_vec(), || {
                s.parsed(
                    "terminator",
                    barcode_scanner::SerialFraming::parse_terminator,
                    errors,
                )
            });
            Some(ScannerConfig::Serial {
                port: port?,
                baud: baud?,
                terminator: terminator?,
            })
        }
        Mode::Hid => {
            s.deny_unknown(&["mode", "device", "layout", "grab"], errors);
            let device = s.port("device", errors);
            let layout = s.or_default("layout", barcode_scanner::KeyLayout::Us, || {
                s.parsed("layout", barcode_scanner::KeyLayout::parse, errors)
            });
            let grab = s.or_default("grab", true, || s.boolean("grab", errors));
            Some(ScannerConfig::Hid {
                device: device?,
                layout: layout?,
                grab: grab?,
            })
        }
    }
}

pub(super) fn parse_bill_acceptor(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<BillAcceptorConfig> {
    s.deny_unknown(&["protocol", "port", "denominations"], errors);
    let protocol = s.choice(
        "protocol",
        &[
            ("ccnet", BillProtocol::Ccnet),
            ("id003", BillProtocol::Id003),
        ],
        errors,
    );
    let port = s.port("port", errors);
    let denominations = parse_denominations(s, errors);
    Some(BillAcceptorConfig {
        protocol: protocol?,
        port: port?,
        denominations_rub: denominations?,
    })
}

pub(super) fn parse_denominations(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<u32>> {
    let key = "denominations";
    let items = match s.required(key, errors)? {
        Value::Array(items) => items,
        other => {
            s.err(
                errors,
                key,
                format!("expected an array of rubles, got {}", kind(other)),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    for item in items {
        let note = item
            .as_integer()
            .and_then(|i| u32::try_from(i).ok())
            .filter(|i| RUBLE_BANKNOTES.contains(i));
        match note {
            Some(note) if out.contains(&note) => {
                s.err(errors, key, format!("{note} is listed twice"));
                return None;
            }
            Some(note) => out.push(note),
            None => {
                s.err(
                    errors,
                    key,
                    format!(
                        "{item} is not a ruble banknote (expected some of {RUBLE_BANKNOTES:?})"
                    ),
                );
                return None;
            }
        }
    }
    if out.is_empty() {
        s.err(errors, key, "enable at least one banknote");
        return None;
    }
    out.sort_unstable();
    Some(out)
}

pub(super) fn parse_card_reader(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<CardReaderConfig> {
    s.deny_unknown(&["protocol", "port", "end_of_day"], errors);
    let protocol = s.choice("protocol", &[("zvt", CardProtocol::Zvt)], errors);
    let port = s.port("port", errors);
    let end_of_day =
        s.string("end_of_day", errors)
            .and_then(|t| match NaiveTime::parse_from_str(t, "%H:%M") {
                Ok(time) => Some(time),
                Err(_) => {
                    s.err(
                        errors,
                        "end_of_day",
                        format!("expected a time HH:MM such as \"23:30\", got \"{t}\""),
                    );
                    None
                }
            });
    Some(CardReaderConfig {
        protocol: protocol?,
        port: port?,
        end_of_day: end_of_day?,
    })
}

pub(super) fn parse_printer(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<PrinterConfig> {
    s.deny_unknown(&["profile", "port"], errors);
    let profile = s.checked(
        "profile",
        s.text("profile", errors),
        |p| {
            if receipt_printer::PrinterProfile::by_id(p).is_some() {
                Ok(())
            } else {
                let known: Vec<&str> = receipt_printer::PrinterProfile::ALL
                    .iter()
                    .map(|p| p.id)
                    .collect();
                Err(format!(
                    "unknown printer profile \"{p}\"; known: {}",
                    known.join(", ")
                ))
            }
        },
        errors,
    );
    let port = s.port("port", errors);
    Some(PrinterConfig {
        profile: profile?,
        port: port?,
    })
}

pub(super) fn parse_fiscal(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<FiscalConfig> {
    s.deny_unknown(
        &[
            "kind",
            "port",
            "baud",
            "password",
            "prints",
            "machine_number",
            "kkt_reg_number",
            "tax_system",
            "agent",
            "close_shift_at",
        ],
        errors,
    );
    let kind = s.choice(
        "kind",
        &[
            ("emulated", FiscalKind::Emulated),
            ("shtrih", FiscalKind::Shtrih),
            ("atol", FiscalKind::Atol),
        ],
        errors,
    );
    let port = if s.table.contains_key("port") {
        s.port("port", errors).map(Some)
    } else {
        if matches!(kind, Some(FiscalKind::Shtrih | FiscalKind::Atol)) {
            s.err(
                errors,
                "port",
                "missing (required unless kind is \"emulated\")",
            );
        }
        Some(None)
    };
    let machine_number = s.checked(
        "machine_number",
        s.text("machine_number", errors),
        |n| {
            if n.chars().count() <= 20 {
                Ok(())
            } else {
                Err(format!(
                    "at most 20 characters (tag 1036), got {}",
                    n.chars().count()
                ))
            }
        },
        errors,
    );
    let kkt_reg_number = s.checked(
        "kkt_reg_number",
        s.string("kkt_reg_number", errors).map(str::to_string),
        |n| {
            if n.len() == 16 && n.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(format!("expected 16 digits, got \"{n}\""))
            }
        },
        errors,
    );
    let tax_system = s.choice(
        "tax_system",
        &[
            ("osn", TaxSystem::Osn),
            ("usn_income", TaxSystem::UsnIncome),
            ("usn_income_outcome", TaxSystem::UsnIncomeOutcome),
            ("esn", TaxSystem::Esn),
            ("patent", TaxSystem::Patent),
        ],
        errors,
    );
    let agent = s.optional_section("agent", errors, parse_agent);
    let baud = s.or_default("baud", FiscalConfig::DEFAULT_BAUD, || {
        s.integer_in("baud", 1_200..=921_600, errors)
            .and_then(|b| u32::try_from(b).ok())
    });
    let password = s.or_default("password", FiscalConfig::DEFAULT_PASSWORD, || {
        s.integer_in("password", 0..=99_999_999, errors)
            .and_then(|p| u32::try_from(p).ok())
    });
    let prints = s.or_default("prints", true, || s.boolean("prints", errors));
    let close_shift_at = match s.table.get("close_shift_at") {
        None => Some(None),
        Some(Value::String(t)) => match NaiveTime::parse_from_str(t, "%H:%M") {
            Ok(time) => Some(Some(time)),
            Err(_) => {
                s.err(
                    errors,
                    "close_shift_at",
                    format!("expected a time HH:MM such as \"23:45\", got \"{t}\""),
                );
                None
            }
        },
        Some(_) => {
            s.err(
                errors,
                "close_shift_at",
                "expected a time HH:MM such as \"23:45\"",
            );
            None
        }
    };
    let kind = kind?;
    let port = port?;
    if port.is_none() && kind != FiscalKind::Emulated {
        return None;
    }
    Some(FiscalConfig {
        kind,
        port,
        baud: baud?,
        password: password?,
        prints: prints?,
        machine_number: machine_number?,
        kkt_reg_number: kkt_reg_number?,
        tax_system: tax_system?,
        agent: agent?,
        close_shift_at: close_shift_at?,
    })
}

pub(super) fn parse_agent(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<AgentConfig> {
    s.deny_unknown(
        &["kind", "supplier_inn", "supplier_name", "supplier_phone"],
        errors,
    );
    let kind = s.choice(
        "kind",
        &[
            ("bank_payment_agent", AgentKind::BankPaymentAgent),
            ("bank_payment_subagent", AgentKind::BankPaymentSubagent),
            ("payment_agent", AgentKind::PaymentAgent),
            ("payment_subagent", AgentKind::PaymentSubagent),
            ("attorney", AgentKind::Attorney),
            ("commission_agent", AgentKind::CommissionAgent),
            ("other", AgentKind::Other),
        ],
        errors,
    );
    let supplier_inn = s.checked(
        "supplier_inn",
        s.string("supplier_inn", errors).map(str::to_string),
        |inn| check_inn(inn),
        errors,
    );
    let supplier_name = s.text("supplier_name", errors);
    let supplier_phone = s.checked(
        "supplier_phone",
        s.string("supplier_phone", errors).map(str::to_string),
        |p| {
            let ok = p
                .strip_prefix("+7")
                .is_some_and(|rest| rest.len() == 10 && rest.bytes().all(|b| b.is_ascii_digit()));
            if ok {
                Ok(())
            } else {
                Err(format!("expected +7 and 10 digits, got \"{p}\""))
            }
        },
        errors,
    );
    Some(AgentConfig {
        kind: kind?,
        supplier_inn: supplier_inn?,
        supplier_name: supplier_name?,
        supplier_phone: supplier_phone?,
    })
}

pub(super) fn parse_seller(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<SellerConfig> {
    s.deny_unknown(&["inn", "name", "address", "place", "site"], errors);
    let inn = s.checked(
        "inn",
        s.string("inn", errors).map(str::to_string),
        |inn| check_inn(inn),
        errors,
    );
    let name = s.text("name", errors);
    let address = s.text("address", errors);
    let place = s.text("place", errors);
    let site = match s.optional_string("site", errors) {
        Some(site) if site.trim().is_empty() => {
            s.err(
                errors,
                "site",
                "must not be empty (leave the key out instead)",
            );
            None
        }
        Some(site) => Some(Some(site.trim().to_string())),
        None if s.table.contains_key("site") => None,
        None => Some(None),
    };
    Some(SellerConfig {
        inn: inn?,
        name: name?,
        address: address?,
        place: place?,
        site: site?,
    })
}

pub(super) fn parse_back_office(
    s: &Section<'_>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<BackOfficeConfig> {
    s.deny_unknown(&["url", "key_file", "ca_file", "sbp"], errors);
    let url = s.checked("url", s.text("url", errors), |u| check_url(u), errors);
    let key_file = s.path("key_file", base_dir, errors);
    let ca_file = match s.table.contains_key("ca_file") {
        true => Some(s.path("ca_file", base_dir, errors)?),
        false => None,
    };
    let sbp = s.or_default("sbp", false, || s.boolean("sbp", errors));
    Some(BackOfficeConfig {
        url: url?,
        key_file: key_file?,
        ca_file,
        sbp: sbp?,
    })
}

pub(super) fn parse_limits(s: &Section<'_>, errors: &mut Vec<ConfigError>) -> Option<Limits> {
    s.deny_unknown(&["per_payment_rub", "per_day_rub"], errors);
    let per_payment = s.integer_in("per_payment_rub", 1..=MAX_LIMIT_RUB, errors);
    let per_day = s.integer_in("per_day_rub", 1..=MAX_LIMIT_RUB, errors);
    let (per_payment, per_day) = (per_payment?, per_day?);
    if per_payment > per_day {
        s.err(
            errors,
            "per_payment_rub",
            format!("must not exceed limits.per_day_rub ({per_day}), got {per_payment}"),
        );
        return None;
    }
    Some(Limits {
        per_payment_kopecks: per_payment * 100,
        per_day_kopecks: per_day * 100,
    })
}

pub(super) fn parse_accounts(
    s: &Section<'_>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<AccountsConfig> {
    s.deny_unknown(&["scheme", "length", "fixture_file"], errors);
    let kind = if s.table.contains_key("scheme") {
        s.choice(
            "scheme",
            &[
                ("mod11", ChecksumKind::Mod11),
                ("luhn", ChecksumKind::Luhn),
                ("none", ChecksumKind::None),
            ],
            errors,
        )
    } else {
        Some(AccountScheme::default().kind)
    };
    let length = if s.table.contains_key("length") {
        s.integer_in(
            "length",
            MIN_ACCOUNT_LENGTH as i64..=MAX_ACCOUNT_LENGTH as i64,
            errors,
        )
        .map(|l| l as usize)
    } else {
        Some(AccountScheme::default().length)
    };
    let fixture_file = if s.table.contains_key("fixture_file") {
        s.path("fixture_file", base_dir, errors).map(Some)
    } else {
        Some(None)
    };
    Some(AccountsConfig {
        scheme: AccountScheme {
            kind: kind?,
            length: length?,
        },
        fixture_file: fixture_file?,
    })
}

pub(super) fn parse_readings(
    s: &Section<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<ReadingsConfig> {
    s.deny_unknown(
        &["window_first_day", "window_last_day", "max_daily_kwh"],
        errors,
    );
    let first = s.integer_in("window_first_day", 1..=31, errors);
    let last = s.integer_in("window_last_day", 1..=31, errors);
    let max_daily_kwh = s.integer_in("max_daily_kwh", 1..=1_000_000, errors);
    let (first, last) = (first?, last?);
    let Some(window) = AcceptanceWindow::new(first as u32, last as u32) else {
        s.err(
            errors,
            "window_last_day",
            format!("must not be before window_first_day ({first}), got {last}"),
        );
        return None;
    };
    Some(ReadingsConfig {
        window,
        max_daily_kwh: max_daily_kwh? as u64,
    })
}

pub(super) fn parse_service(
    s: &Section<'_>,
    base_dir: &Path,
    errors: &mut Vec<ConfigError>,
) -> Option<ServiceConfig> {
    s.deny_unknown(&["pin_hash", "export_dir", "idle_timeout_s"], errors);
    let export_dir = if s.table.contains_key("export_dir") {
        s.path("export_dir", base_dir, errors).map(Some)
    } else {
        Some(None)
    };
    let idle_seconds = s.or_default(
        "idle_timeout_s",
        ServiceConfig::DEFAULT_IDLE_SECONDS,
        || s.integer_in("idle_timeout_s", 30..=3600, errors),
    );
    let pin_hash = s.checked(
        "pin_hash",
        s.string("pin_hash", errors).map(str::to_string),
        |h| match argon2::password_hash::PasswordHash::new(h) {
            Ok(parsed) if parsed.algorithm.as_str().starts_with("argon2") => Ok(()),
            Ok(parsed) => Err(format!(
                "expected an argon2 hash, got algorithm \"{}\"",
                parsed.algorithm
            )),
            // Never echo the value: it is a secret's hash.
            Err(e) => Err(format!("not a PHC hash string ($argon2id$v=19$...): {e}")),
        },
        errors,
    );
    Some(ServiceConfig {
        pin_hash: pin_hash?,
        export_dir: export_dir?,
        idle_seconds: idle_seconds?,
    })
}

/// Two devices on one serial port cannot both work.
pub(super) fn check_port_clashes(
    devices: &DevicesConfig,
    fiscal: &FiscalConfig,
    errors: &mut Vec<ConfigError>,
) {
    let mut ports: Vec<(&str, &PathBuf)> = Vec::new();
    if let Some(d) = &devices.bill_acceptor {
        ports.push(("devices.bill_acceptor.port", &d.port));
    }
    if let Some(d) = &devices.card_reader {
        ports.push(("devices.card_reader.port", &d.port));
    }
    if let Some(d) = &devices.printer {
        ports.push(("devices.printer.port", &d.port));
    }
    if let Some(ScannerConfig::Serial { port, .. }) = &devices.scanner {
        ports.push(("devices.scanner.port", port));
    }
    if let Some(port) = &fiscal.port {
        ports.push(("fiscal.port", port));
    }
    let mut seen: BTreeSet<&PathBuf> = BTreeSet::new();
    for (i, (key, port)) in ports.iter().enumerate() {
        if !seen.insert(*port) {
            if let Some((first, _)) = ports[..i].iter().find(|(_, p)| p == port) {
                errors.push(ConfigError::key(
                    *key,
                    format!("{} is already used by {first}", port.display()),
                ));
            }
        }
    }
}
