//! A fault-injecting HTTP/1.1 proxy between terminals and the back office: drops requests and
//! responses, duplicates requests, delays them, re-delivers stale copies later (reordering) and
//! truncates bodies. The upstream can be switched, to follow a restarted server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
pub struct Faults {
    pub drop_request: f64,
    pub drop_response: f64,
    pub duplicate: f64,
    pub truncate: f64,
    pub redeliver_later: f64,
    pub max_delay_ms: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub passed: AtomicU64,
    pub dropped_requests: AtomicU64,
    pub dropped_responses: AtomicU64,
    pub duplicated: AtomicU64,
    pub truncated: AtomicU64,
    pub redelivered: AtomicU64,
}

impl Stats {
    pub fn summary(&self) -> [u64; 6] {
        [
            self.passed.load(Ordering::Relaxed),
            self.dropped_requests.load(Ordering::Relaxed),
            self.dropped_responses.load(Ordering::Relaxed),
            self.duplicated.load(Ordering::Relaxed),
            self.truncated.load(Ordering::Relaxed),
            self.redelivered.load(Ordering::Relaxed),
        ]
    }
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    upstream: Arc<Mutex<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let up = Arc::new(Mutex::new(upstream));
        let (s, u) = (stats.clone(), up.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(handle(conn, u.clone(), s.clone(), faults));
            }
        });
        Proxy {
            addr,
            stats,
            upstream: up,
            task,
        }
    }
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.upstream.lock().unwrap() = addr;
    }
}

fn find(h: &[u8], pat: &[u8]) -> Option<usize> {
    h.windows(pat.len()).position(|w| w == pat)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Reads one HTTP message (head and Content-Length body). `None` at a clean end of stream.
async fn read_message(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            let len = content_length(&head);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 16384];
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some((head, body));
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The request head with `connection: close`, so one upstream connection carries one exchange.
fn closing_head(head: &str) -> String {
    let mut out = String::new();
    for line in head.trim_end().split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    out
}

async fn forward(upstream: SocketAddr, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await.ok()?;
    up.write_all(closing_head(head).as_bytes()).await.ok()?;
    up.write_all(body).await.ok()?;
    let mut buf = Vec::new();
    let (rh, rb) = tokio::time::timeout(Duration::from_secs(20), read_message(&mut up, &mut buf))
        .await
        .ok()??;
    let mut resp = rh.into_bytes();
    resp.extend_from_slice(&rb);
    Some(resp)
}

async fn handle(
    mut client: TcpStream,
    upstream: Arc<Mutex<SocketAddr>>,
    stats: Arc<Stats>,
    f: Faults,
) {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_message(&mut client, &mut buf).await {
        let up = *upstream.lock().unwrap();
        let (roll, delay) = {
            let mut rng = rand::thread_rng();
            (rng.gen::<f64>(), rng.gen_range(0..=f.max_delay_ms))
        };
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let mut p = roll;
        if p < f.drop_request {
            stats.dropped_requests.fetch_add(1, Ordering::Relaxed);
            return;
        }
        p -= f.drop_request;
        if p < f.truncate {
            stats.truncated.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut s) = TcpStream::connect(up).await {
                let _ = s.write_all(closing_head(&head).as_bytes()).await;
                let _ = s.write_all(&body[..body.len() / 2]).await;
                let _ = s.shutdown().await;
            }
            return;
        }
        p -= f.truncate;
        if p < f.redeliver_later {
            // The client sees a failure now; the server gets this stale copy later, after newer
            // requests: delivery out of order.
            stats.redelivered.fetch_add(1, Ordering::Relaxed);
            let (h, b) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let wait = rand::thread_rng().gen_range(200..1500);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let _ = forward(up, &h, &b).await;
            });
            return;
        }
        p -= f.redeliver_later;
        let Some(resp) = forward(up, &head, &body).await else {
            return;
        };
        let duplicate = p < f.duplicate;
        p -= f.duplicate;
        if duplicate {
            stats.duplicated.fetch_add(1, Ordering::Relaxed);
            let (h, b) = (head.clone(), body.clone());
            tokio::spawn(async move {
                let _ = forward(up, &h, &b).await;
            });
        } else if p < f.drop_response {
            stats.dropped_responses.fetch_add(1, Ordering::Relaxed);
            return;
        }
        stats.passed.fetch_add(1, Ordering::Relaxed);
        if client.write_all(&resp).await.is_err() {
            return;
        }
        // The upstream closed after one exchange; tell the client so it opens a new connection.
        if resp
            .windows(17)
            .any(|w| w.eq_ignore_ascii_case(b"connection: close"))
        {
            return;
        }
    }
}
