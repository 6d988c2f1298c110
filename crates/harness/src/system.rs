//! The whole system for one scenario: a fresh Postgres database, a RabbitMQ name prefix of its
//! own, and the sandbox and services as separate processes. Also the calls the scenarios make:
//! the sandbox's control API, auth-service's and sync-service's internal APIs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine as _;
use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use service_kit::settings::{BrokerSettings, DatabaseSettings};

use crate::procs::{self, ServiceProcess, Usage};
use crate::proxy::{self, Proxy};

pub use sandbox::client::{Control, text};

/// The operator's credential (provisioning, settings, polls made due); each service has its own
/// (decisions #57).
pub const OPERATOR_TOKEN: &str = "bench-operator-token-0123456789abcdef";
const OUTLOOK_TOKEN: &str = "bench-outlook-token-0123456789abcdef";
const ZOHO_TOKEN: &str = "bench-zoho-token-0123456789abcdef0123";
const WEB_TOKEN: &str = "bench-web-token-0123456789abcdef01234";

/// Where the benchmark finds the binaries and puts its logs.
#[derive(Debug, Clone)]
pub struct Paths {
    pub bin_dir: PathBuf,
    pub out_dir: PathBuf,
}

pub struct System {
    pub http: reqwest::Client,
    pub sandbox_url: String,
    /// The run's database, reached directly (the services may go through a proxy).
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    /// Queues of the run's prefix, beyond the services' own, to delete at the end.
    pub extra_queues: Vec<String>,
    /// The proxies the services reach Postgres and RabbitMQ through, when started so.
    pub proxies: Option<Proxies>,
    /// Keep the database and the broker objects at the end (as `BENCH_KEEP` does), to look
    /// into a failed run.
    pub keep: bool,
    processes: Vec<ServiceProcess>,
    database_name: String,
    bin_dir: PathBuf,
    logs: PathBuf,
    scenario: String,
    env: Vec<(String, String)>,
    ports: BTreeMap<&'static str, u16>,
}

/// The services' ways to Postgres and RabbitMQ, to cut and restore (see [`crate::proxy`]).
pub struct Proxies {
    pub database: Proxy,
    pub broker: Proxy,
}

fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .or_else(|_| std::env::var("SYNC_AMQP_URL"))
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

