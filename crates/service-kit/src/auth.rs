//! Service-to-service authentication: a shared bearer token on internal endpoints.

use axum::http::{HeaderMap, header::AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};

/// Whether the request carries `Authorization: Bearer <expected>`, compared in constant time.
pub fn has_bearer(headers: &HeaderMap, expected: &SecretString) -> bool {
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    constant_time_eq(presented.as_bytes(), expected.expose_secret().as_bytes())
}

/// Compares without an early exit, so the time taken does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_must_match_exactly() {
        let secret = SecretString::from("s3cret");
        let mut headers = HeaderMap::new();
        assert!(!has_bearer(&headers, &secret));
        headers.insert(AUTHORIZATION, "Bearer s3cre".parse().unwrap());
        assert!(!has_bearer(&headers, &secret));
        headers.insert(AUTHORIZATION, "Bearer s3cret".parse().unwrap());
        assert!(has_bearer(&headers, &secret));
    }
}
