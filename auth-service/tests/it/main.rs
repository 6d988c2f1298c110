//! Integration tests: the service against a real Postgres (a fresh database per test) and a
//! stand-in for the providers' token endpoints.

mod admin;
mod helpers;
mod oauth_flow;
mod provider_tokens;
mod rekey;
mod sandbox_providers;
mod second_factor;
mod security;
mod sessions;
mod sso;
mod stub;
mod users_and_connections;
