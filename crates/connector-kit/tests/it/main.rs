//! connector-kit against the real Postgres and RabbitMQ: leases, the poll loop, the command
//! consumer.

mod commands;
mod leases;
mod poller;
