//! The base of absolute links. Graph's `@odata.nextLink` and Zoho's `api_domain` are absolute
//! URLs that clients follow verbatim, so they must name the address the client used: the
//! configured public base, else the request's `Host`.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header::HOST;
use axum::http::request::Parts;

use crate::state::AppState;

/// `http://host:port` without a trailing slash.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        if let Some(base) = &state.settings().public_base_url {
            return Ok(BaseUrl(base.clone()));
        }
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned());
        Ok(BaseUrl(format!("http://{host}")))
    }
}
