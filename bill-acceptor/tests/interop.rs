//! Interoperability with an independent CCNET host implementation: the `cashcode-bv` npm package
//! drives our emulator over a pty, and its command frames are compared with our encoder's.
//!
//! Needs Node.js and the packages in `interop/package.json`:
//! ```sh
//! (cd bill-acceptor/interop && npm ci)
//! cargo test -p bill-acceptor --test interop -- --ignored
//! ```
//! It fails (never skips) when node or the packages are missing.

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
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/cashcode-bv").is_dir(),
        "cashcode-bv is not installed: run `npm ci` in {}",
        dir.display()
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("cashcode-bv-host.js"))
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
