//! Publishing with publisher confirms: `publish` returns only once the broker has taken
//! responsibility for the message, and an unroutable (`mandatory`) message is an error, so a
//! caller that advances a cursor or marks an outbox row sent after it can never lose a message.

use anyhow::{Context, bail};
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel};
use serde::Serialize;
use sync_protocol::topology::{
    CHANGES_EXCHANGE, COMMANDS_EXCHANGE, change_routing_key, command_routing_key,
};
use sync_protocol::{ChangeMessage, CommandMessage, Envelope};

use super::Broker;

#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
    prefix: String,
    changes_exchange: String,
    commands_exchange: String,
}

impl Publisher {
    pub(super) async fn new(broker: &Broker) -> anyhow::Result<Self> {
        let channel = broker.channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            channel,
            prefix: broker.settings().prefix.clone(),
            changes_exchange: broker.name(CHANGES_EXCHANGE),
            commands_exchange: broker.name(COMMANDS_EXCHANGE),
        })
    }

    /// This deployment's name prefix (see `BrokerSettings::prefix`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn publish_change(&self, envelope: &Envelope<ChangeMessage>) -> anyhow::Result<()> {
        let body = &envelope.body;
        let key = change_routing_key(envelope.user_id, body.side(), body.kind(), body.verb());
        self.publish(&self.changes_exchange, &key, envelope, envelope.message_id)
            .await
    }

    pub async fn publish_command(&self, envelope: &Envelope<CommandMessage>) -> anyhow::Result<()> {
        let body = &envelope.body;
        let key = command_routing_key(body.side(), body.kind(), body.verb());
        self.publish(&self.commands_exchange, &key, envelope, envelope.message_id)
            .await
    }

    /// Publishes a page of changes in order, then awaits their confirms together: one round
    /// trip for the page instead of one per message. An error means some may not have been
    /// taken: the caller publishes the page again (the consumers de-duplicate by message id).
    pub async fn publish_changes(
        &self,
        envelopes: &[Envelope<ChangeMessage>],
    ) -> anyhow::Result<()> {
        let mut pending = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let body = &envelope.body;
            let key = change_routing_key(envelope.user_id, body.side(), body.kind(), body.verb());
            pending.push((
                self.send(&self.changes_exchange, &key, envelope, envelope.message_id)
                    .await?,
                key,
            ));
        }
        self.confirmed(&self.changes_exchange, pending).await
    }

    /// [`Publisher::publish_changes`] for commands.
    pub async fn publish_commands(
        &self,
        envelopes: &[Envelope<CommandMessage>],
    ) -> anyhow::Result<()> {
        let mut pending = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let body = &envelope.body;
            let key = command_routing_key(body.side(), body.kind(), body.verb());
            pending.push((
                self.send(&self.commands_exchange, &key, envelope, envelope.message_id)
                    .await?,
                key,
            ));
        }
        self.confirmed(&self.commands_exchange, pending).await
    }

    async fn confirmed(
        &self,
        exchange: &str,
        pending: Vec<(lapin::PublisherConfirm, String)>,
    ) -> anyhow::Result<()> {
        for (confirm, key) in pending {
            let confirm = confirm.await.context("waiting for the broker's confirm")?;
            check(confirm, exchange, &key)?;
        }
        Ok(())
    }

    /// Publishes persistently and `mandatory`; the confirm is the caller's to await.
    async fn send<T: Serialize>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &T,
        message_id: uuid::Uuid,
    ) -> anyhow::Result<lapin::PublisherConfirm> {
        let payload = serde_json::to_vec(message)?;
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_message_id(message_id.to_string().into());
        self.channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                &payload,
                properties,
            )
            .await
            .with_context(|| format!("publishing to {exchange} with key {routing_key}"))
    }

    /// Publishes any serialisable message persistently and waits for the broker's confirm.
    pub async fn publish<T: Serialize>(
        &self,
        exchange: &str,
        routing_key: &str,
        message: &T,
        message_id: uuid::Uuid,
    ) -> anyhow::Result<()> {
        let confirm = self
            .send(exchange, routing_key, message, message_id)
            .await?
            .await
            .context("waiting for the broker's confirm")?;
        check(confirm, exchange, routing_key)
    }
}

fn check(confirm: Confirmation, exchange: &str, routing_key: &str) -> anyhow::Result<()> {
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => bail!("no queue is bound for {exchange}/{routing_key}"),
        Confirmation::Nack(_) => {
            bail!("the broker refused the message ({exchange}/{routing_key})")
        }
        Confirmation::NotRequested => bail!("publisher confirms are not enabled"),
    }
}
