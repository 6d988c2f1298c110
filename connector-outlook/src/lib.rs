//! connector-outlook: Microsoft Graph ⇄ change events and apply commands.
//! - [`graph`]: the Graph client;
//! - [`mapping`]: Graph resources ⇄ the canonical model;
//! - [`connector`]: the [`connector_kit::Connector`] implementation;
//! - [`event_state`]: what the event reader keeps in its cursor;
//! - [`settings`] and [`startup`]: configuration and wiring.
#![doc = include_str!("../README.md")]

pub mod connector;
pub mod event_state;
pub mod graph;
pub mod identity;
pub mod mapping;
pub mod settings;
pub mod startup;
