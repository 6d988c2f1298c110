//! RabbitMQ. One connection per service; a confirming [`Publisher`]; [`consume`] for queues.
//!
//! A lost broker connection is not recovered in-process: readiness turns red, the consumer loop
//! returns an error and the service exits so its supervisor restarts it. That keeps the
//! at-least-once reasoning simple (unacked deliveries are redelivered to the new process).

mod consumer;
mod publisher;
pub mod topology;

use std::sync::Arc;

use anyhow::Context;
use lapin::{Channel, Connection, ConnectionProperties};
use secrecy::ExposeSecret;

pub use consumer::{
    Delivered, HandlerError, consume, consume_batches, consume_batches_gated, consume_with_key,
};
pub use publisher::Publisher;

use crate::settings::BrokerSettings;
use crate::wait::until_reachable;

/// "RabbitMQ at host:port, vhost /": where, never who or with which password.
fn describe(url: &str) -> String {
    match url.parse::<lapin::uri::AMQPUri>() {
        Ok(uri) => format!(
            "RabbitMQ at {}:{}, vhost {}",
            uri.authority.host, uri.authority.port, uri.vhost
        ),
        Err(_) => "RabbitMQ (URL not parsed)".to_owned(),
    }
}

/// Whether waiting can cure a failed connection: nothing listening (yet), a dropped or
/// half-open connection, a broker shutting down (`CONNECTION_FORCED`). Refused credentials
/// (`ACCESS_REFUSED`, 403) or a refused virtual host (`NOT_ALLOWED`, 530) fail the start at once.
fn curable(err: &lapin::Error) -> bool {
    use lapin::ErrorKind;
    match err.kind() {
        ErrorKind::IOError(_)
        | ErrorKind::MissingHeartbeatError
        | ErrorKind::InvalidConnectionState(_) => true,
        ErrorKind::ProtocolError(amqp) => !matches!(amqp.get_id(), 403 | 530),
        _ => false,
    }
}

#[derive(Clone)]
pub struct Broker {
    connection: Arc<Connection>,
    settings: BrokerSettings,
}

impl Broker {
    /// Connects (waiting for RabbitMQ as long as `settings.wait` allows: it may still be
    /// starting or restarting) and declares the whole topology, which is idempotent.
    pub async fn connect(settings: &BrokerSettings, connection_name: &str) -> anyhow::Result<Self> {
        let what = describe(settings.url.expose_secret());
        let connection = until_reachable(
            &what,
            settings.wait,
            || {
                let props =
                    ConnectionProperties::default().with_connection_name(connection_name.into());
                Connection::connect(settings.url.expose_secret(), props)
            },
            curable,
        )
        .await
        .with_context(|| format!("cannot connect to {what}"))?;
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
