//! Real Postgres and RabbitMQ for tests, isolated per test.

use std::future::Future;
use std::time::Duration;

use secrecy::SecretString;
use service_kit::settings::{BrokerSettings, DatabaseSettings};
use service_kit::wait::StartupWait;
use sqlx::{Connection, PgConnection};

/// Tests wait this long for Postgres and RabbitMQ, then fail instead of hanging.
const TEST_WAIT: StartupWait = StartupWait::AtMost(Duration::from_secs(30));

/// The server tests create their databases on (`TEST_DATABASE_ADMIN_URL` overrides).
fn admin_url() -> String {
    std::env::var("TEST_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty database for one test and returns its settings.
pub async fn fresh_database() -> anyhow::Result<DatabaseSettings> {
    let admin = admin_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let (base, _) = admin.rsplit_once('/').unwrap_or((admin.as_str(), ""));
    Ok(DatabaseSettings {
        url: SecretString::from(format!("{base}/{name}")),
        max_connections: 5,
        wait: TEST_WAIT,
    })
}

/// Broker settings with a prefix unique to this test and transient objects.
pub fn test_broker() -> BrokerSettings {
    BrokerSettings {
        url: SecretString::from(
            std::env::var("TEST_AMQP_URL")
                .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into()),
        ),
        prefix: format!("test-{}.", uuid::Uuid::new_v4().simple()),
        prefetch: 16,
        transient: true,
        wait: TEST_WAIT,
    }
}

/// Polls `check` until it returns `Some`, or fails after `timeout` with `what` in the message.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if tokio::time::Instant::now() > deadline {
            return Err(match last_error {
                Some(err) => err.context(format!("timed out waiting for {what}")),
                None => anyhow::anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
