//! Shared connector machinery. Modules:
//! - [`api`]: provider calls with per-user limits, retries and metrics;
//! - [`calendar`]: time zones and recurrence rules both connectors map;
//! - [`connector`]: the trait each connector implements and its error type;
//! - [`settings`]: settings common to both connectors;
//! - [`slots`]: the per-user bound on requests in flight, shared by every replica;
//! - [`store`]: watches (cursors, leases) and applied commands in Postgres;
//! - [`tokens`]: access tokens from auth-service;
//! - [`poller`]: the scheduled poll loop;
//! - [`retention`]: hourly pruning of applied command ids and old call counts;
//! - [`commands`]: the command consumer;
//! - `mailboxes`: the command consumer's queues per user;
//! - [`app`]: wiring it into a running service.
#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod calendar;
pub mod commands;
pub mod connector;
pub mod http;
mod mailboxes;
pub mod poller;
pub mod retention;
pub mod settings;
pub mod slots;
pub mod store;
pub mod tokens;

pub use app::ConnectorApp;
pub use connector::{ApiError, ApplyRequest, CallContext, Connector, Page};
pub use settings::{ApiSettings, ConnectorSettings};

/// Migrations of the tables every connector owns (run in the connector's own schema).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
