//! One retry policy for every remote call: registries, git pushes, the
//! forges, Harbor, SonarQube and Argo CD.
//!
//! A [`RetryPolicy`] says how many attempts a call gets and how long to
//! wait between them: a wait that doubles from `initial` up to `max`
//! (backon's exponential backoff), with jitter when writers may collide,
//! and at least what the server asked for (`Retry-After`), unless it asks
//! for more than `max_retry_after`. [`RetryPolicy::run`] retries the
//! errors that are [retryable](crate::Error::is_retryable);
//! [`Backoff::pause`] serves loops that decide for themselves (a rejected
//! git push is redone on the new head). [`poll`] looks at a remote job
//! (an analysis, an upload being processed, a sync) at a fixed interval
//! until it is over. Every wait ends early with [`Error::Cancelled`] when
//! the context is cancelled.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use paragon_core::retry::RetryPolicy;
//! use paragon_core::{CallContext, Error, ErrorKind};
//!
//! let policy = RetryPolicy::new(3, Duration::from_millis(1), Duration::from_millis(4));
//! let mut calls = 0;
//! let answer = policy
//!     .run(&CallContext::new(), "registry r.test", |_attempt| {
//!         calls += 1;
//!         let outcome = if calls < 3 {
//!             Err(Error::Registry {
//!                 host: "r.test".into(),
//!                 operation: "get".into(),
//!                 message: "busy".into(),
//!                 kind: ErrorKind::Unavailable,
//!             })
//!         } else {
//!             Ok("manifest")
//!         };
//!         async move { outcome }
//!     })
//!     .await?;
//! assert_eq!((answer, calls), ("manifest", 3));
//! # Ok::<(), Error>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};

use crate::error::{Error, Result};
use crate::plugin::context::CallContext;

/// How often, and after how long, a failed remote call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    /// The first wait; doubled after each failure.
    pub initial: Duration,
    /// The longest wait of the backoff.
    pub max: Duration,
    /// The longest `Retry-After` waited for: an answer asking for more
    /// ends the retries with its error.
    pub max_retry_after: Duration,
    /// How each wait is randomized, so that writers that collided do not
    /// collide again.
    pub jitter: Jitter,
}

/// How a [`RetryPolicy`] randomizes its waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Every wait is the backoff's.
    #[default]
    None,
    /// Each wait is lengthened by a random part of itself (up to double):
    /// never shorter than the backoff's.
    Added,
    /// Each wait is anywhere from zero to the backoff's ("full jitter"):
    /// for writers that race for one resource, where the loser of one
    /// round should often try again at once.
    Full,
}

impl Default for RetryPolicy {
    /// 4 attempts, waits from 250 ms up to 5 s, `Retry-After` up to 60 s,
    /// no jitter.
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts: 4,
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
            jitter: Jitter::None,
        }
    }
}

