//! `web`'s own API as an OpenAPI document (`GET /openapi.json`): the session, the page's own
//! calls and health. The forwarded `/api/auth/...` and `/api/sync/...` are the services' own
//! documents (`/api/auth/openapi.json`, `/api/sync/openapi.json`), not repeated here.

use utoipa::{Modify, OpenApi};

use crate::{admin_connections, bff, session, status};

#[derive(OpenApi)]
#[openapi(
    info(title = "web", description = "The settings page's own API: the browser's session (the refresh token in an HttpOnly cookie), the lists and status the page shows, health."),
    paths(
        session::sign_in, session::refresh, session::sign_out,
        bff::start_totp, bff::discover, bff::watches, status::once, status::events,
        admin_connections::list,
        health_live, health_ready, metrics, openapi_json,
    ),
    components(schemas(service_kit::openapi::ErrorBody)),
    modifiers(&Common),
    tags(
        (name = "session", description = "Signing in, refreshing and signing out in the browser"),
        (name = "page", description = "What the page shows beyond the services' own APIs"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

struct Common;

impl Modify for Common {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        service_kit::openapi::add_security_schemes(openapi);
        service_kit::openapi::document_common_errors(openapi);
        service_kit::openapi::for_each_operation(openapi, |_, _, operation| {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            if secured {
                service_kit::openapi::ensure_error(
                    operation,
                    502,
                    "upstream_unavailable: auth-service cannot confirm the access token",
                );
            }
        });
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(document())
}

// Served by `service_kit::http::operational_routes` and [`serve`]; declared here for the document.

#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, description = "{\"status\": \"live\"}")))]
#[allow(dead_code)]
fn health_live() {}

#[utoipa::path(get, path = "/health/ready", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
#[allow(dead_code)]
fn health_ready() {}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain", description = "Prometheus metrics")))]
#[allow(dead_code)]
fn metrics() {}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "this document")))]
#[allow(dead_code)]
fn openapi_json() {}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// `(method, path)` of every route `startup.rs` serves itself, read from its source: a
    /// route added there without a document entry fails here. The forwarded prefixes and the
    /// catch-all 404 are not `web`'s own API.
    fn served_routes() -> BTreeSet<(String, String)> {
        let source = include_str!("startup.rs");
        let mut routes = BTreeSet::new();
        for chunk in source.split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).expect("a quoted path").to_owned();
            let end = chunk.find("))").map_or(chunk.len(), |i| i + 2);
            let handlers = &chunk[..end];
            if path.contains("{*rest}") {
                continue;
            }
            for method in ["get", "post", "put", "delete", "patch"] {
                if handlers.contains(&format!("{method}(")) {
                    routes.insert((method.to_owned(), path.clone()));
                }
            }
        }
        // service_kit::http::operational_routes.
        for path in ["/health/live", "/health/ready", "/metrics"] {
            routes.insert(("get".into(), path.into()));
        }
        routes
    }

    #[test]
    fn the_document_names_every_route_web_serves_and_no_other() {
        let doc = serde_json::to_value(super::document()).expect("serialisable");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                documented.insert((method.clone(), path.clone()));
            }
        }
        let served = served_routes();
        assert!(served.len() >= 12, "{served:?}");
        assert_eq!(documented, served);
    }

    #[test]
    fn every_operation_declares_what_the_shared_checks_answer() {
        let doc = serde_json::to_value(super::document()).expect("serialisable");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let responses = operation["responses"].as_object().expect("responses");
                let secured = operation["security"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty());
                if secured {
                    for status in ["401", "502"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "422"] {
                        assert!(responses.contains_key(status), "{method} {path} {status}");
                    }
                }
            }
        }
    }
}
