//! What the adapters that talk to services share about hosts.

use std::net::IpAddr;

/// Whether `host` names this machine: `localhost` or a loopback address
/// (`127.0.0.0/8`, `::1`), optionally with a port (`127.0.0.1:5000`,
/// `localhost:5000`) and, for IPv6, in brackets (`[::1]`, `[::1]:5000`).
///
/// The forges speak plain http only to such hosts (one run beside the
/// tests), and so does the distribution registry unless its caller
/// allows others. An unbracketed IPv6 address is never read as one with
/// a port: `::1:5000` is the address `::1:5000`, which is not a loopback
/// address.
///
/// ```
/// use paragon_core::net::is_loopback;
///
/// assert!(is_loopback("127.0.0.1:5000"));
/// assert!(is_loopback("[::1]:5000"));
/// assert!(is_loopback("LocalHost"));
/// assert!(!is_loopback("registry.example.com"));
/// assert!(!is_loopback("10.0.0.1:5000"));
/// ```
pub fn is_loopback(host: &str) -> bool {
    if names_this_machine(host) {
        return true;
    }
    match host.rsplit_once(':') {
        Some((name, port))
            if !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (name.starts_with('[') || !name.contains(':')) =>
        {
            names_this_machine(name)
        }
        _ => false,
    }
}

/// `localhost` or a loopback address, without a port.
fn names_this_machine(name: &str) -> bool {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts_with_and_without_ports() {
        for host in [
            "localhost",
            "LOCALHOST:80",
            "127.0.0.1",
            "127.0.0.1:5000",
            "127.8.9.10:1",
            "::1",
            "[::1]",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
    }

    #[test]
    fn other_hosts_and_malformed_text() {
        for host in [
            "",
            ":5000",
            "localhost:",
            "localhost:http",
            "localhost.example.com",
            "10.0.0.1:5000",
            "0.0.0.0",
            "::1:5000",
            "[::1",
            "::1]",
            "[fe80::1]:5000",
            "registry.example.com:443",
            "127.0.0.1:5000:6000",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
