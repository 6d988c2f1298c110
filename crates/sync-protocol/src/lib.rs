//! The wire protocol: names of the broker objects ([`topology`]) and the messages ([`messages`]).
#![doc = include_str!("../README.md")]

pub mod messages;
pub mod topology;

pub use messages::{
    ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope, SCHEMA_VERSION, WatchScope,
};
