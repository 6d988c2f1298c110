use auth_service::settings::{self, Settings};
use auth_service::startup::{self, Application};
use service_kit::cli::{self, Command, Invocation};
use service_kit::settings::{HttpSettings, TelemetrySettings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = match Invocation::from_args(&["reencrypt"])? {
        Invocation::Common(command) => Some(command),
        Invocation::Own(_) => None,
    };
    if command == Some(Command::Healthcheck) {
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
        // `reencrypt`: re-seal every secret under AUTH_ENCRYPTION_ACTIVE_KEY (key rotation).
        None => {
            let pool = startup::connect_and_migrate(&settings).await?;
            let vault = auth_service::crypto::Vault::new(&settings.encryption);
            let done = auth_service::rekey::reencrypt_all(&pool, &vault).await?;
            println!(
                "re-encrypted under key `{}`: {} refresh tokens, {} access tokens, {} TOTP \
                 secrets, {} signing keys, {} OAuth verifiers",
                vault.active_key_id(),
                done.refresh_tokens,
                done.access_tokens,
                done.totp_secrets,
                done.signing_keys,
                done.oauth_verifiers
            );
        }
        Some(Command::Migrate) => {
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
