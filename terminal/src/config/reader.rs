//! Walks a TOML table, collecting every problem with its dotted key instead of stopping at the first.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::checks::check_port;
use super::ConfigError;

/// A table being read, with its dotted path for messages.
pub(super) struct Section<'a> {
    pub(super) path: String,
    pub(super) table: &'a Table,
}

impl<'a> Section<'a> {
    pub(super) fn key(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub(super) fn err(&self, errors: &mut Vec<ConfigError>, key: &str, reason: impl Into<String>) {
        errors.push(ConfigError::key(self.key(key), reason));
    }

    /// Reports keys not in `known`.
    pub(super) fn deny_unknown(&self, known: &[&str], errors: &mut Vec<ConfigError>) {
        for key in self.table.keys() {
            if !known.contains(&key.as_str()) {
                self.err(
                    errors,
                    key,
                    format!("unknown key (expected one of: {})", known.join(", ")),
                );
            }
        }
    }

    pub(super) fn required(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<&'a Value> {
        let value = self.table.get(key);
        if value.is_none() {
            self.err(errors, key, "missing (required)");
        }
        value
    }

    pub(super) fn table(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<Section<'a>> {
        let value = self.required(key, errors)?;
        self.as_table(key, value, errors)
    }

    pub(super) fn optional_table(
        &self,
        key: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Section<'a>> {
        let value = self.table.get(key)?;
        self.as_table(key, value, errors)
    }

    /// An optional sub-table: `Some(None)` when absent, `None` when present but broken (the
    /// errors are recorded).
    pub(super) fn optional_section<T>(
        &self,
        key: &str,
        errors: &mut Vec<ConfigError>,
        parse: impl FnOnce(&Section<'a>, &mut Vec<ConfigError>) -> Option<T>,
    ) -> Option<Option<T>> {
        if !self.table.contains_key(key) {
            return Some(None);
        }
        let section = self.optional_table(key, errors)?;
        parse(&section, errors).map(Some)
    }

    pub(super) fn as_table(
        &self,
        key: &str,
        value: &'a Value,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Section<'a>> {
        match value {
            Value::Table(table) => Some(Section {
                path: self.key(key),
                table,
            }),
            other => {
                self.err(
                    errors,
                    key,
                    format!("expected a table, got {}", kind(other)),
                );
                None
            }
        }
    }

    pub(super) fn string(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<&'a str> {
        let value = self.required(key, errors)?;
        self.as_str(key, value, errors)
    }

    pub(super) fn optional_string(
        &self,
        key: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<&'a str> {
        let value = self.table.get(key)?;
        self.as_str(key, value, errors)
    }

    pub(super) fn as_str(
        &self,
        key: &str,
        value: &'a Value,
        errors: &mut Vec<ConfigError>,
    ) -> Option<&'a str> {
        match value {
            Value::String(s) => Some(s.as_str()),
            other => {
                self.err(
                    errors,
                    key,
                    format!("expected a string, got {}", kind(other)),
                );
                None
            }
        }
    }

    /// A required non-empty string.
    pub(super) fn text(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<String> {
        let s = self.string(key, errors)?.trim();
        if s.is_empty() {
            self.err(errors, key, "must not be empty");
            return None;
        }
        Some(s.to_string())
    }

    pub(super) fn integer(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<i64> {
        match self.required(key, errors)? {
            Value::Integer(i) => Some(*i),
            other => {
                self.err(
                    errors,
                    key,
                    format!("expected an integer, got {}", kind(other)),
                );
                None
            }
        }
    }

    /// A required integer within `range`.
    pub(super) fn integer_in(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<i64> {
        let i = self.integer(key, errors)?;
        if !range.contains(&i) {
            self.err(
                errors,
                key,
                format!(
                    "must be between {} and {}, got {i}",
                    range.start(),
                    range.end()
                ),
            );
            return None;
        }
        Some(i)
    }

    /// A required `true` or `false`.
    pub(super) fn boolean(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<bool> {
        match self.required(key, errors)? {
            Value::Boolean(b) => Some(*b),
            _ => {
                self.err(errors, key, "expected true or false");
                None
            }
        }
    }

    /// A required string made a value by `parse`, whose error is the reason given for the key.
    pub(super) fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let s = self.string(key, errors)?;
        parse(s)
            .map_err(|reason| self.err(errors, key, reason))
            .ok()
    }

    /// An optional key: what `read` makes of it when the file gives it, else `default`.
    pub(super) fn or_default<T>(
        &self,
        key: &str,
        default: T,
        read: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        if self.table.contains_key(key) {
            read()
        } else {
            Some(default)
        }
    }

    /// A required string that must be one of `choices`.
    pub(super) fn choice<T: Copy>(
        &self,
        key: &str,
        choices: &[(&str, T)],
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let s = self.string(key, errors)?;
        self.pick(key, s, choices, errors)
    }

    pub(super) fn pick<T: Copy>(
        &self,
        key: &str,
        s: &str,
        choices: &[(&str, T)],
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        if let Some((_, value)) = choices.iter().find(|(name, _)| *name == s) {
            return Some(*value);
        }
        let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let expected = match names.as_slice() {
            [one] => one.clone(),
            [init @ .., last] => format!("{} or {last}", init.join(", ")),
            [] => String::new(),
        };
        self.err(errors, key, format!("expected {expected}, got \"{s}\""));
        None
    }

    pub(super) fn path(
        &self,
        key: &str,
        base_dir: &Path,
        errors: &mut Vec<ConfigError>,
    ) -> Option<PathBuf> {
        let s = self.text(key, errors)?;
        Some(resolve(base_dir, &s))
    }

    /// A serial port: an absolute device path.
    pub(super) fn port(&self, key: &str, errors: &mut Vec<ConfigError>) -> Option<PathBuf> {
        let s = self.text(key, errors)?;
        match check_port(&s) {
            Ok(()) => Some(PathBuf::from(s)),
            Err(reason) => {
                self.err(errors, key, reason);
                None
            }
        }
    }

    /// Runs `check` on a parsed value and reports its complaint under `key`.
    pub(super) fn checked<T>(
        &self,
        key: &str,
        value: Option<T>,
        check: impl FnOnce(&T) -> Result<(), String>,
        errors: &mut Vec<ConfigError>,
    ) -> Option<T> {
        let value = value?;
        match check(&value) {
            Ok(()) => Some(value),
            Err(reason) => {
                self.err(errors, key, reason);
                None
            }
        }
    }
}

pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

fn resolve(base_dir: &Path, s: &str) -> PathBuf {
    let path = Path::new(s);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}
