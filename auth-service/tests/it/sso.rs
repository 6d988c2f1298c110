//! Sign-in with OpenID Connect against the sandbox's provider (in-process): discovery, JWKS and
//! its rotation, the code flow with PKCE, and every refusal (state, nonce, issuer, audience,
//! expiry, signature, unverified e-mail), the account rules, the policy and the throttle.

use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use auth_service::sso::config::ProviderKind;

use crate::helpers::{TestApp, assert_error, spawn_app_with};
use crate::second_factor::{authenticator, code};

const PASSWORD: &str = "correct horse battery";
const REALM: &str = "corp";

struct Sandbox {
    base: String,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Stops a sandbox running on a thread of its own.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Sso {
    app: TestApp,
    sandbox: Sandbox,
    /// Follows no redirects: each hop is looked at.
    browser: reqwest::Client,
}

async fn start_sandbox() -> Sandbox {
    let sandbox = sandbox::startup::Application::build(sandbox::Settings::for_tests())
        .await
        .unwrap();
    let base = sandbox.base_url();
    let task = tokio::spawn(async move {
        let _ = sandbox.run_until_stopped().await;
    });
    Sandbox {
        base,
        task: Some(task),
        stop: None,
    }
}

/// The sandbox on a thread and runtime of its own, so that its logs are not the service's.
fn start_sandbox_apart() -> Sandbox {
    let (base_tx, base_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let sandbox = sandbox::startup::Application::build(sandbox::Settings::for_tests())
                .await
                .unwrap();
            base_tx.send(sandbox.base_url()).unwrap();
            tokio::select! {
                _ = sandbox.run_until_stopped() => {}
                _ = stopped => {}
            }
        });
    });
    Sandbox {
        base: base_rx.recv().unwrap(),
        task: None,
        stop: Some(stop),
    }
}

/// The service with the sandbox's realm `corp` as provider `corp`, new accounts open to
/// `corp.example`.
async fn setup() -> Sso {
    setup_with(|_| {}).await
}

async fn setup_with(configure: impl FnOnce(&mut auth_service::Settings)) -> Sso {
    setup_provider(ProviderKind::Generic, configure).await
}

/// The provider `corp` is the sandbox in Entra ID's shape, at its shared `common` endpoint.
async fn setup_entra() -> Sso {
    setup_provider(ProviderKind::Microsoft, |_| {}).await
}

async fn setup_provider(
    kind: ProviderKind,
    configure: impl FnOnce(&mut auth_service::Settings),
) -> Sso {
    setup_with_sandbox(start_sandbox().await, kind, configure).await
}

