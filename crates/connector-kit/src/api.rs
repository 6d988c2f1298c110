//! Every provider API call goes through [`ApiCaller::call`]: at most a few requests in flight per
//! user across every replica (Outlook allows 4 concurrent requests per mailbox; a `$batch`
//! counts as up to 4, see [`ApiCaller::call_weighted`] and [`crate::slots`]), `Retry-After`
//! honoured on 429, exponential backoff with full jitter on 5xx, timeouts and dropped
//! connections, and calls, errors and retries counted in `/metrics` (`connector_api_calls_total`,
//! `connector_api_retries_total`, labels `side`, `operation`, `status`/`reason`).
//!
//! The body is read inside the call, so a connection dropped mid-body is retried like any other
//! transport failure, and a malformed body reaches the client as bytes it can refuse cleanly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use sync_model::{Side, UserId};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connector::ApiError;
use crate::http::retry_after;
use crate::settings::ApiSettings;
use crate::slots::{Held, SlotTable};

/// A user's share of the API: the in-flight bound and a count of calls made (Zoho charges a
/// credit per call).
///
/// The bound has two parts: a semaphore in this process (cheap, fair, and it keeps a replica's
/// own calls from racing each other for the shared slots) and, when the gate comes from
/// [`Gates::shared`], the user's rows in the [slot table](crate::slots), which hold across
/// replicas.
#[derive(Clone)]
pub struct Gate {
    semaphore: Arc<Semaphore>,
    max_in_flight: usize,
    slots: Option<(SlotTable, UserId)>,
    calls: Arc<AtomicU64>,
}

impl Gate {
    /// A gate bounded in this process only (tests, tools).
    pub fn new(max_in_flight: usize) -> Gate {
        Gate {
            semaphore: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_in_flight: max_in_flight.max(1),
            slots: None,
            calls: Arc::default(),
        }
    }

    /// Calls made through this gate so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Takes `weight` permits (clamped to `1..=max_in_flight`) at once: first in this process,
    /// then in the slot table. Waits until they are free; fails only when the slot table
    /// cannot be reached.
    pub async fn acquire(&self, weight: usize) -> Result<Permit, ApiError> {
        let weight = weight.clamp(1, self.max_in_flight);
        // Never closed, so acquiring only ever waits.
        let local = self
            .semaphore
            .clone()
            .acquire_many_owned(weight as u32)
            .await
            .map_err(|e| ApiError::Transient(anyhow::Error::new(e)))?;
        let slots = match &self.slots {
            None => None,
            Some((table, user)) => Some(
                table
                    .acquire(*user, self.max_in_flight, weight)
                    .await
                    .map_err(|e| {
                        ApiError::Transient(
                            anyhow::Error::new(e).context("cannot take an API slot"),
                        )
                    })?,
            ),
        };
        Ok(Permit {
            _local: local,
            slots,
        })
    }
}

/// Permits taken through a [`Gate`]: give them back with [`Permit::release`] as soon as the
/// request is done. Dropped instead (a cancelled or panicking call), the process's permits come
/// back at once and the shared slots in the background, or when their lease ends.
pub struct Permit {
    _local: OwnedSemaphorePermit,
    slots: Option<Held>,
}

impl Permit {
    /// Gives the shared slots back, then this process's permits.
    pub async fn release(self) {
        let Permit { _local, slots } = self;
        if let Some(slots) = slots {
            slots.release().await;
        }
    }
}

/// One in-flight bound per user, shared by the poll loop, the command consumer and discovery of
/// a replica, and (with [`Gates::shared`]) by every replica.
#[derive(Clone)]
pub struct Gates {
    max_in_flight: usize,
    semaphores: Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>,
    slots: Option<SlotTable>,
}

impl Gates {
    /// Bounds held in this process only: right for one replica, tests and tools.
    pub fn new(max_in_flight: usize) -> Gates {
        Gates {
            max_in_flight: max_in_flight.max(1),
            semaphores: Arc::default(),
            slots: None,
        }
    }

    /// Bounds held across every replica sharing `slots`' database schema.
    pub fn shared(max_in_flight: usize, slots: SlotTable) -> Gates {
        Gates {
            slots: Some(slots),
            ..Gates::new(max_in_flight)
        }
    }

    /// A gate on the user's shared bound, with its own call count (so a poll round and a write
    /// batch each know exactly what they spent).
    pub fn for_user(&self, user: UserId) -> Gate {
        let mut semaphores = self.semaphores.lock().unwrap_or_else(|e| e.into_inner());
        let semaphore = semaphores
            .entry(user)
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_in_flight)))
            .clone();
        Gate {
            semaphore,
            max_in_flight: self.max_in_flight,
            slots: self.slots.clone().map(|table| (table, user)),
            calls: Arc::default(),
        }
    }
}

