//! sync-service: decides what every change means and tells the connectors what to write.
//! - [`domain`]: settings, links and the pure decision function;
//! - [`store`]: links, settings, inbox and outbox in Postgres;
//! - [`handler`]: the consumer of change events and apply results;
//! - `fencing`: poll messages of a lost lease dropped on the way in;
//! - `setwise`: a user's item messages and results of a batch decided with set-wise statements;
//! - `writes`: decisions' writes kept in memory and stored with multi-row statements;
//! - [`partitions`]: which partition queues this replica consumes;
//! - [`finale`]: settles a first sync's finale in pages;
//! - [`relay`]: publishes the outbox;
//! - [`retries`]: retries a user's held messages, blocks the user when they keep failing;
//! - [`dead_letters`]: copies refused messages off the dead-letter queue for the admin API;
//! - [`routes`] and [`error`]: the HTTP API;
//! - [`startup`] and [`settings`]: wiring and configuration.
#![doc = include_str!("../README.md")]

pub mod dead_letters;
pub mod domain;
pub mod error;
mod fencing;
pub mod finale;
pub mod handler;
pub mod openapi;
pub mod partitions;
pub mod relay;
pub mod retries;
pub mod routes;
pub mod settings;
mod setwise;
pub mod startup;
pub mod store;
mod writes;
