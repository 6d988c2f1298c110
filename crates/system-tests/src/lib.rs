//! Starts the whole system in-process for end-to-end tests and the benchmark.
#![doc = include_str!("../README.md")]

use std::time::Duration;

use anyhow::Context;
use sandbox::client::{Control, text};
use secrecy::SecretString;
use serde_json::{Value, json};
use service_kit::CancellationToken;
use service_kit::auth::{Caller, Callers};
use service_kit::settings::{HttpSettings, TelemetrySettings};
use tokio::task::JoinHandle;

pub mod browser;

/// The operator's credential: provisioning users and settings, making polls due, the
/// connectors' lists (what the tests do through the internal APIs).
pub const OPERATOR_TOKEN: &str = auth_service::settings::TEST_OPERATOR_TOKEN;
/// Each service's own credential (decisions #57).
pub const WEB_TOKEN: &str = auth_service::settings::TEST_WEB_TOKEN;
pub const OUTLOOK_TOKEN: &str = auth_service::settings::TEST_OUTLOOK_TOKEN;
pub const ZOHO_TOKEN: &str = auth_service::settings::TEST_ZOHO_TOKEN;

fn callers(accepted: &[Caller]) -> Callers {
    Callers::new(accepted.iter().map(|&caller| {
        let token = match caller {
            Caller::Web => WEB_TOKEN,
            Caller::ConnectorOutlook => OUTLOOK_TOKEN,
            Caller::ConnectorZoho => ZOHO_TOKEN,
            Caller::Operator => OPERATOR_TOKEN,
        };
        (caller, SecretString::from(token))
    }))
}
/// Short partition leases, so that a stopped replica's partitions move quickly in tests.
pub const SYNC_PARTITION_LEASE: Duration = Duration::from_secs(4);
/// Every test user's password.
pub const USER_PASSWORD: &str = "correct horse battery staple";

/// A running system. Stops everything when dropped.
pub struct System {
    pub sandbox_url: String,
    pub auth_url: String,
    pub sync_url: String,
    pub outlook_url: String,
    pub zoho_url: String,
    /// The settings page's origin (`web`), when started with [`spawn_system_with_web`].
    pub web_url: Option<String>,
    pub http: reqwest::Client,
    database: service_kit::settings::DatabaseSettings,
    broker: service_kit::settings::BrokerSettings,
    shutdown: Vec<CancellationToken>,
    tasks: Vec<JoinHandle<()>>,
}

/// A link as sync-service stores it: kind, Outlook id, Zoho id, link id, status.
pub type LinkRow = (String, Option<String>, Option<String>, uuid::Uuid, String);

/// A provisioned user: ids on each side and in this system.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub user_id: String,
    pub mailbox_id: String,
    pub org_id: String,
    pub contact_folder_id: String,
}

fn local(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn quiet_telemetry() -> TelemetrySettings {
    TelemetrySettings {
        otlp_endpoint: None,
        log_filter: "info".into(),
        json_logs: false,
    }
}

fn spawn<F>(name: &'static str, future: F) -> JoinHandle<()>
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(err) = future.await {
            eprintln!("{name} stopped with an error: {err:#}");
        }
    })
}

/// sync-service settings for an in-process instance on a free port.
pub fn sync_settings(
    database: &service_kit::settings::DatabaseSettings,
    broker: &service_kit::settings::BrokerSettings,
    auth_url: &str,
) -> sync_service::settings::Settings {
    sync_service::settings::Settings {
        http: HttpSettings::local(),
        database: database.clone(),
        broker: broker.clone(),
        telemetry: quiet_telemetry(),
        callers: callers(&[Caller::Operator, Caller::Web]),
        auth_url: auth_url.to_owned(),
        jwt_issuer: "outlook-zoho-sync/auth".into(),
        jwt_audience: "outlook-zoho-sync".into(),
        delete_guard_share: 0.3,
        delete_guard_minimum: 5,
        partition_lease: SYNC_PARTITION_LEASE,
        batch_max: 32,
        partitions_at_once: sync_service::settings::DEFAULT_PARTITIONS_AT_ONCE,
        retry_attempts: 3,
        retry_backoff: Duration::from_millis(500),
        inbox_retention: Duration::from_secs(7 * 86_400),
        deleted_link_retention: Duration::from_secs(30 * 86_400),
        // The tests poll every second.
        min_poll_interval_secs: 1,
        finale_page_steps: 500,
    }
}