/// When and how often to try again.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for inside a call: the error goes up, and
    /// the poll loop reschedules the watch (or the command is retried) after that delay.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn from_settings(settings: &ApiSettings) -> RetryPolicy {
        RetryPolicy {
            max_attempts: settings.max_attempts.max(1),
            base_delay: settings.base_backoff,
            max_delay: settings.max_backoff,
            max_retry_after: settings.max_retry_after,
        }
    }

    /// Exponential backoff with full jitter: a random delay in `[0, min(max, base × 2^n)]`, so
    /// many clients throttled together do not come back together.
    pub fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_delay);
        let millis = cap.as_millis().min(u64::MAX as u128) as u64;
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// An answer read in full: what the client inspects and parses.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The body as `T`; a body that does not parse is `malformed_response` (retryable: the next
    /// read may be whole).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| malformed(format!("{e}")))
    }
}

/// A body that could not be read. Transient: it fails this page or write, which is tried again.
/// The request itself was carried out, so a write's effect is [unconfirmed](is_unconfirmed).
pub fn malformed(reason: impl std::fmt::Display) -> ApiError {
    ApiError::Transient(anyhow::Error::new(Unconfirmed(format!(
        "malformed_response: {reason}"
    ))))
}

/// The provider may have carried out the request but its answer was lost (a connection dropped
/// after sending, a garbled body): a create must not simply be sent again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unconfirmed(pub String);

/// Whether `err` leaves open whether the request took effect.
pub fn is_unconfirmed(err: &ApiError) -> bool {
    matches!(err, ApiError::Transient(e) if e.downcast_ref::<Unconfirmed>().is_some())
}

/// Whether a request may be sent twice. A create is not: a retry after an answer that may have
/// been lost (a timeout, a 5xx, a dropped connection) could create the item twice, so it is only
/// retried when the provider certainly did nothing (429, a refused connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NotIdempotent,
}

#[derive(Clone)]
pub struct ApiCaller {
    side: Side,
    policy: RetryPolicy,
}

impl ApiCaller {
    pub fn new(side: Side, policy: RetryPolicy) -> ApiCaller {
        ApiCaller { side, policy }
    }

    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends the request `build` makes (once per attempt) under `gate`, retrying what is worth
    /// retrying. 429 and 5xx that outlast the retries come back as errors; every other answer
    /// (2xx, 3xx, 4xx) comes back for the client to interpret.
    pub async fn call(
        &self,
        gate: &Gate,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<ApiResponse, ApiError> {
        self.call_weighted(gate, 1, operation, idempotency, build)
            .await
    }

    /// [`call`](Self::call) for a request that counts as `weight` requests in flight against
    /// the user's bound: a Graph `$batch` of n requests is min(4, n), as Graph runs up to 4 of
    /// them against the mailbox at once. The permits are held only while a request is in
    /// flight (sent, answered, body read), never during a `Retry-After` or backoff wait.
    pub async fn call_weighted(
        &self,
        gate: &Gate,
        weight: usize,
        operation: &'static str,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<ApiResponse, ApiError> {
        let side = self.side.as_str();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.max_attempts;
            let outcome = {
                // The permits are held while the body is read: the provider counts the request
                // as in flight until then.
                let permit = gate.acquire(weight).await?;
                gate.calls.fetch_add(1, Ordering::Relaxed);
                let outcome = send(build()).await;
                permit.release().await;
                outcome
            };
            let (error, wait, retryable) = match outcome {
                Ok(response) => {
                    let status = response.status;
                    metrics::counter!("connector_api_calls_total", "side" => side, "operation" => operation, "status" => status.as_str().to_owned()).increment(1);
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        let daily = body_names_daily_limit(&response.body);
                        let after = retry_after(&response.headers).or_else(|| {
                            if daily {
                                body_daily_retry_after(&response.body)
                            } else {
                                body_retry_after(&response.body)
                            }
                        });
                        let error = ApiError::Throttled {
                            retry_after: after,
                            daily,
                        };
                        match after {
                            // The day's allowance comes back in hours: retrying now only
                            // spends the attempts.
                            _ if daily => return Err(error),
                            Some(after) if after > self.policy.max_retry_after => {
                                return Err(error);
                            }
                            Some(after) => (error, after, true),
                            None => (error, self.policy.backoff(attempt), true),
                        }
                    } else if status.is_server_error() {
                        let after = retry_after(&response.headers);
                        let error = ApiError::Transient(anyhow::anyhow!(
                            "{status}: {}",
                            String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
                        ));
                        let wait = after
                            .filter(|a| *a <= self.policy.max_retry_after)
                            .unwrap_or_else(|| self.policy.backoff(attempt));
                        // A 503 with Retry-After says the request was not processed.
                        let safe = idempotency == Idempotency::Idempotent
                            || (status == StatusCode::SERVICE_UNAVAILABLE && after.is_some());
                        (error, wait, safe)
                    } else {
                        return Ok(response);
                    }
                }
                Err(err) => {
                    metrics::counter!("connector_api_calls_total", "side" => side, "operation" => operation, "status" => "transport_error").increment(1);
                    let safe = idempotency == Idempotency::Idempotent || err.is_connect();
                    let error = if err.is_connect() {
                        ApiError::Transient(anyhow::Error::new(err))
                    } else {
                        ApiError::Transient(anyhow::Error::new(Unconfirmed(format!(
                            "the connection failed: {err}"
                        ))))
                    };
                    (error, self.policy.backoff(attempt), safe)
                }
            };
            let reason = match &error {
                ApiError::Throttled { .. } => "throttled",
                _ => "transient",
            };
            metrics::counter!("connector_api_errors_total", "side" => side, "operation" => operation, "reason" => reason).increment(1);
            if last || !retryable {
                return Err(error);
            }
            metrics::counter!("connector_api_retries_total", "side" => side, "operation" => operation, "reason" => reason).increment(1);
            tracing::debug!(operation, attempt, ?wait, %error, "retrying a provider call");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Zoho sends no `Retry-After` header; its 429 body may carry `details.retry_after` (seconds).
pub fn body_retry_after(body: &[u8]) -> Option<Duration> {
    body_seconds(body, "/details/retry_after", 3600.0)
}

/// When the day's allowance is used up, the wait the body names may be up to a day (the oldest
/// calls of the rolling 24 hours leave the window then).
pub fn body_daily_retry_after(body: &[u8]) -> Option<Duration> {
    body_seconds(body, "/details/retry_after", 24.0 * 3600.0)
}

/// Whether a 429's body says that the day's allowance is used up (see
/// [`crate::http::names_daily_limit`]).
pub fn body_names_daily_limit(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")?
                .as_str()
                .map(crate::http::names_daily_limit)
        })
        .unwrap_or(false)
}

