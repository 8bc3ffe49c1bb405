//! Serving: a shutdown (SIGTERM to the binary, or the library's shutdown future) lets the batch in
//! flight finish and commit, takes no new connections and exits cleanly; HTTPS served natively
//! with a certificate and key from PEM files sets the session cookie's `Secure` flag.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use back_office::http::AppState;
use backend_sync::auth;
use backend_sync::wire::{IngestBatch, WIRE_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PATH: &str = "/api/v1/ingest";

/// A signed ingest request of `n` records, as (head, body).
fn signed_batch(terminal: &str, key_hex: &str, n: usize) -> (String, Vec<u8>) {
    let key = auth::decode_key(key_hex).unwrap();
    let body = serde_json::to_vec(&IngestBatch {
        version: WIRE_VERSION,
        terminal_id: terminal.into(),
        records: common::chain(terminal, n),
    })
    .unwrap();
    let h = auth::sign(
        &key,
        terminal,
        chrono::Utc::now().timestamp(),
        "POST",
        PATH,
        &body,
    );
    let head = format!(
        "POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
{}: {}\r\n{}: {}\r\n{}: {}\r\n{}: {}\r\n\r\n",
        body.len(),
        auth::HEADER_TERMINAL,
        h.terminal_id,
        auth::HEADER_TIMESTAMP,
        h.timestamp,
        auth::HEADER_NONCE,
        h.nonce,
        auth::HEADER_SIGNATURE,
        h.signature
    );
    (head, body)
}

/// Starts a request and sends half its body: the server holds it in flight.
async fn half_sent(addr: &str, head: &str, body: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body[..body.len() / 2]).await.unwrap();
    s.flush().await.unwrap();
    // Let the server read the head and start the handler.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s
}

/// Sends the rest and reads the whole answer.
async fn finish(mut s: TcpStream, body: &[u8]) -> String {
    s.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut answer))
        .await
        .expect("answer in time")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn held(store: &back_office::Store, terminal: &str) -> i64 {
    let t = terminal.to_string();
    store
        .read(move |sql| {
            sql.query_one(
                "SELECT held_seq FROM terminals WHERE id = $1",
                back_office::params![t],
            )
        })
        .await
        .unwrap()
        .unwrap()
        .int(0)
}

#[tokio::test]
async fn a_shutdown_lets_the_batch_in_flight_finish_and_commit() {
    for db in common::all_stores().await {
        let key = common::add_terminal(&db.store, "G1").await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(back_office::serve(
            listener,
            AppState::new(db.store.clone()),
            async {
                let _ = stopped.await;
            },
        ));
        let (head, body) = signed_batch("G1", &key, 1000);
        let conn = half_sent(&addr, &head, &body).await;
        stop.send(()).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!server.is_finished(), "waits for the request in flight");
        let answer = finish(conn, &body).await;
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "[{}] {answer}",
            db.label
        );
        assert!(answer.contains("\"held_up_to\":1000"), "{answer}");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server stops after the last request")
            .unwrap()
            .unwrap();
        assert_eq!(
            held(&db.store, "G1").await,
            1000,
            "the whole batch committed"
        );
        assert!(
            TcpStream::connect(&addr).await.is_err(),
            "no new connections after shutdown"
        );
    }
}

/// Strips terminal colour codes from a log line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for c in line.chars() {
        match (esc, c) {
            (false, '\u{1b}') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

#[tokio::test]
async fn sigterm_stops_the_binary_after_the_batch_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bo.sqlite");
    let bin = env!("CARGO_BIN_EXE_back-office");
    let out = Command::new(bin)
        .arg("--database-url")
        .arg(&db)
        .args(["terminal", "add", "G2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut child = Command::new(bin)
        .arg("--database-url")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--messages-file"])
        .arg(dir.path().join("m.jsonl"))
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut addr = String::new();
    for _ in 0..50 {
        let mut line = String::new();
        if log.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let line = plain(&line);
        if let Some(rest) = line.split("listen=").nth(1) {
            addr = rest.split_whitespace().next().unwrap().to_string();
            break;
        }
    }
    assert!(!addr.is_empty(), "the server logs its address");
    let (head, body) = signed_batch("G2", &key, 1000);
    let conn = half_sent(&addr, &head, &body).await;
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "still finishing the batch"
    );
    let answer = finish(conn, &body).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    let rest: Vec<String> = log
        .lines()
        .map_while(Result::ok)
        .map(|l| plain(&l))
        .collect();
    assert!(
        rest.iter().any(|l| l.contains("SIGTERM"))
            && rest.iter().any(|l| l.contains("back office stopped")),
        "{rest:?}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM journal WHERE terminal_id = 'G2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1000, "nothing half-written");
}

#[tokio::test]
async fn https_is_served_natively_and_the_session_cookie_is_secure() {
    let db = common::sqlite().await;
    db.store
        .run("t", |sql| -> Result<(), back_office::users::UserError> {
            let hash = back_office::users::hash_password("a long test password")?;
            back_office::users::add(
                sql,
                "tech",
                back_office::users::Role::Technician,
                &hash,
                &back_office::now_utc(),
            )
        })
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, &key_pem).unwrap();
    assert!(
        back_office::tls::load_config(&key_path, &key_path).is_err(),
        "a key is no certificate"
    );
    let config = back_office::tls::load_config(&cert_path, &key_path).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(back_office::serve_tls(
        listener,
        config,
        AppState::new(db.store.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    // A client that never finishes its handshake does not hold the others up.
    let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let form = c.get(format!("{base}/login")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let login_cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bo_login_csrf="))
        .unwrap()
        .to_string();
    assert!(login_cookie.contains("; Secure"), "{login_cookie}");
    assert_eq!(
        form.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(form.headers()["x-frame-options"], "DENY");
    let value = login_cookie.split(';').next().unwrap().to_string();
    let token = value.trim_start_matches("bo_login_csrf=").to_string();
    let resp = c
        .post(format!("{base}/login"))
        .header("cookie", &value)
        .form(&[
            ("username", "tech"),
            ("password", "a long test password"),
            ("csrf", &token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("bo_session="))
        .unwrap()
        .to_string();
    for flag in ["; Secure", "; HttpOnly", "; SameSite=Strict"] {
        assert!(session.contains(flag), "{flag} in {session}");
    }
    let fleet = c
        .get(format!("{base}/fleet"))
        .header("cookie", session.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(fleet.status(), 200);
    // Plain HTTP to the TLS port gets no answer.
    let plain_http = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain_http.is_err() || !plain_http.unwrap().status().is_success());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
