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
    }
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
}
