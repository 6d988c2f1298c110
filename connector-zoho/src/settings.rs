//! connector-zoho settings: `ZOHO_*`, falling back to the shared `SYNC_*`. The API domain comes
//! with each access token (per data centre), so there is no base URL here.

use connector_kit::ConnectorSettings;

const PREFIX: &str = "ZOHO";

#[derive(Debug, Clone)]
pub struct Settings {
    pub connector: ConnectorSettings,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Settings {
            connector: ConnectorSettings::from_env(
                PREFIX,
                service_kit::auth::Caller::ConnectorZoho,
                8084,
            )?,
        })
    }
}
