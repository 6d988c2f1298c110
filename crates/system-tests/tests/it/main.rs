//! End-to-end tests: the whole system in-process against the real Postgres and RabbitMQ and the
//! sandbox emulators. Run with `TEST_LOG=info` to see the services' logs.

mod activities;
mod capacity;
mod conflicts;
mod contacts;
mod deletions;
mod engine;
mod faults;
mod poison;
mod rebuild;
mod repeats;
mod scope;
mod security;
mod settings;
mod startup;