impl System {
    /// Starts `services` (names from [`procs::ALL`], in that order) for `scenario`.
    /// `extra_env` is added to every process (e.g. a page size).
    pub async fn start(
        paths: &Paths,
        scenario: &str,
        services: &[&'static str],
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::launch(paths, scenario, services, extra_env, false).await
    }

    /// Like [`System::start`], the services reaching Postgres and RabbitMQ through proxies of
    /// their own ([`System::proxies`]), so that a test can cut them.
    pub async fn start_proxied(
        paths: &Paths,
        scenario: &str,
        services: &[&'static str],
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        Self::launch(paths, scenario, services, extra_env, true).await
    }

    async fn launch(
        paths: &Paths,
        scenario: &str,
        services: &[&'static str],
        extra_env: &[(&str, &str)],
        proxied: bool,
    ) -> anyhow::Result<Self> {
        let database = test_support::fresh_database()
            .await
            .context("cannot create the benchmark's database (is Postgres running?)")?;
        let database_name = database
            .url
            .expose_secret()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let broker = BrokerSettings {
            url: secrecy::SecretString::from(amqp_url()),
            prefix: format!("bench-{}.", uuid::Uuid::new_v4().simple()),
            prefetch: 32,
            transient: false,
            wait: service_kit::wait::StartupWait::AtMost(std::time::Duration::from_secs(30)),
        };
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        let logs = paths.out_dir.join("logs");
        std::fs::create_dir_all(&logs)?;

        let ports: BTreeMap<&str, u16> = procs::ALL
            .iter()
            .map(|name| Ok((*name, procs::free_port()?)))
            .collect::<anyhow::Result<_>>()?;
        let url = |name: &str| format!("http://127.0.0.1:{}", ports[name]);
        let sandbox_url = url(procs::SANDBOX);
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let (database_url, amqp, proxies) = if proxied {
            let proxies = Proxies {
                database: Proxy::start(proxy::upstream_of(database.url.expose_secret()).await?)
                    .await?,
                broker: Proxy::start(proxy::upstream_of(&amqp_url()).await?).await?,
            };
            (
                proxies.database.rewrite(database.url.expose_secret())?,
                proxies.broker.rewrite(&amqp_url())?,
                Some(proxies),
            )
        } else {
            (database.url.expose_secret().to_owned(), amqp_url(), None)
        };
        let mut env: Vec<(String, String)> = vec![
            ("SYNC_DATABASE_URL", database_url),
            ("SYNC_AMQP_URL", amqp),
            ("SYNC_BROKER_PREFIX", broker.prefix.clone()),
            ("SYNC_TOKEN_OPERATOR", OPERATOR_TOKEN.into()),
            ("SYNC_TOKEN_OUTLOOK", OUTLOOK_TOKEN.into()),
            ("SYNC_TOKEN_ZOHO", ZOHO_TOKEN.into()),
            ("SYNC_TOKEN_WEB", WEB_TOKEN.into()),
            ("SYNC_LOG", "warn".into()),
            ("SYNC_LOG_JSON", "false".into()),
            ("SYNC_AUTH_URL", url(procs::AUTH)),
            ("AUTH_ENCRYPTION_KEYS", format!("bench:{key}")),
            (
                "AUTH_ZOHO_ACCOUNTS_BASE",
                format!("{sandbox_url}/zoho-accounts/{{dc}}"),
            ),
            ("AUTH_MICROSOFT_LOGIN_BASE", format!("{sandbox_url}/login")),
            (
                "OUTLOOK_GRAPH_BASE_URL",
                format!("{sandbox_url}/graph/v1.0"),
            ),
            ("SANDBOX_PORT", ports[procs::SANDBOX].to_string()),
            ("AUTH_PORT", ports[procs::AUTH].to_string()),
            ("SYNC_SERVICE_PORT", ports[procs::SYNC].to_string()),
            // Benchmarks and crash tests poll every few seconds.
            ("SYNC_SERVICE_MIN_POLL_INTERVAL_SECS", "1".to_owned()),
            ("OUTLOOK_PORT", ports[procs::OUTLOOK].to_string()),
            ("ZOHO_PORT", ports[procs::ZOHO].to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );

        let mut system = System {
            http,
            sandbox_url,
            database,
            broker,
            extra_queues: Vec::new(),
            proxies,
            keep: false,
            processes: Vec::new(),
            database_name,
            bin_dir: paths.bin_dir.clone(),
            logs,
            scenario: scenario.to_owned(),
            env,
            ports,
        };
        for name in procs::ALL.iter().filter(|n| services.contains(n)) {
            system.spawn(name)?;
            system.wait_ready(name).await?;
        }
        Ok(system)
    }

    /// Starts `name` (again): on its port, with its settings, its log appended to. Does not
    /// wait for it to be ready.
    pub fn spawn(&mut self, name: &'static str) -> anyhow::Result<()> {
        let process = ServiceProcess::start(
            &self.bin_dir,
            name,
            self.ports[name],
            &self.env,
            self.log_of(name),
        )?;
        match self.processes.iter_mut().find(|p| p.name == name) {
            Some(slot) => *slot = process,
            None => self.processes.push(process),
        }
        Ok(())
    }

    /// Starts one more replica of the service `name` (sync-service, the connectors), known as
    /// `label`, on a port of its own, and waits until it is ready.
    pub async fn spawn_replica(
        &mut self,
        name: &'static str,
        label: &'static str,
    ) -> anyhow::Result<()> {
        let port = procs::free_port()?;
        let port_var = match name {
            procs::SYNC => "SYNC_SERVICE_PORT",
            procs::OUTLOOK => "OUTLOOK_PORT",
            procs::ZOHO => "ZOHO_PORT",
            other => anyhow::bail!("{other} does not run as replicas here"),
        };
        let mut env = self.env.clone();
        env.push((port_var.to_owned(), port.to_string()));
        let process =
            ServiceProcess::start_as(&self.bin_dir, name, label, port, &env, self.log_of(label))?;
        self.processes.push(process);
        self.wait_ready(label).await
    }

    /// Waits until `name` answers its readiness check (liveness for the sandbox).
    pub async fn wait_ready(&mut self, name: &str) -> anyhow::Result<()> {
        let path = if name == procs::SANDBOX {
            "/health/live"
        } else {
            "/health/ready"
        };
        let http = self.http.clone();
        let process = self
            .processes
            .iter_mut()
            .find(|p| p.name == name)
            .with_context(|| format!("{name} was never started"))?;
        process.wait_ready(&http, path).await
    }

    /// Kills `name` with SIGKILL (no shutdown of any kind) and waits until it is gone.
    pub async fn kill(&mut self, name: &str) {
        if let Some(process) = self.processes.iter_mut().find(|p| p.name == name) {
            process.kill().await;
        }
    }

    /// Whether `name` is running.
    pub fn alive(&mut self, name: &str) -> bool {
        self.processes
            .iter_mut()
            .find(|p| p.name == name)
            .is_some_and(|p| p.alive())
    }

    /// The log file of `name`.
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{}-{name}.log", self.scenario))
    }

    pub fn url(&self, name: &str) -> String {
        self.processes
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.url.clone())
            .unwrap_or_default()
    }

    /// Each running service's usage so far.
    pub fn usage(&self) -> BTreeMap<String, Usage> {
        self.processes
            .iter()
            .map(|p| (p.name.to_owned(), p.usage()))
            .collect()
    }

    /// Names of services that stopped on their own (a crash is a failed run).
    pub fn dead(&mut self) -> Vec<&'static str> {
        self.processes
            .iter_mut()
            .filter_map(|p| (!p.alive()).then_some(p.name))
            .collect()
    }

    /// Stops every process, then removes the database and the broker objects.
    pub async fn stop(mut self) {
        for process in self.processes.drain(..).rev() {
            process.stop().await;
        }
        if self.keep || std::env::var_os("BENCH_KEEP").is_some() {
            eprintln!(
                "kept for a look: database {} and broker prefix {} kept",
                self.database_name, self.broker.prefix
            );
            return;
        }
        if let Err(err) = self.cleanup().await {
            eprintln!("warning: cleaning up after the run: {err:#}");
        }
    }

    async fn cleanup(&self) -> anyhow::Result<()> {
        let connection = lapin::Connection::connect(
            self.broker.url.expose_secret(),
            lapin::ConnectionProperties::default(),
        )
        .await?;
        let channel = connection.create_channel().await?;
        let prefix = &self.broker.prefix;
        let partitions = sync_protocol::topology::Partition::all().map(|p| p.queue());
        for queue in [
            "connector-outlook.commands",
            "connector-zoho.commands",
            "sync.dead-letter",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(partitions)
        .chain(self.extra_queues.iter().cloned())
        {
            let _ = channel
                .queue_delete(
                    format!("{prefix}{queue}").into(),
                    QueueDeleteOptions::default(),
                )
                .await;
        }
        for exchange in ["sync.changes", "sync.commands", "sync.dead-letter"] {
            let _ = channel
                .exchange_delete(
                    format!("{prefix}{exchange}").into(),
                    ExchangeDeleteOptions::default(),
                )
                .await;
        }
        let _ = connection.close(200, "bench done".into()).await;
        let admin = std::env::var("TEST_DATABASE_ADMIN_URL")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
        let pool = sqlx::PgPool::connect(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.database_name
        )))
        .execute(&pool)
        .await?;
        pool.close().await;
        Ok(())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        url: String,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.http.request(method, &url).bearer_auth(OPERATOR_TOKEN);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| url.clone())?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(status.is_success(), "{url} answered {status}: {text}");
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    pub async fn get(&self, url: String) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, url, None).await
    }

    pub async fn post(&self, url: String, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, url, Some(&body)).await
    }

    pub async fn put(&self, url: String, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, url, Some(&body)).await
    }

    /// The sandbox's control API.
    pub fn control(&self) -> Control {
        Control::new(self.sandbox_url.clone(), self.http.clone())
    }

    /// A new sandbox mailbox and Zoho organisation.
    pub async fn new_accounts(&self, email: &str) -> anyhow::Result<Accounts> {
        let control = self.control();
        let mailbox = control.new_mailbox(json!({"display_name": email})).await?;
        let org = control
            .new_org(json!({"dc": "com", "user_email": email}))
            .await?;
        Ok(Accounts {
            email: email.to_owned(),
            mailbox_id: text(&mailbox, "mailbox_id")?,
            mailbox_refresh_token: text(&mailbox, "refresh_token")?,
            contact_folder_id: text(&mailbox, "default_contact_folder_id")?,
            org_id: text(&org, "org_id")?,
            org_refresh_token: text(&org, "refresh_token")?,
        })
    }

    /// Seeds both accounts (`POST /_sandbox/seed`) and returns the seeder's answer.
    pub async fn seed(
        &self,
        accounts: &Accounts,
        contacts: usize,
        tasks: usize,
        events: usize,
        shared_share: f64,
        seed: u64,
    ) -> anyhow::Result<Value> {
        self.control()
            .seed(json!({
                "mailbox_id": accounts.mailbox_id,
                "org_id": accounts.org_id,
                "contacts": contacts,
                "tasks": tasks,
                "events": events,
                "shared_share": shared_share,
                "seed": seed,
            }))
            .await
    }

    /// The mailbox's default To Do list (control API).
    pub async fn default_task_list(&self, accounts: &Accounts) -> anyhow::Result<String> {
        self.outlook_items(accounts, "todo-lists")
            .await?
            .into_iter()
            .find(|l| l["wellknownListName"] == "defaultList")
            .and_then(|l| l["id"].as_str().map(str::to_owned))
            .context("the mailbox has no default To Do list")
    }

    /// A user in auth-service (no password: nobody signs in) with both accounts connected.
    pub async fn create_user(&self, accounts: &Accounts) -> anyhow::Result<String> {
        let auth = self.url(procs::AUTH);
        let user = self
            .post(
                format!("{auth}/internal/v1/users"),
                json!({"email": accounts.email}),
            )
            .await?;
        let user_id = text(&user, "user_id")?;
        self.put(
            format!("{auth}/internal/v1/users/{user_id}/connections/outlook"),
            json!({"refresh_token": accounts.mailbox_refresh_token}),
        )
        .await?;
        self.put(
            format!("{auth}/internal/v1/users/{user_id}/connections/zoho"),
            json!({"refresh_token": accounts.org_refresh_token, "data_centre": "com"}),
        )
        .await?;
        Ok(user_id)
    }

    /// Puts the user's settings into sync-service: from here on the connectors poll.
    pub async fn put_settings(&self, user_id: &str, settings: Value) -> anyhow::Result<()> {
        self.put(
            format!(
                "{}/internal/v1/users/{user_id}/settings",
                self.url(procs::SYNC)
            ),
            settings,
        )
        .await?;
        Ok(())
    }

    /// sync-service's status of the user.
    pub async fn status(&self, user_id: &str) -> anyhow::Result<Value> {
        self.get(format!(
            "{}/internal/v1/users/{user_id}/status",
            self.url(procs::SYNC)
        ))
        .await
    }

    /// Every item of one kind on one side (control API: not counted as API calls).
    pub async fn outlook_items(
        &self,
        accounts: &Accounts,
        what: &str,
    ) -> anyhow::Result<Vec<Value>> {
        self.control()
            .mailbox_items(&accounts.mailbox_id, what)
            .await
    }

    pub async fn zoho_records(
        &self,
        accounts: &Accounts,
        module: &str,
    ) -> anyhow::Result<Vec<Value>> {
        self.control().org_records(&accounts.org_id, module).await
    }

    /// An access token for the mailbox's Graph API.
    pub async fn graph_token(&self, accounts: &Accounts) -> anyhow::Result<String> {
        self.control().graph_token(&accounts.mailbox_id).await
    }

    /// An access token and the API domain of the organisation's Zoho CRM.
    pub async fn zoho_token(&self, accounts: &Accounts) -> anyhow::Result<(String, String)> {
        self.control().zoho_token(&accounts.org_id).await
    }

    pub async fn stats(&self) -> anyhow::Result<Value> {
        self.control().stats().await
    }

    pub async fn reset_stats(&self) -> anyhow::Result<()> {
        self.control().reset_stats().await
    }
}

