//! connector-outlook against the sandbox's Graph, in-process, with faults switched on: the
//! connector's reads and writes are driven directly (no broker, except where the command
//! consumer serves two mailboxes; a database only where replicas share a mailbox's bound or
//! commands are recorded), so each rule of the client is proven on its own. The whole flow is
//! in `crates/system-tests`.

mod contacts;
mod events;
mod helpers;
mod identities;
mod mailboxes;
mod repeats;
mod replicas;
mod tasks;
