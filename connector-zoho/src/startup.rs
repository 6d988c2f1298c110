//! Wires the Zoho client into the shared connector service.

use std::time::Duration;

use connector_kit::ConnectorApp;
use connector_kit::api::{ApiCaller, RetryPolicy};
use sync_model::Side;

use crate::connector::ZohoConnector;
use crate::settings::Settings;
use crate::zoho::ZohoClient;

pub const SCHEMA: &str = "connector_zoho";

pub type Application = ConnectorApp<ZohoConnector>;

pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent("outlook-zoho-sync/connector-zoho")
        .build()?;
    let caller = ApiCaller::new(
        Side::Zoho,
        RetryPolicy::from_settings(&settings.connector.api),
    );
    ConnectorApp::build(
        settings.connector,
        SCHEMA,
        ZohoConnector::new(ZohoClient::new(http.clone(), caller)),
        http,
    )
    .await
}
