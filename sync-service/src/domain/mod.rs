//! The sync rules, free of I/O: settings, links, the merge, the engine, first-sync matching and
//! re-scopes (settings changes that change what syncs).

pub mod claim;
pub mod collision;
pub mod engine;
pub mod fence;
pub mod finale;
pub mod full_read;
pub mod link;
pub mod matching;
pub mod merge;
pub mod news;
pub mod scope;
pub mod settings;
#[cfg(test)]
mod simulation;
pub mod unknown_read;

pub use engine::{Command, Ids, Input, Output, RandomIds, Rules, step};
pub use link::{Inflight, InflightOp, Link, LinkError, LinkStatus, SideRead, SideState, Unseen};
pub use merge::FieldConflict;
pub use settings::{CategoryFilter, ConflictRule, Direction, UserSettings};
