use service_kit::cli::{self, Command};
use service_kit::settings::HttpSettings;
use web::settings::{DEFAULT_PORT, PREFIX, Settings};
use web::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Command::from_args()?;
    if command == Command::Healthcheck {
        return cli::healthcheck(HttpSettings::from_env(PREFIX, DEFAULT_PORT)?.port);
    }
    let settings = Settings::from_env()?;
    let _telemetry = service_kit::telemetry::init("web", &settings.telemetry)?;
    if command == Command::Migrate {
        tracing::info!("web has no database: nothing to migrate");
        return Ok(());
    }
    let app = Application::build(settings).await?;
    service_kit::http::shutdown_on_signal(app.shutdown_token());
    tracing::info!(port = app.port(), "web listening");
    app.run_until_stopped().await
}
