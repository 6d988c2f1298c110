//! The sandbox binary: `serve` (default) or `healthcheck` (the container health check).

use sandbox::{Application, Settings};
use service_kit::cli::{self, Command};
use service_kit::settings::TelemetrySettings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    match Command::from_args()? {
        Command::Healthcheck => return cli::healthcheck(settings.port),
        Command::Migrate => return Ok(()), // nothing durable to migrate
        Command::Serve => {}
    }
    let _telemetry =
        service_kit::telemetry::init("sandbox", &TelemetrySettings::from_env("SANDBOX")?)?;
    let application = Application::build(settings).await?;
    tracing::info!(base_url = %application.base_url(), "sandbox listening");
    service_kit::http::shutdown_on_signal(application.shutdown_token());
    application.run_until_stopped().await
}
