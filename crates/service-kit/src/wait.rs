//! Waiting at start for a dependency (Postgres, RabbitMQ) that is not reachable yet: a service
//! started before its database or broker, or while one restarts, retries with exponential
//! backoff instead of exiting, and says on each attempt what it waits for and when it tries
//! again. Only failures that waiting can cure are retried; a refused password or a missing
//! database fails at once.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

/// The first pause after a failed attempt.
const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Pauses double up to this.
const MAX_DELAY: Duration = Duration::from_secs(30);

/// How long to wait for a dependency at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartupWait {
    /// Until it answers (the default: a supervisor restarting the service would do the same,
    /// only noisier).
    #[default]
    Forever,
    /// Give up (and fail the start) once the pauses add up to this.
    AtMost(Duration),
}

impl StartupWait {
    /// From a number of seconds; 0 means forever.
    pub fn from_secs(secs: u64) -> Self {
        if secs == 0 {
            StartupWait::Forever
        } else {
            StartupWait::AtMost(Duration::from_secs(secs))
        }
    }

    fn backoff(self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(FIRST_DELAY)
            .with_max_delay(MAX_DELAY)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .with_total_delay(match self {
                StartupWait::Forever => None,
                StartupWait::AtMost(limit) => Some(limit),
            })
    }
}

/// Runs `attempt` until it succeeds, `retryable` says an error cannot be cured by waiting, or
/// `wait` is used up. `what` names the dependency and where it is (never with a password).
pub async fn until_reachable<T, E, F, Fut>(
    what: &str,
    wait: StartupWait,
    attempt: F,
    retryable: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempts = 0u32;
    let result = attempt
        .retry(wait.backoff())
        .sleep(tokio::time::sleep)
        .when(|err| retryable(err))
        .notify(|err, pause| {
            attempts += 1;
            metrics::counter!("startup_wait_attempts_total", "dependency" => dependency_label(what))
                .increment(1);
            tracing::warn!(
                error = %err,
                attempt = attempts,
                retry_in_ms = pause.as_millis() as u64,
                "{what} is not reachable; retrying in {:.1} s",
                pause.as_secs_f64()
            );
        })
        .await;
    if result.is_ok() && attempts > 0 {
        tracing::info!(attempts, "{what} is reachable");
    }
    result
}

/// The metric label: the dependency's name without its address.
fn dependency_label(what: &str) -> String {
    what.split_whitespace().next().unwrap_or(what).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_seconds_waits_forever() {
        assert_eq!(StartupWait::from_secs(0), StartupWait::Forever);
        assert_eq!(
            StartupWait::from_secs(5),
            StartupWait::AtMost(Duration::from_secs(5))
        );
    }

    #[tokio::test]
    async fn a_limited_wait_gives_up_and_an_incurable_error_is_not_retried() {
        let mut calls = 0;
        let result: Result<(), String> = until_reachable(
            "Test at nowhere",
            StartupWait::AtMost(Duration::from_millis(1)),
            || {
                calls += 1;
                async { Err("down".to_owned()) }
            },
            |_| true,
        )
        .await;
        assert_eq!(result, Err("down".to_owned()));
        assert_eq!(calls, 1, "the first pause already exceeds the limit");

        let mut calls = 0;
        let result: Result<(), String> = until_reachable(
            "Test at nowhere",
            StartupWait::Forever,
            || {
                calls += 1;
                async { Err("password refused".to_owned()) }
            },
            |_| false,
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
