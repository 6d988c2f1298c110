//! The OpenAPI document of the service (`GET /openapi.json`), generated from the handlers'
//! annotations so it cannot drift from the routes.

use utoipa::{Modify, OpenApi};

use crate::routes::{admin, connections, internal, public, sso};

pub use service_kit::openapi::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "auth-service",
        description = "Users, sessions, two-factor sign-in, app passwords and provider connections of the Outlook ⇄ Zoho CRM sync."
    ),
    paths(
        internal::create_user,
        internal::store_connection,
        internal::list_connections,
        internal::provider_token,
        public::jwks,
        public::sign_up,
        public::sign_in,
        public::refresh,
        public::list_sessions,
        public::current_session,
        public::sign_out,
        public::revoke_session,
        public::me,
        public::change_password,
        public::start_totp,
        public::confirm_totp,
        public::disable_totp,
        public::regenerate_recovery_codes,
        public::list_app_passwords,
        public::create_app_password,
        public::revoke_app_password,
        connections::list,
        connections::disconnect,
        connections::authorize_redirect,
        connections::authorize_json,
        connections::callback,
        admin::list_users,
        admin::create_user,
        admin::update_user,
        admin::revoke_sessions,
        admin::user_connections,
        admin::reset_totp,
        admin::all_connections,
        admin::audit_log,
        sso::providers,
        sso::authorize,
        sso::callback,
        sso::identities,
        sso::unlink,
        sso::get_policy,
        sso::put_policy,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "internal", description = "Service-to-service; the service token"),
        (name = "sessions", description = "Sign-in, refresh, sign-out and the JWKS"),
        (name = "account", description = "The signed-in user: password, two-factor sign-in, app passwords"),
        (name = "connections", description = "Connecting Outlook and Zoho with OAuth"),
        (name = "admin", description = "Administrators only"),
        (name = "sso", description = "Sign-in with OpenID Connect providers and linked identities"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        service_kit::openapi::add_security_schemes(openapi);
    }
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
