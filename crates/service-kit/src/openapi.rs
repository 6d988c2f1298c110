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

/// Runs `f` on every operation of the document, with its path and method.
pub fn for_each_operation(
    openapi: &mut utoipa::openapi::OpenApi,
    mut f: impl FnMut(&str, &str, &mut utoipa::openapi::path::Operation),
) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        for (method, operation) in [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ] {
            if let Some(operation) = operation.as_mut() {
                f(path, method, operation);
            }
        }
    }
}

/// Documents `status` as an [`ErrorBody`] answer, unless the operation documents it already
/// (its own, more precise description wins).
pub fn ensure_error(
    operation: &mut utoipa::openapi::path::Operation,
    status: u16,
    description: &str,
) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
                .into()
        });
}

/// Documents what the shared request handling answers on any operation, so that a client (and
/// a schema-driven fuzzer) finds every status it can meet: 401 where the operation needs
/// credentials; where it takes a body or parameters, what the shared extractors
/// ([`crate::extract`]) refuse: 422 `invalid_body` / `invalid_query` / `invalid_path`, 400
/// `nul_character`, and 413 `body_too_large` for a body.
pub fn document_common_errors(openapi: &mut utoipa::openapi::OpenApi) {
    for_each_operation(openapi, |_, _, operation| {
        if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
            ensure_error(
                operation,
                401,
                "unauthenticated: no credentials, wrong ones, or an ended session",
            );
        }
        let takes_input = operation.request_body.is_some()
            || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
        if takes_input {
            ensure_error(
                operation,
                422,
                "invalid_body, invalid_query, invalid_path: the request is not what this operation takes",
            );
            ensure_error(
                operation,
                400,
                "nul_character: a text value holds a NUL character",
            );
        }
        if operation.request_body.is_some() {
            ensure_error(
                operation,
                413,
                "body_too_large: the body is over the server's limit",
            );
        }
    });
}
