//! RabbitMQ. One connection per service; a confirming [`Publisher`]; [`consume`] for queues.
//!
//! A lost broker connection is not recovered in-process: readiness turns red, the consumer loop
//! returns an error and the service exits so its supervisor restarts it. That keeps the
//! at-least-once reasoning simple (unacked deliveries are redelivered to the new process).

mod consumer;
mod publisher;
pub mod topology;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use lapin::{Channel, Connection, ConnectionProperties};
use secrecy::ExposeSecret;

pub use consumer::{HandlerError, consume, consume_with_key};
pub use publisher::Publisher;

use crate::settings::BrokerSettings;

#[derive(Clone)]
pub struct Broker {
    connection: Arc<Connection>,
    settings: BrokerSettings,
}

impl Broker {
    /// Connects (retrying for a short while: the broker may still be starting) and declares the
    /// whole topology, which is idempotent.
    pub async fn connect(settings: &BrokerSettings, connection_name: &str) -> anyhow::Result<Self> {
        let mut attempt = 0;
        let connection = loop {
            let props =
                ConnectionProperties::default().with_connection_name(connection_name.into());
            match Connection::connect(settings.url.expose_secret(), props).await {
                Ok(c) => break c,
                Err(err) if attempt < 10 => {
                    attempt += 1;
                    tracing::warn!(error = %err, attempt, "RabbitMQ not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
                Err(err) => return Err(err).context("cannot connect to RabbitMQ"),
            }
        };
        let broker = Broker {
            connection: Arc::new(connection),
            settings: settings.clone(),
        };
        let channel = broker.channel().await?;
        topology::declare(&channel, &settings.prefix, settings.transient).await?;
        let _ = channel.close(200, "topology declared".into()).await;
        Ok(broker)
    }

    pub fn is_connected(&self) -> bool {
        self.connection.status().connected()
    }

    pub async fn channel(&self) -> anyhow::Result<Channel> {
        self.connection
            .create_channel()
            .await
            .context("cannot open a RabbitMQ channel")
    }

    /// A broker object's name with this deployment's prefix.
    pub fn name(&self, base: &str) -> String {
        sync_protocol::topology::prefixed(&self.settings.prefix, base)
    }

    pub fn settings(&self) -> &BrokerSettings {
        &self.settings
    }

    pub async fn publisher(&self) -> anyhow::Result<Publisher> {
        Publisher::new(self).await
    }

    pub async fn close(&self) {
        let _ = self.connection.close(200, "shutting down".into()).await;
    }
}
