//! Broker and database plumbing against the real RabbitMQ and Postgres.

mod broker;
mod database;
mod startup_wait;
