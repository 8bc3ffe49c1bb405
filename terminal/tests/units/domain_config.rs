//! The config file: the shipped example is valid, and each bad value is reported with its key
//! and reason — all of them at once.

use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use terminal::accounts::AccountScheme;
use terminal::config::{
    check, inn_is_valid, BillProtocol, Config, ConfigError, FiscalKind, TaxSystem,
};

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/kiosk.example.toml")
}

fn example() -> String {
    std::fs::read_to_string(example_path()).expect("example config exists")
}

/// The example with `from` replaced by `to` (which must change it).
fn edit(from: &str, to: &str) -> String {
    let text = example();
    assert!(text.contains(from), "example has no {from:?}");
    text.replacen(from, to, 1)
}

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text, Path::new("/etc/kiosk")) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn one_error(text: &str) -> String {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors[0].clone()
}

#[test]
fn the_example_is_valid() {
    let config = check(&example_path()).expect("example config is valid");
    assert_eq!(config.terminal.id, "0042");
    assert_eq!(config.terminal.timezone, chrono_tz::Europe::Moscow);
    let bills = config
        .devices
        .bill_acceptor
        .as_ref()
        .expect("bill acceptor");
    assert_eq!(bills.protocol, BillProtocol::Ccnet);
    assert_eq!(bills.port, Path::new("/dev/ttyS1"));
    assert_eq!(
        bills.denominations_rub,
        [50, 100, 200, 500, 1000, 2000, 5000]
    );
    let card = config.devices.card_reader.as_ref().expect("card reader");
    assert_eq!(card.end_of_day.to_string(), "23:30:00");
    assert_eq!(config.fiscal.kind, FiscalKind::Emulated);
    assert_eq!(config.fiscal.port, None);
    assert_eq!(config.fiscal.tax_system, TaxSystem::Osn);
    assert_eq!(config.fiscal.tax_system.tag_1055(), 1);
    assert_eq!(config.seller.inn, "6901123457");
    assert_eq!(config.limits.per_payment_kopecks, 1_500_000);
    assert_eq!(config.limits.per_day_kopecks, 10_000_000);
    assert_eq!(config.accounts.scheme, AccountScheme::default());
    assert_eq!(config.accounts.fixture_file, None);
    assert_eq!(config.readings.window.first_day, 15);
    assert_eq!(config.readings.window.last_day, 25);
    assert_eq!(config.readings.rules().default_max_daily_kwh, 100);
    assert!(config.working_hours.is_empty());
    // The example's service PIN is 1234, as its comment says.
    let hash = PasswordHash::new(&config.service.pin_hash).expect("PHC string");
    assert!(Argon2::default().verify_password(b"1234", &hash).is_ok());
    assert!(Argon2::default().verify_password(b"0000", &hash).is_err());
    assert_eq!(config.service.export_dir, Some(PathBuf::from("/media/usb")));
    assert_eq!(config.service.idle_seconds, 120);
    // The key file lives on the kiosk, not here.
    let missing: Vec<String> = config
        .missing_files()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        missing,
        ["back_office.key_file: file /etc/kiosk/terminal.key does not exist"]
    );
}

#[test]
fn the_example_fixture_and_relative_paths() {
    let text = edit(
        "# fixture_file = \"accounts.example.toml\"",
        "fixture_file = \"accounts.example.toml\"",
    )
    .replace("/etc/kiosk/terminal.key", "accounts.example.toml");
    let dir = example_path().parent().expect("dir").to_path_buf();
    let config = Config::from_toml_str(&text, &dir).expect("valid");
    assert_eq!(
        config.accounts.fixture_file.as_deref(),
        Some(dir.join("accounts.example.toml").as_path())
    );
    assert!(config.missing_files().is_empty());
}

