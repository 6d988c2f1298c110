use connector_zoho::settings::Settings;
use service_kit::cli::{Command, healthcheck};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Command::from_args()?;
    let settings = Settings::from_env()?;
    if command == Command::Healthcheck {
        return healthcheck(settings.connector.http.port);
    }
    let _telemetry = service_kit::telemetry::init("connector-zoho", &settings.connector.telemetry)?;
    let app = connector_zoho::startup::build(settings).await?;
    if command == Command::Migrate {
        // `build` has applied the migrations.
        return Ok(());
    }
    service_kit::http::shutdown_on_signal(app.shutdown_token());
    tracing::info!(port = app.port(), "connector-zoho listening");
    app.run_until_stopped().await
}
