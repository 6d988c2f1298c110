//! An OpenID Connect provider (OpenID Connect Core 1.0 and Discovery 1.0, RFC 6749, RFC 7636,
//! RFC 7517), for the sign-in tests and the local run. Every path segment after `/oidc/` names
//! a realm with its own issuer (`{base}/oidc/{realm}`); realms share the users and keys.
//!
//! - `GET /oidc/{realm}/.well-known/openid-configuration`: the discovery document;
//! - `GET /oidc/{realm}/jwks`: the signing keys ([`keys`]: RS256, rotated by the control API);
//! - `GET /oidc/{realm}/authorize`: the authorization-code flow (`response_type=code` only;
//!   PKCE `S256` or `plain`; `nonce` copied into the ID token). With `login_hint` naming a user
//!   it consents at once; otherwise it shows a sign-in page listing the users, whose form posts
//!   back to the same path with `user`;
//! - `POST /oidc/{realm}/token`: the code grant, client authenticated by `client_secret_basic`
//!   or `client_secret_post`; answers an access token and an ID token;
//! - `GET|POST /oidc/{realm}/userinfo`: the user's claims for a bearer access token.
//!
//! The same provider also answers in Microsoft Entra ID's shape under `/entra/{tenant}` (the
//! v2.0 endpoints: `/v2.0/.well-known/openid-configuration`, `/oauth2/v2.0/authorize|token`,
//! `/discovery/v2.0/keys`): the shared tenants (`common`, `organizations`, `consumers`) publish
//! the issuer template `{base}/entra/{tenantid}/v2.0`, ID tokens carry `tid` and the issuer of
//! the user's own tenant, no `email_verified`, and `xms_edov` only for users that have it.
//!
//! The control API (`/_sandbox/oidc/...`, [`control`]) adds users, rotates keys and makes the
//! next ID token wrong on purpose (audience, issuer, nonce, expiry, an unpublished key).

pub mod control;
pub mod keys;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Json};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::links::BaseUrl;
use crate::oauth::verifier_matches;
use crate::state::AppState;

/// A person who can sign in at the provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub sub: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
    /// RFC 8176 methods reported in the ID token (`["pwd"]`, `["pwd", "mfa"]`, ...).
    pub amr: Vec<String>,
    /// Entra ID: the user's tenant (`tid`).
    pub tenant: String,
    /// Entra ID's optional claim "the tenant owns the e-mail's domain" (left out when `None`).
    pub xms_edov: Option<bool>,
}

/// The tenant of users made without one.
pub const SANDBOX_TENANT: &str = "5a4d0000-0000-4000-8000-00000000a11c";
/// Entra ID's shared endpoints, whose issuer is a template.
const SHARED_TENANTS: &[&str] = &["common", "organizations", "consumers"];
const ENTRA: &str = "entra:";

/// Makes the next ID token wrong on purpose (one token; then cleared).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Tamper {
    pub aud: Option<String>,
    pub iss: Option<String>,
    pub nonce: Option<String>,
    /// Seconds from now to `exp` (negative: already expired).
    pub expires_in: Option<i64>,
    /// Authentication methods instead of the user's.
    pub amr: Option<Vec<String>>,
    /// Signed with a fresh key that is not in the JWKS.
    #[serde(default)]
    pub unpublished_key: bool,
}

#[derive(Debug, Clone)]
struct Code {
    realm: String,
    client_id: String,
    redirect_uri: String,
    challenge: Option<(String, String)>,
    nonce: Option<String>,
    sub: String,
    scope: String,
    expires_at: DateTime<Utc>,
    redeemed: bool,
}

#[derive(Default)]
pub struct Provider {
    pub users: Vec<User>,
    pub keys: keys::KeyRing,
    codes: HashMap<String, Code>,
    /// Access token → (realm, subject, expiry).
    access_tokens: HashMap<String, (String, String, DateTime<Utc>)>,
    pub tamper: Option<Tamper>,
    /// ID tokens issued, for the tests (never secret: the sandbox's own).
    pub issued: u64,
}

const CODE_TTL_SECS: i64 = 600;
const TOKEN_TTL_SECS: i64 = 3600;

/// Entra ID's shape of the same provider (under `/entra`).
pub fn entra_router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(entra_discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(entra_jwks))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(entra_authorize).post(entra_authorize_form),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            axum::routing::post(entra_token),
        )
        .route(
            "/{tenant}/oidc/userinfo",
            get(entra_userinfo).post(entra_userinfo),
        )
}

fn entra_realm(tenant: &str) -> String {
    format!("{ENTRA}{tenant}")
}

