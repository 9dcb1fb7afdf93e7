//! Where a webhook may go: the checks on a `callback_url` that need no network (the API refuses a bad one
//! at `POST /images`; the notify function checks again, and after resolving the name, before it connects).
//!
//! A callback must be `https` to a host on the deployment's allow-list (exact names, or `.domain`
//! suffixes; an empty list turns webhooks off), named by DNS, never by an IP literal, with no user
//! information. The local pipeline alone may allow `http://127.0.0.1` (an explicit flag, never read from
//! the environment).

use crate::config::HostAllowList;

/// A callback URL that passed the checks, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackTarget {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Longest callback URL accepted.
pub const MAX_CALLBACK_URL: usize = 2048;

/// Checks `url` against the allow-list; `local` admits `http://127.0.0.1` (the local pipeline only).
pub fn check_callback_url(url: &str, allowed: &HostAllowList, local: bool) -> Result<CallbackTarget, String> {
    if url.len() > MAX_CALLBACK_URL || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "callback_url must be at most {MAX_CALLBACK_URL} printable characters"
        ));
    }
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://").filter(|_| local) {
        (false, rest)
    } else {
        return Err("callback_url must be an https URL".into());
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if path.contains('#') {
        return Err("callback_url must not have a fragment".into());
    }
    if authority.contains('@') {
        return Err("callback_url must not carry user information".into());
    }
    // A bracketed IPv6 literal holds colons of its own.
    let (host, port) = match authority.rfind(':').filter(|at| !authority[*at..].contains(']')) {
        Some(at) => {
            let port: u16 = authority[at + 1..]
                .parse()
                .map_err(|_| "callback_url has an invalid port".to_owned())?;
            (&authority[..at], port)
        }
        None => (authority, if https { 443 } else { 80 }),
    };
    let host = host.to_ascii_lowercase();
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    if !https {
        // Only the local flag gets here, and only to this machine's loopback.
        if host != "127.0.0.1" {
            return Err("an http callback_url is allowed for http://127.0.0.1 only, on the local pipeline".into());
        }
        return Ok(CallbackTarget {
            https,
            host,
            port,
            path,
        });
    }
    if host.starts_with('[')
        || host.parse::<std::net::Ipv4Addr>().is_ok()
        || host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
    {
        return Err("callback_url must name its host, not an IP address".into());
    }
    if allowed.is_empty() {
        return Err("callback_url: webhooks are not enabled on this deployment".into());
    }
    if !allowed.allows(&host) {
        return Err(format!(
            "callback_url: the host {host} is not allowed for webhooks on this deployment"
        ));
    }
    Ok(CallbackTarget {
        https,
        host,
        port,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> HostAllowList {
        HostAllowList::parse("hooks.example.com,.partner.example").unwrap()
    }

    #[test]
    fn allowed_https_hosts_pass() {
        let target = check_callback_url("https://hooks.example.com/imgpipe?x=1", &hosts(), false).unwrap();
        assert_eq!(
            target,
            CallbackTarget {
                https: true,
                host: "hooks.example.com".into(),
                port: 443,
                path: "/imgpipe?x=1".into()
            }
        );
        let target = check_callback_url("https://a.partner.example:8443", &hosts(), false).unwrap();
        assert_eq!((target.port, target.path.as_str()), (8443, "/"));
    }

    #[test]
    fn every_other_url_is_refused_with_its_reason() {
        for (url, says) in [
            ("http://hooks.example.com/x", "https"),
            ("ftp://hooks.example.com/x", "https"),
            ("https://10.0.0.1/x", "IP address"),
            ("https://169.254.169.254/latest/meta-data", "IP address"),
            ("https://[::1]/x", "IP address"),
            ("https://2130706433/x", "IP address"),
            ("https://evil.example/x", "not allowed"),
            ("https://hooks.example.com.evil.example/x", "not allowed"),
            ("https://user:pw@hooks.example.com/x", "user information"),
            ("https://hooks.example.com/x#frag", "fragment"),
            ("https://hooks.example.com:99999/x", "port"),
            ("https://hooks.example.com/a b", "printable"),
            ("http://127.0.0.1:8080/x", "https"),
        ] {
            let err = check_callback_url(url, &hosts(), false).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
        let off = HostAllowList::default();
        assert!(check_callback_url("https://hooks.example.com/", &off, false)
            .unwrap_err()
            .contains("not enabled"));
    }

    #[test]
    fn the_local_flag_admits_loopback_http_only() {
        let target = check_callback_url("http://127.0.0.1:8080/hook", &HostAllowList::default(), true).unwrap();
        assert_eq!((target.https, target.port), (false, 8080));
        assert!(check_callback_url("http://example.com/hook", &hosts(), true).is_err());
    }
}
