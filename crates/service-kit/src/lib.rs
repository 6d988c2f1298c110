//! Shared service plumbing. Modules:
//! - [`settings`]: environment → typed settings;
//! - [`telemetry`]: logs, traces, trace-context propagation;
//! - [`database`]: pool + per-service schema + migrations;
//! - [`broker`]: RabbitMQ connection, topology, publisher, consumer;
//! - [`http`]: health, metrics and serving;
//! - [`cli`]: the subcommands every binary offers;
//! - [`extract`]: `Json`, `Path`, `Query` answering bad input with the JSON error body;
//! - [`client_address`]: the client's address, `X-Forwarded-For` only from trusted proxies;
//! - [`wait`]: waiting at start for Postgres and RabbitMQ.
#![doc = include_str!("../README.md")]

pub mod auth;
pub mod broker;
pub mod cli;
pub mod client_address;
pub mod database;
pub mod extract;
pub mod http;
pub mod openapi;
pub mod settings;
pub mod telemetry;
pub mod wait;

pub use tokio_util::sync::CancellationToken;
