//! Browser tests: the settings page in headless Chromium against the whole system started
//! in-process (sandbox, the four services and `web`). Screenshots of every main screen, in English
//! and Japanese, are saved under `target/screenshots/`.

mod admin;
mod allowance;
mod blocked;
mod health;
mod journey;
mod security;
mod sso;
mod support;
