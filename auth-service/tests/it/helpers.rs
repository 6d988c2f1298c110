//! `spawn_app()`: a fresh database, the service on a free port, and the provider stub.

use auth_service::{Application, Settings};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use service_kit::CancellationToken;
use sqlx::{Connection, PgPool};
use uuid::Uuid;

use crate::stub::ProviderStub;

pub const SERVICE_TOKEN: &str = auth_service::settings::TEST_OPERATOR_TOKEN;

/// The credential of the connector that may read `provider`'s tokens.
pub fn connector_token(provider: &str) -> &'static str {
    if provider == "zoho" {
        auth_service::settings::TEST_ZOHO_TOKEN
    } else {
        auth_service::settings::TEST_OUTLOOK_TOKEN
    }
}
const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// The service's own schema, for looking at rows directly.
    pub db: PgPool,
    pub stub: ProviderStub,
    pub settings: Settings,
    database: String,
    shutdowns: Vec<CancellationToken>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// With settings adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    service_kit::telemetry::init_for_tests();
    let database = format!("auth_test_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(ADMIN_URL)
        .await
        .expect("Postgres at 127.0.0.1:5432");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();

    let stub = ProviderStub::start().await;
    let mut settings = Settings::for_tests(
        &format!("postgres://postgres@127.0.0.1:5432/{database}"),
        &stub.base,
    );
    configure(&mut settings);
    let (address, shutdown) = start(settings.clone()).await;
    let db = service_kit::database::connect(&settings.database, "auth")
        .await
        .unwrap();
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        stub,
        settings,
        database,
        shutdowns: vec![shutdown],
    }
}

async fn start(settings: Settings) -> (String, CancellationToken) {
    let app = Application::build(settings)
        .await
        .expect("the service starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    (address, shutdown)
}

impl TestApp {
    /// A second instance on the same database (another replica).
    pub async fn replica(&mut self) -> String {
        let (address, shutdown) = start(self.settings.clone()).await;
        self.shutdowns.push(shutdown);
        address
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.address))
            .bearer_auth(SERVICE_TOKEN)
    }

    pub fn put(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .put(format!("{}{path}", self.address))
            .bearer_auth(SERVICE_TOKEN)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.address))
            .bearer_auth(SERVICE_TOKEN)
    }

    pub async fn create_user(&self, email: &str) -> Uuid {
        let response = self
            .post("/internal/v1/users")
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["user_id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn connect(&self, user: Uuid, provider: &str, body: Value) -> Response {
        self.put(&format!("/internal/v1/users/{user}/connections/{provider}"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A user who can sign in with `password`.
    pub async fn create_user_with_password(&self, email: &str, password: &str) -> Uuid {
        let response = self
            .post("/internal/v1/users")
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["user_id"].as_str().unwrap().parse().unwrap()
    }

    /// `POST /v1/sessions` (no service token: this is the public API).
    pub async fn sign_in(&self, body: Value) -> Response {
        self.client
            .post(format!("{}/v1/sessions", self.address))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in and returns the token pair.
    pub async fn signed_in(&self, email: &str, password: &str) -> Value {
        let response = self
            .sign_in(json!({"email": email, "password": password}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// A request to the public API with a user's access token.
    pub fn user_request(
        &self,
        method: reqwest::Method,
        path: &str,
        access_token: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(access_token)
    }

    /// Sends `method path` with a user's access token and a JSON body; the answer's status and
    /// JSON body (`null` when it has none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        access_token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .user_request(method, path, access_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.client
            .post(format!("{}/v1/sessions/refresh", self.address))
            .json(&json!({"refresh_token": refresh_token}))
            .send()
            .await
            .unwrap()
    }

    /// A user with one connected provider.
    pub async fn connected_user(&self, provider: &str, body: Value) -> Uuid {
        let user = self
            .create_user(&format!("{}@example.com", Uuid::new_v4().simple()))
            .await;
        let response = self.connect(user, provider, body).await;
        assert_eq!(response.status(), StatusCode::OK);
        user
    }

    pub async fn token(&self, user: Uuid, provider: &str) -> Response {
        request_token(&self.client, &self.address, user, provider).await
    }

    /// The status entry of one provider.
    pub async fn status(&self, user: Uuid, provider: &str) -> Value {
        let response = self
            .get(&format!("/internal/v1/users/{user}/connections"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["provider"] == provider)
            .cloned()
            .unwrap()
    }
}

/// `POST /internal/v1/provider-tokens` at any instance.
pub async fn request_token(
    client: &reqwest::Client,
    address: &str,
    user: Uuid,
    provider: &str,
) -> Response {
    client
        .post(format!("{address}/internal/v1/provider-tokens"))
        .bearer_auth(connector_token(provider))
        .json(&json!({"user_id": user, "provider": provider}))
        .send()
        .await
        .unwrap()
}

/// Asserts status and error code, and returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    body
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for shutdown in &self.shutdowns {
            shutdown.cancel();
        }
        // Best effort: do not leave a database behind per test.
        let database = std::mem::take(&mut self.database);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(ADMIN_URL).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
                Ok::<_, sqlx::Error>(())
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
    }
}

/// Of a burst's answers: how many were checked and refused (401), and how many throttled (429).
pub fn checked_and_refused(statuses: &[StatusCode]) -> (usize, usize) {
    let count = |status| statuses.iter().filter(|s| **s == status).count();
    (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
    )
}
