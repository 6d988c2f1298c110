//! connector-zoho: Zoho CRM v8 ⇄ change events and apply commands.
//! - [`zoho`]: the Zoho CRM client;
//! - [`mapping`]: Zoho records ⇄ the canonical model;
//! - [`connector`]: the [`connector_kit::Connector`] implementation;
//! - [`user_zone`]: the Zoho user's time zone, which event dates are in;
//! - [`settings`] and [`startup`]: configuration and wiring.
#![doc = include_str!("../README.md")]

pub mod connector;
pub mod identity;
pub mod mapping;
pub mod settings;
pub mod startup;
pub mod user_zone;
pub mod zoho;
