//! What the HTTP clients of the `argocd` and `forges` features share.

use paragon_core::{Error, Result};

/// Sends `req`; the answer's status and body text. A request that gets no
/// answer, or whose body breaks off, is `error(status, what happened)`
/// (status 0 when nothing came back), with `reqwest`'s error, without its
/// URL, as its source.
pub(crate) async fn send_text(
    req: reqwest::RequestBuilder,
    error: impl Fn(u16, String) -> Error,
) -> Result<(u16, String)> {
    let res = req
        .send()
        .await
        .map_err(|e| error(0, e.to_string()).with_source(e.without_url()))?;
    let status = res.status().as_u16();
    let text = res
        .text()
        .await
        .map_err(|e| error(status, e.to_string()).with_source(e.without_url()))?;
    Ok((status, text))
}
