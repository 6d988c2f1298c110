//! The whole system as separate OS processes, for the benchmark (`bench`) and the crash test
//! (`crash-test`):
//!
//! - [`procs`]: a service process started from its binary, killed (SIGKILL) and restarted, and
//!   its memory and CPU from `/proc`;
//! - [`system`]: a fresh Postgres database, a RabbitMQ name prefix, the sandbox and the services;
//!   the control and internal APIs the scenarios call;
//! - [`proxy`]: a TCP proxy in front of Postgres or RabbitMQ that a test cuts and restores, an
//!   outage that only this system sees;
//! - [`progress`]: progress lines on the terminal.
#![doc = include_str!("../README.md")]

pub mod procs;
pub mod progress;
pub mod proxy;
pub mod system;
