//! The cabinet's sensors (door, cassette, cash box) on GPIO input lines: each settled change is
//! journaled as the sensor's state, so the back office sees a door opened at night.

use std::time::Duration;

use backend_sync::JournalEvent;
use chrono::Utc;
use embedded_hal::digital::{InputPin, OutputPin};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::gpio::{Debouncer, GpioBank};
use crate::runtime::CoreEvent;

/// How often the sensors are sampled, and how long a new level must hold to count.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
const SETTLE: chrono::Duration = chrono::Duration::milliseconds(300);

/// The journal entry for a sensor's settled level.
pub fn sensor_event(name: &str, active: bool) -> JournalEvent {
    JournalEvent::DeviceStateChanged {
        device: name.to_owned(),
        state: if active { "active" } else { "inactive" }.to_owned(),
        detail: "cabinet sensor".to_owned(),
    }
}

/// Samples every sensor of `bank` until the core is gone; inside a tokio runtime.
pub fn spawn<P>(mut bank: GpioBank<P>, core: mpsc::Sender<CoreEvent>)
where
    P: OutputPin + InputPin + Send + 'static,
{
    tokio::spawn(async move {
        let mut debouncers: std::collections::BTreeMap<String, Debouncer> = Default::default();
        let mut failing = false;
        loop {
            for (name, reading) in bank.read_sensors() {
                match reading {
                    Ok(active) => {
                        let debouncer = debouncers
                            .entry(name.clone())
                            .or_insert_with(|| Debouncer::new(SETTLE));
                        if let Some(settled) = debouncer.sample(active, Utc::now()) {
                            info!(sensor = %name, active = settled, "cabinet sensor changed");
                            let event = CoreEvent::Record(sensor_event(&name, settled));
                            if core.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) if !failing => {
                        failing = true;
                        warn!(sensor = %name, error = %e, "cabinet sensor unreadable");
                    }
                    Err(_) => {}
                }
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpio::{Level, Sensor, SimPin};

    #[tokio::test]
    async fn a_settled_door_opening_is_journaled_once_and_a_bounce_is_not() {
        let door = SimPin::new(false);
        let mut bank = GpioBank::new();
        bank.add_sensor("cabinet_door_open", Sensor::new(door.clone(), Level::High));
        let (tx, mut rx) = mpsc::channel(8);
        spawn(bank, tx);
        // The first settled level is reported (closed).
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert!(
            matches!(first, Some(CoreEvent::Record(e)) if e == sensor_event("cabinet_door_open", false))
        );
        // A 50 ms bounce does not count.
        door.set_level(true);
        tokio::time::sleep(Duration::from_millis(50)).await;
        door.set_level(false);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert!(rx.try_recv().is_err(), "a bounce is not a door opening");
        // Held open, it is.
        door.set_level(true);
        let opened = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert!(
            matches!(opened, Some(CoreEvent::Record(e)) if e == sensor_event("cabinet_door_open", true))
        );
    }
}
