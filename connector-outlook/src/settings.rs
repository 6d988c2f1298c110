//! connector-outlook settings: `OUTLOOK_*`, falling back to the shared `SYNC_*`.

use connector_kit::ConnectorSettings;
use service_kit::settings::{parse_or, string_or};

const PREFIX: &str = "OUTLOOK";

#[derive(Debug, Clone)]
pub struct Settings {
    pub connector: ConnectorSettings,
    /// `https://graph.microsoft.com/v1.0`, or the sandbox's `/graph/v1.0`.
    pub graph_base_url: String,
    /// `Prefer: odata.maxpagesize` for delta reads.
    pub page_size: u32,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Settings {
            connector: ConnectorSettings::from_env(PREFIX, 8083)?,
            graph_base_url: string_or(PREFIX, "GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0"),
            page_size: parse_or(PREFIX, "PAGE_SIZE", 100)?,
        })
    }
}
