//! Signing users in: passwords, sessions and the access tokens they mint.

pub mod accounts;
pub mod app_passwords;
pub mod jwt;
pub mod password;
pub mod password_reset;
pub mod sessions;
pub mod totp;