impl RetryPolicy {
    /// `attempts` in all, waiting from `initial` up to `max`; the other
    /// settings are the default's.
    pub fn new(attempts: u32, initial: Duration, max: Duration) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial,
            max,
            ..RetryPolicy::default()
        }
    }

    /// No retry: one attempt.
    pub fn none() -> RetryPolicy {
        RetryPolicy::new(1, Duration::ZERO, Duration::ZERO)
    }

    /// With [`Jitter::Added`]: each wait lengthened by a random part of
    /// itself.
    #[must_use]
    pub fn with_jitter(mut self) -> RetryPolicy {
        self.jitter = Jitter::Added;
        self
    }

    /// With [`Jitter::Full`]: each wait anywhere from zero to the
    /// backoff's.
    #[must_use]
    pub fn with_full_jitter(mut self) -> RetryPolicy {
        self.jitter = Jitter::Full;
        self
    }

    /// The waits of one call, one before each attempt after the first.
    pub fn backoff(&self) -> Backoff {
        let mut builder = ExponentialBuilder::default()
            .with_min_delay(self.initial)
            .with_max_delay(self.max.max(self.initial))
            .with_factor(2.0)
            .with_max_times(self.attempts.max(1) as usize - 1);
        if self.jitter == Jitter::Added {
            builder = builder.with_jitter();
        }
        Backoff {
            delays: builder.build(),
            full_jitter: self.jitter == Jitter::Full,
            max_retry_after: self.max_retry_after,
            attempt: 1,
        }
    }

    /// Runs `op` (given the attempt's number, from 1) until it succeeds,
    /// fails with an error that is not [retryable](Error::is_retryable),
    /// or the attempts are spent; the error is then the last attempt's.
    /// `what` names the service in logs and in [`Error::Cancelled`].
    ///
    /// # Errors
    ///
    /// The last attempt's error; [`Error::Cancelled`] when `ctx` is
    /// cancelled before an attempt or during a wait.
    pub async fn run<T, F, Fut>(&self, ctx: &CallContext, what: &str, mut op: F) -> Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut backoff = self.backoff();
        loop {
            if ctx.cancel.is_cancelled() {
                return Err(Error::Cancelled { tool: what.into() });
            }
            match op(backoff.attempt).await {
                Err(e) if e.is_retryable() => {
                    let asked = e.retry_after();
                    tracing::warn!(service = %what, attempt = backoff.attempt, error = %e, "retrying");
                    if !backoff.pause(asked, ctx, what).await? {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }
}

/// The waits between the attempts of one call (see
/// [`RetryPolicy::backoff`]).
#[derive(Debug)]
pub struct Backoff {
    delays: ExponentialBackoff,
    full_jitter: bool,
    max_retry_after: Duration,
    attempt: u32,
}

impl Backoff {
    /// The number of the attempt about to be made (from 1).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Waits before the next attempt: the backoff's next wait, or what the
    /// server `asked` for when that is longer. `Ok(false)`, at once, when
    /// no attempt is left or the server asked for more than the policy's
    /// `max_retry_after`.
    ///
    /// # Errors
    ///
    /// [`Error::Cancelled`] naming `what` when `ctx` is cancelled during
    /// the wait.
    pub async fn pause(
        &mut self,
        asked: Option<Duration>,
        ctx: &CallContext,
        what: &str,
    ) -> Result<bool> {
        if asked.is_some_and(|w| w > self.max_retry_after) {
            return Ok(false);
        }
        let Some(mut delay) = self.delays.next() else {
            return Ok(false);
        };
        if self.full_jitter {
            delay = delay.mul_f64(fastrand::f64());
        }
        let wait = asked.map_or(delay, |w| w.max(delay));
        tracing::debug!(service = %what, attempt = self.attempt, wait_ms = wait.as_millis() as u64, "waiting before the next attempt");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = ctx.cancel.cancelled() => return Err(Error::Cancelled { tool: what.into() }),
        }
        self.attempt += 1;
        Ok(true)
    }
}

/// What one look at a remote job found (see [`poll`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled<T> {
    /// The job is over: what it gave.
    Done(T),
    /// The job is still going; what it said of itself
    /// (`OutOfSync, Progressing`), which a timeout names; empty when it
    /// said nothing worth naming.
    Waiting(String),
}