/// Starts the sandbox and the four services. `poll_tick` is how often the connectors look for
/// due polls.
pub async fn spawn_system() -> anyhow::Result<System> {
    start(false, None).await
}

/// Like [`spawn_system`], plus `web` (the settings page and its API) in front of the services,
/// with auth-service's OAuth redirects going through it as in a deployment
/// (`AUTH_PUBLIC_URL={web}/api/auth`, `AUTH_CONNECTED_REDIRECT_URL={web}/#/connections`).
pub async fn spawn_system_with_web() -> anyhow::Result<System> {
    start(true, None).await
}

/// Like [`spawn_system_with_web`], with `web` behind reverse proxies at `web_trusted_proxies`
/// (`WEB_TRUSTED_PROXIES`) and auth-service trusting `web`'s address (loopback), as a
/// deployment behind an HTTPS proxy is set up. The tests' own client connects from loopback.
pub async fn spawn_system_with_web_behind(web_trusted_proxies: &str) -> anyhow::Result<System> {
    start(true, Some(web_trusted_proxies.parse()?)).await
}

/// With `web`, people of this domain get an account on their first sign-in with the sandbox's
/// OpenID Connect provider (`Sandbox ID`).
pub const SSO_SIGN_UP_DOMAIN: &str = "sso.example";