async fn entra_discovery(base: BaseUrl, Path(tenant): Path<String>) -> Response {
    if !valid_realm(&entra_realm(&tenant)) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let issuer = if SHARED_TENANTS.contains(&tenant.as_str()) {
        format!("{}/entra/{{tenantid}}/v2.0", base.0)
    } else {
        format!("{}/entra/{tenant}/v2.0", base.0)
    };
    let at = format!("{}/entra/{tenant}", base.0);
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{at}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{at}/oauth2/v2.0/token"),
        "userinfo_endpoint": format!("{at}/oidc/userinfo"),
        "jwks_uri": format!("{at}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name",
            "email", "tid", "ver", "amr"],
        "tenant_region_scope": null,
    }))
    .into_response()
}

async fn entra_jwks(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    jwks(State(state), Path(entra_realm(&tenant))).await
}

async fn entra_authorize(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    query: RawQuery,
) -> Response {
    authorize(State(state), Path(entra_realm(&tenant)), query).await
}

async fn entra_authorize_form(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    form: Form<AuthRequest>,
) -> Response {
    authorize_form(State(state), Path(entra_realm(&tenant)), form).await
}

async fn entra_token(
    state: State<AppState>,
    base: BaseUrl,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(state, base, Path(entra_realm(&tenant)), headers, body).await
}

async fn entra_userinfo(
    state: State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    userinfo(state, Path(entra_realm(&tenant)), headers).await
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/{realm}/.well-known/openid-configuration", get(discovery))
        .route("/{realm}/jwks", get(jwks))
        .route("/{realm}/authorize", get(authorize).post(authorize_form))
        .route("/{realm}/token", axum::routing::post(token))
        .route("/{realm}/userinfo", get(userinfo).post(userinfo))
}

fn issuer(base: &BaseUrl, realm: &str) -> String {
    format!("{}/oidc/{realm}", base.0)
}

fn valid_realm(realm: &str) -> bool {
    let realm = realm.strip_prefix(ENTRA).unwrap_or(realm);
    !realm.is_empty()
        && realm.len() <= 64
        && realm
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn random() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RFC 6749 §5.2 error answer.
fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("header"));
    response
}

fn page_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>Sign-in error</title><p id=\"error\">{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn discovery(base: BaseUrl, Path(realm): Path<String>) -> Response {
    if !valid_realm(&realm) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let iss = issuer(&base, &realm);
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "userinfo_endpoint": format!("{iss}/userinfo"),
        "jwks_uri": format!("{iss}/jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email",
            "email_verified", "name", "amr"],
        "code_challenge_methods_supported": ["S256", "plain"],
    }))
    .into_response()
}

async fn jwks(State(state): State<AppState>, Path(realm): Path<String>) -> Response {
    if !valid_realm(&realm) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(state.oidc().keys.jwks()).into_response()
}

/// The authorization request's parameters (query of the GET, fields of the sign-in form).
#[derive(Debug, Default, Deserialize)]
struct AuthRequest {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    login_hint: Option<String>,
    /// The sign-in page's choice (a `sub`).
    user: Option<String>,
}

async fn authorize(
    State(state): State<AppState>,
    Path(realm): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let request: AuthRequest =
        serde_urlencoded_from(query.as_deref().unwrap_or_default()).unwrap_or_default();
    handle_authorize(&state, &realm, request)
}

async fn authorize_form(
    State(state): State<AppState>,
    Path(realm): Path<String>,
    Form(request): Form<AuthRequest>,
) -> Response {
    handle_authorize(&state, &realm, request)
}

fn serde_urlencoded_from(raw: &str) -> Option<AuthRequest> {
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    serde_json::from_value(serde_json::to_value(pairs).ok()?).ok()
}

