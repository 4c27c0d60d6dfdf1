//! What the adapters that talk to services share about hosts: which
//! hosts are this machine, and the rule that keeps credentials off plain
//! http to any other.

use std::net::IpAddr;

use crate::{Error, Result};

/// Whether `host` names this machine: `localhost` or a loopback address
/// (`127.0.0.0/8`, `::1`), optionally with a port (`127.0.0.1:5000`,
/// `localhost:5000`) and, for IPv6, in brackets (`[::1]`, `[::1]:5000`).
///
/// Adapters that send credentials speak plain http only to such hosts
/// (a service run beside the tests) unless their caller allows others
/// (see [`require_https_beyond_loopback`]). An unbracketed IPv6 address
/// is never read as one with a port: `::1:5000` is the address
/// `::1:5000`, which is not a loopback address.
///
/// ```
/// use paragon_core::transport::is_loopback;
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

/// Refuses to send credentials in clear across the network: an address
/// with scheme `scheme` and host `host` passes when it is https, plain
/// http to this machine ([`is_loopback`]), or anything at all when the
/// caller has `allowed` plain http.
///
/// `component` names the adapter in the error, and `allowing` the way its
/// caller can allow plain http to other hosts (a constructor such as
/// `HarborApi::allow_http(true)`). The error shows the scheme and host
/// only, never the rest of the address.
///
/// ```
/// use paragon_core::transport::require_https_beyond_loopback;
///
/// let allowing = "ArgoCd::allow_http(true)";
/// assert!(require_https_beyond_loopback("argocd", "https", Some("argocd.example"), false, allowing).is_ok());
/// assert!(require_https_beyond_loopback("argocd", "http", Some("127.0.0.1"), false, allowing).is_ok());
/// assert!(require_https_beyond_loopback("argocd", "http", Some("argocd.example"), true, allowing).is_ok());
/// let refused = require_https_beyond_loopback("argocd", "http", Some("argocd.example"), false, allowing)
///     .unwrap_err()
///     .to_string();
/// assert!(refused.contains("http://argocd.example"), "{refused}");
/// assert!(refused.contains("ArgoCd::allow_http(true)"), "{refused}");
/// ```
///
/// # Errors
///
/// [`Error::InvalidConfig`] for plain http (or any scheme other than
/// https) to a host other than this machine, unless `allowed`.
pub fn require_https_beyond_loopback(
    component: &str,
    scheme: &str,
    host: Option<&str>,
    allowed: bool,
    allowing: &str,
) -> Result<()> {
    match clear_text_refusal(scheme, host, allowed, allowing) {
        None => Ok(()),
        Some(message) => Err(Error::InvalidConfig {
            component: component.to_owned(),
            message,
        }),
    }
}

/// The rule of [`require_https_beyond_loopback`] for an address that is
/// not the caller's configuration (such as a token service a registry
/// names in its answer), whose refusal belongs in another kind of error:
/// the reason the address is refused, or `None` when it passes.
///
/// ```
/// use paragon_core::transport::clear_text_refusal;
///
/// let allowing = "DistributionRegistry::allow_http(true)";
/// assert_eq!(clear_text_refusal("https", Some("auth.example"), false, allowing), None);
/// let reason = clear_text_refusal("http", Some("auth.example"), false, allowing).unwrap();
/// assert!(reason.contains("http://auth.example"), "{reason}");
/// assert!(reason.contains(allowing), "{reason}");
/// ```
pub fn clear_text_refusal(
    scheme: &str,
    host: Option<&str>,
    allowed: bool,
    allowing: &str,
) -> Option<String> {
    if allowed || scheme.eq_ignore_ascii_case("https") || host.is_some_and(is_loopback) {
        return None;
    }
    Some(format!(
        "`{scheme}://{}`: the credentials would cross the network in clear; \
         use https, or `{allowing}` to allow plain http to a host other than this machine",
        host.unwrap_or_default()
    ))
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
    use super::{is_loopback, require_https_beyond_loopback};

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

    #[test]
    fn credentials_go_in_clear_only_to_this_machine() {
        let check = |scheme, host| {
            require_https_beyond_loopback(
                "vault",
                scheme,
                host,
                false,
                "VaultKv2::allow_http(true)",
            )
        };
        assert!(check("https", Some("vault.example")).is_ok());
        assert!(check("HTTPS", Some("vault.example")).is_ok());
        assert!(check("http", Some("localhost")).is_ok());
        assert!(check("http", Some("[::1]")).is_ok());
        for host in [Some("vault.example"), Some("10.0.0.1"), None] {
            let err = check("http", host).unwrap_err();
            assert!(
                matches!(&err, crate::Error::InvalidConfig { component, .. } if component == "vault"),
                "{err:?}"
            );
            assert!(
                err.to_string().contains("VaultKv2::allow_http(true)"),
                "{err}"
            );
        }
    }
}