async fn setup_with_sandbox(
    sandbox: Sandbox,
    kind: ProviderKind,
    configure: impl FnOnce(&mut auth_service::Settings),
) -> Sso {
    let issuer = match kind {
        ProviderKind::Microsoft => sandbox::oidc::entra_issuer_url(&sandbox.base, "common"),
        _ => sandbox::oidc::issuer_url(&sandbox.base, REALM),
    };
    let app = spawn_app_with(|s| {
        s.oidc = vec![auth_service::sso::config::OidcProviderSettings {
            id: "corp".to_owned(),
            kind,
            display_name: "Corp ID".to_owned(),
            issuer,
            client_id: "sandbox-oidc-client".to_owned(),
            client_secret: "sandbox-oidc-secret".to_owned().into(),
            sign_up_domains: vec!["corp.example".to_owned()],
        }];
        configure(s);
    })
    .await;
    Sso {
        app,
        sandbox,
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// The provider's answer to the browser, and the flow cookie.
struct Callback {
    query: String,
    cookie: String,
    /// The authorization request's parameters (`state`, `nonce`, `code_challenge`, ...).
    authorize: std::collections::HashMap<String, String>,
}

impl Sso {
    async fn control(&self, path: &str, body: Value) -> Value {
        let response = self
            .browser
            .post(format!("{}/_sandbox/oidc{path}", self.sandbox.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        if response.status() == StatusCode::NO_CONTENT {
            return Value::Null;
        }
        response.json().await.unwrap()
    }

    async fn provider_user(&self, email: &str, verified: bool, amr: &[&str]) -> Value {
        self.control(
            "/users",
            json!({"email": email, "email_verified": verified, "amr": amr}),
        )
        .await
    }

    /// Starts a sign-in and lets `email` sign in at the provider.
    async fn at_provider(&self, email: &str) -> Callback {
        let response = self
            .browser
            .get(format!("{}/v1/sso/corp/authorize", self.app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = response
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let url = url::Url::parse(&location).unwrap();
        let params: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(params["response_type"], "code");
        assert_eq!(params["code_challenge_method"], "S256");
        assert!(params["scope"].split(' ').any(|s| s == "openid"));
        assert!(!params["nonce"].is_empty() && !params["state"].is_empty());
        let consent = self
            .browser
            .get(format!("{location}&login_hint={}", urlencode(email)))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), StatusCode::SEE_OTHER, "{email}");
        let back = url::Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
        Callback {
            query: back.query().unwrap().to_owned(),
            cookie,
            authorize: params,
        }
    }

    async fn callback(&self, callback: &Callback, with_cookie: bool) -> reqwest::Response {
        let mut request = self.browser.get(format!(
            "{}/v1/sso/corp/callback?{}",
            self.app.address, callback.query
        ));
        if with_cookie {
            request = request.header("cookie", &callback.cookie);
        }
        request.send().await.unwrap()
    }

    /// The whole flow up to the ticket.
    async fn ticket(&self, email: &str) -> Value {
        let callback = self.at_provider(email).await;
        let response = self.callback(&callback, true).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn redeem(&self, body: Value) -> reqwest::Response {
        self.app.sign_in(body).await
    }

    /// Signs `email` in through the provider; returns the token pair.
    async fn signed_in(&self, email: &str) -> Value {
        let ticket = self.ticket(email).await;
        assert_eq!(ticket["link_required"], false, "{ticket}");
        let response = self
            .redeem(json!({"sso_ticket": ticket["sso_ticket"]}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn identities(&self, token: &str) -> Vec<Value> {
        let response = self
            .app
            .user_request(Method::GET, "/v1/me/identities", token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["identities"].as_array().unwrap().clone()
    }

    async fn user_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM users")
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    async fn audit_events(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT event FROM audit_log ORDER BY id")
            .fetch_all(&self.app.db)
            .await
            .unwrap()
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The access token's claims (not verified: the service's own tests do that).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app
        .user_request(Method::GET, "/v1/me", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_sign_in_screen_lists_the_providers() {
    let sso = setup().await;
    let response = sso
        .browser
        .get(format!("{}/v1/sso/providers", sso.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"providers": [{"id": "corp", "name": "Corp ID"}], "password_sign_in": true})
    );
    let unknown = sso
        .browser
        .get(format!("{}/v1/sso/nope/authorize", sso.app.address))
        .send()
        .await
        .unwrap();
    assert_error(unknown, StatusCode::NOT_FOUND, "unknown_identity_provider").await;
}

#[tokio::test]
async fn a_new_person_of_a_listed_domain_gets_an_account_and_a_session() {
    let sso = setup().await;
    sso.provider_user("alice@corp.example", true, &["pwd"])
        .await;
    let pair = sso.signed_in("alice@corp.example").await;
    let token = pair["access_token"].as_str().unwrap();
    let account = me(&sso.app, token).await;
    assert_eq!(account["email"], "alice@corp.example");
    assert_eq!(
        account["has_password"], false,
        "the settings page asks such an account for a code, not a password"
    );
    assert_eq!(claims(token)["amr"], json!(["oidc", "pwd"]));
    let identities = sso.identities(token).await;
    assert_eq!(identities.len(), 1);
    assert_eq!(identities[0]["provider"], "corp");
    assert_eq!(identities[0]["provider_name"], "Corp ID");
    assert_eq!(identities[0]["email"], "alice@corp.example");
    // The session is an ordinary one: it refreshes.
    let refreshed = sso
        .app
        .refresh(pair["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    // A second sign-in finds the same account through the link.
    let again = sso.signed_in("alice@corp.example").await;
    assert_eq!(again["user_id"], pair["user_id"]);
    assert_eq!(sso.user_count().await, 1);
    let events = sso.audit_events().await;
    for expected in ["user_created", "identity_linked", "signed_in"] {
        assert!(events.iter().any(|e| e == expected), "{events:?}");
    }
}

#[tokio::test]
async fn a_ticket_is_good_for_one_session() {
    let sso = setup().await;
    sso.provider_user("bob@corp.example", true, &["pwd"]).await;
    let ticket = sso.ticket("bob@corp.example").await;
    let first = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"]}))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"]}))
        .await;
    assert_error(second, StatusCode::UNAUTHORIZED, "invalid_sso_ticket").await;
    let made_up = sso.redeem(json!({"sso_ticket": "made-up"})).await;
    assert_error(made_up, StatusCode::UNAUTHORIZED, "invalid_sso_ticket").await;
}

#[tokio::test]
async fn no_account_is_made_outside_the_sign_up_domains() {
    let sso = setup().await;
    sso.provider_user("mallory@elsewhere.example", true, &["pwd"])
        .await;
    let callback = sso.at_provider("mallory@elsewhere.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::FORBIDDEN, "sign_up_not_allowed").await;
    assert_eq!(sso.user_count().await, 0);
}

#[tokio::test]
async fn an_unverified_address_neither_links_nor_makes_an_account() {
    let sso = setup().await;
    // The victim's account, and someone at the provider claiming the victim's address.
    sso.app
        .create_user_with_password("victim@corp.example", PASSWORD)
        .await;
    sso.provider_user("victim@corp.example", false, &["pwd"])
        .await;
    let callback = sso.at_provider("victim@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::FORBIDDEN, "email_not_verified").await;
    sso.provider_user("newcomer@corp.example", false, &["pwd"])
        .await;
    let callback = sso.at_provider("newcomer@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::FORBIDDEN, "email_not_verified").await;
    let linked: i64 = sqlx::query_scalar("SELECT count(*) FROM external_identities")
        .fetch_one(&sso.app.db)
        .await
        .unwrap();
    assert_eq!(linked, 0);
    assert_eq!(sso.user_count().await, 1);
}

#[tokio::test]
async fn an_existing_account_links_only_with_its_password() {
    let sso = setup().await;
    let user = sso
        .app
        .create_user_with_password("carol@corp.example", PASSWORD)
        .await;
    sso.provider_user("carol@corp.example", true, &["pwd"])
        .await;
    let ticket = sso.ticket("carol@corp.example").await;
    assert_eq!(ticket["link_required"], true);
    let without = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"]}))
        .await;
    assert_error(without, StatusCode::CONFLICT, "link_confirmation_required").await;
    let wrong = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "password": "not the password"}))
        .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let linked: i64 = sqlx::query_scalar("SELECT count(*) FROM external_identities")
        .fetch_one(&sso.app.db)
        .await
        .unwrap();
    assert_eq!(linked, 0, "nothing is linked before the confirmation");
    let right = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "password": PASSWORD}))
        .await;
    assert_eq!(right.status(), StatusCode::CREATED);
    let pair: Value = right.json().await.unwrap();
    assert_eq!(pair["user_id"], user.to_string());
    // From now on the provider alone signs Carol in.
    let next = sso.signed_in("carol@corp.example").await;
    assert_eq!(next["user_id"], user.to_string());
    let token = next["access_token"].as_str().unwrap();
    assert_eq!(me(&sso.app, token).await["has_password"], true);
    assert_eq!(sso.user_count().await, 1);
}

#[tokio::test]
async fn an_invited_account_links_on_its_first_sign_in() {
    let sso = setup().await;
    // An administrator's invitation: an account without a password.
    let user = sso.app.create_user("dave@corp.example").await;
    sso.provider_user("dave@corp.example", true, &["pwd"]).await;
    let pair = sso.signed_in("dave@corp.example").await;
    assert_eq!(pair["user_id"], user.to_string());
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let sso = setup().await;
    sso.provider_user("erin@corp.example", true, &["pwd"]).await;
    let callback = sso.at_provider("erin@corp.example").await;
    assert_eq!(sso.callback(&callback, true).await.status(), StatusCode::OK);
    let replay = sso.callback(&callback, true).await;
    assert_error(replay, StatusCode::BAD_REQUEST, "invalid_state").await;
}

#[tokio::test]
async fn a_state_from_another_browser_is_refused() {
    let sso = setup().await;
    sso.provider_user("frank@corp.example", true, &["pwd"])
        .await;
    let callback = sso.at_provider("frank@corp.example").await;
    let response = sso.callback(&callback, false).await;
    assert_error(response, StatusCode::BAD_REQUEST, "invalid_state").await;
    // The attempt is used up: the right browser cannot finish it afterwards either.
    let late = sso.callback(&callback, true).await;
    assert_error(late, StatusCode::BAD_REQUEST, "invalid_state").await;
}

/// A deliberately wrong ID token is refused with `code`, and no account or link appears.
async fn refused_token(tamper: Value, code: &str) {
    let sso = setup().await;
    sso.provider_user("gina@corp.example", true, &["pwd"]).await;
    sso.control("/next-id-token", tamper).await;
    let callback = sso.at_provider("gina@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::UNAUTHORIZED, code).await;
    assert_eq!(sso.user_count().await, 0);
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE event = 'sign_in_failed' AND detail->>'reason' = $1",
    )
    .bind(code)
    .fetch_one(&sso.app.db)
    .await
    .unwrap();
    assert_eq!(failures, 1);
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    refused_token(json!({"aud": "some-other-client"}), "audience_mismatch").await;
}

#[tokio::test]
async fn an_id_token_from_another_issuer_is_refused() {
    refused_token(
        json!({"iss": "https://attacker.example"}),
        "issuer_mismatch",
    )
    .await;
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    refused_token(json!({"nonce": "replayed-nonce"}), "nonce_mismatch").await;
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    refused_token(json!({"expires_in": -600}), "id_token_expired").await;
}

#[tokio::test]
async fn an_id_token_signed_with_an_unpublished_key_is_refused() {
    refused_token(
        json!({"unpublished_key": true}),
        "invalid_id_token_signature",
    )
    .await;
}

#[tokio::test]
async fn a_rotated_signing_key_is_fetched_and_accepted() {
    let sso = setup().await;
    sso.provider_user("hana@corp.example", true, &["pwd"]).await;
    // The service has the provider's keys now.
    sso.signed_in("hana@corp.example").await;
    let before: Value = sso
        .browser
        .get(format!("{}/_sandbox/oidc/keys", sso.sandbox.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rotated = sso
        .control("/keys/rotate", json!({"retire_old": true}))
        .await;
    assert_ne!(before["active_kid"], rotated["active_kid"]);
    assert_eq!(rotated["published_kids"], json!([rotated["active_kid"]]));
    // Signed with a key the service has not seen: it refetches the set and accepts.
    sso.signed_in("hana@corp.example").await;
}

#[tokio::test]
async fn a_provider_refusal_is_reported() {
    let sso = setup().await;
    sso.provider_user("olga@corp.example", true, &["pwd"]).await;
    let mut callback = sso.at_provider("olga@corp.example").await;
    // The person declined at the provider: it sends `error` (RFC 6749 §4.1.2.1) and no code.
    let state = url::form_urlencoded::parse(callback.query.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    callback.query = format!("error=access_denied&state={}", urlencode(&state));
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "provider_denied").await;
}

#[tokio::test]
async fn failed_callbacks_count_against_the_address_budget() {
    let sso = setup_with(|s| s.sessions.max_failed_sign_ins_per_address = 2).await;
    sso.provider_user("ivan@corp.example", true, &["pwd"]).await;
    for _ in 0..2 {
        let callback = sso.at_provider("ivan@corp.example").await;
        let response = sso.callback(&callback, false).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_state").await;
    }
    let callback = sso.at_provider("ivan@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_through_the_provider() {
    let sso = setup().await;
    sso.provider_user("judy@corp.example", true, &["pwd"]).await;
    let pair = sso.signed_in("judy@corp.example").await;
    sqlx::query("UPDATE users SET disabled_at = now()")
        .execute(&sso.app.db)
        .await
        .unwrap();
    let callback = sso.at_provider("judy@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::FORBIDDEN, "account_disabled").await;
    drop(pair);
}

#[tokio::test]
async fn single_sign_on_only_turns_the_main_password_off_but_not_app_passwords() {
    let sso = setup().await;
    let admin_email = "admin@corp.example";
    sso.app
        .post("/internal/v1/users")
        .json(&json!({"email": admin_email, "password": PASSWORD, "is_admin": true}))
        .send()
        .await
        .unwrap();
    sso.app
        .create_user_with_password("kate@corp.example", PASSWORD)
        .await;
    let kate = sso.app.signed_in("kate@corp.example", PASSWORD).await;
    let kate_token = kate["access_token"].as_str().unwrap();
    let created = sso
        .app
        .user_request(Method::POST, "/v1/me/app-passwords", kate_token)
        .json(&json!({"name": "mail client"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let app_password = created.json::<Value>().await.unwrap()["password"]
        .as_str()
        .unwrap()
        .to_owned();

    let admin = sso.app.signed_in(admin_email, PASSWORD).await;
    let admin_token = admin["access_token"].as_str().unwrap();
    let forbidden = sso
        .app
        .user_request(Method::PUT, "/v1/admin/sign-in-policy", kate_token)
        .json(&json!({"password_sign_in": false}))
        .send()
        .await
        .unwrap();
    assert_error(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
    let set = sso
        .app
        .user_request(Method::PUT, "/v1/admin/sign-in-policy", admin_token)
        .json(&json!({"password_sign_in": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);

    let refused = sso
        .app
        .sign_in(json!({"email": "kate@corp.example", "password": PASSWORD}))
        .await;
    assert_error(refused, StatusCode::FORBIDDEN, "password_sign_in_disabled").await;
    let script = sso
        .app
        .sign_in(json!({"email": "kate@corp.example", "password": app_password, "client": "api"}))
        .await;
    assert_eq!(script.status(), StatusCode::CREATED);
    // Administrators keep their password: a provider outage must not lock everyone out.
    sso.app.signed_in(admin_email, PASSWORD).await;
    // The sign-in screen knows.
    let options: Value = sso
        .browser
        .get(format!("{}/v1/sso/providers", sso.app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(options["password_sign_in"], false);
    // Kate links her identity (her password still confirms a link) and signs in with it.
    sso.provider_user("kate@corp.example", true, &["pwd"]).await;
    let ticket = sso.ticket("kate@corp.example").await;
    let linked = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "password": PASSWORD}))
        .await;
    assert_eq!(linked.status(), StatusCode::CREATED);
    sso.signed_in("kate@corp.example").await;
    assert!(
        sso.audit_events()
            .await
            .iter()
            .any(|e| e == "sign_in_policy_changed")
    );
}

#[tokio::test]
async fn identities_are_listed_and_unlinked_but_never_the_last_way_in() {
    let sso = setup().await;
    sso.provider_user("liam@corp.example", true, &["pwd"]).await;
    let pair = sso.signed_in("liam@corp.example").await;
    let token = pair["access_token"].as_str().unwrap();
    let identities = sso.identities(token).await;
    let id = identities[0]["id"].as_str().unwrap();
    // Liam has no password: this identity is his only way in.
    let refused = sso
        .app
        .user_request(Method::DELETE, &format!("/v1/me/identities/{id}"), token)
        .send()
        .await
        .unwrap();
    assert_error(refused, StatusCode::CONFLICT, "last_sign_in_method").await;

    // Mia has a password too: she may unlink, and the provider then needs her password again.
    sso.app
        .create_user_with_password("mia@corp.example", PASSWORD)
        .await;
    sso.provider_user("mia@corp.example", true, &["pwd"]).await;
    let ticket = sso.ticket("mia@corp.example").await;
    let pair: Value = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let token = pair["access_token"].as_str().unwrap();
    let identities = sso.identities(token).await;
    assert_eq!(identities.len(), 1);
    let id = identities[0]["id"].as_str().unwrap();
    let other = sso
        .app
        .user_request(
            Method::DELETE,
            &format!("/v1/me/identities/{}", Uuid::new_v4()),
            token,
        )
        .send()
        .await
        .unwrap();
    assert_error(other, StatusCode::NOT_FOUND, "identity_not_found").await;
    let done = sso
        .app
        .user_request(Method::DELETE, &format!("/v1/me/identities/{id}"), token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert!(sso.identities(token).await.is_empty());
    assert_eq!(sso.ticket("mia@corp.example").await["link_required"], true);
}

#[tokio::test]
async fn two_factor_accounts_give_their_code_unless_the_provider_did_mfa() {
    let sso = setup().await;
    sso.app
        .create_user_with_password("nina@corp.example", PASSWORD)
        .await;
    let pair = sso.app.signed_in("nina@corp.example", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    let enrolment: Value = sso
        .app
        .user_request(Method::POST, "/v1/me/totp", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp = authenticator(enrolment["secret"].as_str().unwrap());
    let confirmed: Value = sso
        .app
        .user_request(Method::POST, "/v1/me/totp/confirm", token)
        .json(&json!({"code": code(&totp, 0)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recovery_code = confirmed["recovery_codes"][0].as_str().unwrap();

    // Linking: the password and the second factor, as at any password sign-in.
    sso.provider_user("nina@corp.example", true, &["pwd"]).await;
    let ticket = sso.ticket("nina@corp.example").await;
    let missing = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "password": PASSWORD}))
        .await;
    assert_error(missing, StatusCode::UNAUTHORIZED, "second_factor_required").await;
    let linked = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "password": PASSWORD, "recovery_code": recovery_code}))
        .await;
    assert_eq!(linked.status(), StatusCode::CREATED);

    // The provider signed Nina in with a password only: our second factor is asked.
    let ticket = sso.ticket("nina@corp.example").await;
    let missing = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"]}))
        .await;
    assert_error(missing, StatusCode::UNAUTHORIZED, "second_factor_required").await;
    let wrong = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "totp_code": "000000"}))
        .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let right = sso
        .redeem(json!({"sso_ticket": ticket["sso_ticket"], "totp_code": code(&totp, 1)}))
        .await;
    assert_eq!(right.status(), StatusCode::CREATED);
    let pair: Value = right.json().await.unwrap();
    assert_eq!(
        claims(pair["access_token"].as_str().unwrap())["amr"],
        json!(["oidc", "pwd", "otp"])
    );

    // The provider did MFA itself: recorded in `amr`, and our code is not asked again.
    sso.control("/next-id-token", json!({"amr": ["pwd", "mfa"]}))
        .await;
    let pair = sso.signed_in("nina@corp.example").await;
    assert_eq!(
        claims(pair["access_token"].as_str().unwrap())["amr"],
        json!(["oidc", "pwd", "mfa"])
    );
}

/// Entra ID: a work account's `email` is whatever its tenant typed, so without the tenant's proof
/// of the domain (`xms_edov`) it neither links nor makes an account.
#[tokio::test]
async fn entra_id_work_addresses_count_only_with_the_domain_owner_proof() {
    let sso = setup_entra().await;
    let tenant = "11111111-2222-4333-8444-555555555555";
    sso.control(
        "/users",
        json!({"email": "pat@corp.example", "tenant": tenant}),
    )
    .await;
    let callback = sso.at_provider("pat@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::FORBIDDEN, "email_not_verified").await;
    assert_eq!(sso.user_count().await, 0);

    sso.control(
        "/users",
        json!({"email": "quinn@corp.example", "tenant": tenant, "xms_edov": true}),
    )
    .await;
    let pair = sso.signed_in("quinn@corp.example").await;
    let token = pair["access_token"].as_str().unwrap();
    let identities = sso.identities(token).await;
    // The identity belongs to the user's own tenant's issuer, not the shared endpoint's.
    let issuer: String = sqlx::query_scalar("SELECT issuer FROM external_identities")
        .fetch_one(&sso.app.db)
        .await
        .unwrap();
    assert_eq!(
        issuer,
        sandbox::oidc::entra_issuer_url(&sso.sandbox.base, tenant)
    );
    assert_eq!(identities.len(), 1);
}

#[tokio::test]
async fn entra_id_personal_accounts_are_verified_by_microsoft() {
    let sso = setup_entra().await;
    sso.control(
        "/users",
        json!({"email": "robin@corp.example", "tenant": "9188040d-6c67-4c5b-b112-36a304b66dad"}),
    )
    .await;
    sso.signed_in("robin@corp.example").await;
}

#[tokio::test]
async fn entra_id_tokens_must_come_from_their_own_tenants_issuer() {
    let sso = setup_entra().await;
    sso.control(
        "/users",
        json!({"email": "sam@corp.example", "tenant": "aaaaaaaa-1111-4222-8333-444444444444", "xms_edov": true}),
    )
    .await;
    // Another tenant's issuer with this tenant's `tid`: refused.
    let other =
        sandbox::oidc::entra_issuer_url(&sso.sandbox.base, "bbbbbbbb-1111-4222-8333-444444444444");
    sso.control("/next-id-token", json!({"iss": other})).await;
    let callback = sso.at_provider("sam@corp.example").await;
    let response = sso.callback(&callback, true).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "issuer_mismatch").await;
    // Its own: accepted.
    sso.signed_in("sam@corp.example").await;
}

/// A person who only ever signs in through the provider can still give a script an app
/// password; that script's session cannot change how the account signs in.
#[tokio::test]
async fn a_single_sign_on_user_makes_app_passwords_for_scripts() {
    let sso = setup().await;
    sso.provider_user("tara@corp.example", true, &["pwd"]).await;
    let pair = sso.signed_in("tara@corp.example").await;
    let token = pair["access_token"].as_str().unwrap();
    let created = sso
        .app
        .user_request(Method::POST, "/v1/me/app-passwords", token)
        .json(&json!({"name": "report script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let app_password = created.json::<Value>().await.unwrap()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = sso
        .app
        .sign_in(json!({"email": "tara@corp.example", "password": app_password, "client": "api"}))
        .await;
    assert_eq!(script.status(), StatusCode::CREATED);
    let script_token = script.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(claims(&script_token)["amr"], json!(["app_password"]));
    let id = sso.identities(token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = sso
        .app
        .user_request(
            Method::DELETE,
            &format!("/v1/me/identities/{id}"),
            &script_token,
        )
        .send()
        .await
        .unwrap();
    assert_error(refused, StatusCode::FORBIDDEN, "app_password_not_allowed").await;
    // The account has no password of its own: the app password is not a way into the page.
    let browser = sso
        .app
        .sign_in(json!({"email": "tara@corp.example", "password": app_password}))
        .await;
    assert_eq!(browser.status(), StatusCode::FORBIDDEN);
}

/// With the settings page configured, the browser goes back to it with the outcome in the URL's
/// fragment (never sent to a server): the ticket, or the refusal's code; a provider that cannot
/// be reached sends it back at once with the reason.
#[tokio::test]
async fn with_a_page_the_outcome_goes_back_in_the_fragment() {
    let sso = setup_with(|s| {
        s.sign_in_redirect_url = Some("http://page.example/".to_owned());
        let mut down = s.oidc[0].clone();
        down.id = "down".to_owned();
        // Nothing listens there.
        down.issuer = "http://127.0.0.1:9/oidc/down".to_owned();
        s.oidc.push(down);
    })
    .await;
    sso.provider_user("uma@corp.example", true, &["pwd"]).await;
    let callback = sso.at_provider("uma@corp.example").await;
    let replayed = Callback {
        query: callback.query.clone(),
        cookie: callback.cookie.clone(),
        authorize: callback.authorize.clone(),
    };
    let response = sso.callback(&callback, true).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://page.example/#/sso?provider=corp&ticket="),
        "{location}"
    );
    assert!(location.ends_with("&link=0"), "{location}");
    let ticket = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "ticket")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(
        sso.redeem(json!({"sso_ticket": ticket})).await.status(),
        StatusCode::CREATED
    );
    let again = sso.callback(&replayed, true).await;
    assert_eq!(
        again.headers()["location"],
        "http://page.example/#/sso?provider=corp&error=invalid_state"
    );
    let down = sso
        .browser
        .get(format!("{}/v1/sso/down/authorize", sso.app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        down.headers()["location"],
        "http://page.example/#/sso?provider=down&error=provider_unavailable"
    );
}

/// An account without a password (an invitation, then single sign-on) confirms turning two-factor
/// sign-in off and new recovery codes with its second factor, throttled like a password re-check;
/// a password-holding account still needs its password.
#[tokio::test]
async fn an_account_without_a_password_rechecks_with_its_second_factor() {
    let sso = setup().await;
    sso.app.create_user("olga@corp.example").await;
    sso.provider_user("olga@corp.example", true, &["pwd"]).await;
    let pair = sso.signed_in("olga@corp.example").await;
    let token = pair["access_token"].as_str().unwrap();
    let enrolment: Value = sso
        .app
        .user_request(Method::POST, "/v1/me/totp", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp = authenticator(enrolment["secret"].as_str().unwrap());
    // Kept as sent: computed again later, it would be the next window's code once 30 s turn.
    let enrolment_code = code(&totp, 0);
    let confirmed = sso
        .app
        .user_request(Method::POST, "/v1/me/totp/confirm", token)
        .json(&json!({"code": enrolment_code}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    let confirmed: Value = confirmed.json().await.unwrap();
    let first_codes = confirmed["recovery_codes"].as_array().unwrap().clone();

    let recovery_codes = |body: Value| {
        sso.app
            .user_request(Method::POST, "/v1/me/recovery-codes", token)
            .json(&body)
            .send()
    };
    // Nothing, or a password it does not have: the page is told to ask for the second factor.
    let nothing = recovery_codes(json!({})).await.unwrap();
    assert_error(nothing, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let password = recovery_codes(json!({"password": PASSWORD})).await.unwrap();
    assert_error(password, StatusCode::UNAUTHORIZED, "second_factor_required").await;
    let wrong = recovery_codes(json!({"totp_code": "000000"}))
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    // The code already used at enrolment cannot be replayed.
    let replayed = recovery_codes(json!({"totp_code": enrolment_code}))
        .await
        .unwrap();
    assert_error(replayed, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let fresh = recovery_codes(json!({"totp_code": code(&totp, 1)}))
        .await
        .unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    let fresh: Value = fresh.json().await.unwrap();
    let new_codes = fresh["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(new_codes.len(), 10);
    // The old codes are void; a new one confirms (and is used up).
    let old = recovery_codes(json!({"recovery_code": first_codes[1]}))
        .await
        .unwrap();
    assert_error(old, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let by_recovery = recovery_codes(json!({"recovery_code": new_codes[0]}))
        .await
        .unwrap();
    assert_eq!(by_recovery.status(), StatusCode::OK);
    let newest: Value = by_recovery.json().await.unwrap();
    let newest = newest["recovery_codes"].as_array().unwrap().clone();

    // Throttled as the password re-check is: 5 failures, then even the right proof waits.
    for _ in 0..5 {
        let wrong = sso
            .app
            .user_request(Method::DELETE, "/v1/me/totp", token)
            .json(&json!({"recovery_code": "aaaaa-aaaaa"}))
            .send()
            .await
            .unwrap();
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    }
    let throttled = sso
        .app
        .user_request(Method::DELETE, "/v1/me/totp", token)
        .json(&json!({"recovery_code": newest[0]}))
        .send()
        .await
        .unwrap();
    assert_error(
        throttled,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;
    assert_eq!(me(&sso.app, token).await["totp_enabled"], true);
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE event = 'password_recheck_failed'",
    )
    .fetch_one(&sso.app.db)
    .await
    .unwrap();
    assert_eq!(failures, 9, "every refused proof is in the audit log");

    // Once the window has passed (its failures forgotten), a recovery code turns two-factor
    // sign-in off.
    sqlx::query("DELETE FROM sign_in_failures WHERE email_key LIKE 'recheck:%'")
        .execute(&sso.app.db)
        .await
        .unwrap();
    let off = sso
        .app
        .user_request(Method::DELETE, "/v1/me/totp", token)
        .json(&json!({"recovery_code": newest[0]}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&sso.app, token).await["totp_enabled"], false);

    // An account with a password: a code never stands in for it.
    let (pw_token, pw_totp, _) =
        crate::second_factor::user_with_totp(&sso.app, "pat@corp.example").await;
    let by_code = sso
        .app
        .user_request(Method::DELETE, "/v1/me/totp", &pw_token)
        .json(&json!({"totp_code": code(&pw_totp, 1)}))
        .send()
        .await
        .unwrap();
    assert_error(by_code, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(me(&sso.app, &pw_token).await["totp_enabled"], true);
}

/// Everything the service logs, at every level, from every crate it runs.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A whole sign-in through the provider (a new account), a link confirmed with a password, and a
/// refresh, with the service's logs captured at TRACE: no code, state, nonce, PKCE challenge,
/// ticket, token or password appears in them. The sandbox runs apart so that only the service
/// (and this test's own HTTP client, which logs no values either) is captured.
#[test]
fn no_token_code_state_or_nonce_reaches_the_logs() {
    let logs = LogBuffer::default();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(logs.clone())
            .finish(),
    );
    // tracing caches per call site whether anyone listens. With one `Dispatch` alive it asks
    // only the calling thread's default, so call sites first reached on other tests' threads
    // would be cached as unheard; a second one makes it ask every live `Dispatch`.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    tracing::callsite::rebuild_interest_cache();
    let for_threads = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        // Worker and blocking threads log into the buffer for their whole life.
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&for_threads));
        })
        .build()
        .unwrap();
    let _main = tracing::dispatcher::set_default(&dispatch);
    let secrets: Vec<(String, String)> = runtime.block_on(async {
        let sso = setup_with_sandbox(start_sandbox_apart(), ProviderKind::Generic, |_| {}).await;
        let mut secrets = Vec::new();
        let mut flow = |callback: &Callback| {
            for name in ["state", "nonce", "code_challenge"] {
                secrets.push((name.to_owned(), callback.authorize[name].clone()));
            }
            for (name, value) in url::form_urlencoded::parse(callback.query.as_bytes()) {
                if name == "code" || name == "state" {
                    secrets.push((format!("callback {name}"), value.into_owned()));
                }
            }
            secrets.push(("flow cookie".to_owned(), callback.cookie.clone()));
        };

        // A new account through the provider.
        sso.provider_user("erin@corp.example", true, &["pwd"]).await;
        let callback = sso.at_provider("erin@corp.example").await;
        flow(&callback);
        let ticket: Value = sso.callback(&callback, true).await.json().await.unwrap();
        let signed_in = sso
            .redeem(json!({"sso_ticket": ticket["sso_ticket"]}))
            .await;
        assert_eq!(signed_in.status(), StatusCode::CREATED);
        let pair: Value = signed_in.json().await.unwrap();

        // A password account links after its password.
        sso.app
            .create_user_with_password("fred@corp.example", PASSWORD)
            .await;
        sso.provider_user("fred@corp.example", true, &["pwd"]).await;
        let link = sso.at_provider("fred@corp.example").await;
        flow(&link);
        let link_ticket: Value = sso.callback(&link, true).await.json().await.unwrap();
        assert_eq!(link_ticket["link_required"], true);
        let linked = sso
            .redeem(json!({"sso_ticket": link_ticket["sso_ticket"], "password": PASSWORD}))
            .await;
        assert_eq!(linked.status(), StatusCode::CREATED);
        let linked: Value = linked.json().await.unwrap();

        // The session refreshes.
        let refreshed = sso
            .app
            .refresh(pair["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(refreshed.status(), StatusCode::OK);
        let refreshed: Value = refreshed.json().await.unwrap();

        for (name, body) in [
            ("ticket", &ticket),
            ("link ticket", &link_ticket),
            ("pair", &pair),
            ("linked pair", &linked),
            ("refreshed pair", &refreshed),
        ] {
            for field in ["sso_ticket", "access_token", "refresh_token"] {
                if let Some(value) = body[field].as_str() {
                    secrets.push((format!("{name} {field}"), value.to_owned()));
                }
            }
        }
        secrets.push(("password".to_owned(), PASSWORD.to_owned()));
        secrets
    });
    drop(runtime);
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // The capture saw the service at work, or the test proves nothing.
    assert!(
        logs.contains("/v1/sso/corp/callback") && logs.contains("/v1/sessions"),
        "the service's request logs were not captured"
    );
    assert!(secrets.len() >= 14, "{secrets:?}");
    for (name, value) in &secrets {
        assert!(value.len() >= 8, "{name} is too short to look for: {value}");
        assert!(
            !logs.contains(value.as_str()),
            "the {name} appears in the logs"
        );
    }
    // Any JWT (the provider's ID token, our access tokens) starts with `eyJ` (`{"`).
    assert!(!logs.contains("eyJ"), "a JWT appears in the logs");
}
