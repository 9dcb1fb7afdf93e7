//! The SSRF guard: a webhook connects only to a public address of its host, the one that was checked.
//!
//! The host is resolved once; every address it resolves to must be public (not loopback, private,
//! link-local such as the 169.254.169.254 metadata endpoint, carrier-grade NAT, multicast, documentation
//! or unspecified ranges, nor their IPv6 forms, IPv4-mapped ones included), and the connection goes to
//! that very address (pinned), so a name cannot resolve to a public address for the check and to an
//! internal one for the connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use imgpipe_domain::webhook::CallbackTarget;

/// Whether an address may receive a webhook.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64, which can reach private IPv4
        || ip.segments()[..6].iter().all(|s| *s == 0)) // IPv4-compatible (deprecated)
}

/// Why a webhook's host cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("{0} does not resolve")]
    NoAddress(String),
    #[error("{host} resolves to {ip}, which is not a public address")]
    NotPublic { host: String, ip: IpAddr },
}

/// The address to connect to: the host's first address, after checking every one it resolved to.
/// `local` admits 127.0.0.1 for an http target (the local pipeline only).
pub fn choose_address(target: &CallbackTarget, resolved: &[SocketAddr], local: bool) -> Result<SocketAddr, Refusal> {
    let first = resolved
        .first()
        .copied()
        .ok_or_else(|| Refusal::NoAddress(target.host.clone()))?;
    for address in resolved {
        let loopback_allowed = local && !target.https && address.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST);
        if !is_public(address.ip()) && !loopback_allowed {
            return Err(Refusal::NotPublic {
                host: target.host.clone(),
                ip: address.ip(),
            });
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(https: bool) -> CallbackTarget {
        CallbackTarget {
            https,
            host: "hooks.example.com".into(),
            port: 443,
            path: "/".into(),
        }
    }

    #[test]
    fn private_loopback_link_local_and_their_v6_forms_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "::",
            "192.0.2.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_name_with_any_internal_address_is_refused() {
        let public: SocketAddr = "93.184.216.34:443".parse().unwrap();
        let internal: SocketAddr = "10.0.0.5:443".parse().unwrap();
        assert_eq!(choose_address(&target(true), &[public], false), Ok(public));
        assert!(matches!(
            choose_address(&target(true), &[public, internal], false),
            Err(Refusal::NotPublic { .. })
        ));
        assert!(matches!(
            choose_address(&target(true), &[], false),
            Err(Refusal::NoAddress(_))
        ));
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(
            choose_address(&target(true), &[loopback], true).is_err(),
            "https never goes to loopback"
        );
        assert_eq!(
            choose_address(&target(false), &[loopback], true),
            Ok(loopback),
            "the local flag"
        );
        assert!(choose_address(&target(false), &[loopback], false).is_err());
    }
}