#[test]
fn the_key_file_must_hold_a_key_and_its_contents_are_never_shown() {
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("terminal.key");
    let text = edit("/etc/kiosk/terminal.key", &key.display().to_string());
    let config = Config::from_toml_str(&text, dir.path()).expect("valid");
    assert_eq!(
        config.key_file_problem(),
        None,
        "no file: only a missing-file warning"
    );
    std::fs::write(&key, "hunter2-not-a-key\n").expect("write");
    let problem = config.key_file_problem().expect("a problem").to_string();
    assert!(
        problem.starts_with("back_office.key_file: ") && problem.contains("64 digits"),
        "{problem}"
    );
    assert!(!problem.contains("hunter2"), "{problem}");
    std::fs::write(&key, format!("{}\n", "0f".repeat(32))).expect("write");
    assert_eq!(config.key_file_problem(), None);
}

#[test]
fn each_bad_value_names_its_key_and_reason() {
    let cases = [
        (
            edit("protocol = \"ccnet\"", "protocol = \"cctalk\""),
            "devices.bill_acceptor.protocol: expected \"ccnet\" or \"id003\", got \"cctalk\"",
        ),
        (
            edit("per_payment_rub = 15000", "per_payment_rub = 150000"),
            "limits.per_payment_rub: must not exceed limits.per_day_rub (100000), got 150000",
        ),
        (
            edit("per_day_rub = 100000", "per_day_rub = 0"),
            "limits.per_day_rub: must be between 1 and 100000000, got 0",
        ),
        (
            edit("per_day_rub = 100000", "per_day_rub = \"100000\""),
            "limits.per_day_rub: expected an integer, got a string",
        ),
        (
            edit("inn = \"6901123457\"", "inn = \"6901123456\""),
            "seller.inn: check digits of INN \"6901123456\" are wrong",
        ),
        (
            edit("inn = \"6901123457\"", "inn = \"690112345\""),
            "seller.inn: expected 10 or 12 digits, got \"690112345\"",
        ),
        (
            edit("https://back-office.example.ru/", "http://back-office.example.ru/"),
            "back_office.url: plain http is allowed only to localhost; use https for \"http://back-office.example.ru/\"",
        ),
        (
            edit("https://back-office.example.ru/", "https://back-office.example.ru/api/v1"),
            "back_office.url: give the server's address without a path (the kiosk adds /api/v1/…), got \"https://back-office.example.ru/api/v1\"",
        ),
        (
            edit("https://back-office.example.ru/", "https://back office"),
            "back_office.url: \"https://back office\" has no valid host",
        ),
        (
            edit("https://back-office.example.ru/", "https://back-office.example.ru:99999/"),
            "back_office.url: port \"99999\" in \"https://back-office.example.ru:99999/\" is not 1–65535",
        ),
        (
            edit("https://back-office.example.ru/", "ftp://back-office.example.ru/"),
            "back_office.url: expected an https:// URL, got scheme \"ftp\"",
        ),
        (
            edit("id = \"0042\"", "id = \"kiosk 42\""),
            "terminal.id: expected 1–16 characters A–Z or 0–9 (e.g. \"0042\"), got \"kiosk 42\"",
        ),
        (
            edit("timezone = \"Europe/Moscow\"", "timezone = \"MSK+3\""),
            "terminal.timezone: unknown time zone \"MSK+3\" (expected an IANA name such as \"Europe/Moscow\")",
        ),
        (
            edit("name = \"Киоск в ТЦ «Радуга»\"", "nmae = \"Киоск\""),
            "terminal.name: missing (required)",
        ),
        (
            edit("port = \"/dev/ttyS1\"", "port = \"ttyS1\""),
            "devices.bill_acceptor.port: expected an absolute device path such as \"/dev/ttyS0\", got \"ttyS1\"",
        ),
        (
            edit("port = \"/dev/ttyS2\"", "port = \"/dev/ttyS1\""),
            "devices.card_reader.port: /dev/ttyS1 is already used by devices.bill_acceptor.port",
        ),
        (
            edit("end_of_day = \"23:30\"", "end_of_day = \"25:00\""),
            "devices.card_reader.end_of_day: expected a time HH:MM such as \"23:30\", got \"25:00\"",
        ),
        (
            edit("[50, 100, 200, 500, 1000, 2000, 5000]", "[100, 3000]"),
            "devices.bill_acceptor.denominations: 3000 is not a ruble banknote (expected some of [10, 50, 100, 200, 500, 1000, 2000, 5000])",
        ),
        (
            edit("[50, 100, 200, 500, 1000, 2000, 5000]", "[100, 100]"),
            "devices.bill_acceptor.denominations: 100 is listed twice",
        ),
        (
            edit("[50, 100, 200, 500, 1000, 2000, 5000]", "[]"),
            "devices.bill_acceptor.denominations: enable at least one banknote",
        ),
        (
            edit("kind = \"emulated\"", "kind = \"shtrih\""),
            "fiscal.port: missing (required unless kind is \"emulated\")",
        ),
        (
            edit("# close_shift_at = \"23:45\"", "close_shift_at = \"23:75\""),
            "fiscal.close_shift_at: expected a time HH:MM such as \"23:45\", got \"23:75\"",
        ),
        (
            edit(
                "kind = \"emulated\"\n# port = \"/dev/ttyS3\"",
                "kind = \"shtrih\"\nport = \"/dev/ttyS3\"\nbaud = 7",
            ),
            "fiscal.baud: must be between 1200 and 921600, got 7",
        ),
        (
            edit("kind = \"emulated\"", "kind = \"emulated\"\nprints = \"yes\""),
            "fiscal.prints: expected true or false",
        ),
        (
            edit("kind = \"emulated\"", "kind = \"kasbi\""),
            "fiscal.kind: expected \"emulated\", \"shtrih\" or \"atol\", got \"kasbi\"",
        ),
        (
            edit("\"0000000001012345\"", "\"000000000101234\""),
            "fiscal.kkt_reg_number: expected 16 digits, got \"000000000101234\"",
        ),
        (
            edit("tax_system = \"osn\"", "tax_system = \"envd\""),
            "fiscal.tax_system: expected \"osn\", \"usn_income\", \"usn_income_outcome\", \"esn\" or \"patent\", got \"envd\"",
        ),
        (
            edit("machine_number = \"KIOSK-0042\"", "machine_number = \"KIOSK-0042-TVER-CENTRAL\""),
            "fiscal.machine_number: at most 20 characters (tag 1036), got 23",
        ),
        (
            edit("scheme = \"mod11\"", "scheme = \"crc\""),
            "accounts.scheme: expected \"mod11\", \"luhn\" or \"none\", got \"crc\"",
        ),
        (
            edit("length = 10", "length = 3"),
            "accounts.length: must be between 4 and 30, got 3",
        ),
        (
            edit("window_last_day = 25", "window_last_day = 10"),
            "readings.window_last_day: must not be before window_first_day (15), got 10",
        ),
        (
            edit("window_first_day = 15", "window_first_day = 32"),
            "readings.window_first_day: must be between 1 and 31, got 32",
        ),
        (
            edit("max_daily_kwh = 100", "max_daily_kwh = 0"),
            "readings.max_daily_kwh: must be between 1 and 1000000, got 0",
        ),
        (
            edit("[working_hours]", "[unused]").replacen("[terminal]", "working_hours = 5\n[terminal]", 1),
            "working_hours: expected a table, got an integer",
        ),
        (
            edit("profile = \"vkp80\"", "profile = \"Custom VKP80\""),
            "devices.printer.profile: unknown printer profile \"Custom VKP80\"; known: tm-t20, tm-t88, vkp80, ppu-700",
        ),
        (
            edit("site = \"www.example.ru\"", "site = \" \""),
            "seller.site: must not be empty (leave the key out instead)",
        ),
        (
            edit("[seller]", "[sellers]"),
            "sellers: unknown key (expected one of: terminal, devices, fiscal, seller, back_office, limits, accounts, readings, working_hours, service, health, gpio, brand)",
        ),
    ];
    for (text, expected) in cases {
        let got = errors(&text);
        assert!(
            got.iter().any(|e| e == expected),
            "expected {expected:?} among {got:#?}"
        );
    }
}

