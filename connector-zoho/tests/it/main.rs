//! connector-zoho against the sandbox's Zoho CRM, in-process, with faults switched on: the
//! connector's reads and writes are driven directly (no broker, no database). The whole flow is
//! in `crates/system-tests`.

mod activities;
mod contacts;
mod helpers;
mod identities;
mod repeats;
