//! connector-kit against the real Postgres and RabbitMQ: leases, the poll loop, the command
//! consumer.

mod claims;
mod commands;
mod gates;
mod leases;
mod poller;
mod quiet;
mod retention;
