//! `terminal enrol`: a new kiosk redeems the one-time code `back-office terminal enrol` printed
//! and writes what it got: the key file (mode 0640, the group of its directory — `kiosk` under
//! `/etc/kiosk`) and, in the config, `[terminal] id` and `timezone`, `[back_office] url` and
//! `key_file` (and `ca_file` for a back office behind a private CA), every comment and other
//! setting kept.
//!
//! A code works once, so nothing that can fail locally is left for after it is spent: the
//! config is read and both files' places are made before the request. The key is never printed
//! or logged.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use sync_client::SyncError;
use tempfile::NamedTempFile;
use toml_edit::{value, DocumentMut, Item, Table};

use backend_sync::wire::is_kiosk_terminal_id;

/// What to enrol with.
#[derive(Debug, Clone)]
pub struct EnrolRequest {
    /// The back office's base URL (`https://…`).
    pub back_office: String,
    pub code: String,
    /// The kiosk's config (it must exist: a copy of the example, devices filled in or not).
    pub config: PathBuf,
    /// Where the key goes; default: the config's `[back_office] key_file`, else `terminal.key`
    /// beside the config.
    pub key_file: Option<PathBuf>,
    /// The CA certificate(s) (PEM) of a back office no public CA signed; default: the config's
    /// `[back_office] ca_file`, if any. Set in the config for the kiosk's later requests.
    pub ca_file: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    pub terminal_id: String,
    pub time_zone: String,
    pub key_file: PathBuf,
}

/// Why enrolment failed. Each says whether the code was spent.
#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("{path}: {reason} (the code was not used)")]
    Config { path: PathBuf, reason: String },
    #[error("{path}: cannot write here: {reason} (the code was not used)")]
    NotWritable { path: PathBuf, reason: String },
    #[error("back office: {0}")]
    BackOffice(#[from] SyncError),
    #[error("the back office enrolled this kiosk as {0:?}, which a kiosk cannot use (1–16 characters A–Z, 0–9); the code is spent: issue one for a usable id")]
    BadTerminalId(String),
    #[error(
        "the back office answered an unusable key or time zone; the code is spent: issue a new one"
    )]
    BadAnswer,
    #[error("{path}: {reason}; the code is spent: issue a new one")]
    Write { path: PathBuf, reason: String },
}

/// Enrols this kiosk (blocks on the HTTPS request).
pub fn enrol(request: &EnrolRequest) -> Result<Enrolled, EnrolError> {
    sync_client::client::check_base_url(&request.back_office)?;
    let config_text = std::fs::read_to_string(&request.config).map_err(|e| EnrolError::Config {
        path: request.config.clone(),
        reason: format!("{e} (copy /etc/kiosk/kiosk.example.toml there first)"),
    })?;
    let mut doc: DocumentMut = config_text.parse().map_err(|e| EnrolError::Config {
        path: request.config.clone(),
        reason: format!("not TOML: {e}"),
    })?;
    let config_dir = parent_dir(&request.config);
    let key_file = match &request.key_file {
        Some(path) => path.clone(),
        None => configured_path(&doc, "key_file", &config_dir)
            .unwrap_or_else(|| config_dir.join("terminal.key")),
    };
    let ca_file = match &request.ca_file {
        Some(path) => Some(std::path::absolute(path).unwrap_or_else(|_| path.clone())),
        None => configured_path(&doc, "ca_file", &config_dir),
    };
    let ca_pem = match &ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|e| EnrolError::Config {
            path: path.clone(),
            reason: format!("the back office's CA certificate: {e}"),
        })?),
        None => None,
    };
    let key_tmp = place_for(&key_file)?;
    let config_tmp = place_for(&request.config)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EnrolError::BackOffice(SyncError::Network(e.to_string())))?;
    let reply = runtime.block_on(sync_client::client::enrol(
        &request.back_office,
        &request.code,
        ca_pem.as_deref(),
    ))?;
    if !is_kiosk_terminal_id(&reply.terminal_id) {
        return Err(EnrolError::BadTerminalId(reply.terminal_id));
    }
    if backend_sync::auth::decode_key(&reply.key_hex).is_err()
        || reply.time_zone.parse::<Tz>().is_err()
    {
        return Err(EnrolError::BadAnswer);
    }

    let group = std::fs::metadata(parent_dir(&key_file))
        .map(|m| m.gid())
        .ok();
    write_file(
        key_tmp,
        &key_file,
        &format!("{}\n", reply.key_hex),
        0o640,
        group,
    )?;
    set_identity(
        &mut doc,
        &reply.terminal_id,
        &reply.time_zone,
        &request.back_office,
        &key_file,
        ca_file.as_deref(),
    );
    let (mode, config_group) = std::fs::metadata(&request.config)
        .map(|m| (m.permissions().mode() & 0o777, Some(m.gid())))
        .unwrap_or((0o640, None));
    write_file(
        config_tmp,
        &request.config,
        &doc.to_string(),
        mode,
        config_group,
    )?;
    tracing::info!(terminal = %reply.terminal_id, "enrolled");
    Ok(Enrolled {
        terminal_id: reply.terminal_id,
        time_zone: reply.time_zone,
        key_file,
    })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A path the config's `[back_office]` names under `key`, relative paths taken from the
