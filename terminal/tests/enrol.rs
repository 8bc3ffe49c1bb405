//! `terminal enrol` end to end against a live back office: the code `back-office terminal enrol`
//! issues makes the kiosk's key file and config, the key signs requests the server accepts, and
//! a code works once. Refusals change no file, and a local problem found before the request
//! leaves the code unspent.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use back_office::enrolment;
use back_office::EmbeddedBackOffice;
use terminal::config::Config;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/kiosk.example.toml");

struct Setup {
    rt: tokio::runtime::Runtime,
    bo: EmbeddedBackOffice,
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let bo = rt.block_on(EmbeddedBackOffice::start("0001")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(EXAMPLE, dir.path().join("kiosk.toml")).unwrap();
        std::fs::set_permissions(
            dir.path().join("kiosk.toml"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        Setup { rt, bo, dir }
    }

    /// `back-office terminal enrol ID`, as its command does it.
    fn issue(&self, id: &str) -> String {
        let id = id.to_string();
        self.rt
            .block_on(self.bo.store.run("admin", move |sql| {
                enrolment::issue(
                    sql,
                    &id,
                    enrolment::DEFAULT_VALIDITY,
                    "test",
                    "test",
                    chrono::Utc::now(),
                )
            }))
            .unwrap()
            .code
    }

    fn set_time_zone(&self, id: &str, tz: &str) {
        let (id, tz) = (id.to_string(), tz.to_string());
        self.rt
            .block_on(self.bo.store.run("admin", move |sql| {
                back_office::terminals::set_time_zone(sql, &id, &tz)
            }))
            .unwrap();
    }

    fn key_of(&self, id: &str) -> Option<String> {
        let id = id.to_string();
        self.rt
            .block_on(
                self.bo
                    .store
                    .read(move |sql| back_office::terminals::key_of(sql, &id)),
            )
            .unwrap()
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("kiosk.toml")
    }

    fn key_file(&self) -> PathBuf {
        self.dir.path().join("terminal.key")
    }

    fn enrol_with(&self, code: &str, config: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_terminal"))
            .args(["enrol", "--back-office", &self.bo.url, "--code", code])
            .arg("--config")
            .arg(config)
            .arg("--key-file")
            .arg(self.key_file())
            .output()
            .unwrap()
    }

    /// The same back office over HTTPS with a certificate of a private CA (`localhost`);
    /// returns its base URL and the CA's PEM file.
    fn serve_https(&self) -> (String, PathBuf) {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca, rcgen::KeyPair::generate().unwrap()).unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&server_key, &*ca)
            .unwrap();
        let (ca_file, cert, key) = (
            self.dir.path().join("ca.pem"),
            self.dir.path().join("server.pem"),
            self.dir.path().join("server.key"),
        );
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&cert, server.pem()).unwrap();
        std::fs::write(&key, server_key.serialize_pem()).unwrap();
        let config = back_office::tls::load_config(&cert, &key).unwrap();
        let state = back_office::http::AppState::new(self.bo.store.clone());
        let port = self.rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(back_office::serve_tls(
                listener,
                config,
                state,
                std::future::pending(),
            ));
            port
        });
        (format!("https://localhost:{port}"), ca_file)
    }

    fn enrol(&self, code: &str) -> Output {
        self.enrol_with(code, &self.config())
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The config as the kiosk reads it (relative paths from the example's folder).
fn load(path: &Path) -> Config {
    let text = std::fs::read_to_string(path).unwrap();
    Config::from_toml_str(&text, Path::new(EXAMPLE).parent().unwrap())
        .unwrap_or_else(|e| panic!("the enrolled config is refused: {e:?}"))
}

#[test]
fn a_code_gives_the_kiosk_its_key_and_identity_once() {
    let s = Setup::new();
    let code = s.issue("0042");
    s.set_time_zone("0042", "Asia/Yekaterinburg");

    let out = s.enrol(&code);
    assert!(out.status.success(), "{}", text(&out));
    let key = std::fs::read_to_string(s.key_file()).unwrap();
    let key = key.trim();
    assert_eq!(Some(key), s.key_of("0042").as_deref(), "the issued key");
    assert!(!text(&out).contains(key), "the key is never printed");
    assert!(
        text(&out).contains("enrolled as terminal 0042"),
        "{}",
        text(&out)
    );
    let mode = std::fs::metadata(s.key_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);

    let written = std::fs::read_to_string(s.config()).unwrap();
    assert!(
        written.starts_with("# Kiosk configuration — one file per terminal"),
        "comments kept"
    );
    let mode = std::fs::metadata(s.config()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the config keeps its mode");
    let config = load(&s.config());
    assert_eq!(config.terminal.id, "0042");
    assert_eq!(config.terminal.timezone.name(), "Asia/Yekaterinburg");
    assert_eq!(config.back_office.url, s.bo.url.trim_end_matches('/'));
    assert_eq!(config.back_office.key_file, s.key_file());

    // The key signs requests the back office takes.
    let client = sync_client::SyncClient::new(&s.bo.url, "0042", key).unwrap();
    let beat = backend_sync::wire::Heartbeat {
        time_utc: chrono::Utc::now().to_rfc3339(),
        service_state: "in_service".into(),
        ..Default::default()
    };
    s.rt.block_on(client.heartbeat(&beat))
        .expect("a request signed with the enrolled key is accepted");

    // Once only: a second use is refused and changes neither file.
    let before = (
        std::fs::read(s.key_file()).unwrap(),
        std::fs::read(s.config()).unwrap(),
    );
    let again = s.enrol(&code);
    assert!(!again.status.success());
    assert!(text(&again).contains("already used"), "{}", text(&again));
    let after = (
        std::fs::read(s.key_file()).unwrap(),
        std::fs::read(s.config()).unwrap(),
    );
    assert_eq!(before, after, "a refusal writes nothing");
    assert_eq!(
        Some(key),
        s.key_of("0042").as_deref(),
        "nor changes the key"
    );
}

#[test]
fn over_https_a_private_ca_is_trusted_only_when_given() {
    let s = Setup::new();
    let (url, ca_file) = s.serve_https();
    let code = s.issue("0045");
    let enrol = |extra: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_terminal"))
            .args(["enrol", "--back-office", &url, "--code", &code, "--config"])
            .arg(s.config())
            .arg("--key-file")
            .arg(s.key_file())
            .args(extra)
            .output()
            .unwrap()
    };
    // The Mozilla roots do not know this CA: no connection, so the code is not spent.
    let out = enrol(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("UnknownIssuer"), "{}", text(&out));
    assert!(!s.key_file().exists());
    let out = enrol(&["--ca-file".as_ref(), ca_file.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out));
    let config = load(&s.config());
    assert_eq!(config.terminal.id, "0045");
    assert_eq!(
        config.back_office.ca_file.as_deref(),
        Some(ca_file.as_path())
    );

    // The kiosk's own link, built from the config as `terminal run` builds it, syncs over it.
    let link = terminal::sync::BackOfficeLink::from_key_file(
        &config.back_office.url,
        &config.terminal.id,
        &config.back_office.key_file,
    )
    .unwrap()
    .with_ca_file(config.back_office.ca_file.as_deref())
    .unwrap();
    let beat = backend_sync::wire::Heartbeat {
        time_utc: chrono::Utc::now().to_rfc3339(),
        service_state: "in_service".into(),
        ..Default::default()
    };
    s.rt.block_on(link.client().unwrap().heartbeat(&beat))
        .expect("a heartbeat over HTTPS with the private CA");
    let without = terminal::sync::BackOfficeLink::from_key_file(
        &config.back_office.url,
        &config.terminal.id,
        &config.back_office.key_file,
    )
    .unwrap();
    assert!(
        s.rt.block_on(without.client().unwrap().heartbeat(&beat))
            .is_err(),
        "without the CA the certificate is refused"
    );
}

#[test]
fn a_local_problem_leaves_the_code_unspent() {
    let s = Setup::new();
    let code = s.issue("0043");
    let missing = s.dir.path().join("no-such.toml");
    let out = s.enrol_with(&code, &missing);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("the code was not used"),
        "{}",
        text(&out)
    );
    assert!(!s.key_file().exists());

    let out = s.enrol(&code);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(load(&s.config()).terminal.id, "0043");
}

#[test]
fn wrong_codes_are_refused_then_throttled() {
    let s = Setup::new();
    let before = std::fs::read(s.config()).unwrap();
    let out = s.enrol("AAAAA-BBBBB-CCCCC-DDDDD");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown enrolment code"),
        "{}",
        text(&out)
    );
    let out = s.enrol("not a code");
    assert!(
        text(&out).contains("not an enrolment code"),
        "{}",
        text(&out)
    );
    for _ in 0..8 {
        s.enrol("AAAAA-BBBBB-CCCCC-DDDDD");
    }
    // Ten wrong codes from this address: even a good one waits out the lockout.
    let code = s.issue("0044");
    let out = s.enrol(&code);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("too many wrong enrolment codes"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(s.config()).unwrap(), before);
    assert!(!s.key_file().exists());

    // A refused URL never reaches the network.
    let out = Command::new(env!("CARGO_BIN_EXE_terminal"))
        .args(["enrol", "--back-office", "http://back-office.example.ru"])
        .args(["--code", &code, "--config"])
        .arg(s.config())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("use https"), "{}", text(&out));
}