/// Looks at a remote job every `every` (a SonarQube analysis, an upload
/// Dependency-Track or GitHub is processing, an Argo CD sync) until `look`
/// finds it over, and gives what it found.
///
/// # Errors
///
/// `look`'s errors, at once; [`Error::TimedOut`] naming `what` and what
/// the job last said when the next look would come after `limit`;
/// [`Error::Cancelled`] naming `what` when `ctx` is cancelled during a
/// wait.
pub async fn poll<T, F, Fut>(
    ctx: &CallContext,
    what: &str,
    every: Duration,
    limit: Option<Duration>,
    mut look: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Polled<T>>>,
{
    let began = tokio::time::Instant::now();
    loop {
        let said = match look().await? {
            Polled::Done(found) => return Ok(found),
            Polled::Waiting(said) => said,
        };
        if let Some(limit) = limit.filter(|l| began.elapsed() + every > *l) {
            tracing::warn!(job = %what, last = %said, after_ms = limit.as_millis() as u64, "gave up waiting");
            let tool = if said.is_empty() {
                what.to_owned()
            } else {
                format!("{what} (last: {said})")
            };
            return Err(Error::TimedOut { tool, after: limit });
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = ctx.cancel.cancelled() => return Err(Error::Cancelled { tool: what.into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy() -> Error {
        Error::Registry {
            host: "r.test".into(),
            operation: "get".into(),
            message: "busy".into(),
            kind: crate::ErrorKind::Unavailable,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waits_double_up_to_the_maximum() {
        let policy = RetryPolicy::new(5, Duration::from_millis(100), Duration::from_millis(300));
        let mut backoff = policy.backoff();
        let ctx = CallContext::new();
        let mut waits = Vec::new();
        loop {
            let began = tokio::time::Instant::now();
            if !backoff.pause(None, &ctx, "t").await.unwrap() {
                break;
            }
            waits.push(began.elapsed().as_millis());
        }
        // The timer wheel counts whole milliseconds, rounding up.
        assert_eq!(waits.len(), 4, "{waits:?}");
        for (wait, wanted) in waits.iter().zip([100, 200, 300, 300]) {
            assert!((wanted..=wanted + 1).contains(wait), "{waits:?}");
        }
        assert_eq!(backoff.attempt(), 5);
    }

    /// Waits of the two jitters stay in their ranges: added ones between
    /// the backoff's wait and double it, full ones between zero and it,
    /// and full ones are not all the same.
    #[tokio::test(start_paused = true)]
    async fn jittered_waits_stay_in_their_range() {
        let ctx = CallContext::new();
        let base = RetryPolicy::new(40, Duration::from_millis(100), Duration::from_millis(100));
        for (policy, low, high) in [
            (base.with_jitter(), 100, 201),
            (base.with_full_jitter(), 0, 101),
        ] {
            let mut backoff = policy.backoff();
            let mut waits = Vec::new();
            while {
                let began = tokio::time::Instant::now();
                let more = backoff.pause(None, &ctx, "t").await.unwrap();
                waits.push(began.elapsed().as_millis());
                more
            } {}
            waits.pop();
            assert_eq!(waits.len(), 39);
            assert!(
                waits.iter().all(|w| (low..=high).contains(w)),
                "{policy:?}: {waits:?}"
            );
            waits.dedup();
            assert!(waits.len() > 5, "{policy:?}: {waits:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_up_to_its_limit() {
        let policy = RetryPolicy::new(3, Duration::from_millis(10), Duration::from_millis(10));
        let ctx = CallContext::new();
        let mut backoff = policy.backoff();
        let began = tokio::time::Instant::now();
        assert!(backoff
            .pause(Some(Duration::from_secs(2)), &ctx, "t")
            .await
            .unwrap());
        let waited = began.elapsed();
        assert!(
            waited >= Duration::from_secs(2) && waited < Duration::from_millis(2002),
            "{waited:?}"
        );
        assert!(!backoff
            .pause(Some(Duration::from_secs(61)), &ctx, "t")
            .await
            .unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_the_last_attempt_or_a_lasting_error() {
        let policy = RetryPolicy::new(3, Duration::from_millis(1), Duration::from_millis(1));
        let ctx = CallContext::new();
        let mut calls = 0;
        let err = policy
            .run(&ctx, "t", |_| {
                calls += 1;
                async { Err::<(), _>(busy()) }
            })
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(calls, 3);
        let mut calls = 0;
        let lasting = policy
            .run(&ctx, "t", |_| {
                calls += 1;
                async {
                    Err::<(), _>(Error::Pipeline {
                        message: "no".into(),
                    })
                }
            })
            .await
            .unwrap_err();
        assert!(matches!(lasting, Error::Pipeline { .. }));
        assert_eq!(calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_looks_until_the_job_is_over() {
        let mut looks = 0;
        let began = tokio::time::Instant::now();
        let found = poll(
            &CallContext::new(),
            "analysis 7",
            Duration::from_secs(2),
            Some(Duration::from_secs(60)),
            || {
                looks += 1;
                let now = if looks < 3 {
                    Polled::Waiting("PENDING".into())
                } else {
                    Polled::Done("AX-1")
                };
                async move { Ok(now) }
            },
        )
        .await
        .unwrap();
        assert_eq!((found, looks), ("AX-1", 3));
        assert_eq!(began.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_ends_before_its_limit_naming_the_last_state() {
        let mut looks = 0;
        let err = poll(
            &CallContext::new(),
            "argocd wait for shop",
            Duration::from_secs(2),
            Some(Duration::from_secs(5)),
            || {
                looks += 1;
                async { Ok(Polled::<()>::Waiting("OutOfSync, Progressing".into())) }
            },
        )
        .await
        .unwrap_err();
        // Looks at 0 s, 2 s and 4 s; a fourth, at 6 s, would be late.
        assert_eq!(looks, 3);
        assert!(
            matches!(&err, Error::TimedOut { tool, after }
                if tool == "argocd wait for shop (last: OutOfSync, Progressing)"
                    && *after == Duration::from_secs(5)),
            "{err:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_poll_stops_at_an_error_or_a_cancellation() {
        let err = poll(
            &CallContext::new(),
            "upload 3",
            Duration::from_secs(1),
            None,
            || async { Err::<Polled<()>, _>(busy()) },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Registry { .. }), "{err:?}");
        let ctx = CallContext::new();
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            cancel.cancel();
        });
        let err = poll(&ctx, "upload 3", Duration::from_secs(10), None, || async {
            Ok(Polled::<()>::Waiting(String::new()))
        })
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Cancelled { ref tool } if tool == "upload 3"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_cancelled_context_ends_the_wait() {
        let policy = RetryPolicy::new(3, Duration::from_secs(3600), Duration::from_secs(3600));
        let ctx = CallContext::new();
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cancel.cancel();
        });
        let err = policy
            .run(&ctx, "registry r.test", |_| async { Err::<(), _>(busy()) })
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Cancelled { ref tool } if tool == "registry r.test"),
            "{err:?}"
        );
    }
}
