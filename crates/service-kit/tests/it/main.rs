//! Broker and database plumbing against the real RabbitMQ and Postgres; the HTTP server against
//! slow clients.

mod broker;
mod database;
mod slow_clients;
mod startup_wait;
