//! Wires the Graph client into the shared connector service.

use std::time::Duration;

use connector_kit::ConnectorApp;

use crate::connector::OutlookConnector;
use crate::graph::GraphClient;
use crate::settings::Settings;

pub const SCHEMA: &str = "connector_outlook";

pub type Application = ConnectorApp<OutlookConnector>;

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent("outlook-zoho-sync/connector-outlook")
        .build()?;
    let graph = GraphClient::new(http.clone(), settings.graph_base_url, settings.page_size);
    ConnectorApp::build(
        settings.connector,
        SCHEMA,
        OutlookConnector::new(graph),
        http,
    )
    .await
}