fn body_seconds(body: &[u8], pointer: &str, cap: f64) -> Option<Duration> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let secs = value.pointer(pointer)?.as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(cap)))
}

async fn send(request: reqwest::RequestBuilder) -> Result<ApiResponse, reqwest::Error> {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    Ok(ApiResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_grows_within_its_cap() {
        let p = policy();
        for retry in 0..20 {
            let cap = Duration::from_millis(100 * 2u64.pow(retry.min(16))).min(p.max_delay);
            for _ in 0..50 {
                assert!(p.backoff(retry) <= cap);
            }
        }
        // Full jitter: not always the same.
        let samples: std::collections::HashSet<Duration> = (0..50).map(|_| p.backoff(5)).collect();
        assert!(samples.len() > 1);
    }

    #[test]
    fn zoho_retry_after_comes_from_the_body() {
        let body = br#"{"code":"TOO_MANY_REQUESTS","details":{"retry_after":60}}"#;
        assert_eq!(body_retry_after(body), Some(Duration::from_secs(60)));
        assert_eq!(body_retry_after(b"<html>"), None);
    }

    #[test]
    fn zohos_daily_limit_is_told_by_its_message_and_may_wait_a_day() {
        // As the sandbox answers when an org's credits for the 24 hours are spent.
        let daily = br#"{"code":"TOO_MANY_REQUESTS","status":"error","message":"number of API requests for the 24 hour period is exceeded","details":{"limit":100,"window":86400,"retry_after":80000}}"#;
        assert!(body_names_daily_limit(daily));
        assert_eq!(
            body_daily_retry_after(daily),
            Some(Duration::from_secs(80_000))
        );
        assert_eq!(body_retry_after(daily), Some(Duration::from_secs(3600)));
        let burst = br#"{"code":"TOO_MANY_REQUESTS","message":"Rate limit exceeded. Please retry after the specified time.","details":{"retry_after":60}}"#;
        assert!(!body_names_daily_limit(burst));
        assert!(!body_names_daily_limit(b"<html>"));
    }

    #[tokio::test]
    async fn gates_bound_concurrency_per_user() {
        let gates = Gates::new(4);
        let user = UserId(uuid::Uuid::new_v4());
        let gate = gates.for_user(user);
        let permits: Vec<_> = (0..4)
            .map(|_| gate.semaphore.clone().try_acquire_owned().unwrap())
            .collect();
        assert!(
            gates.for_user(user).semaphore.try_acquire().is_err(),
            "the fifth waits"
        );
        assert!(
            gates
                .for_user(UserId(uuid::Uuid::new_v4()))
                .semaphore
                .try_acquire()
                .is_ok(),
            "another user does not"
        );
        drop(permits);
    }

    #[tokio::test]
    async fn a_weighted_permit_takes_its_weight_and_is_clamped_to_the_bound() {
        let gate = Gate::new(4);
        let batch = gate.acquire(9).await.expect("clamped to 4");
        assert_eq!(gate.semaphore.available_permits(), 0);
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.acquire(1).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a call went ahead of a full batch");
        batch.release().await;
        waiting.await.unwrap().unwrap();
        assert_eq!(gate.semaphore.available_permits(), 4);
    }
}
