//! The context of a plugin call: its cancellation and time limit.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The cancellation and time limit a caller passes to every plugin call:
/// scans, builds, registry calls, deploys, checks and notifications.
///
/// Cancelling the token stops the call (a running tool is killed) with
/// [`Error::Cancelled`](crate::Error::Cancelled); past the timeout, it ends
/// with [`Error::TimedOut`](crate::Error::TimedOut). Clones share the token.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CallContext {
    /// Stop the call after this long (`None`: the adapter's own default).
    pub timeout: Option<Duration>,
    /// Cancels the call; a running tool is killed.
    pub cancel: CancellationToken,
}

impl CallContext {
    /// A context with no timeout and a fresh cancellation token.
    pub fn new() -> CallContext {
        CallContext::default()
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> CallContext {
        self.timeout = Some(timeout);
        self
    }

    /// Uses a given cancellation token (a child of the run's, typically).
    #[must_use]
    pub fn with_cancel(mut self, cancel: CancellationToken) -> CallContext {
        self.cancel = cancel;
        self
    }

    /// The timeout, or `default` when none was set.
    pub fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout.unwrap_or(default)
    }

    /// Runs `work` under this context: [`Error::Cancelled`] naming `what`
    /// as soon as the token is cancelled, [`Error::TimedOut`] once the
    /// timeout (if set) has passed; otherwise `work`'s own result. For
    /// adapters whose calls have no cancellation of their own.
    ///
    /// [`Error::Cancelled`]: crate::Error::Cancelled
    /// [`Error::TimedOut`]: crate::Error::TimedOut
    pub async fn run<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = crate::Result<T>>,
    ) -> crate::Result<T> {
        if self.cancel.is_cancelled() {
            return Err(crate::Error::Cancelled { tool: what.into() });
        }
        let limited = async {
            match self.timeout {
                Some(t) => {
                    tokio::time::timeout(t, work)
                        .await
                        .unwrap_or(Err(crate::Error::TimedOut {
                            tool: what.into(),
                            after: t,
                        }))
                }
                None => work.await,
            }
        };
        tokio::select! {
            r = limited => r,
            _ = self.cancel.cancelled() => Err(crate::Error::Cancelled { tool: what.into() }),
        }
    }
}
