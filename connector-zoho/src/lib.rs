//! connector-zoho: Zoho CRM v8 ⇄ change events and apply commands.
//! - [`zoho`]: the Zoho CRM client;
//! - [`mapping`]: Zoho records ⇄ the canonical model;
//! - [`connector`]: the [`connector_kit::Connector`] implementation;
//! - [`settings`] and [`startup`]: configuration and wiring.
#![doc = include_str!("../README.md")]

pub mod connector;
pub mod mapping;
pub mod settings;
pub mod startup;
pub mod zoho;
