//! Wires the Graph client into the shared connector service.

use std::time::Duration;

use connector_kit::ConnectorApp;
use connector_kit::api::{ApiCaller, RetryPolicy};
use sync_model::Side;

use crate::connector::{CalendarWindow, OutlookConnector};
use crate::graph::GraphClient;
use crate::settings::Settings;

pub const SCHEMA: &str = "connector_outlook";

pub type Application = ConnectorApp<OutlookConnector>;

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent("outlook-zoho-sync/connector-outlook")
        .build()?;
    let caller = ApiCaller::new(
        Side::Outlook,
        RetryPolicy::from_settings(&settings.connector.api),
    );
    let graph = GraphClient::new(
        http.clone(),
        settings.graph_base_url,
        settings.page_size,
        caller,
    );
    let window = CalendarWindow {
        days_back: settings.calendar_days_back,
        days_ahead: settings.calendar_days_ahead,
    };
    ConnectorApp::build(
        settings.connector,
        SCHEMA,
        OutlookConnector::new(graph, window),
        http,
    )
    .await
}