fn handle_authorize(state: &AppState, realm: &str, request: AuthRequest) -> Response {
    if !valid_realm(realm) {
        return page_error("unknown realm");
    }
    let settings = state.settings();
    // Errors about the client or the redirect URI are shown, never redirected (Core §3.1.2.6).
    let Some(client_id) = request.client_id.as_deref() else {
        return page_error("client_id is missing");
    };
    if client_id != settings.oidc_client_id {
        return page_error("unknown client_id");
    }
    let Some(redirect_uri) = request.redirect_uri.as_deref() else {
        return page_error("redirect_uri is missing");
    };
    let Ok(redirect_url) = url::Url::parse(redirect_uri) else {
        return page_error("redirect_uri is not an absolute URL");
    };
    let refuse = |error: &str, description: &str| {
        let mut url = redirect_url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("error", error)
                .append_pair("error_description", description);
            if let Some(s) = &request.state {
                q.append_pair("state", s);
            }
        }
        Redirect::to(url.as_str()).into_response()
    };
    if request.response_type.as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only the authorization code flow",
        );
    }
    let scope = request.scope.clone().unwrap_or_default();
    if !scope.split_whitespace().any(|s| s == "openid") {
        return refuse("invalid_scope", "the openid scope is required");
    }
    let challenge = match (
        request.code_challenge.as_deref(),
        request.code_challenge_method.as_deref(),
    ) {
        (None, _) => None,
        (Some(c), None | Some("plain")) => Some(("plain".to_owned(), c.to_owned())),
        (Some(c), Some("S256")) => Some(("S256".to_owned(), c.to_owned())),
        (Some(_), Some(_)) => {
            return refuse("invalid_request", "code_challenge_method not supported");
        }
    };
    let mut provider = state.oidc();
    let chosen = request.user.as_deref().or(request.login_hint.as_deref());
    let user = chosen.and_then(|hint| {
        provider
            .users
            .iter()
            .find(|u| u.sub == hint || u.email.eq_ignore_ascii_case(hint))
            .cloned()
    });
    let Some(user) = user else {
        return sign_in_page(&provider.users, realm, &request).into_response();
    };
    let code = random();
    provider.codes.insert(
        code.clone(),
        Code {
            realm: realm.to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            challenge,
            nonce: request.nonce.clone(),
            sub: user.sub,
            scope,
            expires_at: Utc::now() + Duration::seconds(CODE_TTL_SECS),
            redeemed: false,
        },
    );
    let mut url = redirect_url;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &request.state {
            q.append_pair("state", s);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// The provider's sign-in page: one button per user; the form carries the request along.
fn sign_in_page(users: &[User], realm: &str, request: &AuthRequest) -> Html<String> {
    let hidden = [
        ("client_id", &request.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("response_type", &request.response_type),
        ("scope", &request.scope),
        ("state", &request.state),
        ("nonce", &request.nonce),
        ("code_challenge", &request.code_challenge),
        ("code_challenge_method", &request.code_challenge_method),
    ]
    .iter()
    .filter_map(|(name, value)| {
        value.as_ref().map(|v| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            )
        })
    })
    .collect::<String>();
    let buttons = if users.is_empty() {
        "<p id=\"no-users\">No users: add one with POST /_sandbox/oidc/users.</p>".to_owned()
    } else {
        users
            .iter()
            .map(|u| {
                format!(
                    "<button type=\"submit\" name=\"user\" value=\"{}\" data-email=\"{}\">{} &lt;{}&gt;</button>",
                    escape(&u.sub),
                    escape(&u.email),
                    escape(&u.name),
                    escape(&u.email)
                )
            })
            .collect::<String>()
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Sandbox ID: sign in</title>\
         <style>body{{font-family:sans-serif;max-width:28rem;margin:4rem auto}}button{{display:block;\
         width:100%;margin:.5rem 0;padding:.75rem;font-size:1rem}}</style>\
         <h1>Sandbox ID</h1><p>Realm <b>{}</b>: choose who signs in.</p>\
         <form method=\"post\" action=\"authorize\" id=\"sign-in\">{hidden}{buttons}</form></html>",
        escape(realm)
    ))
}

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `client_secret_basic` (RFC 6749 §2.3.1: both parts form-encoded) or `client_secret_post`.
fn client_credentials(headers: &HeaderMap, form: &TokenRequest) -> Option<(String, String)> {
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = STANDARD.decode(basic.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |part: &str| {
            url::form_urlencoded::parse(format!("v={part}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((unescape(id)?, unescape(secret)?));
    }
    Some((form.client_id.clone()?, form.client_secret.clone()?))
}

async fn token(
    State(state): State<AppState>,
    base: BaseUrl,
    Path(realm): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: TokenRequest = serde_urlencoded_form(&body).unwrap_or_default();
    let settings = state.settings();
    let Some((client_id, secret)) = client_credentials(&headers, &form) else {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication missing",
        );
    };
    if client_id != settings.oidc_client_id || secret != settings.oidc_client_secret {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code",
        );
    }
    let Some(code) = form.code.as_deref() else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is missing",
        );
    };
    let mut provider = state.oidc();
    let invalid_grant = |why: &str| token_error(StatusCode::BAD_REQUEST, "invalid_grant", why);
    let Some(pending) = provider.codes.get_mut(code) else {
        return invalid_grant("unknown code");
    };
    if pending.redeemed {
        return invalid_grant("the code was already redeemed");
    }
    pending.redeemed = true;
    let pending = pending.clone();
    if pending.expires_at <= Utc::now() {
        return invalid_grant("the code expired");
    }
    if pending.realm != realm || pending.client_id != client_id {
        return invalid_grant("the code was issued to another client");
    }
    if form.redirect_uri.as_deref() != Some(pending.redirect_uri.as_str()) {
        return invalid_grant("redirect_uri differs from the authorization request's");
    }
    if let Some((method, challenge)) = &pending.challenge {
        match form.code_verifier.as_deref() {
            Some(verifier) if verifier_matches(method, challenge, verifier) => {}
            _ => return invalid_grant("PKCE verification failed"),
        }
    }
    let Some(user) = provider
        .users
        .iter()
        .find(|u| u.sub == pending.sub)
        .cloned()
    else {
        return invalid_grant("the user is gone");
    };
    let tamper = provider.tamper.take().unwrap_or_default();
    let now = Utc::now();
    let entra_tenant = realm.strip_prefix(ENTRA);
    let iss = match entra_tenant {
        // A shared endpoint answers with the user's own tenant's issuer.
        Some(t) if SHARED_TENANTS.contains(&t) => format!("{}/entra/{}/v2.0", base.0, user.tenant),
        Some(t) => format!("{}/entra/{t}/v2.0", base.0),
        None => issuer(&base, &realm),
    };
    let mut claims = json!({
        "iss": tamper.iss.clone().unwrap_or(iss),
        "sub": user.sub,
        "aud": tamper.aud.clone().unwrap_or(client_id),
        "exp": (now + Duration::seconds(tamper.expires_in.unwrap_or(TOKEN_TTL_SECS))).timestamp(),
        "iat": now.timestamp(),
        "auth_time": now.timestamp(),
        "amr": tamper.amr.clone().unwrap_or(user.amr),
    });
    if let Some(nonce) = tamper.nonce.clone().or(pending.nonce.clone()) {
        claims["nonce"] = json!(nonce);
    }
    let scopes: Vec<&str> = pending.scope.split_whitespace().collect();
    if entra_tenant.is_some() {
        claims["tid"] = json!(user.tenant);
        claims["ver"] = json!("2.0");
        if scopes.contains(&"email") {
            claims["email"] = json!(user.email);
        }
        if let Some(edov) = user.xms_edov {
            claims["xms_edov"] = json!(edov);
        }
    } else if scopes.contains(&"email") {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(user.email_verified);
    }
    if scopes.contains(&"profile") {
        claims["name"] = json!(user.name);
    }
    let id_token = if tamper.unpublished_key {
        keys::Key::generate().sign(&claims)
    } else {
        provider.keys.active().sign(&claims)
    };
    provider.issued += 1;
    let access_token = random();
    provider.access_tokens.insert(
        access_token.clone(),
        (
            realm,
            user.sub.clone(),
            now + Duration::seconds(TOKEN_TTL_SECS),
        ),
    );
    let mut response = Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": TOKEN_TTL_SECS,
        "scope": pending.scope,
        "id_token": id_token,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("header"));
    response
}

