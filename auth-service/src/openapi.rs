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
        public::redeem_password_reset,
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
        admin::create_password_reset,
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
        document_common_errors(openapi);
    }
}

/// Operations that hash a password (Argon2, bounded queue): 503 `busy` when it is full.
const HASHING: &[(&str, &str)] = &[
    ("post", "/v1/sessions"),
    ("post", "/v1/users"),
    ("put", "/v1/me/password"),
    ("delete", "/v1/me/totp"),
    ("post", "/v1/me/recovery-codes"),
    ("post", "/v1/me/app-passwords"),
    ("post", "/internal/v1/users"),
    ("post", "/v1/admin/users"),
];

/// Operations that re-check the password, counted like sign-in guesses.
const RECHECKING: &[(&str, &str)] = &[
    ("put", "/v1/me/password"),
    ("delete", "/v1/me/totp"),
    ("post", "/v1/me/recovery-codes"),
];

/// The answers every operation of a kind can give besides its own: what the shared extractors
/// refuse, the administrators' 403, unknown providers, throttling and a full hashing queue.
fn document_common_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use service_kit::openapi::ensure_error;
    service_kit::openapi::document_common_errors(openapi);
    service_kit::openapi::for_each_operation(openapi, |path, method, operation| {
        if path.starts_with("/v1/admin/") {
            ensure_error(operation, 403, "forbidden: not an administrator");
        }
        if path.contains("{provider}") {
            ensure_error(operation, 404, "unknown_provider");
        }
        if RECHECKING.contains(&(method, path)) {
            ensure_error(
                operation,
                429,
                "too_many_attempts (Retry-After): too many wrong passwords lately",
            );
        }
        if HASHING.contains(&(method, path)) {
            ensure_error(
                operation,
                503,
                "busy (Retry-After): every password-hashing slot and the queue are taken",
            );
        }
    });
}

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
