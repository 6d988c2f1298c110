//! A service started while its database is down waits for it (with a log line per attempt)
//! and becomes ready once Postgres answers, instead of exiting at once.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use service_kit::wait::StartupWait;
use sync_service::startup::Application;
use test_support::{LateProxy, through_port, wait_for};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_service_started_before_its_database_becomes_ready_once_it_answers()
-> anyhow::Result<()> {
    let database = test_support::fresh_database().await?;
    let mut proxy = LateProxy::reserve().await?;
    let (url, postgres) = through_port(database.url.expose_secret(), proxy.port())?;
    let mut settings = system_tests::sync_settings(
        &database,
        &test_support::test_broker(),
        "http://127.0.0.1:9",
    );
    settings.database.url = SecretString::from(url);
    settings.database.wait = StartupWait::AtMost(LIMIT);

    let build = tokio::spawn(Application::build(settings));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !build.is_finished(),
        "sync-service gave up while Postgres was down: {:?}",
        build.await.map(|r| r.map(|_| ()))
    );
    proxy.forward_to(postgres).await?;
    let app = tokio::time::timeout(LIMIT, build).await???;
    let port = app.port();
    let stop = app.shutdown_token();
    let running = tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::new();
    wait_for("sync-service to report ready", LIMIT, || async {
        let answer = http
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await?;
        Ok(answer.status().is_success().then_some(()))
    })
    .await?;
    stop.cancel();
    running.await??;
    Ok(())
}