fn serde_urlencoded_form(body: &[u8]) -> Option<TokenRequest> {
    let pairs: HashMap<String, String> = url::form_urlencoded::parse(body)
        .into_owned()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    serde_json::from_value(serde_json::to_value(pairs).ok()?).ok()
}

/// Core §5.3: the claims of the token's user; RFC 6750 errors.
async fn userinfo(
    State(state): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
) -> Response {
    let unauthorized = |error: &str| {
        (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                format!("Bearer error=\"{error}\""),
            )],
        )
            .into_response()
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("invalid_request");
    };
    let provider = state.oidc();
    let Some((token_realm, sub, expires)) = provider.access_tokens.get(token) else {
        return unauthorized("invalid_token");
    };
    if *token_realm != realm || *expires <= Utc::now() {
        return unauthorized("invalid_token");
    }
    let Some(user) = provider.users.iter().find(|u| &u.sub == sub) else {
        return unauthorized("invalid_token");
    };
    Json(json!({
        "sub": user.sub,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
    }))
    .into_response()
}

/// The Entra-shaped issuer of `tenant` at `base` (`common`: all tenants), for the tests.
pub fn entra_issuer_url(base: &str, tenant: &str) -> String {
    format!("{}/entra/{tenant}/v2.0", base.trim_end_matches('/'))
}

/// The issuer of `realm` at `base`, for the tests.
pub fn issuer_url(base: &str, realm: &str) -> String {
    format!("{}/oidc/{realm}", base.trim_end_matches('/'))
}
