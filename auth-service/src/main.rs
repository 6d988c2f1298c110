use auth_service::settings::{self, Settings};
use auth_service::startup::{self, Application};
use service_kit::cli::{self, Command};
use service_kit::settings::{HttpSettings, TelemetrySettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = Command::from_args()?;
    if command == Command::Healthcheck {
        // Needs only the port: no secrets, no database.
        return cli::healthcheck(
            HttpSettings::from_env(settings::PREFIX, settings::DEFAULT_PORT)?.port,
        );
    }
    let _telemetry = service_kit::telemetry::init(
        "auth-service",
        &TelemetrySettings::from_env(settings::PREFIX)?,
    )?;
    let settings = Settings::from_env()?;
    match command {
        Command::Migrate => {
            startup::connect_and_migrate(&settings).await?;
            tracing::info!("migrations applied");
        }
        _ => {
            let app = Application::build(settings).await?;
            service_kit::http::shutdown_on_signal(app.shutdown_token());
            app.run_until_stopped().await?;
        }
    }
    Ok(())
}
