//! HTTP helpers both API clients use: classifying a failed response.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::connector::ApiError;

/// `Retry-After` in seconds; Graph sends decimals such as `2.128`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = raw.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Whether a 429's message says that the day's allowance of calls is used up: Zoho answers its
/// 24-hour API credit limit and a user's concurrency limit with the same `TOO_MANY_REQUESTS`,
/// and only its message ("number of API requests for the 24 hour period is exceeded", Zoho's
/// status-code page) tells them apart.
pub fn names_daily_limit(message: &str) -> bool {
    message.to_ascii_lowercase().contains("24 hour period")
}

/// The classification shared by both APIs; `code` is the provider's error code, when the body
/// had one, and `resync` says whether that code means "the cursor is no longer valid".
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    code: Option<String>,
    message: String,
    resync: bool,
) -> ApiError {
    if resync {
        return ApiError::ResyncRequired;
    }
    match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::TOO_MANY_REQUESTS => ApiError::Throttled {
            retry_after: retry_after(headers),
            daily: names_daily_limit(&message),
        },
        s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => ApiError::Transient(
            anyhow::anyhow!("{status}: {}", code.as_deref().unwrap_or("no code")),
        ),
        _ => ApiError::Permanent {
            code: code.unwrap_or_else(|| status.as_u16().to_string()),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_decimals() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2.128".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(2128)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, &h, None, String::new(), false),
            ApiError::Unauthorized
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &h, None, String::new(), false),
            ApiError::Transient(_)
        ));
        assert!(matches!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                &h,
                None,
                "Rate limit exceeded".into(),
                false
            ),
            ApiError::Throttled { daily: false, .. }
        ));
        assert!(matches!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                &h,
                Some("TOO_MANY_REQUESTS".into()),
                "number of API requests for the 24 hour period is exceeded".into(),
                false
            ),
            ApiError::Throttled { daily: true, .. }
        ));
        assert!(matches!(
            classify(StatusCode::GONE, &h, None, String::new(), true),
            ApiError::ResyncRequired
        ));
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, &h, Some("INVALID_DATA".into()), String::new(), false),
            ApiError::Permanent { code, .. } if code == "INVALID_DATA"
        ));
    }
}
