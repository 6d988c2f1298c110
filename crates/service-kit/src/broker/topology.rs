//! The broker objects, declared by every service at start (declarations are idempotent as long
//! as every service declares them with the same arguments, which this one function guarantees).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};
use sync_model::Side;
use sync_protocol::topology::{
    CHANGES_EXCHANGE, COMMANDS_EXCHANGE, DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE,
    SYNC_CHANGES_QUEUE, connector_commands_binding, connector_commands_queue, prefixed,
};

/// How long an unused transient (test) queue lives.
const TRANSIENT_QUEUE_TTL_MS: i32 = 10 * 60 * 1000;

pub async fn declare(channel: &Channel, prefix: &str, transient: bool) -> anyhow::Result<()> {
    let exchange_options = ExchangeDeclareOptions {
        durable: !transient,
        auto_delete: transient,
        ..Default::default()
    };
    for (name, kind) in [
        (CHANGES_EXCHANGE, ExchangeKind::Topic),
        (COMMANDS_EXCHANGE, ExchangeKind::Topic),
        (DEAD_LETTER_EXCHANGE, ExchangeKind::Fanout),
    ] {
        channel
            .exchange_declare(
                prefixed(prefix, name).into(),
                kind,
                exchange_options,
                FieldTable::default(),
            )
            .await?;
    }

    let dead_letter = prefixed(prefix, DEAD_LETTER_EXCHANGE);
    let queue = |name: String, exchange: &'static str, binding: String, dead_lettered: bool| {
        let dead_letter = dead_letter.clone();
        async move {
            let mut args = FieldTable::default();
            // One consumer at a time across sync-service replicas: a user's changes are then
            // applied in the order they were published; the other replicas stand by.
            if name.ends_with(SYNC_CHANGES_QUEUE) {
                args.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
            }
            if dead_lettered {
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString(dead_letter.into()),
                );
            }
            if transient {
                args.insert(
                    "x-expires".into(),
                    AMQPValue::LongInt(TRANSIENT_QUEUE_TTL_MS),
                );
            }
            let options = QueueDeclareOptions {
                durable: !transient,
                ..Default::default()
            };
            channel
                .queue_declare(name.clone().into(), options, args)
                .await?;
            channel
                .queue_bind(
                    name.into(),
                    prefixed(prefix, exchange).into(),
                    binding.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            anyhow::Ok(())
        }
    };

    queue(
        prefixed(prefix, SYNC_CHANGES_QUEUE),
        CHANGES_EXCHANGE,
        "#".into(),
        true,
    )
    .await?;
    for side in Side::ALL {
        queue(
            prefixed(prefix, &connector_commands_queue(side)),
            COMMANDS_EXCHANGE,
            connector_commands_binding(side),
            true,
        )
        .await?;
    }
    queue(
        prefixed(prefix, DEAD_LETTER_QUEUE),
        DEAD_LETTER_EXCHANGE,
        String::new(),
        false,
    )
    .await?;
    Ok(())
}
