//! The `--sbp-config FILE` (TOML): which bank, its API, the merchant's credentials (the password
//! from a file or an environment variable, never from the config itself, never logged) and the
//! timings. Unknown keys are refused; every refusal names the key.
//!
//! ```toml
//! bank = "tbank"
//! api_url = "https://securepay.tinkoff.ru/v2/"
//! terminal_key = "1234567890DEMO"
//! password_file = "/etc/back-office/tbank-password"   # or: password_env = "TBANK_PASSWORD"
//! notification_url = "https://bo.example.ru/bank/tbank/notification"
//! qr_lifetime_secs = 300
//! ca_file = "/etc/back-office/bank-ca.pem"            # optional extra CA
//! timeout_ms = 10000
//! poll_ms = 2000
//! expiry_grace_secs = 30
//! unreachable_alert_secs = 300
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::service::SbpSettings;
use super::tbank::TbankConfig;
use crate::alerts::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbpConfig {
    pub bank: String,
    pub api_url: String,
    pub terminal_key: String,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub notification_url: Option<String>,
    #[serde(default = "default_lifetime")]
    pub qr_lifetime_secs: u64,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    #[serde(default = "default_grace")]
    pub expiry_grace_secs: u64,
    #[serde(default = "default_alert")]
    pub unreachable_alert_secs: u64,
}

fn default_lifetime() -> u64 {
    300
}
fn default_timeout() -> u64 {
    10_000
}
fn default_poll() -> u64 {
    2_000
}
fn default_grace() -> u64 {
    30
}
fn default_alert() -> u64 {
    300
}

#[derive(Debug, thiserror::Error)]
pub enum SbpConfigError {
    #[error("СБП config {path}: {message}")]
    Bad { path: String, message: String },
}

fn is_http_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && u.len() > "https://x".len()
}

impl SbpConfig {
    /// Reads and checks the file; the settings ready to use (the password read).
    pub fn load(path: &Path) -> Result<SbpSettings, SbpConfigError> {
        let bad = |message: String| SbpConfigError::Bad {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let c: SbpConfig = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
        c.settings(&|name| std::env::var(name).ok()).map_err(bad)
    }

    /// The settings; `env` gives environment variables (a test passes its own).
    pub fn settings(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<SbpSettings, String> {
        if self.bank != "tbank" {
            return Err(format!(
                "bank = {:?}: the only bank adapter is \"tbank\"",
                self.bank
            ));
        }
        if !is_http_url(&self.api_url) {
            return Err(format!(
                "api_url = {:?} is not an http(s) URL",
                self.api_url
            ));
        }
        if self.terminal_key.trim().is_empty() {
            return Err("terminal_key is empty".into());
        }
        let password = match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => {
                return Err("password_file and password_env: give one of them".into())
            }
            (None, None) => return Err("password_file or password_env is required".into()),
            (Some(f), None) => std::fs::read_to_string(f)
                .map_err(|e| format!("password_file {}: {e}", f.display()))?
                .trim()
                .to_string(),
            (None, Some(v)) => env(v)
                .ok_or_else(|| format!("password_env: the variable {v} is not set"))?
                .trim()
                .to_string(),
        };
        if password.is_empty() {
            return Err("the password (password_file / password_env) is empty".into());
        }
        if let Some(u) = &self.notification_url {
            if !is_http_url(u) {
                return Err(format!("notification_url = {u:?} is not an http(s) URL"));
            }
        }
        if !(10..=86_400).contains(&self.qr_lifetime_secs) {
            return Err("qr_lifetime_secs must be 10–86400".into());
        }
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err("timeout_ms must be 100–120000".into());
        }
        if !(100..=600_000).contains(&self.poll_ms) {
            return Err("poll_ms must be 100–600000".into());
        }
        let ca_pem = match &self.ca_file {
            Some(f) => Some(std::fs::read(f).map_err(|e| format!("ca_file {}: {e}", f.display()))?),
            None => None,
        };
        Ok(SbpSettings {
            tbank: TbankConfig {
                api_url: self.api_url.clone(),
                terminal_key: self.terminal_key.clone(),
                password: Secret::new(password),
                notification_url: self.notification_url.clone(),
                ca_pem,
                timeout: Duration::from_millis(self.timeout_ms),
            },
            qr_lifetime: Duration::from_secs(self.qr_lifetime_secs),
            poll_interval: Duration::from_millis(self.poll_ms),
            stale_after: Duration::from_millis(self.poll_ms),
            expiry_grace: Duration::from_secs(self.expiry_grace_secs),
            unreachable_alert_after: Duration::from_secs(self.unreachable_alert_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SbpSettings, String> {
        let c: SbpConfig = toml::from_str(text).map_err(|e| e.message().to_string())?;
        c.settings(&|v| (v == "PW").then(|| "secret".to_string()))
    }

    #[test]
    fn broken_configs_name_the_key() {
        let base =
            "bank = \"tbank\"\napi_url = \"https://bank.example/v2/\"\nterminal_key = \"K\"\n";
        let ok = parse(&format!("{base}password_env = \"PW\"\n")).unwrap();
        assert_eq!(ok.tbank.password.expose(), "secret");
        assert!(!format!("{ok:?}").contains("secret"));
        for (text, key) in [
            (base.to_string(), "password_file"),
            (format!("{base}password_env = \"NOPE\"\n"), "NOPE"),
            (
                format!("{base}password_env = \"PW\"\nqr_lifetime = 5\n"),
                "qr_lifetime",
            ),
            (
                base.replace("tbank", "sber") + "password_env = \"PW\"\n",
                "bank",
            ),
            (
                base.replace("https://bank.example/v2/", "ftp://x") + "password_env = \"PW\"\n",
                "api_url",
            ),
            (
                "bank = \"tbank\"\napi_url = \"https://b.example/\"\npassword_env = \"PW\"\n"
                    .to_string(),
                "terminal_key",
            ),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(key), "{e} should name {key}");
        }
    }
}
