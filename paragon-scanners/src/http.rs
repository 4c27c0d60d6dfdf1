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

/// `e` as an error that is not retried: the service may have acted on the
/// request (an upload, an import). Its kind stays, but for "try again",
/// which becomes "tool failed".
#[cfg(any(feature = "defectdojo", feature = "dependency-track"))]
pub(crate) fn not_retried(component: &'static str, e: CoreError) -> CoreError {
    use paragon_core::ErrorKind;
    let kind = match e.kind() {
        ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::Conflict => ErrorKind::ToolFailed,
        other => other,
    };
    CoreError::adapter(component, kind, e)
}

/// The outcome of one request to a service that takes an API key: the
/// body of a 2xx answer, or an error naming the service, the method and
/// the URL, without the key. For a `write`, only what the service did not
/// act on (no connection, 429, 503) stays retryable.
#[cfg(any(feature = "defectdojo", feature = "dependency-track"))]
pub(crate) async fn finish(
    component: &'static str,
    method: &str,
    url: &Url,
    key: &paragon_core::Secret,
    sent: Result<reqwest::Response, reqwest::Error>,
    write: bool,
) -> Result<Vec<u8>, CoreError> {
    let error = |status: u16, message: &str| CoreError::Http {
        service: component.into(),
        method: method.into(),
        url: url.as_str().to_owned(),
        status,
        message: key.redact(message),
        source: None,
    };
    let not_again = |e: CoreError| if write { not_retried(component, e) } else { e };
    let response = match sent {
        Ok(r) => r,
        // Nothing reached the service: safe to send again.
        Err(e) if e.is_connect() => {
            return Err(error(0, "cannot connect").with_source(e.without_url()))
        }
        Err(e) => {
            let message = if e.is_timeout() {
                "no answer before the timeout"
            } else {
                "no complete answer"
            };
            return Err(not_again(error(0, message).with_source(e.without_url())));
        }
    };
    let status = response.status().as_u16();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return Err(not_again(error(
                status,
                &format!("the answer broke off: {e}"),
            )))
        }
    };
    if (200..300).contains(&status) {
        return Ok(body.to_vec());
    }
    let said = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
    let message = match status {
        401 => "unauthorized: check the API key".to_owned(),
        403 => "forbidden: the API key lacks the permission for this".to_owned(),
        404 => format!("not found: {}", said.trim()),
        _ => said.trim().to_owned(),
    };
    let err = error(status, &message);
    Err(match status {
        429 | 503 => err,
        _ => not_again(err),
    })
}
