//! Exchange, queue and routing-key names. Every name takes a prefix so that tests (and several
//! deployments sharing one broker) never consume each other's messages.

use std::fmt;

use sync_model::{ItemKind, Side, UserId};

/// Change events and apply results, published by the connectors, consumed by sync-service.
pub const CHANGES_EXCHANGE: &str = "sync.changes";
/// Commands from sync-service to the connectors.
pub const COMMANDS_EXCHANGE: &str = "sync.commands";
/// Where rejected (poison) messages go.
pub const DEAD_LETTER_EXCHANGE: &str = "sync.dead-letter";
pub const DEAD_LETTER_QUEUE: &str = "sync.dead-letter";

/// How many partition queues carry the changes to sync-service. Part of the protocol: every
/// publisher routes by [`Partition::of`] with this count (decisions #51), so changing it means
/// draining the queues first.
pub const PARTITIONS: u16 = 16;

/// One of the [`PARTITIONS`] queues of changes; a user's messages always go to the same one, so
/// they stay in order while different users' partitions are handled in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition(u16);

impl Partition {
    /// The user's partition: FNV-1a of the id's 16 bytes, modulo [`PARTITIONS`] (stable across
    /// builds and languages, unlike `std`'s hasher).
    pub fn of(user: UserId) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in user.0.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        Partition((hash % u64::from(PARTITIONS)) as u16)
    }

    /// The partition numbered `index`, if there is one.
    pub fn new(index: u16) -> Option<Self> {
        (index < PARTITIONS).then_some(Partition(index))
    }

    pub fn all() -> impl Iterator<Item = Partition> {
        (0..PARTITIONS).map(Partition)
    }

    pub fn index(self) -> u16 {
        self.0
    }

    /// Its queue: `sync-service.changes.07`.
    pub fn queue(self) -> String {
        format!("sync-service.changes.{self}")
    }

    /// Its queue's bindings on [`CHANGES_EXCHANGE`]: the keys ending in its number; partition 0
    /// also takes keys without one (a publisher of an older version during an upgrade), so no
    /// change is ever unroutable.
    pub fn bindings(self) -> Vec<String> {
        let mut bindings = vec![format!("*.*.*.{self}")];
        if self.0 == 0 {
            bindings.push("*.*.*".to_owned());
        }
        bindings
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}", self.0)
    }
}

/// The command queue of one side's connector.
pub fn connector_commands_queue(side: Side) -> String {
    format!("connector-{side}.commands")
}

/// Binding pattern of a connector's command queue: everything addressed to its side.
pub fn connector_commands_binding(side: Side) -> String {
    format!("{side}.#")
}

/// `<source side>.<kind>.changed|deleted|started|completed|result.<partition>` on
/// [`CHANGES_EXCHANGE`], the partition being the user's ([`Partition::of`]).
pub fn change_routing_key(user: UserId, side: Side, kind: ItemKind, what: &str) -> String {
    format!("{side}.{kind}.{what}.{}", Partition::of(user))
}

/// `<target side>.<kind>.apply|watch` on [`COMMANDS_EXCHANGE`].
pub fn command_routing_key(side: Side, kind: ItemKind, what: &str) -> String {
    format!("{side}.{kind}.{what}")
}

/// A name with the deployment's prefix (empty in production, unique per test).
pub fn prefixed(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_always_lands_in_the_same_partition_and_users_spread_over_all() {
        let users: Vec<UserId> = (0..4000u128)
            .map(|i| {
                UserId(uuid::Uuid::from_u128(
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c),
                ))
            })
            .collect();
        let mut counts = [0usize; PARTITIONS as usize];
        for user in &users {
            assert_eq!(Partition::of(*user), Partition::of(*user));
            counts[Partition::of(*user).index() as usize] += 1;
        }
        // Every partition gets a fair share (4000 / 16 = 250 each on average).
        assert!(counts.iter().all(|c| (150..350).contains(c)), "{counts:?}");
        // A fixed value (FNV-1a computed independently), so that publishers and consumers of
        // any version agree.
        let user: UserId = "6f1c2a3e-0000-4000-8000-000000000001".parse().unwrap();
        assert_eq!(Partition::of(user), Partition::new(1).unwrap());
        assert_eq!(
            change_routing_key(user, Side::Zoho, ItemKind::Task, "changed"),
            "zoho.task.changed.01"
        );
    }

    #[test]
    fn partition_queues_and_bindings_are_numbered_with_two_digits() {
        let seventh = Partition::new(7).unwrap();
        assert_eq!(seventh.queue(), "sync-service.changes.07");
        assert_eq!(seventh.bindings(), vec!["*.*.*.07".to_owned()]);
        assert_eq!(Partition::new(0).unwrap().bindings().len(), 2);
        assert!(Partition::new(PARTITIONS).is_none());
        assert_eq!(Partition::all().count(), PARTITIONS as usize);
    }
}
