//! Telling people how a run went: the [`Notifier`] trait and, with the
//! `slack` feature, `SlackWebhook`.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::pipeline::{Outcome, RunRecord};
use crate::plugin::context::CallContext;

/// Receives every finished run.
///
/// # Contract
/// A notifier never changes the run's outcome: its error becomes a warning
/// in the record. It names no credential in errors.
#[async_trait]
pub trait Notifier: fmt::Debug + Send + Sync + 'static {
    /// Its name (`slack`).
    fn name(&self) -> &str;

    /// Sends the news of `run`.
    async fn notify(&self, run: &RunRecord, ctx: &CallContext) -> Result<()>;
}

macro_rules! forward_notifier {
    ($($ty:ty),+) => {$(
        #[async_trait]
        impl<T: Notifier + ?Sized> Notifier for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            async fn notify(&self, run: &RunRecord, ctx: &CallContext) -> Result<()> {
                (**self).notify(run, ctx).await
            }
        }
    )+};
}
forward_notifier!(Box<T>, Arc<T>, &'static T);

/// One line per fact of a run: verdict, counts, digest, tags, commits.
pub fn summary_lines(run: &RunRecord) -> Vec<String> {
    let mut lines = Vec::new();
    let verdict = match (&run.verdict, run.outcome) {
        (Some(v), _) if !v.passed => format!("gate FAILED ({} finding(s))", v.failures.len()),
        (Some(_), _) => "gate passed".to_owned(),
        (None, _) => "no gate".to_owned(),
    };
    let outcome = match run.outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "FAILED",
        Outcome::Cancelled => "cancelled",
        Outcome::Skipped => "skipped",
    };
    lines.push(format!(
        "{} {}: {outcome}, {verdict}",
        run.application,
        run.version.as_deref().unwrap_or("(no version)")
    ));
    let s = &run.summary.by_severity;
    lines.push(format!(
        "findings: {} (critical {}, high {}, medium {}, low {})",
        run.summary.total, s.critical, s.high, s.medium, s.low
    ));
    if let Some(p) = &run.pushed {
        lines.push(format!(
            "image: {}@{} tags {}",
            p.repository,
            p.digest,
            p.tags.join(", ")
        ));
    }
    for d in &run.deployments {
        lines.push(format!(
            "{}: {}{}",
            d.environment,
            d.commit.as_deref().unwrap_or("(no commit)"),
            d.rolled_back
                .as_ref()
                .map(|r| format!(" (rolled back by {r})"))
                .unwrap_or_default()
        ));
    }
    if let Some(e) = &run.error {
        lines.push(format!("error: {e}"));
    }
    lines
}

#[cfg(feature = "slack")]
pub use slack::SlackWebhook;

#[cfg(feature = "slack")]
mod slack {
    use super::*;
    use crate::error::Error;
    use crate::secret::Secret;

    /// A Slack incoming webhook: `POST` of `{"text": …, "blocks": […]}` to
    /// the webhook URL, which answers `200 ok`, or `400 invalid_payload`,
    /// `403 action_prohibited`, `404 no_service`, `410 channel_is_archived`.
    /// The URL is the credential: it is a [`Secret`] and errors show only
    /// its host. It is posted to over https, or plain http to this machine
    /// only unless [`allow_http`](SlackWebhook::allow_http): a notification
    /// to another host over plain http fails with [`Error::InvalidConfig`]
    /// before anything is sent.
    pub struct SlackWebhook {
        url: Secret,
        http: reqwest::Client,
        allow_http: bool,
        timeout: std::time::Duration,
    }

    impl fmt::Debug for SlackWebhook {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SlackWebhook").field("url", &"***").finish()
        }
    }

    impl SlackWebhook {
        /// A notifier posting to `url`.
        pub fn new(url: Secret) -> SlackWebhook {
            SlackWebhook {
                url,
                http: reqwest::Client::new(),
                allow_http: false,
                timeout: std::time::Duration::from_secs(30),
            }
        }

        /// Lets the webhook be a plain http URL whose host is not this
        /// machine (a relay inside a network the caller trusts). Default:
        /// no, the URL, which is the credential, would cross the network
        /// in clear.
        #[must_use]
        pub fn allow_http(mut self, yes: bool) -> SlackWebhook {
            self.allow_http = yes;
            self
        }

        /// The timeout of the post (default 30 s): a webhook that accepts
        /// the connection and never answers fails the notification
        /// instead of holding the run.
        #[must_use]
        pub fn with_timeout(mut self, timeout: std::time::Duration) -> SlackWebhook {
            self.timeout = timeout;
            self
        }
    }

    #[async_trait]
    impl Notifier for SlackWebhook {
        fn name(&self) -> &str {
            "slack"
        }

        async fn notify(&self, run: &RunRecord, _ctx: &CallContext) -> Result<()> {
            let url = url::Url::parse(self.url.expose()).map_err(|_| Error::InvalidConfig {
                component: "slack".into(),
                message: "the webhook is not a URL".into(),
            })?;
            crate::transport::require_https_beyond_loopback(
                "slack",
                url.scheme(),
                url.host_str(),
                self.allow_http,
                "SlackWebhook::allow_http(true)",
            )?;
            let lines = summary_lines(run);
            let body = serde_json::json!({
                "text": lines.first().cloned().unwrap_or_default(),
                "blocks": [
                    { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{}*", lines.first().cloned().unwrap_or_default()) } },
                    { "type": "section", "text": { "type": "mrkdwn", "text": lines[1..].join("\n") } }
                ]
            });
            let error = |status: u16, message: String| Error::Http {
                service: "slack".into(),
                method: "POST".into(),
                url: format!("https://{}/…", url.host_str().unwrap_or("slack")),
                status,
                message: self.url.redact(&message),
                source: None,
            };
            let res = self
                .http
                .post(url.clone())
                .timeout(self.timeout)
                .json(&body)
                .send()
                .await
                .map_err(|e| error(0, e.without_url().to_string()))?;
            let status = res.status().as_u16();
            let text = res
                .text()
                .await
                .map_err(|e| error(status, e.without_url().to_string()))?;
            // Slack answers a delivered message with `200 ok`.
            match (status, text.trim()) {
                (200..=299, "ok" | "") => Ok(()),
                (200..=299, other) => Err(error(
                    status,
                    format!(
                        "the answer is not Slack's `ok`: {}",
                        other.chars().take(200).collect::<String>()
                    ),
                )),
                _ => Err(error(status, text.chars().take(200).collect())),
            }
        }
    }
}