async fn start(
    with_web: bool,
    web_trusted_proxies: Option<service_kit::client_address::TrustedProxies>,
) -> anyhow::Result<System> {
    service_kit::telemetry::init_for_tests();
    // `web`'s address must be known before auth-service starts: bind it first.
    let web_listener = if with_web {
        Some(tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?)
    } else {
        None
    };
    let web_url = match &web_listener {
        Some(listener) => Some(local(listener.local_addr()?.port())),
        None => None,
    };
    let database = test_support::fresh_database().await?;
    let broker = test_support::test_broker();
    let mut shutdown = Vec::new();
    let mut tasks = Vec::new();

    let sandbox = sandbox::startup::Application::build(sandbox::Settings::for_tests()).await?;
    let sandbox_url = sandbox.base_url();
    tasks.push(spawn("sandbox", sandbox.run_until_stopped()));

    let mut auth_settings = {
        use secrecy::ExposeSecret;
        auth_service::settings::Settings::for_tests(database.url.expose_secret(), &sandbox_url)
    };
    if web_trusted_proxies.is_some() {
        auth_settings.sessions.trusted_proxies = "127.0.0.1".parse()?;
    }
    if let Some(web_url) = &web_url {
        auth_settings.public_url = format!("{web_url}/api/auth");
        auth_settings.connected_redirect_url = Some(format!("{web_url}/#/connections"));
        // "Sign in with Sandbox ID": the sandbox's OpenID Connect provider, as an operator
        // would configure their own (new accounts for `sso.example` people).
        auth_settings.sign_in_redirect_url = Some(format!("{web_url}/"));
        auth_settings.oidc = vec![auth_service::sso::config::OidcProviderSettings {
            id: "sandbox".to_owned(),
            kind: auth_service::sso::config::ProviderKind::Generic,
            display_name: "Sandbox ID".to_owned(),
            issuer: sandbox::oidc::issuer_url(&sandbox_url, "sandbox"),
            client_id: "sandbox-oidc-client".to_owned(),
            client_secret: SecretString::from("sandbox-oidc-secret"),
            sign_up_domains: vec![SSO_SIGN_UP_DOMAIN.to_owned()],
        }];
    }
    let auth = auth_service::startup::Application::build(auth_settings)
        .await
        .context("auth-service")?;
    let auth_url = local(auth.port());
    shutdown.push(auth.shutdown_token());
    tasks.push(spawn("auth-service", auth.run_until_stopped()));

    let sync_settings = sync_settings(&database, &broker, &auth_url);
    let sync = sync_service::startup::Application::build(sync_settings)
        .await
        .context("sync-service")?;
    let sync_url = local(sync.port());
    shutdown.push(sync.shutdown_token());
    tasks.push(spawn("sync-service", sync.run_until_stopped()));

    let connector = |instance: &str, own: &str| connector_kit::ConnectorSettings {
        http: HttpSettings::local(),
        database: database.clone(),
        broker: broker.clone(),
        telemetry: quiet_telemetry(),
        auth_url: auth_url.clone(),
        service_token: SecretString::from(own.to_owned()),
        callers: callers(&[Caller::Web, Caller::Operator]),
        poll_tick: Duration::from_millis(100),
        lease: Duration::from_secs(30),
        instance_id: instance.to_owned(),
        api: connector_kit::ApiSettings {
            base_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
            batch_window: Duration::from_millis(100),
            ..connector_kit::ApiSettings::default()
        },
        applied_retention: Duration::from_secs(7 * 86_400),
    };
    let outlook = connector_outlook::startup::build(connector_outlook::settings::Settings {
        connector: connector("outlook-1", OUTLOOK_TOKEN),
        graph_base_url: format!("{sandbox_url}/graph/v1.0"),
        page_size: 50,
        calendar_days_back: 30,
        calendar_days_ahead: 365,
    })
    .await
    .context("connector-outlook")?;
    let outlook_url = local(outlook.port());
    shutdown.push(outlook.shutdown_token());
    tasks.push(spawn("connector-outlook", outlook.run_until_stopped()));

    let zoho = connector_zoho::startup::build(connector_zoho::settings::Settings {
        connector: connector("zoho-1", ZOHO_TOKEN),
    })
    .await
    .context("connector-zoho")?;
    let zoho_url = local(zoho.port());
    shutdown.push(zoho.shutdown_token());
    tasks.push(spawn("connector-zoho", zoho.run_until_stopped()));

    if let Some(listener) = web_listener {
        let mut settings = web::Settings::for_tests(
            web::settings::Upstreams {
                auth_url: auth_url.clone(),
                sync_url: sync_url.clone(),
                outlook_url: outlook_url.clone(),
                zoho_url: zoho_url.clone(),
            },
            WEB_TOKEN,
        );
        settings.trusted_proxies = web_trusted_proxies.unwrap_or_default();
        let web = web::Application::build_on(listener, settings).context("web")?;
        shutdown.push(web.shutdown_token());
        tasks.push(spawn("web", web.run_until_stopped()));
    }

    Ok(System {
        sandbox_url,
        auth_url,
        sync_url,
        outlook_url,
        zoho_url,
        web_url,
        http: reqwest::Client::new(),
        database,
        broker,
        shutdown,
        tasks,
    })
}

