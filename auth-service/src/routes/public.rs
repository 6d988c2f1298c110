//! The user-facing API (`/v1/...`): sign-in, sessions, the current user, and the JWKS.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::extract::{AuthUser, ClientAddress, Json, OwnerUser, Path, user_agent};
use crate::auth::sessions::{self as signin, Credentials, SignedIn, claim_attempt};
use crate::auth::{accounts, app_passwords, totp};
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::{app_passwords as app_password_store, second_factor, sessions, users};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/users", post(sign_up))
        .route("/v1/sessions", post(sign_in).get(list_sessions))
        .route("/v1/sessions/refresh", post(refresh))
        .route(
            "/v1/sessions/current",
            get(current_session).delete(sign_out),
        )
        .route("/v1/sessions/{session_id}", delete(revoke_session))
        .route("/v1/me", get(me))
        .route("/v1/me/password", put(change_password))
        .route("/v1/password-resets", post(redeem_password_reset))
        .route("/v1/me/totp", post(start_totp).delete(disable_totp))
        .route("/v1/me/totp/confirm", post(confirm_totp))
        .route("/v1/me/recovery-codes", post(regenerate_recovery_codes))
        .route(
            "/v1/me/app-passwords",
            get(list_app_passwords).post(create_app_password),
        )
        .route("/v1/me/app-passwords/{id}", delete(revoke_app_password))
        .with_state(state)
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "sessions", responses((status = 200, description = "JWK set of the Ed25519 signing keys")))]
pub(crate) async fn jwks(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse> {
    let keys = state.jwt.jwks(&state.pool).await?;
    // Verifiers may cache it briefly; they refetch on an unknown `kid` anyway.
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(keys),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub session_id: Uuid,
    pub session_expires_at: DateTime<Utc>,
    pub user_id: UserId,
}

impl From<SignedIn> for TokenPair {
    fn from(s: SignedIn) -> Self {
        TokenPair {
            access_token: s.access_token.expose_secret().to_owned(),
            token_type: "Bearer",
            expires_in: s.expires_in,
            refresh_token: s.refresh_token.expose_secret().to_owned(),
            session_id: s.session_id,
            session_expires_at: s.session_expires_at,
            user_id: s.user_id,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SignIn {
    #[serde(default)]
    email: String,
    #[schema(value_type = String)]
    password: Option<SecretString>,
    /// "Keep me signed in": a long session instead of a short one.
    #[serde(default)]
    keep_signed_in: bool,
    /// With two-factor sign-in on: the current TOTP code, or else a recovery code.
    totp_code: Option<String>,
    recovery_code: Option<String>,
    /// `browser` (the default): the main password and, with two-factor sign-in on, a second
    /// factor. `api` (scripts, mail and sync clients): an app password; the main password only
    /// while two-factor sign-in is off, else 401 `app_password_required`.
    #[serde(default)]
    client: SignInClient,
    /// A single sign-on ticket (from `/v1/sso/{provider}/callback`) instead of an e-mail
    /// address; with `password` when the ticket needs the account's confirmation.
    #[schema(value_type = Option<String>)]
    sso_ticket: Option<SecretString>,
}

#[derive(Deserialize, Default, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SignInClient {
    #[default]
    Browser,
    Api,
}

#[utoipa::path(post, path = "/v1/sessions", tag = "sessions", request_body = SignIn, responses((status = 201, body = TokenPair), (status = 401, body = crate::openapi::ErrorBody, description = "invalid_credentials, second_factor_required, invalid_second_factor, app_password_required (client api, 2FA on)"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: an app password with client browser"), (status = 429, body = crate::openapi::ErrorBody, description = "too_many_attempts (Retry-After): per account and per client address")))]
pub(crate) async fn sign_in(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    Json(body): Json<SignIn>,
) -> Result<(StatusCode, Json<TokenPair>)> {
    if let Some(ticket) = body.sso_ticket {
        let signed_in = crate::sso::flow::redeem(
            &state,
            crate::sso::flow::Redemption {
                ticket,
                password: body.password,
                totp_code: body.totp_code.map(SecretString::from),
                recovery_code: body.recovery_code.map(SecretString::from),
                keep_signed_in: body.keep_signed_in,
                user_agent: user_agent(&headers),
                address,
            },
        )
        .await?;
        return Ok((StatusCode::CREATED, Json(signed_in.into())));
    }
    let password = body
        .password
        .ok_or_else(|| Error::invalid("missing_password", "password", "password is required"))?;
    let signed_in = signin::sign_in(
        &state,
        Credentials {
            email: body.email,
            password,
            keep_signed_in: body.keep_signed_in,
            user_agent: user_agent(&headers),
            totp_code: body.totp_code.map(SecretString::from),
            recovery_code: body.recovery_code.map(SecretString::from),
            client: match body.client {
                SignInClient::Browser => signin::Client::Browser,
                SignInClient::Api => signin::Client::Api,
            },
            address,
            link_confirmation: false,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(signed_in.into())))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SignUp {
    #[serde(default)]
    email: String,
    #[schema(value_type = String)]
    password: Option<SecretString>,
    display_name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SignedUp {
    user_id: UserId,
}

/// Self sign-up, when the server allows it (`AUTH_SELF_SIGNUP=true`): an ordinary user with the
/// usual password policy, who then signs in with `POST /v1/sessions`.
#[utoipa::path(post, path = "/v1/users", tag = "sessions", request_body = SignUp, responses((status = 201, body = SignedUp), (status = 403, body = crate::openapi::ErrorBody, description = "self_signup_disabled"), (status = 409, body = crate::openapi::ErrorBody, description = "email_taken"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_email, missing_password, weak_password, invalid_display_name"), (status = 429, body = crate::openapi::ErrorBody, description = "too_many_attempts (Retry-After): per client address")))]
pub(crate) async fn sign_up(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    Json(body): Json<SignUp>,
) -> Result<(StatusCode, Json<SignedUp>)> {
    if !state.self_signup {
        return Err(Error::SelfSignupDisabled);
    }
    // Every attempt counts, refused ones too: `email_taken` tells whether an address has an
    // account, so probing is limited like guessing is.
    if let Some(address) = address {
        let key = format!("sign_up:{address}");
        let settings = state.jwt.settings();
        claim_attempt(&state, &key, settings.max_sign_ups_per_address).await?;
    }
    let password = body
        .password
        .ok_or_else(|| Error::invalid("missing_password", "password", "password is required"))?;
    let account = accounts::NewAccount {
        email: body.email,
        display_name: body.display_name,
        password: Some(password),
        is_admin: false,
    };
    let user_id = accounts::create_user(&state, account, "self_signup").await?;
    Ok((StatusCode::CREATED, Json(SignedUp { user_id })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct Refresh {
    #[schema(value_type = String)]
    refresh_token: Option<SecretString>,
}

#[utoipa::path(post, path = "/v1/sessions/refresh", tag = "sessions", request_body = Refresh, responses((status = 200, body = TokenPair), (status = 401, body = crate::openapi::ErrorBody, description = "invalid_session")))]
pub(crate) async fn refresh(
    State(state): State<Arc<AppState>>,
    Json(body): Json<Refresh>,
) -> Result<Json<TokenPair>> {
    let token = body.refresh_token.ok_or(Error::InvalidSession)?;
    Ok(Json(signin::refresh(&state, &token).await?.into()))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionView {
    session_id: Uuid,
    current: bool,
    long_lived: bool,
    amr: Vec<String>,
    user_agent: Option<String>,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

#[utoipa::path(get, path = "/v1/sessions", tag = "sessions", security(("access_token" = [])), responses((status = 200, body = SessionList)))]
pub(crate) async fn list_sessions(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<SessionList>> {
    let rows = sessions::list_active(&state.pool, user.user_id).await?;
    let views: Vec<SessionView> = rows
        .into_iter()
        .map(|s| SessionView {
            session_id: s.id,
            current: s.id == user.session_id,
            long_lived: s.long_lived,
            amr: s.amr,
            user_agent: s.user_agent,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
        })
        .collect();
    Ok(Json(SessionList { sessions: views }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionList {
    sessions: Vec<SessionView>,
}

/// What the other services learn about a token they verified: whether its session is still
/// active and the account enabled, and whether the user is an administrator now.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CurrentSession {
    user_id: UserId,
    session_id: Uuid,
    admin: bool,
    /// How the session was opened (RFC 8176): `pwd`, `otp`, `recovery_code`, or
    /// `app_password`, whose sessions the other services refuse what auth-service refuses them.
    amr: Vec<String>,
}

/// The bearer's own session, checked against the database: sync-service and web ask this after
/// verifying a token's signature, so that sign-out, a revoked session, a disabled account or a
/// demotion take effect there at once rather than when the token expires (decisions #48).
#[utoipa::path(get, path = "/v1/sessions/current", tag = "sessions", security(("access_token" = [])), responses((status = 200, body = CurrentSession), (status = 401, body = crate::openapi::ErrorBody, description = "unauthenticated: no token, a bad one, or its session is over")))]
pub(crate) async fn current_session(user: AuthUser) -> Json<CurrentSession> {
    Json(CurrentSession {
        user_id: user.user_id,
        session_id: user.session_id,
        admin: user.is_admin,
        amr: user.amr,
    })
}

#[utoipa::path(delete, path = "/v1/sessions/current", tag = "sessions", security(("access_token" = [])), responses((status = 204)))]
pub(crate) async fn sign_out(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<StatusCode> {
    sessions::revoke(&state.pool, user.user_id, user.session_id).await?;
    audit::record(
        &state.pool,
        Some(user.user_id),
        Event::SignedOut,
        None,
        json!({"session_id": user.session_id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/sessions/{session_id}", tag = "sessions", security(("access_token" = [])), params(("session_id" = String, Path)), responses((status = 204), (status = 404, body = crate::openapi::ErrorBody, description = "session_not_found")))]
pub(crate) async fn revoke_session(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
    Path(session_id): Path<String>,
) -> Result<StatusCode> {
    let not_found = Error::NotFound {
        code: "session_not_found",
        message: "no such active session",
    };
    let session_id: Uuid = session_id.parse().map_err(|_| not_found)?;
    if !sessions::revoke(&state.pool, user.user_id, session_id).await? {
        return Err(Error::NotFound {
            code: "session_not_found",
            message: "no such active session",
        });
    }
    audit::record(
        &state.pool,
        Some(user.user_id),
        Event::SessionRevoked,
        None,
        json!({"session_id": session_id}),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/me", tag = "account", security(("access_token" = [])), responses((status = 200, description = "user_id, email, display_name, is_admin, totp_enabled, has_password (false for an account that signs in only with an identity provider), created_at, session_id")))]
pub(crate) async fn me(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<serde_json::Value>> {
    let row = users::find(&state.pool, user.user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(Json(json!({
        "user_id": row.id,
        "email": row.email,
        "display_name": row.display_name,
        "is_admin": row.is_admin,
        "totp_enabled": second_factor::is_enabled(&state.pool, user.user_id).await?,
        "has_password": row.password_hash.is_some(),
        "created_at": row.created_at,
        "session_id": user.session_id,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct ChangePassword {
    #[schema(value_type = String)]
    current_password: Option<SecretString>,
    #[schema(value_type = String)]
    new_password: Option<SecretString>,
}

#[utoipa::path(put, path = "/v1/me/password", tag = "account", security(("access_token" = [])), request_body = ChangePassword, responses((status = 204), (status = 401, body = crate::openapi::ErrorBody, description = "invalid_credentials"), (status = 422, body = crate::openapi::ErrorBody, description = "weak_password"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn change_password(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Json(body): Json<ChangePassword>,
) -> Result<StatusCode> {
    let current = body.current_password.ok_or(Error::InvalidCredentials)?;
    let new = body.new_password.ok_or_else(|| {
        Error::invalid("weak_password", "new_password", "new_password is required")
    })?;
    accounts::change_password(&state, user.user_id, user.session_id, &current, &new).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts two-factor enrolment: the secret to put into an authenticator app (shown once), as
/// text, as an `otpauth://` URI and as that URI in an SVG QR code.
#[utoipa::path(post, path = "/v1/me/totp", tag = "account", security(("access_token" = [])), responses((status = 200, description = "secret, otpauth_url, qr_svg (image/svg+xml)"), (status = 409, body = crate::openapi::ErrorBody, description = "totp_already_enabled"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn start_totp(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
) -> Result<Json<serde_json::Value>> {
    let enrolment = totp::start(&state, user.user_id).await?;
    Ok(Json(json!({
        "secret": enrolment.secret.expose_secret(),
        "otpauth_url": enrolment.otpauth_url.expose_secret(),
        "qr_svg": enrolment.qr_svg.expose_secret(),
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct Code {
    #[serde(default)]
    code: String,
}

/// Turns two-factor sign-in on with a first code; answers the recovery codes (shown once).
#[utoipa::path(post, path = "/v1/me/totp/confirm", tag = "account", security(("access_token" = [])), request_body = Code, responses((status = 200, description = "recovery_codes"), (status = 401, body = crate::openapi::ErrorBody, description = "invalid_second_factor"), (status = 409, body = crate::openapi::ErrorBody, description = "totp_not_started, totp_already_enabled"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn confirm_totp(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Json(body): Json<Code>,
) -> Result<Json<serde_json::Value>> {
    let codes = totp::confirm(&state, user.user_id, &body.code).await?;
    Ok(Json(json!({"recovery_codes": codes})))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordCheck {
    #[schema(value_type = String)]
    password: Option<SecretString>,
    /// Only for an account without a password (single sign-on, an invitation): the current
    /// TOTP code, or else a recovery code (used up).
    #[schema(value_type = String)]
    totp_code: Option<SecretString>,
    #[schema(value_type = String)]
    recovery_code: Option<SecretString>,
}

impl PasswordCheck {
    /// Nothing given is refused before any attempt is counted.
    fn proof(self) -> Result<accounts::Reauthentication> {
        use accounts::Reauthentication as R;
        match (self.password, self.totp_code, self.recovery_code) {
            (Some(password), _, _) => Ok(R::Password(password)),
            (None, Some(code), _) => Ok(R::TotpCode(code)),
            (None, None, Some(code)) => Ok(R::RecoveryCode(code)),
            (None, None, None) => Err(Error::InvalidCredentials),
        }
    }
}

#[utoipa::path(delete, path = "/v1/me/totp", tag = "account", security(("access_token" = [])), request_body = PasswordCheck, responses((status = 204), (status = 401, body = crate::openapi::ErrorBody, description = "invalid_credentials; without a password: second_factor_required, invalid_second_factor"), (status = 429, body = crate::openapi::ErrorBody, description = "too_many_attempts"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn disable_totp(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Json(body): Json<PasswordCheck>,
) -> Result<StatusCode> {
    totp::disable(&state, user.user_id, &body.proof()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/me/recovery-codes", tag = "account", security(("access_token" = [])), request_body = PasswordCheck, responses((status = 200, description = "recovery_codes"), (status = 401, body = crate::openapi::ErrorBody, description = "invalid_credentials; without a password: second_factor_required, invalid_second_factor"), (status = 429, body = crate::openapi::ErrorBody, description = "too_many_attempts"), (status = 409, body = crate::openapi::ErrorBody, description = "totp_not_enabled"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn regenerate_recovery_codes(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Json(body): Json<PasswordCheck>,
) -> Result<Json<serde_json::Value>> {
    let codes = totp::regenerate_recovery_codes(&state, user.user_id, &body.proof()?).await?;
    Ok(Json(json!({"recovery_codes": codes})))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AppPasswordView {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

#[utoipa::path(get, path = "/v1/me/app-passwords", tag = "account", security(("access_token" = [])), responses((status = 200, body = AppPasswordList)))]
pub(crate) async fn list_app_passwords(
    State(state): State<Arc<AppState>>,
    user: AuthUser,
) -> Result<Json<AppPasswordList>> {
    let rows = app_password_store::list_active(&state.pool, user.user_id, None).await?;
    let views: Vec<AppPasswordView> = rows
        .into_iter()
        .map(|r| AppPasswordView {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        })
        .collect();
    Ok(Json(AppPasswordList {
        app_passwords: views,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AppPasswordList {
    app_passwords: Vec<AppPasswordView>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct NewAppPassword {
    #[serde(default)]
    name: String,
}

/// Creates a named app password; the password is in this answer only.
#[utoipa::path(post, path = "/v1/me/app-passwords", tag = "account", security(("access_token" = [])), request_body = NewAppPassword, responses((status = 201, description = "id, name, password (shown once)"), (status = 409, body = crate::openapi::ErrorBody, description = "app_password_name_taken, too_many_app_passwords"), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_name"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn create_app_password(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Json(body): Json<NewAppPassword>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let (id, password) = app_passwords::create(&state, user.user_id, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": body.name.trim(), "password": password.expose_secret()})),
    ))
}

#[utoipa::path(delete, path = "/v1/me/app-passwords/{id}", tag = "account", security(("access_token" = [])), params(("id" = String, Path)), responses((status = 204), (status = 404, body = crate::openapi::ErrorBody, description = "app_password_not_found"), (status = 403, body = crate::openapi::ErrorBody, description = "app_password_not_allowed: the session was opened with an app password")))]
pub(crate) async fn revoke_app_password(
    State(state): State<Arc<AppState>>,
    OwnerUser(user): OwnerUser,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let id: Uuid = id.parse().map_err(|_| Error::NotFound {
        code: "app_password_not_found",
        message: "no such app password",
    })?;
    app_passwords::revoke(&state, user.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct PasswordReset {
    #[schema(value_type = String)]
    token: Option<SecretString>,
    #[schema(value_type = String)]
    new_password: Option<SecretString>,
}

/// Sets a new password with a one-time reset link's token (no session needed): every session
/// and app password of the account ends.
#[utoipa::path(post, path = "/v1/password-resets", tag = "account", request_body = PasswordReset, responses((status = 204), (status = 422, body = crate::openapi::ErrorBody, description = "invalid_reset_link, weak_password")))]
pub(crate) async fn redeem_password_reset(
    State(state): State<Arc<AppState>>,
    Json(body): Json<PasswordReset>,
) -> Result<StatusCode> {
    let token = body.token.ok_or_else(|| {
        Error::invalid(
            "invalid_reset_link",
            "token",
            "the reset link's token is missing",
        )
    })?;
    let new = body.new_password.ok_or_else(|| {
        Error::invalid("weak_password", "new_password", "new_password is required")
    })?;
    crate::auth::password_reset::redeem(&state, &token, &new).await?;
    Ok(StatusCode::NO_CONTENT)
}
