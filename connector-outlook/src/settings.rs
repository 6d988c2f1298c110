//! connector-outlook settings: `OUTLOOK_*`, falling back to the shared `SYNC_*`.

use connector_kit::ConnectorSettings;
use service_kit::settings::{parse_or, string_or};

const PREFIX: &str = "OUTLOOK";

#[derive(Debug, Clone)]
pub struct Settings {
    pub connector: ConnectorSettings,
    /// `https://graph.microsoft.com/v1.0`, or the sandbox's `/graph/v1.0`.
    pub graph_base_url: String,
    /// `Prefer: odata.maxpagesize` for delta reads. 200 by default: the largest page Graph
    /// serves for contacts (undocumented; a Microsoft Q&A answer and observed behaviour), and
    /// the sandbox's cap for every delta. A preference: Graph may answer smaller pages.
    pub page_size: u32,
    /// The calendar window read with `calendarView/delta`: this many days back from the start
    /// of a round ...
    pub calendar_days_back: u32,
    /// ... and this many ahead. A round's window is fixed (Graph encodes it in the tokens), so
    /// the connector starts a new full round once the window is a week old.
    pub calendar_days_ahead: u32,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Settings {
            connector: ConnectorSettings::from_env(
                PREFIX,
                service_kit::auth::Caller::ConnectorOutlook,
                8083,
            )?,
            graph_base_url: string_or(PREFIX, "GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0"),
            page_size: parse_or(PREFIX, "PAGE_SIZE", 200)?,
            calendar_days_back: parse_or(PREFIX, "CALENDAR_DAYS_BACK", 30)?,
            calendar_days_ahead: parse_or(PREFIX, "CALENDAR_DAYS_AHEAD", 365)?,
        })
    }
}
