//! A service started before its database or broker waits for them instead of exiting: the
//! connection is attempted against a port where nothing listens, which starts forwarding to the
//! real Postgres / RabbitMQ only later.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use service_kit::broker::Broker;
use service_kit::database::connect;
use service_kit::wait::StartupWait;
use test_support::{LateProxy, through_port};

/// Long enough for several refused attempts (the first pauses are 0.5 s and 1 s).
const OUTAGE: Duration = Duration::from_secs(2);
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_database_connection_waits_for_postgres_to_come_up() -> anyhow::Result<()> {
    let real = test_support::fresh_database().await?;
    let mut proxy = LateProxy::reserve().await?;
    let (url, target) = through_port(real.url.expose_secret(), proxy.port())?;
    let mut settings = real.clone();
    settings.url = SecretString::from(url);
    settings.wait = StartupWait::AtMost(LIMIT);

    let attempt = tokio::spawn(async move { connect(&settings, "late_service").await });
    tokio::time::sleep(OUTAGE).await;
    assert!(
        !attempt.is_finished(),
        "the connection gave up while Postgres was down: {:?}",
        attempt.await
    );
    proxy.forward_to(target).await?;
    let pool = tokio::time::timeout(LIMIT, attempt).await???;
    let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
        .fetch_one(&pool)
        .await?;
    assert_eq!(schema, "late_service");
    Ok(())
}

#[tokio::test]
async fn the_broker_connection_waits_for_rabbitmq_to_come_up() -> anyhow::Result<()> {
    let real = test_support::test_broker();
    let mut proxy = LateProxy::reserve().await?;
    let (url, target) = through_port(real.url.expose_secret(), proxy.port())?;
    let mut settings = real.clone();
    settings.url = SecretString::from(url);
    settings.wait = StartupWait::AtMost(LIMIT);

    let attempt = tokio::spawn(async move { Broker::connect(&settings, "late-service").await });
    tokio::time::sleep(OUTAGE).await;
    assert!(
        !attempt.is_finished(),
        "the connection gave up while RabbitMQ was down: {:?}",
        attempt.await.map(|r| r.map(|_| ()))
    );
    proxy.forward_to(target).await?;
    let broker = tokio::time::timeout(LIMIT, attempt).await???;
    assert!(broker.is_connected());
    broker.channel().await?;
    broker.close().await;
    Ok(())
}

#[tokio::test]
async fn an_unknown_database_fails_at_once_and_a_limited_wait_gives_up() -> anyhow::Result<()> {
    let real = test_support::fresh_database().await?;
    // Waiting cannot cure an unknown database: the start fails without retrying.
    let url = real
        .url
        .expose_secret()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_owned();
    let mut settings = real.clone();
    settings.url = SecretString::from(format!("{url}/no_such_database_{}", std::process::id()));
    settings.wait = StartupWait::Forever;
    let err = tokio::time::timeout(LIMIT, connect(&settings, "s"))
        .await?
        .expect_err("an unknown database must fail");
    assert!(
        format!("{err:#}").contains("Postgres at 127.0.0.1:"),
        "{err:#}"
    );
    assert!(!format!("{err:#}").contains("postgres:postgres"), "{err:#}");

    // Nothing ever listens: a limited wait ends with an error naming what was unreachable.
    let proxy = LateProxy::reserve().await?;
    let (url, _) = through_port(real.url.expose_secret(), proxy.port())?;
    settings.url = SecretString::from(url);
    settings.wait = StartupWait::AtMost(Duration::from_secs(1));
    let err = connect(&settings, "s").await.expect_err("nothing listens");
    assert!(
        format!("{err:#}").contains(&format!(
            "cannot reach Postgres at 127.0.0.1:{}",
            proxy.port()
        )),
        "{err:#}"
    );
    Ok(())
}
