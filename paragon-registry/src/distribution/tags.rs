//! Tag listing, page by page, following `Link` headers.

use paragon_core::{CallContext, Result};
use reqwest::header::LINK;
use reqwest::{Method, StatusCode};

use super::auth::Access;
use super::DistributionRegistry;

impl DistributionRegistry {
    /// The tags of a repository, one page at a time, following the `Link`
    /// header of each answer (the distribution spec's pagination).
    pub(super) async fn tags_paged(
        &self,
        repository: &str,
        ctx: &CallContext,
    ) -> Result<Vec<String>> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut url = format!(
            "{}/v2/{repository}/tags/list?n={}",
            self.base(),
            self.page_size
        );
        let mut tags = Vec::new();
        let op = format!("list tags of {repository}");
        for page in 1.. {
            if page > MAX_TAG_PAGES {
                // A `Link` that never ends (or loops): a short list would
                // be a false answer.
                return Err(self.registry_error(
                    &op,
                    None,
                    format!("the tag list did not end after {MAX_TAG_PAGES} pages"),
                    false,
                ));
            }
            let res = self
                .retrying(&op, ctx, || async {
                    let res = self
                        .send(&op, Method::GET, &url, None, repository, Access::Pull)
                        .await?;
                    let status = res.status();
                    if !status.is_success() && status != StatusCode::NOT_FOUND {
                        // A failure, retried when it is transient.
                        return Err(self.response_error(&op, res).await);
                    }
                    let link = res
                        .headers()
                        .get(LINK)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_owned);
                    let body = res.text().await.map_err(|e| self.request_error(&op, e))?;
                    Ok((status, link, body))
                })
                .await?;
            let (status, link, body) = res;
            if status == StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            let page: Page = serde_json::from_str(&body).map_err(|e| {
                self.registry_error(
                    &op,
                    Some(status.as_u16()),
                    format!("invalid tag list: {e}"),
                    false,
                )
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match link.as_deref().and_then(next_link) {
                Some(next) if next.starts_with("http://") || next.starts_with("https://") => {
                    url = next
                }
                Some(next) => url = format!("{}{next}", self.base()),
                None => break,
            }
        }
        tags.sort();
        tags.dedup();
        Ok(tags)
    }
}

/// The most pages of a tag list followed; a list that goes on is an error.
pub(crate) const MAX_TAG_PAGES: usize = 10_000;

/// The target of `rel="next"` in a `Link` header.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let target = target.trim();
        (is_next && target.starts_with('<') && target.ends_with('>'))
            .then(|| target[1..target.len() - 1].to_owned())
    })
}