impl System {
    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, &url).bearer_auth(OPERATOR_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {text}");
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    pub async fn post(&self, url: String, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, url, Some(body)).await
    }

    pub async fn put(&self, url: String, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, url, Some(body)).await
    }

    pub async fn get(&self, url: String) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, url, None).await
    }

    /// A sandbox mailbox and Zoho organisation, a user with both connected, contacts syncing
    /// both ways every `poll_interval_secs`.
    pub async fn provision_user(
        &self,
        email: &str,
        poll_interval_secs: u32,
    ) -> anyhow::Result<TestUser> {
        let (mailbox, org) = self.new_accounts(email).await?;
        self.connect_user(email, mailbox, org, poll_interval_secs)
            .await
    }

    /// A new sandbox mailbox and Zoho organisation (in the Japanese data centre, its user in
    /// Tokyo: Zoho answers in UTC+9 and all-day events are Tokyo's dates).
    async fn new_accounts(&self, email: &str) -> anyhow::Result<(Value, Value)> {
        let control = self.control();
        let mailbox = control.new_mailbox(json!({"display_name": email})).await?;
        let org = control
            .new_org(json!({"dc": "jp", "user_email": email, "time_zone": "Asia/Tokyo"}))
            .await?;
        Ok((mailbox, org))
    }

    /// Like [`System::provision_user`], with `contacts` seeded on each side first (`shared_share`
    /// of them on both sides), so the first sync meets two filled accounts.
    pub async fn provision_seeded_user(
        &self,
        email: &str,
        poll_interval_secs: u32,
        contacts: usize,
        shared_share: f64,
    ) -> anyhow::Result<TestUser> {
        self.provision_user_seeded_with(
            email,
            poll_interval_secs,
            json!({"contacts": contacts, "shared_share": shared_share, "seed": 7}),
        )
        .await
    }

    /// Like [`System::provision_user`], the accounts seeded first by the sandbox's `/seed` with
    /// `seed` (`contacts`, `tasks`, `events`, `shared_share`, `seed`).
    pub async fn provision_user_seeded_with(
        &self,
        email: &str,
        poll_interval_secs: u32,
        mut seed: Value,
    ) -> anyhow::Result<TestUser> {
        let (mailbox, org) = self.new_accounts(email).await?;
        seed["mailbox_id"] = json!(text(&mailbox, "mailbox_id")?);
        seed["org_id"] = json!(text(&org, "org_id")?);
        self.control().seed(seed).await?;
        self.connect_user(email, mailbox, org, poll_interval_secs)
            .await
    }

    async fn connect_user(
        &self,
        email: &str,
        mailbox: Value,
        org: Value,
        poll_interval_secs: u32,
    ) -> anyhow::Result<TestUser> {
        let user = self
            .post(
                format!("{}/internal/v1/users", self.auth_url),
                json!({"email": email, "password": USER_PASSWORD}),
            )
            .await?;
        let user_id = text(&user, "user_id")?;
        self.put(
            format!(
                "{}/internal/v1/users/{user_id}/connections/outlook",
                self.auth_url
            ),
            json!({"refresh_token": text(&mailbox, "refresh_token")?}),
        )
        .await?;
        self.put(
            format!(
                "{}/internal/v1/users/{user_id}/connections/zoho",
                self.auth_url
            ),
            json!({"refresh_token": text(&org, "refresh_token")?, "data_centre": "jp"}),
        )
        .await?;
        let folder = text(&mailbox, "default_contact_folder_id")?;
        self.put(
            format!("{}/internal/v1/users/{user_id}/settings", self.sync_url),
            json!({
                "contact_folder_id": folder,
                "contacts": {"enabled": true, "direction": "two_way"},
                "conflict_rule": "zoho_wins",
                "poll_interval_secs": poll_interval_secs,
            }),
        )
        .await?;
        Ok(TestUser {
            user_id,
            mailbox_id: text(&mailbox, "mailbox_id")?,
            org_id: text(&org, "org_id")?,
            contact_folder_id: folder,
        })
    }

    /// Signs in through auth-service and returns the access token.
    pub async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<String> {
        let answer = self
            .post(
                format!("{}/v1/sessions", self.auth_url),
                json!({"email": email, "password": password}),
            )
            .await?;
        text(&answer, "access_token")
    }

    /// An administrator's access token (the administrator is created on first use).
    pub async fn admin_token(&self) -> anyhow::Result<String> {
        let email = "admin@example.com";
        let _ = self
            .post(
                format!("{}/internal/v1/users", self.auth_url),
                json!({"email": email, "password": USER_PASSWORD, "is_admin": true}),
            )
            .await;
        self.sign_in(email, USER_PASSWORD).await
    }

    /// Calls a user or admin endpoint with an access token.
    pub async fn call_as(
        &self,
        token: &str,
        method: reqwest::Method,
        url: String,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, &url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text)?
            },
        ))
    }

    /// Starts another sync-service replica on the same database and broker; returns its URL.
    pub async fn add_sync_replica(&mut self) -> anyhow::Result<String> {
        self.add_sync_replica_with(|_| {}).await
    }

    /// The same, with its settings changed first (e.g. a production poll-interval floor).
    pub async fn add_sync_replica_with(
        &mut self,
        configure: impl FnOnce(&mut sync_service::settings::Settings),
    ) -> anyhow::Result<String> {
        let mut settings = sync_settings(&self.database, &self.broker, &self.auth_url);
        configure(&mut settings);
        let replica = sync_service::startup::Application::build(settings).await?;
        let url = local(replica.port());
        self.shutdown.push(replica.shutdown_token());
        self.tasks
            .push(spawn("sync-service replica", replica.run_until_stopped()));
        Ok(url)
    }

    /// Changes the user's conflict rule (the other settings as `provision_user` made them).
    pub async fn set_conflict_rule(
        &self,
        user: &TestUser,
        rule: &str,
        poll_interval_secs: u32,
    ) -> anyhow::Result<()> {
        self.put(
            format!(
                "{}/internal/v1/users/{}/settings",
                self.sync_url, user.user_id
            ),
            json!({
                "contact_folder_id": user.contact_folder_id,
                "contacts": {"enabled": true, "direction": "two_way"},
                "conflict_rule": rule,
                "poll_interval_secs": poll_interval_secs,
            }),
        )
        .await?;
        Ok(())
    }

    /// Asks one side's connector (only) to poll the user now.
    pub async fn poll_side(&self, user: &TestUser, side: &str) -> anyhow::Result<()> {
        let base = if side == "outlook" {
            &self.outlook_url
        } else {
            &self.zoho_url
        };
        self.post(
            format!("{base}/internal/v1/users/{}/sync-now", user.user_id),
            json!({}),
        )
        .await?;
        Ok(())
    }

    /// Publishes raw bytes on `sync.changes` (for poison-message tests).
    pub async fn publish_raw_change(
        &self,
        routing_key: &str,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let broker = service_kit::broker::Broker::connect(&self.broker, "test-publisher").await?;
        let channel = broker.channel().await?;
        channel
            .basic_publish(
                broker
                    .name(sync_protocol::topology::CHANGES_EXCHANGE)
                    .into(),
                routing_key.into(),
                lapin::options::BasicPublishOptions::default(),
                payload,
                lapin::BasicProperties::default(),
            )
            .await?
            .await?;
        broker.close().await;
        Ok(())
    }

    /// Asks both connectors to poll the user now.
    pub async fn sync_now(&self, user: &TestUser) -> anyhow::Result<()> {
        self.post(
            format!(
                "{}/internal/v1/users/{}/sync-now",
                self.sync_url, user.user_id
            ),
            json!({}),
        )
        .await?;
        Ok(())
    }

    /// The sandbox's control API.
    pub fn control(&self) -> Control {
        Control::new(self.sandbox_url.clone(), self.http.clone())
    }

    /// Deletes the user's Outlook contacts `ids` so that one poll round reports them all:
    /// Graph's reads fail meanwhile (503), so no poll in between splits them across rounds
    /// (each under the mass-delete guard's share).
    pub async fn delete_outlook_contacts_in_one_round(
        &self,
        user: &TestUser,
        ids: &[&str],
    ) -> anyhow::Result<()> {
        let faults = format!(
            "{}/_sandbox/graph/mailboxes/{}/faults",
            self.sandbox_url, user.mailbox_id
        );
        self.put(
            faults.clone(),
            json!({"share_503": 1.0, "retry_after_seconds": 0.1, "operations": ["GET *"]}),
        )
        .await?;
        let token = self.graph_token(user).await?;
        for id in ids {
            let answer = self
                .http
                .delete(format!("{}/graph/v1.0/me/contacts/{id}", self.sandbox_url))
                .bearer_auth(&token)
                .send()
                .await?;
            anyhow::ensure!(answer.status() == 204, "Graph answered {}", answer.status());
        }
        let cleared = self.http.delete(&faults).send().await?;
        anyhow::ensure!(cleared.status().is_success(), "{}", cleared.status());
        Ok(())
    }

    /// The deletions the mass-delete guard holds, as an admin (`admin`: its access token) lists
    /// them.
    pub async fn held_deletions(&self, admin: &str) -> anyhow::Result<Vec<Value>> {
        let (status, body) = self
            .call_as(
                admin,
                reqwest::Method::GET,
                format!("{}/v1/admin/held-deletions", self.sync_url),
                None,
            )
            .await?;
        anyhow::ensure!(status == 200, "held-deletions answered {status}: {body}");
        Ok(body.as_array().cloned().unwrap_or_default())
    }

    /// An access token for calling the emulated Graph API as the user would.
    pub async fn graph_token(&self, user: &TestUser) -> anyhow::Result<String> {
        self.control().graph_token(&user.mailbox_id).await
    }

    /// An access token and the API domain for calling the emulated Zoho CRM API.
    pub async fn zoho_token(&self, user: &TestUser) -> anyhow::Result<(String, String)> {
        self.control().zoho_token(&user.org_id).await
    }

    /// Every contact in the mailbox (control API: not counted as API calls).
    pub async fn outlook_contacts(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        self.control()
            .mailbox_items(&user.mailbox_id, "contacts")
            .await
    }

    /// Every event of the mailbox: single events and series masters (control API).
    pub async fn outlook_events(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        let events = self
            .control()
            .mailbox_items(&user.mailbox_id, "events")
            .await?;
        Ok(events
            .into_iter()
            .filter(|e| e["type"] != "exception" && e["type"] != "occurrence")
            .collect())
    }

    /// Every Zoho contact of the organisation (control API).
    pub async fn zoho_contacts(&self, user: &TestUser) -> anyhow::Result<Vec<Value>> {
        self.zoho_records(user, "Contacts").await
    }

    /// Stops every service and waits for them to finish.
    pub async fn stop(mut self) {
        for token in &self.shutdown {
            token.cancel();
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for token in &self.shutdown {
            token.cancel();
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The refresh tokens a user's connections were made with (to break and restore them).
#[derive(Debug, Clone)]
pub struct ProviderRefreshTokens {
    pub outlook: String,
    pub zoho: String,
}

/// Helpers for tasks, events and the connectors' own endpoints (issue 5).
impl System {
    /// Like [`System::provision_seeded_user`], also returning the refresh tokens used.
    pub async fn provision_seeded_user_with_tokens(
        &self,
        email: &str,
        poll_interval_secs: u32,
        contacts: usize,
        shared_share: f64,
    ) -> anyhow::Result<(TestUser, ProviderRefreshTokens)> {
        let (mailbox, org) = self.new_accounts(email).await?;
        if contacts > 0 {
            self.control()
                .seed(json!({
                    "mailbox_id": text(&mailbox, "mailbox_id")?,
                    "org_id": text(&org, "org_id")?,
                    "contacts": contacts,
                    "shared_share": shared_share,
                    "seed": 7,
                }))
                .await?;
        }
        let tokens = ProviderRefreshTokens {
            outlook: text(&mailbox, "refresh_token")?,
            zoho: text(&org, "refresh_token")?,
        };
        let user = self
            .connect_user(email, mailbox, org, poll_interval_secs)
            .await?;
        Ok((user, tokens))
    }

    /// A Graph call as the user would make it (`path` relative to `/v1.0`).
    pub async fn graph_call(
        &self,
        user: &TestUser,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let token = self.graph_token(user).await?;
        let mut request = self
            .http
            .request(method, format!("{}/graph/v1.0{path}", self.sandbox_url))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status.is_success(),
            "Graph {path} answered {status}: {text}"
        );
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// A Zoho CRM call as the user would make it (`path` relative to `/crm/v8`).
    pub async fn zoho_call(
        &self,
        user: &TestUser,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (token, api_domain) = self.zoho_token(user).await?;
        let mut request = self
            .http
            .request(method, format!("{api_domain}/crm/v8{path}"))
            .header("Authorization", format!("Zoho-oauthtoken {token}"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "Zoho {path} answered {status}: {text}");
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    /// Every record of a Zoho module (control API: not counted).
    pub async fn zoho_records(&self, user: &TestUser, module: &str) -> anyhow::Result<Vec<Value>> {
        self.control().org_records(&user.org_id, module).await
    }

    /// A connector's discovery answer for the settings page (`side`: `outlook` or `zoho`).
    pub async fn discover(&self, user: &TestUser, side: &str, what: &str) -> anyhow::Result<Value> {
        let base = if side == "outlook" {
            &self.outlook_url
        } else {
            &self.zoho_url
        };
        self.get(format!(
            "{base}/internal/v1/users/{}/discovery/{what}",
            user.user_id
        ))
        .await
    }

    /// A connector's watches of the user: state, last error and poll times per kind.
    pub async fn watches(&self, user: &TestUser, side: &str) -> anyhow::Result<Vec<Value>> {
        let base = if side == "outlook" {
            &self.outlook_url
        } else {
            &self.zoho_url
        };
        let answer = self
            .get(format!("{base}/internal/v1/users/{}/watches", user.user_id))
            .await?;
        Ok(answer["watches"].as_array().cloned().unwrap_or_default())
    }

    /// sync-service's links of the user (read from its `sync` schema, as the benchmark does):
    /// (kind, Outlook id, Zoho id, link id, status), sorted.
    pub async fn links(&self, user: &TestUser) -> anyhow::Result<Vec<LinkRow>> {
        use secrecy::ExposeSecret;
        let pool = sqlx::PgPool::connect(self.database.url.expose_secret()).await?;
        let user_id: uuid::Uuid = user.user_id.parse()?;
        let mut rows: Vec<LinkRow> = sqlx::query_as(
            "SELECT kind, outlook_id, zoho_id, id, status FROM sync.links WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        rows.sort();
        Ok(rows)
    }

    /// Runs one SQL statement on the system's database (fault injection in tests).
    pub async fn execute_sql(&self, statement: &str) -> anyhow::Result<()> {
        use secrecy::ExposeSecret;
        let pool = sqlx::PgPool::connect(self.database.url.expose_secret()).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }

    /// Replaces the user's settings with `settings` (the whole settings object).
    pub async fn put_settings(&self, user: &TestUser, settings: Value) -> anyhow::Result<()> {
        self.put(
            format!(
                "{}/internal/v1/users/{}/settings",
                self.sync_url, user.user_id
            ),
            settings,
        )
        .await?;
        Ok(())
    }
}

/// Accounts that already hold data when the user connects them (issue 12).
impl System {
    /// Like [`System::provision_user`], after `prepare` filled the new accounts with the user's
    /// existing data, so the first sync meets them. `prepare` gets the user before it is
    /// connected: its `user_id` is empty, its mailbox and organisation are usable
    /// ([`System::graph_call`], [`System::zoho_call`]).
    pub async fn provision_user_prepared<F, Fut>(
        &self,
        email: &str,
        poll_interval_secs: u32,
        prepare: F,
    ) -> anyhow::Result<TestUser>
    where
        F: FnOnce(TestUser) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let (mailbox, org) = self.new_accounts(email).await?;
        prepare(TestUser {
            user_id: String::new(),
            mailbox_id: text(&mailbox, "mailbox_id")?,
            org_id: text(&org, "org_id")?,
            contact_folder_id: text(&mailbox, "default_contact_folder_id")?,
        })
        .await?;
        self.connect_user(email, mailbox, org, poll_interval_secs)
            .await
    }
}
