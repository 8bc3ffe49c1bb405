//! GPIO relays and sensors on simulated pins, Prometheus exposition and its localhost server,
//! and the watchdog's liveness gate.

use std::collections::BTreeMap;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use terminal::gpio::{Debouncer, GpioBank, GpioConfig, Level, Relay, Sensor, SimPin};
use terminal::health::calendar::CalendarConfig;
use terminal::health::monitor::{AlertConfig, Device, DeviceCondition, FaultKind, HealthMonitor};
use terminal::health::WorkingCalendar;
use terminal::metrics::{self, MetricsSnapshot};
use terminal::watchdog::{Liveness, Notification, Notifier, Tick, WatchdogCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_power_cycle_drives_the_relay_off_then_on() {
    // Relay wired so that a high level cuts the power.
    let pin = SimPin::new(false);
    let mut relay = Relay::new(pin.clone(), Level::High);
    relay
        .power_cycle(StdDuration::from_millis(5))
        .await
        .unwrap();
    assert_eq!(pin.history(), vec![true, false]);
    assert!(!pin.level(), "powered again");

    let low = SimPin::new(true);
    let mut relay = Relay::new(low.clone(), Level::Low);
    relay.power_off().unwrap();
    assert!(!low.level());
    relay.power_on().unwrap();
    assert!(low.level());
}

#[test]
fn a_broken_line_is_an_error_not_a_panic() {
    let pin = SimPin::new(false);
    pin.set_failing(true);
    let mut relay = Relay::new(pin.clone(), Level::High);
    assert!(relay.power_off().is_err());
    let mut sensor = Sensor::new(pin, Level::Low);
    assert!(sensor.is_active().is_err());
}

#[test]
fn sensors_honour_their_active_level_and_the_bank_finds_them_by_name() {
    let door = SimPin::new(true);
    let cassette = SimPin::new(false);
    let relay = SimPin::new(false);
    let mut bank = GpioBank::new();
    bank.add_sensor("cabinet_door_open", Sensor::new(door.clone(), Level::Low));
    bank.add_sensor(
        "cassette_present",
        Sensor::new(cassette.clone(), Level::Low),
    );
    bank.add_relay("bill_validator", Relay::new(relay.clone(), Level::High));
    assert!(!bank.sensor_active("cabinet_door_open").unwrap());
    door.set_level(false);
    assert!(bank.sensor_active("cabinet_door_open").unwrap());
    assert!(bank.sensor_active("cassette_present").unwrap());
    assert!(bank.sensor_active("cash_box_present").is_err());
    assert!(bank.relay("printer").is_err());
    bank.relay("bill_validator").unwrap().power_off().unwrap();
    assert!(relay.level());
    bank.power_all_on().unwrap();
    assert!(!relay.level());
    assert_eq!(bank.read_sensors().len(), 2);
}

#[test]
fn the_gpio_config_reads_from_toml() {
    let cfg: GpioConfig = toml::from_str(
        r#"
        [relays]
        bill_validator = { line = 17 }
        printer = { line = 22, power_off_level = "low" }
        [sensors]
        cabinet_door_open = { line = 5, active_level = "low" }
        "#,
    )
    .unwrap();
    assert_eq!(cfg.chip.to_str(), Some("/dev/gpiochip0"));
    assert_eq!(cfg.relays["bill_validator"].power_off_level, Level::High);
    assert_eq!(cfg.relays["printer"].power_off_level, Level::Low);
    assert_eq!(cfg.sensors["cabinet_door_open"].line, 5);
    assert!(toml::from_str::<GpioConfig>("[relays]\nx = { line = 1, level = \"up\" }").is_err());
}

#[test]
fn opening_a_missing_gpio_chip_is_a_clear_error() {
    let cfg = GpioConfig {
        chip: "/nonexistent/gpiochip9".into(),
        relays: BTreeMap::new(),
        sensors: BTreeMap::new(),
    };
    let err = GpioBank::open_cdev(&cfg).err().expect("no such chip");
    assert!(err.to_string().contains("/nonexistent/gpiochip9"), "{err}");
}

#[test]
fn a_bouncing_door_switch_settles() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 4, 7, 0, 0).unwrap();
    let ms = |n: i64| t0 + Duration::milliseconds(n);
    let mut d = Debouncer::new(Duration::milliseconds(50));
    assert_eq!(d.sample(false, ms(0)), None);
    assert_eq!(d.sample(false, ms(60)), Some(false));
    // Contact bounce when the door opens.
    assert_eq!(d.sample(true, ms(100)), None);
    assert_eq!(d.sample(false, ms(110)), None);
    assert_eq!(d.sample(true, ms(120)), None);
    assert_eq!(d.sample(true, ms(160)), None);
    assert_eq!(d.sample(true, ms(170)), Some(true));
    assert_eq!(d.sample(true, ms(500)), None);
    assert_eq!(d.stable(), Some(true));
}

