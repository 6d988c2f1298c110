//! The settings web page and its backend-for-frontend, on one origin. Modules:
//! - [`settings`]: `WEB_*` environment → typed settings;
//! - [`startup`]: the listener, the routes, serving;
//! - [`assets`]: the page's files, embedded in the binary, and the security headers;
//! - [`session`]: sign-in, refresh and sign-out with the refresh token in an `HttpOnly` cookie;
//! - [`proxy`]: `/api/auth/...` and `/api/sync/...` forwarded to auth-service and sync-service;
//! - [`admin_connections`]: every user's connections with their real state, for admins;
//! - [`bff`]: discovery lists and connector health from the connectors, the TOTP QR code;
//! - [`status`]: the status as server-sent events, sent when it changes;
//! - [`openapi`]: the document of web's own API (`GET /openapi.json`);
//! - [`error`]: the one error type.
#![doc = include_str!("../README.md")]

pub mod admin_connections;
pub mod assets;
pub mod bff;
pub mod error;
pub mod openapi;
pub mod proxy;
pub mod session;
pub mod settings;
pub mod startup;
pub mod status;

pub use settings::Settings;
pub use startup::Application;
