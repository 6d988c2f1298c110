//! Module map:
//! - [`settings`]: the typed settings (`SANDBOX_*` environment variables);
//! - [`startup`]: [`Application`]: binds the listener, assembles the router, serves;
//! - [`state`]: the in-memory world behind one lock, shared by every handler;
//! - [`meter`]: the one place every emulated call passes through: call counting, faults (see
//!   [`faults`]) and Zoho credits (Graph calls are first admitted against Outlook's concurrency
//!   limit, [`graph::concurrency`]);
//! - [`serve`]: the accept loop (it can drop a connection without answering);
//! - [`graph`]: Microsoft Graph v1.0 (contacts, To Do, calendar, master categories, delta,
//!   `$batch`) and the Microsoft identity platform endpoints;
//! - [`zoho`]: Zoho CRM v8 records of Contacts, Tasks and Events (module table driven), API
//!   credits, and the Zoho Accounts endpoints;
//! - [`oauth`]: authorization codes and PKCE, shared by both identity providers;
//! - [`oidc`]: an OpenID Connect provider (discovery, JWKS with rotation, authorize, token,
//!   userinfo) for sign-in;
//! - [`snapshot`]: the optional snapshot file;
//! - [`client`]: a client of the control API, for the tests and the benchmark;
//! - [`control`]: the `/_sandbox` control API for tests and the demo (accounts, tokens, seed data,
//!   reads of all data, faults, credits, stats, snapshots).
#![doc = include_str!("../README.md")]

pub mod client;
pub mod control;
pub mod faults;
pub mod graph;
mod ids;
mod links;
pub mod meter;
pub mod oauth;
pub mod oidc;
pub mod serve;
pub mod settings;
pub mod snapshot;
pub mod startup;
pub mod state;
mod time;
pub mod zoho;

pub use settings::Settings;
pub use startup::Application;
