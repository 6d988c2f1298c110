//! The broker objects, declared by every service at start (declarations are idempotent as long
//! as every service declares them with the same arguments, which this one function guarantees).

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};
use sync_model::Side;
use sync_protocol::topology::{
    CHANGES_EXCHANGE, COMMANDS_EXCHANGE, DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, Partition,
    connector_commands_binding, connector_commands_queue, prefixed,
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
    let queue = |name: String,
                 exchange: &'static str,
                 bindings: Vec<String>,
                 dead_lettered: bool,
                 single_active: bool| {
        let dead_letter = dead_letter.clone();
        async move {
            let mut args = FieldTable::default();
            // A partition of changes has one consumer at a time even while its ownership moves
            // between sync-service replicas (decisions #51): its users' changes are then applied
            // in the order they were published.
            if single_active {
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
            for binding in bindings {
                channel
                    .queue_bind(
                        name.clone().into(),
                        prefixed(prefix, exchange).into(),
                        binding.into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
            anyhow::Ok(())
        }
    };

    for partition in Partition::all() {
        queue(
            prefixed(prefix, &partition.queue()),
            CHANGES_EXCHANGE,
            partition.bindings(),
            true,
            true,
        )
        .await?;
    }
    for side in Side::ALL {
        queue(
            prefixed(prefix, &connector_commands_queue(side)),
            COMMANDS_EXCHANGE,
            vec![connector_commands_binding(side)],
            true,
            false,
        )
        .await?;
    }
    queue(
        prefixed(prefix, DEAD_LETTER_QUEUE),
        DEAD_LETTER_EXCHANGE,
        vec![String::new()],
        false,
        false,
    )
    .await?;
    Ok(())
}
