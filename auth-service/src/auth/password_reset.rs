//! Password reset with a one-time link: an administrator makes the link (the user has forgotten
//! the password; there is no e-mail channel to send it by), the user opens it and sets a new
//! password. The token is 32 random bytes; only its SHA-256 is stored. Redeeming it ends every
//! session and revokes every app password of the account, as a password change does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::password::check_strength;
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::{app_passwords, password_resets, sessions, users};

/// How long a link works.
pub const LINK_TTL: Duration = Duration::hours(24);

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new link's token (shown once to the administrator) and when it expires.
pub async fn create(
    state: &AppState,
    admin: UserId,
    user_id: UserId,
) -> Result<(SecretString, DateTime<Utc>)> {
    if !users::exists(&state.pool, user_id).await? {
        return Err(Error::UserNotFound);
    }
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let token = B64.encode(secret);
    let expires_at = Utc::now() + LINK_TTL;
    let mut tx = state.pool.begin().await?;
    password_resets::replace(&mut tx, user_id, &hash(&token), admin, expires_at).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::UserUpdated,
        None,
        json!({"by": admin, "password_reset_link": true, "expires_at": expires_at}),
    )
    .await?;
    tx.commit().await?;
    Ok((SecretString::from(token), expires_at))
}

/// Sets the new password of the link's user; the link is used up.
pub async fn redeem(state: &AppState, token: &SecretString, new: &SecretString) -> Result<()> {
    check_strength(new).map_err(|m| Error::invalid("weak_password", "new_password", m))?;
    let invalid = || {
        Error::invalid(
            "invalid_reset_link",
            "token",
            "this reset link is unknown, used or expired; ask for a new one",
        )
    };
    if token.expose_secret().len() > 100 {
        return Err(invalid());
    }
    let token_hash = hash(token.expose_secret());
    // An unknown link costs no password hashing (nobody can make us hash at will); the
    // password is hashed before the transaction, which then uses the link atomically.
    if !password_resets::is_valid(&state.pool, &token_hash).await? {
        return Err(invalid());
    }
    let password_hash = state.passwords.hash(new).await?;
    let mut tx = state.pool.begin().await?;
    let user_id = password_resets::redeem(&mut *tx, &token_hash)
        .await?
        .ok_or_else(invalid)?;
    users::set_password(&mut *tx, user_id, &password_hash).await?;
    let app_passwords_revoked = app_passwords::revoke_all(&mut *tx, user_id).await?;
    let ended = sessions::revoke_all(&mut *tx, user_id, None).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::PasswordChanged,
        None,
        json!({"by": "reset_link", "sessions_ended": ended, "app_passwords_revoked": app_passwords_revoked}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