/// config's directory as the config reader does.
fn configured_path(doc: &DocumentMut, key: &str, config_dir: &Path) -> Option<PathBuf> {
    let path = doc.get("back_office")?.get(key)?.as_str()?;
    let path = Path::new(path);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    })
}

/// A temporary file beside `target`, so the final rename cannot fail across file systems and a
/// directory we cannot write is found before the code is spent.
fn place_for(target: &Path) -> Result<NamedTempFile, EnrolError> {
    let dir = parent_dir(target);
    tempfile::Builder::new()
        .prefix(".enrol-")
        .tempfile_in(&dir)
        .map_err(|e| EnrolError::NotWritable {
            path: dir,
            reason: e.to_string(),
        })
}

/// Fills `tmp`, gives it `mode` (and `group` when we may), syncs it and renames it over `target`.
fn write_file(
    mut tmp: NamedTempFile,
    target: &Path,
    text: &str,
    mode: u32,
    group: Option<u32>,
) -> Result<(), EnrolError> {
    let failed = |e: std::io::Error| EnrolError::Write {
        path: target.to_path_buf(),
        reason: e.to_string(),
    };
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(failed)?;
    if let Some(gid) = group {
        // Root can hand the file to the kiosk's group; anyone else keeps their own, which the
        // mode still restricts.
        let _ = std::os::unix::fs::fchown(tmp.as_file(), None, Some(gid));
    }
    tmp.write_all(text.as_bytes()).map_err(failed)?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(target).map_err(|e| failed(e.error))?;
    Ok(())
}

/// Sets the enrolled identity in the config (`ca_file` only when there is one), keeping
/// everything else as it was.
fn set_identity(
    doc: &mut DocumentMut,
    id: &str,
    time_zone: &str,
    url: &str,
    key_file: &Path,
    ca_file: Option<&Path>,
) {
    let terminal = table(doc, "terminal");
    terminal["id"] = value(id);
    terminal["timezone"] = value(time_zone);
    let back_office = table(doc, "back_office");
    back_office["url"] = value(url.trim_end_matches('/'));
    back_office["key_file"] = value(key_file.display().to_string());
    if let Some(ca) = ca_file {
        back_office["ca_file"] = value(ca.display().to_string());
    }
}

fn table<'d>(doc: &'d mut DocumentMut, name: &str) -> &'d mut Table {
    if !doc.contains_table(name) {
        doc[name] = Item::Table(Table::new());
    }
    doc[name].as_table_mut().expect("just made a table of it")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_set_and_every_comment_kept() {
        let text = "# the kiosk\n[terminal]\n# id comment\nid = \"0001\"\nname = \"Киоск\"\n\n[back_office]\nurl = \"https://old\"\nkey_file = \"old.key\"\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        set_identity(
            &mut doc,
            "0042",
            "Asia/Yekaterinburg",
            "https://bo.example/",
            Path::new("/etc/kiosk/terminal.key"),
            None,
        );
        let out = doc.to_string();
        assert!(
            out.contains("# the kiosk\n[terminal]\n# id comment\nid = \"0042\""),
            "{out}"
        );
        assert!(out.contains("name = \"Киоск\""), "{out}");
        assert!(out.contains("timezone = \"Asia/Yekaterinburg\""), "{out}");
        assert!(out.contains("url = \"https://bo.example\""), "{out}");
        assert!(
            out.contains("key_file = \"/etc/kiosk/terminal.key\""),
            "{out}"
        );
    }

    #[test]
    fn missing_sections_are_added() {
        let mut doc: DocumentMut = "[limits]\nper_payment_rub = 15000\n".parse().unwrap();
        set_identity(
            &mut doc,
            "7",
            "Europe/Moscow",
            "https://bo",
            Path::new("k"),
            Some(Path::new("/etc/kiosk/ca.pem")),
        );
        let parsed: toml::Table = toml::from_str(&doc.to_string()).unwrap();
        assert_eq!(parsed["terminal"]["id"].as_str(), Some("7"));
        assert_eq!(parsed["back_office"]["key_file"].as_str(), Some("k"));
        assert_eq!(
            parsed["back_office"]["ca_file"].as_str(),
            Some("/etc/kiosk/ca.pem")
        );
        assert_eq!(
            parsed["limits"]["per_payment_rub"].as_integer(),
            Some(15000)
        );
    }

    #[test]
    fn a_relative_key_file_is_taken_from_the_config_directory() {
        let doc: DocumentMut = "[back_office]\nkey_file = \"terminal.key\"\n"
            .parse()
            .unwrap();
        assert_eq!(
            configured_path(&doc, "key_file", Path::new("/etc/kiosk")),
            Some(PathBuf::from("/etc/kiosk/terminal.key"))
        );
        let doc: DocumentMut = "[back_office]\nkey_file = \"/k\"\n".parse().unwrap();
        assert_eq!(
            configured_path(&doc, "key_file", Path::new("/etc/kiosk")),
            Some(PathBuf::from("/k"))
        );
    }
}
