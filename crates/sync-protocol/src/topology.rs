//! Exchange, queue and routing-key names. Every name takes a prefix so that tests (and several
//! deployments sharing one broker) never consume each other's messages.

use sync_model::{ItemKind, Side};

/// Change events and apply results, published by the connectors, consumed by sync-service.
pub const CHANGES_EXCHANGE: &str = "sync.changes";
/// Commands from sync-service to the connectors.
pub const COMMANDS_EXCHANGE: &str = "sync.commands";
/// Where rejected (poison) messages go.
pub const DEAD_LETTER_EXCHANGE: &str = "sync.dead-letter";
pub const DEAD_LETTER_QUEUE: &str = "sync.dead-letter";

/// The queue sync-service consumes: every change and result.
pub const SYNC_CHANGES_QUEUE: &str = "sync-service.changes";

/// The command queue of one side's connector.
pub fn connector_commands_queue(side: Side) -> String {
    format!("connector-{side}.commands")
}

/// Binding pattern of a connector's command queue: everything addressed to its side.
pub fn connector_commands_binding(side: Side) -> String {
    format!("{side}.#")
}

/// `<source side>.<kind>.changed|deleted|started|completed|result` on [`CHANGES_EXCHANGE`].
pub fn change_routing_key(side: Side, kind: ItemKind, what: &str) -> String {
    format!("{side}.{kind}.{what}")
}

/// `<target side>.<kind>.apply|watch` on [`COMMANDS_EXCHANGE`].
pub fn command_routing_key(side: Side, kind: ItemKind, what: &str) -> String {
    format!("{side}.{kind}.{what}")
}

/// A name with the deployment's prefix (empty in production, unique per test).
pub fn prefixed(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}
