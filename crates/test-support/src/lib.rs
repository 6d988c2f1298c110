//! Test infrastructure: real Postgres and RabbitMQ, isolated per test.
#![doc = include_str!("../README.md")]

pub mod fixtures;
pub mod infra;
pub mod proxy;
pub mod statements;

pub use infra::{fresh_database, test_broker, wait_for};
pub use proxy::{LateProxy, through_port};