#[test]
fn exact_single_errors() {
    assert_eq!(
        one_error(&edit("protocol = \"ccnet\"", "protocol = \"cctalk\"")),
        "devices.bill_acceptor.protocol: expected \"ccnet\" or \"id003\", got \"cctalk\""
    );
    assert_eq!(
        one_error(&edit("office =", "offcie =").replace("offcie", "office = \"x\"\nofice")),
        "terminal.ofice: unknown key (expected one of: id, name, office, timezone)"
    );
    let no_seller = {
        let text = example();
        let start = text.find("[seller]").expect("seller");
        let end = text.find("[back_office]").expect("back office");
        format!("{}{}", &text[..start], &text[end..])
    };
    assert_eq!(one_error(&no_seller), "seller: missing (required)");
    let no_payment_devices = {
        let text = example();
        let start = text.find("[devices.bill_acceptor]").expect("bills");
        let end = text.find("[devices.printer]").expect("printer");
        format!("{}{}", &text[..start], &text[end..])
    };
    assert_eq!(
        one_error(&no_payment_devices),
        "devices: at least one of bill_acceptor or card_reader must be configured, or no payment is possible"
    );
    assert_eq!(
        one_error(&edit("pin_hash = \"$argon2", "pin_hash = \"$bcrypt"))
            .split(':')
            .next(),
        Some("service.pin_hash")
    );
    assert_eq!(
        one_error(&edit("idle_timeout_s = 120", "idle_timeout_s = 5")),
        "service.idle_timeout_s: must be between 30 and 3600, got 5"
    );
    // The PIN itself is never echoed.
    let err = one_error(&edit("pin_hash = ", "pin_hash = \"1234\"\n#"));
    assert!(
        err.starts_with("service.pin_hash: not a PHC hash string ($argon2id$v=19$...): "),
        "{err}"
    );
    assert!(!err.contains("1234"), "{err}");
    // A KKT with its port, and an agent section with a bad phone.
    let text = edit(
        "kind = \"emulated\"",
        "kind = \"atol\"\nport = \"/dev/ttyS3\"",
    )
    .replace(
        "# [fiscal.agent]\n# kind = \"payment_agent\"",
        "[fiscal.agent]\nkind = \"payment_agent\"",
    );
    let text = text
        .replace("# supplier_inn", "supplier_inn")
        .replace("# supplier_name", "supplier_name")
        .replace(
            "# supplier_phone = \"+74822000000\"",
            "supplier_phone = \"84822000000\"",
        );
    assert_eq!(
        one_error(&text),
        "fiscal.agent.supplier_phone: expected +7 and 10 digits, got \"84822000000\""
    );
    let ok = Config::from_toml_str(
        &text.replace("\"84822000000\"", "\"+74822000000\""),
        Path::new("/"),
    )
    .expect("valid with agent");
    assert_eq!(ok.fiscal.kind, FiscalKind::Atol);
    assert_eq!(ok.fiscal.port.as_deref(), Some(Path::new("/dev/ttyS3")));
    assert_eq!(ok.fiscal.agent.expect("agent").supplier_inn, "7707083893");
}

