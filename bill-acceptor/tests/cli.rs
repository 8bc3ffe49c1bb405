//! The `bill-acceptor emulate` command end to end: our driver on its linked pty, commands on stdin,
//! the cassette as a JSON status line.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use bill_acceptor::{spawn_driver, BillCommand, BillEvent, DriverConfig, Protocol};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test]
async fn emulate_takes_commands_on_stdin_and_reports_the_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("bv0");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bill-acceptor"))
        .args(["emulate", "--protocol", "ccnet", "--link"])
        .arg(&link)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // The banner says the pty is ready.
    let banner = tokio::time::timeout(Duration::from_secs(10), stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(banner.contains("emulating a ccnet validator"), "{banner}");
    assert!(link.exists());

    let mut acceptor = spawn_driver(DriverConfig::new(Protocol::Ccnet, &link))
        .await
        .unwrap();
    let mut credited = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while credited == 0 {
        let event = tokio::time::timeout_at(deadline, acceptor.next_event())
            .await
            .expect("no stacked bill in time")
            .unwrap();
        match event {
            BillEvent::Ready { bill_table, .. } => {
                let all: BTreeSet<i64> = bill_table
                    .bills
                    .iter()
                    .map(|b| b.denomination_kopecks)
                    .collect();
                acceptor.command(BillCommand::Enable(all)).await.unwrap();
                // Give the enable time to land, then the customer inserts a note.
                tokio::time::sleep(Duration::from_millis(700)).await;
                stdin.write_all(b"insert 500\n").await.unwrap();
            }
            BillEvent::Escrow { .. } => acceptor.command(BillCommand::Stack).await.unwrap(),
            BillEvent::Stacked {
                denomination_kopecks,
                token,
            } => {
                credited += denomination_kopecks.unwrap();
                acceptor.confirm(token).await.unwrap();
            }
            _ => {}
        }
    }
    assert_eq!(credited, 50_000);
    stdin.write_all(b"bogus\nstatus\n").await.unwrap();
    let line = tokio::time::timeout(Duration::from_secs(5), stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let status: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(status["cassette"], serde_json::json!({"500": 1}));
    assert_eq!(status["cassette_total_kopecks"], 50_000);
    let complaint = tokio::time::timeout(Duration::from_secs(5), stderr.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(complaint.contains("unknown command"), "{complaint}");
    // End of input ends the emulator and removes its link.
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(5), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert!(!link.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_identifies_enables_and_returns_bills_unless_told_to_stack() {
    for (stack, protocol) in [(false, "id003"), (true, "ccnet")] {
        let p = if protocol == "id003" {
            Protocol::Id003
        } else {
            Protocol::Ccnet
        };
        let emu = bill_acceptor::Emulator::spawn(p).unwrap();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bill-acceptor"));
        cmd.args(["probe", "--protocol", protocol, "--seconds", "6", "--port"])
            .arg(emu.device_path())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if stack {
            cmd.arg("--stack");
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            let name = event["event"].as_str().unwrap().to_string();
            if name == "ready" {
                assert_eq!(event["bill_table"]["bills"].as_array().unwrap().len(), 8);
                // Wait until the probe has enabled the validator, then insert a note.
                while emu.status() != bill_acceptor::DeviceStatus::Idling {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                emu.insert(100).unwrap();
            }
            seen.push(name);
        }
        assert!(child.wait().await.unwrap().success());
        assert!(seen.contains(&"escrow".to_string()), "{protocol}: {seen:?}");
        if stack {
            assert!(seen.contains(&"stacked".to_string()), "{seen:?}");
            assert_eq!(emu.cassette().get(&10_000), Some(&1));
        } else {
            assert!(seen.contains(&"returned".to_string()), "{seen:?}");
            assert!(emu.cassette().is_empty());
            assert_eq!(emu.returned_to_customer(), vec![10_000]);
        }
    }
}
