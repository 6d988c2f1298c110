//! Module map:
//! - [`settings`]: the typed settings (`SANDBOX_*` environment variables);
//! - [`startup`]: [`Application`]: binds the listener, assembles the router, serves;
//! - [`state`]: the in-memory world behind one lock, shared by every handler;
//! - [`meter`]: the one place every emulated call passes through: call counting, faults (see
//!   [`faults`]) and Zoho credits;
//! - [`serve`]: the accept loop (it can drop a connection without answering);
//! - [`graph`]: Microsoft Graph v1.0 (contact folders, contacts, contact delta) and the Microsoft
//!   identity token endpoint;
//! - [`zoho`]: Zoho CRM v8 records (module table driven) and the Zoho Accounts token endpoint;
//! - [`control`]: the `/_sandbox` control API for tests and the demo (accounts, tokens, seed data,
//!   stats).
#![doc = include_str!("../README.md")]

pub mod control;
pub mod faults;
pub mod graph;
mod ids;
mod links;
pub mod meter;
pub mod serve;
pub mod settings;
pub mod startup;
pub mod state;
mod time;
pub mod zoho;

pub use settings::Settings;
pub use startup::Application;
