//! The OpenAPI document (`GET /openapi.json`), generated from the handlers' annotations.

use utoipa::{Modify, OpenApi};

use crate::routes::{admin, conflicts, settings, status};

#[derive(OpenApi)]
#[openapi(
    info(title = "sync-service", description = "Settings, status, the conflict log and the admin API of the Outlook ⇄ Zoho CRM sync."),
    paths(
        settings::get_mine, settings::put_mine, settings::sync_now, status::mine,
        conflicts::list, conflicts::resolve,
        admin::link_health, admin::resync, admin::rebuild_links, admin::held_deletions, admin::release, admin::discard, admin::release_many, admin::discard_many,
        admin::dead_letters, admin::replay, admin::held_users, admin::unblock,
        settings::get, settings::put, settings::sync_now_internal, status::get,
    ),
    components(schemas(service_kit::openapi::ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "sync", description = "The signed-in user's sync"),
        (name = "admin", description = "Administrators only"),
        (name = "internal", description = "Service-to-service; the service token"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        service_kit::openapi::add_security_schemes(openapi);
        document_common_errors(openapi);
    }
}

/// The answers an operation can give besides its own, from what every handler shares: the
/// caller checks (401, 403, 503 when auth-service cannot confirm a session) and the shared
/// extractors (422 for a path, query or body that does not parse, 400 for a NUL character, 413
/// for a body over the limit). A client, and a schema-driven fuzzer,
/// then finds in the document every status it can meet.
fn document_common_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use service_kit::openapi::{ensure_error, for_each_operation};
    for_each_operation(openapi, |path, method, operation| {
        let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
        if secured && path.starts_with("/internal/") {
            ensure_error(
                operation,
                401,
                "unauthenticated: no or an unknown service credential",
            );
            ensure_error(operation, 403, "forbidden: the credential lacks this scope");
        } else if secured {
            ensure_error(
                operation,
                401,
                "unauthenticated: no access token, a wrong one, or an ended session",
            );
            ensure_error(
                operation,
                503,
                "auth_unavailable: auth-service cannot confirm the session; try again",
            );
        }
        if path.starts_with("/v1/admin/") && method == "get" {
            ensure_error(operation, 403, "forbidden: not an administrator");
        } else if path.starts_with("/v1/admin/") {
            ensure_error(
                operation,
                403,
                "forbidden: not an administrator; app_password_not_allowed: the session was opened with an app password",
            );
        }
    });
    // What the shared extractors refuse (422 invalid_*, 400 nul_character, 413 body_too_large).
    service_kit::openapi::document_common_errors(openapi);
}

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_documented() {
        let doc = serde_json::to_value(super::document()).expect("serialisable");
        let paths = doc["paths"].as_object().expect("paths");
        for path in [
            "/v1/settings",
            "/v1/status",
            "/v1/sync-now",
            "/v1/conflicts",
            "/v1/conflicts/{link_id}/resolve",
            "/v1/admin/users/{user_id}/links",
            "/v1/admin/users/{user_id}/resync",
            "/v1/admin/users/{user_id}/rebuild-links",
            "/v1/admin/held-deletions",
            "/v1/admin/held-deletions/{link_id}/release",
            "/v1/admin/held-deletions/{link_id}/discard",
            "/v1/admin/dead-letters",
            "/v1/admin/dead-letters/{id}/replay",
            "/v1/admin/held-users",
            "/v1/admin/users/{user_id}/unblock",
            "/internal/v1/users/{user_id}/settings",
            "/internal/v1/users/{user_id}/status",
            "/internal/v1/users/{user_id}/sync-now",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} is missing from the OpenAPI document"
            );
        }
        assert!(doc["components"]["schemas"]["UserSettings"].is_object());
    }

    #[test]
    fn every_operation_declares_what_the_shared_checks_answer() {
        let doc = serde_json::to_value(super::document()).expect("serialisable");
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                operations += 1;
                let responses = operation["responses"].as_object().expect("responses");
                let has = |status: &str| responses.contains_key(status);
                let expected: &[&str] = if path.starts_with("/internal/") {
                    &["401", "403"]
                } else if path.starts_with("/v1/admin/") {
                    &["401", "403", "503"]
                } else {
                    &["401", "503"]
                };
                for status in expected {
                    assert!(has(status), "{method} {path} documents {status}");
                }
                let takes_input = operation.get("requestBody").is_some()
                    || operation["parameters"]
                        .as_array()
                        .is_some_and(|p| !p.is_empty());
                if takes_input {
                    for status in ["400", "422"] {
                        assert!(has(status), "{method} {path} documents {status}");
                    }
                }
                if operation.get("requestBody").is_some() {
                    assert!(has("413"), "{method} {path} documents 413");
                }
            }
        }
        assert!(operations >= 20, "{operations} operations");
        let sync_now = &doc["paths"]["/internal/v1/users/{user_id}/sync-now"]["post"]["responses"];
        assert!(
            sync_now.get("404").is_some(),
            "internal sync-now documents 404"
        );
        let put_settings = &doc["paths"]["/v1/settings"]["put"]["responses"];
        for status in ["200", "400", "401", "422", "503"] {
            assert!(
                put_settings.get(status).is_some(),
                "PUT /v1/settings documents {status}"
            );
        }
    }
}