#[test]
fn all_errors_are_reported_together() {
    let text = edit("protocol = \"ccnet\"", "protocol = \"cctalk\"")
        .replace("inn = \"6901123457\"", "inn = \"6901123456\"")
        .replace("per_payment_rub = 15000", "per_payment_rub = -1")
        .replace("window_first_day = 15", "window_first_day = \"15\"");
    let got = errors(&text);
    assert_eq!(
        got,
        [
            "devices.bill_acceptor.protocol: expected \"ccnet\" or \"id003\", got \"cctalk\"",
            "seller.inn: check digits of INN \"6901123456\" are wrong",
            "limits.per_payment_rub: must be between 1 and 100000000, got -1",
            "readings.window_first_day: expected an integer, got a string",
        ]
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let text = "[terminal]\nid = \"0042\"\nname = \"unterminated\n";
    let errs = Config::from_toml_str(text, Path::new("/")).expect_err("syntax");
    assert_eq!(errs.len(), 1);
    match &errs[0] {
        ConfigError::Syntax { line, .. } => assert_eq!(*line, 3),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn load_and_check_read_files() {
    let mut file = tempfile::NamedTempFile::new().expect("temp");
    file.write_all(example().as_bytes()).expect("write");
    assert!(Config::load(file.path()).is_ok());

    let mut bad = tempfile::NamedTempFile::new().expect("temp");
    bad.write_all(edit("per_payment_rub = 15000", "per_payment_rub = 150000").as_bytes())
        .expect("write");
    assert_eq!(
        Config::load(bad.path()).expect_err("bad").to_string(),
        "limits.per_payment_rub: must not exceed limits.per_day_rub (100000), got 150000"
    );
    let missing = check(Path::new("/nonexistent/kiosk.toml")).expect_err("no file");
    assert!(matches!(&missing[0], ConfigError::Read { .. }));
}

#[test]
fn inn_check_digits() {
    assert!(inn_is_valid("7707083893"));
    assert!(inn_is_valid("6901123457"));
    assert!(inn_is_valid("690112345663"));
    assert!(!inn_is_valid("690112345664"));
    assert!(!inn_is_valid("690112345653"));
    assert!(!inn_is_valid("7707083894"));
    assert!(!inn_is_valid("77070838"));
    assert!(!inn_is_valid("770708389x"));
    assert!(!inn_is_valid(""));
}

#[test]
fn health_and_working_hours_sections_are_checked() {
    let base = std::fs::read_to_string(example_path()).unwrap();
    let cases = [
        (
            base.replace(
                "escalate_after_working_minutes = 30",
                "escalate_after_working_minutes = \"soon\"",
            ),
            "health",
        ),
        (
            base.replace("steps = [\"reopen_port\"", "steps = [\"pray\""),
            "health",
        ),
        (
            base.replace(
                "[working_hours]\n",
                "[working_hours]\ntime_zone = \"Mars/Olympus\"\n",
            ),
            "working_hours",
        ),
    ];
    for (text, key) in cases {
        let got = errors(&text);
        assert!(
            got.iter().any(|e| e.starts_with(&format!("{key}:"))),
            "expected an error on {key} among {got:#?}"
        );
    }
    // A valid office calendar is accepted.
    let good = base.replace(
        "[working_hours]\n",
        "[working_hours]\ntime_zone = \"Europe/Moscow\"\n[working_hours.week]\nmon = { open = \"08:00\", close = \"20:00\" }\n",
    );
    let parsed = Config::from_toml_str(&good, Path::new("/etc/kiosk"));
    assert!(parsed.is_ok(), "{:#?}", parsed.err());
}

#[test]
fn a_shtrih_kkt_is_configured_with_its_port_speed_password_and_who_prints() {
    let text = edit(
        "kind = \"emulated\"\n# port = \"/dev/ttyS3\"",
        "kind = \"shtrih\"\nport = \"/dev/ttyS3\"\nbaud = 9600\npassword = 1\nprints = false",
    );
    let config = Config::from_toml_str(&text, Path::new("/etc/kiosk")).expect("valid");
    assert_eq!(config.fiscal.port.as_deref(), Some(Path::new("/dev/ttyS3")));
    assert_eq!((config.fiscal.baud, config.fiscal.password), (9600, 1));
    assert!(!config.fiscal.prints);
    // Defaults: 115200 baud, the administrator's password 30, the KKT prints.
    let config = Config::from_toml_str(&example(), Path::new("/etc/kiosk")).expect("valid");
    assert_eq!((config.fiscal.baud, config.fiscal.password), (115_200, 30));
    assert!(config.fiscal.prints);
}

#[test]
fn the_brand_is_read_from_the_config_and_its_contrast_checked() {
    let example = Config::from_toml_str(&example(), Path::new("/etc/kiosk")).unwrap();
    assert_eq!(example.brand, ui::Brand::default());
    assert_eq!(example.brand.hotline(), "8-800-000-00-00");

    let renamed = edit("name = \"Энергосбыт\"", "name = \"Северная энергия\"");
    let renamed = Config::from_toml_str(&renamed, Path::new("/etc/kiosk")).unwrap();
    assert_eq!(renamed.brand.name(), "Северная энергия");

    // Yellow under white text: refused, naming the key and the ratio it needs.
    let pale = one_error(&edit(
        "primary_color = \"#0b5cad\"",
        "primary_color = \"#ffcc00\"",
    ));
    assert!(
        pale.starts_with("brand.primary_color: #ffcc00 under text #ffffff has contrast 1.51:1"),
        "{pale}"
    );
    assert!(pale.contains("4.5:1"), "{pale}");
    let faint = one_error(&edit(
        "accent_color = \"#0b5cad\"",
        "accent_color = \"#f39200\"",
    ));
    assert!(faint.starts_with("brand.accent_color:"), "{faint}");
    let unknown = one_error(&edit("hotline = ", "phone = "));
    assert!(
        unknown.starts_with("brand: unknown field `phone`"),
        "{unknown}"
    );
    let logo = one_error(&edit("# logo = \"logo.svg\"", "logo = \"logo.svg\""));
    assert!(
        logo.starts_with("brand.logo: cannot read /etc/kiosk/logo.svg"),
        "{logo}"
    );
}

#[test]
fn the_example_brand_is_a_complete_second_brand() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/brand-example/brand.toml");
    let brand = ui::Brand::from_file(&file).unwrap();
    assert_eq!(brand.name(), "Северная энергия");
    assert_eq!(brand.hotline(), "8 800 200-45-67");
    assert_ne!(brand, ui::Brand::default());
}

#[test]
fn the_scanner_section_names_each_bad_key() {
    let serial = Config::from_toml_str(&example(), Path::new("/etc/kiosk")).unwrap();
    assert!(matches!(
        serial.devices.scanner,
        Some(terminal::config::ScannerConfig::Serial { ref terminator, baud: 9_600, .. })
            if terminator == b"\r"
    ));
    let cases = [
        (
            edit("mode = \"serial\"", "mode = \"bluetooth\""),
            "devices.scanner.mode:",
        ),
        (
            edit("# terminator = \"cr\"", "terminator = \"semicolon\""),
            "devices.scanner.terminator:",
        ),
        (edit("# baud = 9600", "baud = 12"), "devices.scanner.baud:"),
    ];
    for (text, key) in cases {
        let got = one_error(&text);
        assert!(got.starts_with(key), "{got}");
    }
    let hid = edit(
        "mode = \"serial\"\nport = \"/dev/ttyACM0\"",
        "mode = \"hid\"\ndevice = \"/dev/input/event3\"",
    );
    let parsed = Config::from_toml_str(&hid, Path::new("/etc/kiosk")).unwrap();
    assert!(matches!(
        parsed.devices.scanner,
        Some(terminal::config::ScannerConfig::Hid { grab: true, .. })
    ));
    let bad_grab = hid.replacen("# grab = true", "grab = \"yes\"", 1);
    assert_eq!(
        one_error(&bad_grab),
        "devices.scanner.grab: expected true or false"
    );
    let bad_layout = hid.replacen("# layout = \"us\"", "layout = \"dvorak\"", 1);
    assert!(one_error(&bad_layout).starts_with("devices.scanner.layout:"));
}
