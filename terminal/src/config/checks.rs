//! Value checks that need more than a type: device paths, INN check digits, back-office URLs.

pub(super) fn check_port(s: &str) -> Result<(), String> {
    if !s.starts_with('/') {
        return Err(format!(
            "expected an absolute device path such as \"/dev/ttyS0\", got \"{s}\""
        ));
    }
    if s.ends_with('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{s}\" is not a device path"));
    }
    Ok(())
}

/// INN check digits (10 digits for organisations, 12 for individuals).
pub fn inn_is_valid(inn: &str) -> bool {
    fn check(digits: &[u32], weights: &[u32]) -> u32 {
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        (sum % 11) % 10
    }
    if !inn.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let d: Vec<u32> = inn.bytes().map(|b| u32::from(b - b'0')).collect();
    match d.len() {
        10 => check(&d[..9], &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[9],
        12 => {
            check(&d[..10], &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[10]
                && check(&d[..11], &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[11]
        }
        _ => false,
    }
}

pub(super) fn check_inn(inn: &str) -> Result<(), String> {
    if !inn.bytes().all(|b| b.is_ascii_digit()) || !(inn.len() == 10 || inn.len() == 12) {
        return Err(format!("expected 10 or 12 digits, got \"{inn}\""));
    }
    if !inn_is_valid(inn) {
        return Err(format!("check digits of INN \"{inn}\" are wrong"));
    }
    Ok(())
}

/// `https://host[:port][/path]`; `http://` only for loopback hosts.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("expected an https:// URL, got \"{url}\""))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("unclosed [ in host of \"{url}\""))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    if !host_ok || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("\"{url}\" has no valid host"));
    }
    if let Some(port) = port {
        if !matches!(port.parse::<u16>(), Ok(p) if p != 0) {
            return Err(format!("port \"{port}\" in \"{url}\" is not 1–65535"));
        }
    }
    let loopback = host == "localhost" || host.starts_with("127.") || host == "::1";
    let path = &rest[authority.len()..];
    // Requests are signed over their path; the kiosk adds /api/v1/… itself.
    if !path.is_empty() && path != "/" && matches!(scheme, "http" | "https") {
        return Err(format!(
            "give the server's address without a path (the kiosk adds /api/v1/…), got \"{url}\""
        ));
    }
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "plain http is allowed only to localhost; use https for \"{url}\""
        )),
        other => Err(format!("expected an https:// URL, got scheme \"{other}\"")),
    }
}