fn snapshot() -> MetricsSnapshot {
    let cfg: CalendarConfig = toml::from_str(
        r#"time_zone = "Europe/Moscow"
           [week]
           wed = { open = "08:00", close = "20:00" }"#,
    )
    .unwrap();
    let mut m = HealthMonitor::new(
        "T-1",
        AlertConfig::default(),
        WorkingCalendar::new(cfg).unwrap(),
    );
    let t = Utc.with_ymd_and_hms(2026, 3, 4, 7, 0, 0).unwrap(); // 10:00 Moscow, a Wednesday
    m.handle_device(
        Device::FiscalModule,
        DeviceCondition::Down {
            kind: FaultKind::Communication,
            detail: "timeout".into(),
        },
        t,
    );
    m.handle_device(
        Device::Printer,
        DeviceCondition::Warning {
            detail: "paper near end".into(),
        },
        t,
    );
    let mut s = MetricsSnapshot {
        sync_queue_length: 12,
        sync_lag_seconds: 42.5,
        cassette_bills: [(100, 3), (1000, 2), (5000, 1)].into_iter().collect(),
        printer_paper_near_end: true,
        ..MetricsSnapshot::default()
    };
    s.update_from_monitor(&m, t + Duration::minutes(17));
    s
}

#[test]
fn the_exposition_follows_the_text_format() {
    let text = snapshot().render();
    for line in [
        "# TYPE kiosk_device_up gauge",
        "kiosk_device_up{device=\"bill_validator\"} 1",
        "kiosk_device_up{device=\"fiscal_module\"} 0",
        "kiosk_device_warning{device=\"printer\"} 1",
        "kiosk_service_state{state=\"out_of_service\"} 1",
        "kiosk_service_state{state=\"in_service\"} 0",
        "kiosk_outage_working_minutes 17",
        "# TYPE kiosk_outages_total counter",
        "kiosk_outages_total 1",
        "kiosk_sync_queue_length 12",
        "kiosk_sync_lag_seconds 42.5",
        "kiosk_cassette_bills{denomination=\"1000\"} 2",
        "kiosk_cassette_amount_roubles 7300",
        "kiosk_printer_paper_near_end 1",
        "kiosk_printer_paper_out 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    // Every sample line is `name{labels} value` with a known family.
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = l.rsplit_once(' ').unwrap();
        assert!(name.starts_with("kiosk_"), "{l}");
        assert!(value.parse::<f64>().is_ok(), "{l}");
    }
}

#[test]
fn label_values_are_escaped() {
    let mut s = MetricsSnapshot::default();
    s.devices
        .insert("odd\"name\\\n".into(), DeviceCondition::Up);
    let text = s.render();
    assert!(
        text.contains(r#"kiosk_device_up{device="odd\"name\\\n"} 1"#),
        "{text}"
    );
}

#[tokio::test]
async fn the_server_serves_metrics_on_loopback_only() {
    let public: std::net::SocketAddr = "0.0.0.0:9100".parse().unwrap();
    assert!(metrics::bind(public).await.is_err());

    let listener = metrics::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(snapshot());
    let server = tokio::spawn(metrics::serve(listener, rx));

    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        resp
    };
    let resp = get("/metrics").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("text/plain; version=0.0.4"), "{resp}");
    assert!(resp.contains("kiosk_sync_queue_length 12"));

    tx.send_modify(|s| s.sync_queue_length = 0);
    assert!(get("/metrics").await.contains("kiosk_sync_queue_length 0"));
    assert!(get("/other").await.starts_with("HTTP/1.1 404"));
    server.abort();
}

#[derive(Default)]
struct Recorder(Vec<Notification>);

impl Notifier for Recorder {
    fn notify(&mut self, n: &Notification) -> std::io::Result<()> {
        self.0.push(n.clone());
        Ok(())
    }
}

#[test]
fn the_watchdog_is_fed_only_while_every_task_beats() {
    let live = Liveness::new();
    let t0 = Instant::now();
    let s = StdDuration::from_secs;
    let session = live.register("session_core", s(10), t0);
    let validator = live.register("bill_validator", s(10), t0);
    let core = WatchdogCore::new(live.clone());
    assert_eq!(core.tick(t0 + s(5)), Tick::Feed);

    session.beat_at(t0 + s(8));
    validator.beat_at(t0 + s(8));
    assert_eq!(core.tick(t0 + s(15)), Tick::Feed);

    // The validator task hangs.
    session.beat_at(t0 + s(16));
    assert_eq!(
        core.tick(t0 + s(19)),
        Tick::Withhold {
            stale: vec!["bill_validator".into()]
        }
    );
    let mut rec = Recorder::default();
    for n in core.notifications(t0 + s(19)) {
        rec.notify(&n).unwrap();
    }
    assert!(!rec.0.contains(&Notification::Watchdog));

    // It comes back; then the session task ends (its heartbeat dropped): dead, not forgotten.
    validator.beat_at(t0 + s(20));
    assert_eq!(core.tick(t0 + s(21)), Tick::Feed);
    drop(session);
    assert_eq!(
        core.tick(t0 + s(21)),
        Tick::Withhold {
            stale: vec!["session_core".into()]
        }
    );
    // Re-registering the restarted task revives it, and the old handle cannot kill the new one.
    let old = live.register("bill_validator", s(10), t0 + s(22));
    let _session = live.register("session_core", s(10), t0 + s(22));
    let _validator = live.register("bill_validator", s(10), t0 + s(22));
    drop(old);
    assert_eq!(core.tick(t0 + s(23)), Tick::Feed);
    // A deliberate deregistration removes a task.
    live.deregister("bill_validator");
    assert_eq!(core.tick(t0 + s(29)), Tick::Feed);
}
