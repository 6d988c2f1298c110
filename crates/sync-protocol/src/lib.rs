//! The wire protocol: names of the broker objects ([`topology`]) and the messages ([`messages`]).
#![doc = include_str!("../README.md")]

pub mod failure;
pub mod identity;
pub mod messages;
pub mod topology;

pub use failure::FailureCode;
pub use identity::LinkIdentity;
pub use messages::{
    ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope, PollClaim, SCHEMA_VERSION,
    WatchScope,
};
