//! What the clients of web APIs (SonarQube, DefectDojo) share: the server
//! URL's checks and the HTTP client.

use std::time::Duration;

use paragon_core::transport::require_https_beyond_loopback;
use paragon_core::Error as CoreError;
use url::Url;

/// The [`CoreError::InvalidConfig`] of `component`.
pub(crate) fn invalid(component: &str, message: String) -> CoreError {
    CoreError::InvalidConfig {
        component: component.to_owned(),
        message,
    }
}

/// The server URL of `component`, checked: required, http(s), no
/// credentials in it, https beyond this machine unless `allow_http`
/// (`hint` names the setter), with a trailing `/` so that API paths join
/// under it.
pub(crate) fn server_url(
    component: &str,
    raw: Option<String>,
    allow_http: bool,
    hint: &str,
) -> Result<Url, CoreError> {
    let raw = raw.ok_or_else(|| invalid(component, "the server URL is required".into()))?;
    let mut url = Url::parse(&raw)
        .map_err(|e| invalid(component, format!("invalid server URL `{raw}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(invalid(
            component,
            format!("the server URL `{raw}` is not an http(s) URL"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            component,
            format!(
                "the server URL for {} holds credentials: give them as the token",
                url.host_str().unwrap_or_default()
            ),
        ));
    }
    require_https_beyond_loopback(component, url.scheme(), url.host_str(), allow_http, hint)?;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// An HTTP client with a connect timeout and Paragon's user agent.
pub(crate) fn client(component: &str) -> Result<reqwest::Client, CoreError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .user_agent(concat!("paragon/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| invalid(component, format!("cannot create the HTTP client: {e}")))
}
