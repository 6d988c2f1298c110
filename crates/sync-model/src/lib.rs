//! The canonical model shared by every service: what a contact, a task and an event *are*,
//! independent of Microsoft Graph's or Zoho CRM's field names.
//!
//! - [`ids`]: newtypes for users, external item ids, versions and kinds.
//! - [`contact`], [`task`], [`event`]: the canonical content of each kind.
//! - [`item`]: the [`Item`] enum over the kinds, normalisation and the content hash that echo
//!   suppression compares.
//! - [`fields`]: the field-level view used by the three-way merge.
//! - [`capacity`]: what each side can hold where they differ (counts, lengths).
//! - [`zones`]: Windows time-zone names (Outlook's) and their IANA equivalents.
#![doc = include_str!("../README.md")]

pub mod capacity;
pub mod contact;
pub mod event;
pub mod fields;
pub mod health;
pub mod ids;
pub mod item;
mod normalise;
pub mod task;
pub mod zones;

pub use contact::{Address, Contact, EmailAddress};
pub use event::{Attendee, Event, EventTime, Recurrence};
pub use health::{ConnectionState, ConnectionStatus, WatchState};
pub use ids::{ContentHash, ExternalId, ItemKind, LinkId, Modified, Side, UserId, Version};
pub use item::Item;
pub use task::{Task, TaskPriority, TaskStatus};
