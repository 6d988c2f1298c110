use service_kit::cli::{Command, healthcheck};
use sync_service::settings::Settings;
use sync_service::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Command::from_args()?;
    let settings = Settings::from_env()?;
    if command == Command::Healthcheck {
        return healthcheck(settings.http.port);
    }
    let _telemetry = service_kit::telemetry::init("sync-service", &settings.telemetry)?;
    if command == Command::Migrate {
        return Application::migrate_only(&settings).await;
    }
    let app = Application::build(settings).await?;
    service_kit::http::shutdown_on_signal(app.shutdown_token());
    tracing::info!(port = app.port(), "sync-service listening");
    app.run_until_stopped().await
}
