//! Cabinet I/O: power relays of the devices (output pins) and the cabinet's sensors (input pins:
//! door, cassette, cash box), over `embedded-hal` 1.0 digital traits.
//!
//! Real boards use Linux GPIO character-device lines through `linux-embedded-hal`'s
//! [`CdevPin`] ([`GpioBank::open_cdev`]); tests and `--simulate` use [`SimPin`], whose clones
//! share one level so a test can flip a sensor or watch a relay.
//!
//! Configuration (the `[gpio]` section):
//!
//! ```toml
//! chip = "/dev/gpiochip0"
//! [relays]                      # device name → line; `power_off_level` is the level that cuts power
//! bill_validator = { line = 17, power_off_level = "high" }
//! card_reader    = { line = 27, power_off_level = "high" }
//! printer        = { line = 22, power_off_level = "low" }
//! [sensors]                     # sensor name → line; `active_level` is the level meaning "yes"
//! cabinet_door_open = { line = 5, active_level = "low" }
//! cassette_present  = { line = 6, active_level = "low" }
//! cash_box_present  = { line = 13, active_level = "low" }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use embedded_hal::digital::{ErrorType, InputPin, OutputPin, PinState, StatefulOutputPin};
use linux_embedded_hal::gpio_cdev::{Chip, LineRequestFlags};
use linux_embedded_hal::CdevPin;
use serde::{Deserialize, Serialize};

/// A logic level in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    High,
    Low,
}

impl Level {
    fn pin_state(self) -> PinState {
        match self {
            Level::High => PinState::High,
            Level::Low => PinState::Low,
        }
    }
}

fn default_high() -> Level {
    Level::High
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayLine {
    pub line: u32,
    #[serde(default = "default_high")]
    pub power_off_level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorLine {
    pub line: u32,
    #[serde(default = "default_high")]
    pub active_level: Level,
}

fn default_chip() -> PathBuf {
    PathBuf::from("/dev/gpiochip0")
}

/// The `[gpio]` configuration section (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioConfig {
    #[serde(default = "default_chip")]
    pub chip: PathBuf,
    #[serde(default)]
    pub relays: BTreeMap<String, RelayLine>,
    #[serde(default)]
    pub sensors: BTreeMap<String, SensorLine>,
}

#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    #[error("GPIO pin: {0}")]
    Pin(String),
    #[error("opening GPIO chip {chip}: {detail}")]
    Chip { chip: PathBuf, detail: String },
    #[error("requesting GPIO line {line} for {name}: {detail}")]
    Line {
        name: String,
        line: u32,
        detail: String,
    },
    #[error("no relay configured for {0}")]
    NoRelay(String),
    #[error("no sensor configured for {0}")]
    NoSensor(String),
}

fn pin_err(e: impl embedded_hal::digital::Error) -> GpioError {
    GpioError::Pin(format!("{:?}", e.kind()))
}

/// A relay that switches one device's power.
#[derive(Debug)]
pub struct Relay<P> {
    pin: P,
    power_off_level: Level,
}

impl<P: OutputPin> Relay<P> {
    pub fn new(pin: P, power_off_level: Level) -> Self {
        Relay {
            pin,
            power_off_level,
        }
    }

    pub fn power_off(&mut self) -> Result<(), GpioError> {
        self.pin
            .set_state(self.power_off_level.pin_state())
            .map_err(pin_err)
    }

    pub fn power_on(&mut self) -> Result<(), GpioError> {
        self.pin
            .set_state(!self.power_off_level.pin_state())
            .map_err(pin_err)
    }

    /// Cuts the power for `off_for`, then restores it. Not cancellation-safe: dropping the future
    /// during the pause leaves the device unpowered, so run it to completion (and call
    /// [`Relay::power_on`] at start-up, which [`GpioBank::power_all_on`] does).
    pub async fn power_cycle(&mut self, off_for: std::time::Duration) -> Result<(), GpioError> {
        self.power_off()?;
        tokio::time::sleep(off_for).await;
        self.power_on()
    }

    pub fn into_pin(self) -> P {
        self.pin
    }
}

/// A two-state sensor (door open, cassette present...).
#[derive(Debug)]
pub struct Sensor<P> {
    pin: P,
    active_level: Level,
}

impl<P: InputPin> Sensor<P> {
    pub fn new(pin: P, active_level: Level) -> Self {
        Sensor { pin, active_level }
    }

    /// True when the sensor says "yes" (door open, cassette present...).
    pub fn is_active(&mut self) -> Result<bool, GpioError> {
        let high = self.pin.is_high().map_err(pin_err)?;
        Ok(high == (self.active_level == Level::High))
    }
}

/// Debounces a sensor sampled at intervals: a new reading counts only once it has held for
/// `settle`. Sans-IO: the caller samples and passes the time.
#[derive(Debug, Clone)]
pub struct Debouncer {
    settle: Duration,
    stable: Option<bool>,
    candidate: Option<(bool, DateTime<Utc>)>,
}

impl Debouncer {
    pub fn new(settle: Duration) -> Self {
        Debouncer {
            settle,
            stable: None,
            candidate: None,
        }
    }

    /// The settled value, once there is one.
    pub fn stable(&self) -> Option<bool> {
        self.stable
    }

    /// Feeds a sample; returns the new settled value when it changes.
    pub fn sample(&mut self, value: bool, now: DateTime<Utc>) -> Option<bool> {
        if self.stable == Some(value) {
            self.candidate = None;
            return None;
        }
        match self.candidate {
            Some((v, since)) if v == value => {
                if now - since >= self.settle {
                    self.stable = Some(value);
                    self.candidate = None;
                    return Some(value);
                }
            }
            _ => self.candidate = Some((value, now)),
        }
        None
    }
}

