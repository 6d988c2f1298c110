//! What every service's OpenAPI document shares: the error body and the two ways of
//! authenticating (a user's access token, the service token).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// The error body every failure answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `invalid_setting`, `reconnect_needed`, ...
    pub code: String,
    pub message: String,
    /// The offending input field, for validation errors.
    pub field: Option<String>,
}

/// Adds the `access_token` (a user's JWT) and `service_token` bearer schemes.
pub fn add_security_schemes(openapi: &mut utoipa::openapi::OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "service_token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    components.add_security_scheme(
        "access_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
}
