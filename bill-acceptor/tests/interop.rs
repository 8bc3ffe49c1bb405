//! Interoperability with independent host implementations driving our emulator over a pty:
//! - CCNET: the `cashcode-bv` npm package; its command frames are also compared with ours;
//! - ID003: lamassu-machine's `lib/id003` (from a checkout: not on a package registry).
//!
//! Needs Node.js and the packages in `interop/package.json`:
//! ```sh
//! (cd bill-acceptor/interop && npm ci)
//! cargo test -p bill-acceptor --test interop -- --ignored
//! # and, with a lamassu-machine checkout:
//! LAMASSU_MACHINE_DIR=/path/to/lamassu-machine cargo test -p bill-acceptor --test interop -- --ignored
//! ```
//! They fail (never skip) when node, the packages or the checkout are missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bill_acceptor::frame::{encode_frame, Framing};
use bill_acceptor::model::Request;
use bill_acceptor::{Emulator, EmulatorConfig, Protocol, Timing};
use tokio::io::{AsyncBufReadExt, BufReader};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop")
}

fn node_command() -> tokio::process::Command {
    node_script("cashcode-bv-host.js")
}

fn node_script(script: &str) -> tokio::process::Command {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/cashcode-bv").is_dir(),
        "cashcode-bv is not installed: run `npm ci` in {}",
        dir.display()
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join(script))
        .env("NODE_PATH", dir.join("node_modules"))
        .current_dir(&dir)
        .kill_on_drop(true);
    cmd
}

fn ours(req: Request) -> String {
    let payload = bill_acceptor::ccnet::encode_request(&req).unwrap();
    encode_frame(Framing::Ccnet, &payload)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
#[ignore = "needs node and `npm ci` in bill-acceptor/interop"]
async fn command_frames_match_an_independent_encoder() {
    let out = node_command()
        .arg("--vectors")
        .output()
        .await
        .expect("node must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cases = [
        ("reset", Request::Reset),
        ("poll", Request::Poll),
        ("ack", Request::Ack),
        ("nak", Request::Nak),
        ("stack", Request::Stack),
        ("return", Request::Return),
        ("hold", Request::Hold),
        ("identification", Request::Identify),
        ("bill_table", Request::GetBillTable),
        ("security_none", Request::SetSecurity(0)),
        (
            "enable_all",
            Request::EnableBills {
                enabled: 0xFF_FFFF,
                escrow: 0xFF_FFFF,
            },
        ),
        (
            "enable_none",
            Request::EnableBills {
                enabled: 0,
                escrow: 0,
            },
        ),
    ];
    for (name, req) in cases {
        assert_eq!(theirs[name].as_str(), Some(ours(req).as_str()), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node and `npm ci` in bill-acceptor/interop"]
async fn an_independent_host_identifies_reads_the_table_and_stacks_on_our_emulator() {
    let emu = Emulator::spawn_with(EmulatorConfig {
        protocol: Protocol::Ccnet,
        timing: Timing::default(),
        power_off: Duration::from_millis(500),
    })
    .unwrap();
    let mut child = node_command()
        .arg(emu.device_path())
        .arg("8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let accepting = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("ACCEPTING") {
                return true;
            }
            eprintln!("cashcode-bv: {line}");
        }
        false
    })
    .await;
    assert_eq!(
        accepting,
        Ok(true),
        "the independent host never enabled the validator"
    );
    let idle = tokio::time::timeout(Duration::from_secs(5), async {
        while emu.status() != bill_acceptor::DeviceStatus::Idling {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(idle.is_ok(), "validator not enabled: {:?}", emu.status());
    for rubles in [1000, 50, 5000] {
        emu.insert(rubles).unwrap();
        tokio::time::sleep(Duration::from_millis(1800)).await;
    }
    emu.insert_fake().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("cashcode-bv did not finish")
        .unwrap();
    let result: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert!(out.status.success(), "{result}");
    assert_eq!(result["identification"]["model"], "EMU-CCNET-RU01");
    let amounts: Vec<i64> = result["billTable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, vec![10, 50, 100, 500, 1000, 5000, 200, 2000]);
    assert_eq!(result["stacked"], serde_json::json!([1000, 50, 5000]));
    let cassette = emu.cassette();
    assert_eq!(cassette.values().sum::<u32>(), 3);
    assert_eq!(cassette.get(&100_000), Some(&1));
    assert_eq!(cassette.get(&5_000), Some(&1));
    assert_eq!(cassette.get(&500_000), Some(&1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node, `npm ci` in bill-acceptor/interop and LAMASSU_MACHINE_DIR"]
async fn an_independent_id003_host_reads_the_currency_table_and_stacks_on_our_emulator() {
    let lamassu = std::env::var("LAMASSU_MACHINE_DIR")
        .expect("LAMASSU_MACHINE_DIR must name a lamassu-machine checkout");
    let emu = Emulator::spawn_with(EmulatorConfig {
        protocol: Protocol::Id003,
        timing: Timing::default(),
        power_off: Duration::from_millis(500),
    })
    .unwrap();
    let mut child = node_script("lamassu-id003-host.js")
        .env("LAMASSU_MACHINE_DIR", lamassu)
        .arg(emu.device_path())
        .arg("12")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node must be installed");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let accepting = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(line)) = stderr.next_line().await {
            if line.contains("ACCEPTING") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        accepting,
        Ok(true),
        "the independent host never enabled the validator"
    );
    let idle = tokio::time::timeout(Duration::from_secs(5), async {
        while emu.status() != bill_acceptor::DeviceStatus::Idling {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(idle.is_ok(), "validator not enabled: {:?}", emu.status());
    // Keep the stderr pipe drained until the host exits.
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    // Its start-up commands (interrupt mode and the like) settle first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut refused = Vec::new();
    for rubles in [1000, 100] {
        if let Err(e) = emu.insert(rubles) {
            refused.push(format!("{rubles}: {e}"));
        }
        tokio::time::sleep(Duration::from_millis(3000)).await;
    }
    if let Err(e) = emu.insert_fake() {
        refused.push(format!("fake: {e}"));
    }
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the lamassu host did not finish")
        .unwrap();
    // lamassu's code logs to stdout too: the result is the last line.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("");
    let result: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(out.status.success(), "{result}");
    assert!(refused.is_empty(), "{refused:?}; host said {stdout}");
    let mut denominations: Vec<i64> = result["denominations"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .collect();
    denominations.sort();
    assert_eq!(denominations, vec![10, 50, 100, 200, 500, 1000, 2000, 5000]);
    assert_eq!(result["read"], serde_json::json!([1000, 100]));
    assert_eq!(result["valid"], 2, "VEND VALID seen and acknowledged twice");
    assert_eq!(result["rejected"], 1, "the fake was rejected");
    let cassette = emu.cassette();
    assert_eq!(cassette.get(&100_000), Some(&1));
    assert_eq!(cassette.get(&10_000), Some(&1));
    assert_eq!(cassette.values().sum::<u32>(), 2);
}