/// The cabinet's relays and sensors, by configured name.
#[derive(Debug)]
pub struct GpioBank<P> {
    relays: BTreeMap<String, Relay<P>>,
    sensors: BTreeMap<String, Sensor<P>>,
}

impl<P: OutputPin + InputPin> GpioBank<P> {
    pub fn new() -> Self {
        GpioBank {
            relays: BTreeMap::new(),
            sensors: BTreeMap::new(),
        }
    }

    pub fn add_relay(&mut self, name: impl Into<String>, relay: Relay<P>) {
        self.relays.insert(name.into(), relay);
    }

    pub fn add_sensor(&mut self, name: impl Into<String>, sensor: Sensor<P>) {
        self.sensors.insert(name.into(), sensor);
    }

    pub fn has_relay(&self, name: &str) -> bool {
        self.relays.contains_key(name)
    }

    pub fn relay(&mut self, name: &str) -> Result<&mut Relay<P>, GpioError> {
        self.relays
            .get_mut(name)
            .ok_or_else(|| GpioError::NoRelay(name.to_owned()))
    }

    pub fn sensor_active(&mut self, name: &str) -> Result<bool, GpioError> {
        self.sensors
            .get_mut(name)
            .ok_or_else(|| GpioError::NoSensor(name.to_owned()))?
            .is_active()
    }

    /// Reads every sensor, by name.
    pub fn read_sensors(&mut self) -> BTreeMap<String, Result<bool, GpioError>> {
        self.sensors
            .iter_mut()
            .map(|(n, s)| (n.clone(), s.is_active()))
            .collect()
    }

    /// Powers every relay's device on (the state at start).
    pub fn power_all_on(&mut self) -> Result<(), GpioError> {
        self.relays.values_mut().try_for_each(Relay::power_on)
    }
}

impl<P: OutputPin + InputPin> Default for GpioBank<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl GpioBank<CdevPin> {
    /// Requests the configured lines from the GPIO character device. Relays start with power on.
    pub fn open_cdev(config: &GpioConfig) -> Result<Self, GpioError> {
        let mut chip = Chip::new(&config.chip).map_err(|e| GpioError::Chip {
            chip: config.chip.clone(),
            detail: e.to_string(),
        })?;
        let mut bank = GpioBank::new();
        let line_err = |name: &str, line: u32| {
            let name = name.to_owned();
            move |e: linux_embedded_hal::gpio_cdev::Error| GpioError::Line {
                name,
                line,
                detail: e.to_string(),
            }
        };
        for (name, r) in &config.relays {
            let on = match r.power_off_level {
                Level::High => 0,
                Level::Low => 1,
            };
            let handle = chip
                .get_line(r.line)
                .and_then(|l| l.request(LineRequestFlags::OUTPUT, on, "kiosk-relay"))
                .map_err(line_err(name, r.line))?;
            let pin = CdevPin::new(handle).map_err(line_err(name, r.line))?;
            bank.add_relay(name.clone(), Relay::new(pin, r.power_off_level));
        }
        for (name, s) in &config.sensors {
            let handle = chip
                .get_line(s.line)
                .and_then(|l| l.request(LineRequestFlags::INPUT, 0, "kiosk-sensor"))
                .map_err(line_err(name, s.line))?;
            let pin = CdevPin::new(handle).map_err(line_err(name, s.line))?;
            bank.add_sensor(name.clone(), Sensor::new(pin, s.active_level));
        }
        Ok(bank)
    }
}

/// A simulated pin. Clones share the level, and every level driven is recorded.
#[derive(Debug, Clone, Default)]
pub struct SimPin {
    inner: Arc<Mutex<SimPinState>>,
}

#[derive(Debug, Default)]
struct SimPinState {
    high: bool,
    history: Vec<bool>,
    fail: bool,
}

/// The error a [`SimPin`] gives when told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimPinError;

impl embedded_hal::digital::Error for SimPinError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

impl SimPin {
    pub fn new(high: bool) -> Self {
        let pin = SimPin::default();
        pin.with(|s| s.high = high);
        pin
    }

    fn with<T>(&self, f: impl FnOnce(&mut SimPinState) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Sets the level from outside (a sensor changing).
    pub fn set_level(&self, high: bool) {
        self.with(|s| s.high = high);
    }

    pub fn level(&self) -> bool {
        self.with(|s| s.high)
    }

    /// Every level driven through `OutputPin`, in order.
    pub fn history(&self) -> Vec<bool> {
        self.with(|s| s.history.clone())
    }

    /// Makes every later access fail (a broken line).
    pub fn set_failing(&self, fail: bool) {
        self.with(|s| s.fail = fail);
    }

    fn drive(&self, high: bool) -> Result<(), SimPinError> {
        self.with(|s| {
            if s.fail {
                return Err(SimPinError);
            }
            s.high = high;
            s.history.push(high);
            Ok(())
        })
    }

    fn read(&self) -> Result<bool, SimPinError> {
        self.with(|s| if s.fail { Err(SimPinError) } else { Ok(s.high) })
    }
}

impl ErrorType for SimPin {
    type Error = SimPinError;
}

impl OutputPin for SimPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.drive(false)
    }
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.drive(true)
    }
}

impl StatefulOutputPin for SimPin {
    fn is_set_high(&mut self) -> Result<bool, Self::Error> {
        self.read()
    }
    fn is_set_low(&mut self) -> Result<bool, Self::Error> {
        self.read().map(|h| !h)
    }
}

impl InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        self.read()
    }
    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.read().map(|h| !h)
    }
}
