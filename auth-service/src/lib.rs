//! Modules:
//! - [`settings`]: the typed settings, from `AUTH_*` / `SYNC_*` environment variables;
//! - [`startup`]: [`startup::Application`]: database, migrations, listener, router;
//! - [`routes`]: the HTTP API (the service-authenticated internal API today);
//! - [`error`]: the one error type and its JSON answer with a stable code;
//! - [`domain`]: parsed values (user ids, e-mail addresses, providers, data centres, tenants);
//! - [`store`]: SQL for users, provider connections and the audit log;
//! - [`auth`]: passwords (Argon2id), sessions, signed access tokens (EdDSA JWT, JWKS);
//! - [`crypto`]: the token vault (AES-256-GCM, key ids for rotation);
//! - [`providers`]: the Zoho and Microsoft token clients;
//! - [`openapi`]: the OpenAPI document (`/openapi.json`), from the handlers' annotations;
//! - [`oauth`]: connecting a provider with the authorization-code flow and PKCE;
//! - [`tokens`]: hands out provider access tokens, refreshing one connection at a time;
//! - [`sso`]: sign-in with OpenID Connect providers (Microsoft, Google, the operator's own);
//! - [`rekey`]: re-seals every secret at rest under the active key (`auth-service reencrypt`).
#![doc = include_str!("../README.md")]

pub mod auth;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod oauth;
pub mod openapi;
pub mod providers;
pub mod rekey;
pub mod routes;
pub mod settings;
pub mod sso;
pub mod startup;
pub mod store;
pub mod tokens;

pub use settings::Settings;
pub use startup::Application;