/// A user's two sandbox accounts.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub email: String,
    pub mailbox_id: String,
    pub mailbox_refresh_token: String,
    pub contact_folder_id: String,
    pub org_id: String,
    pub org_refresh_token: String,
}

/// Builds the service binaries with the caller's own profile, when run through cargo (which
/// sets `CARGO`); incremental, so a few seconds when they are up to date.
pub fn build_services(bin_dir: &Path) -> anyhow::Result<()> {
    let Ok(cargo) = std::env::var("CARGO") else {
        return Ok(());
    };
    let release = bin_dir.ends_with("release");
    crate::progress::step(&format!(
        "building the services ({})",
        if release { "release" } else { "debug" }
    ));
    let mut command = std::process::Command::new(cargo);
    command.args(["build", "--bins", "-q"]);
    if release {
        command.arg("--release");
    }
    for name in procs::ALL {
        command.args(["-p", name]);
    }
    let status = command.status().context("cannot run cargo")?;
    anyhow::ensure!(status.success(), "building the services failed");
    Ok(())
}

/// The directory of the running executable's profile (`target/release`, `target/debug`): where
/// `cargo build` put the service binaries. A test binary lives one level lower, in `deps/`.
pub fn default_bin_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut dir = exe
        .parent()
        .context("no executable directory")?
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// `target/bench` next to the profile directory.
pub fn default_out_dir(bin_dir: &Path) -> PathBuf {
    bin_dir
        .parent()
        .map(|target| target.join("bench"))
        .unwrap_or_else(|| PathBuf::from("target/bench"))
}
