//! A minimal SMTP server on 127.0.0.1 for the e-mail tests: EHLO/HELO, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT. It keeps each accepted message (envelope and text) and can refuse: the first
//! `fail_data` DATA transactions with a transient 451, and any RCPT to an address containing
//! `refuse_rcpt` with a permanent 550.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// A header's value (the first line of it).
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim())
    }

    /// The body as text: base64 or quoted-printable decoded as the headers say (enough for
    /// what lettre writes for a plain-text body).
    pub fn text(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        match self
            .header("Content-Transfer-Encoding")
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "base64" => {
                use base64::Engine;
                let joined: String = body.split_whitespace().collect();
                String::from_utf8_lossy(
                    &base64::engine::general_purpose::STANDARD
                        .decode(joined)
                        .unwrap_or_default(),
                )
                .into_owned()
            }
            Some(e) if e == "quoted-printable" => {
                let mut out = Vec::new();
                let b = body.replace("=\r\n", "");
                let bytes = b.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i] == b'=' && i + 2 < bytes.len() {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                        if let Ok(v) = u8::from_str_radix(hex, 16) {
                            out.push(v);
                            i += 3;
                            continue;
                        }
                    }
                    out.push(bytes[i]);
                    i += 1;
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            _ => body,
        }
    }
}

pub struct FakeSmtp {
    pub port: u16,
    pub mails: Arc<Mutex<Vec<Mail>>>,
    /// DATA transactions refused so far.
    pub refused: Arc<AtomicUsize>,
}

impl FakeSmtp {
    pub async fn start(fail_data: usize, refuse_rcpt: Option<&str>) -> FakeSmtp {
        let mails = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let (keep, count) = (mails.clone(), refused.clone());
        let refuse_rcpt = refuse_rcpt.map(str::to_string);
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                let (keep, count, refuse_rcpt) = (keep.clone(), count.clone(), refuse_rcpt.clone());
                tokio::spawn(async move {
                    let (rd, mut wr) = sock.into_split();
                    let mut rd = BufReader::new(rd);
                    if wr.write_all(b"220 fake ESMTP\r\n").await.is_err() {
                        return;
                    }
                    let mut line = String::new();
                    let (mut from, mut to, mut data, mut in_data) =
                        (String::new(), Vec::new(), String::new(), false);
                    while rd.read_line(&mut line).await.unwrap_or(0) > 0 {
                        let reply: String = if in_data {
                            if line == ".\r\n" {
                                in_data = false;
                                let mail = Mail {
                                    from: std::mem::take(&mut from),
                                    to: std::mem::take(&mut to),
                                    data: std::mem::take(&mut data),
                                };
                                if count.load(Ordering::SeqCst) < fail_data {
                                    count.fetch_add(1, Ordering::SeqCst);
                                    "451 4.3.0 try again later\r\n".into()
                                } else {
                                    keep.lock().unwrap().push(mail);
                                    "250 queued\r\n".into()
                                }
                            } else {
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                                String::new()
                            }
                        } else {
                            let upper = line.to_ascii_uppercase();
                            let arg = line
                                .split_once(':')
                                .map(|(_, a)| a.trim().trim_matches(['<', '>']).to_string())
                                .unwrap_or_default();
                            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                                "250 fake\r\n".into()
                            } else if upper.starts_with("MAIL FROM") {
                                from = arg;
                                to.clear();
                                "250 ok\r\n".into()
                            } else if upper.starts_with("RCPT TO") {
                                if refuse_rcpt.as_deref().is_some_and(|r| arg.contains(r)) {
                                    "550 5.1.1 no such mailbox\r\n".into()
                                } else {
                                    to.push(arg);
                                    "250 ok\r\n".into()
                                }
                            } else if upper.starts_with("DATA") {
                                in_data = true;
                                "354 go on\r\n".into()
                            } else if upper.starts_with("QUIT") {
                                let _ = wr.write_all(b"221 bye\r\n").await;
                                return;
                            } else {
                                "250 ok\r\n".into()
                            }
                        };
                        if !reply.is_empty() && wr.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                        line.clear();
                    }
                });
            }
        });
        FakeSmtp {
            port,
            mails,
            refused,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}
