//! Two-factor sign-in with TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, as every
//! authenticator app expects) and single-use recovery codes.
//!
//! Enrolment is two steps: the secret is stored pending, and only a first correct code turns it
//! on (and hands out the recovery codes), so a mistyped QR scan cannot lock the user out. Each
//! accepted code moves `last_used_step` forward, so a code cannot be replayed, even within its
//! 30 seconds.

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::auth::accounts::{Reauthentication, recheck};
use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::{second_factor as store, users};

/// The name authenticator apps show (no colon: it separates issuer and account in the URL).
pub const ISSUER: &str = "Outlook-Zoho Sync";
const STEP_SECS: u64 = 30;
/// Steps either side of now that are accepted (clock drift of the phone).
const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

#[derive(Debug)]
pub struct Enrolment {
    pub secret: SecretString,
    pub otpauth_url: SecretString,
    /// The `otpauth_url` as an SVG QR code, for the authenticator app to scan.
    pub qr_svg: SecretString,
}

/// Data (the `otpauth://` URI) as an SVG QR code: black on white, with the quiet zone scanners
/// need, drawn here so that the secret never goes to a third-party QR service.
pub fn qr_svg(data: &str) -> Result<String> {
    let code = qrcode::QrCode::new(data.as_bytes())
        .map_err(|e| Error::Unexpected(anyhow::anyhow!("QR code failed: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build())
}

fn totp(secret: Vec<u8>, account: &str) -> Result<TOTP> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        0,
        STEP_SECS,
        secret,
        Some(ISSUER.to_owned()),
        account.replace(':', ""),
    )
    .map_err(|e| Error::Unexpected(anyhow::anyhow!("TOTP set-up failed: {e}")))
}

fn open_secret(state: &AppState, user_id: UserId, row: &store::TotpRow) -> Result<Vec<u8>> {
    let secret = state
        .vault
        .open(&row.secret(), &store::seal_context(user_id))?;
    hex_decode(secret.expose_secret())
        .ok_or_else(|| anyhow::anyhow!("stored TOTP secret is malformed").into())
}

/// The step a code belongs to, if it is valid now and newer than `last_used`.
fn matching_step(totp: &TOTP, code: &str, now: i64, last_used: Option<i64>) -> Option<i64> {
    let code = code.trim().replace(' ', "");
    let current = now / STEP_SECS as i64;
    (current - SKEW_STEPS..=current + SKEW_STEPS).find(|&step| {
        step > last_used.unwrap_or(i64::MIN)
            && bool::from(
                totp.generate((step as u64) * STEP_SECS)
                    .as_bytes()
                    .ct_eq(code.as_bytes()),
            )
    })
}

/// Starts (or restarts) enrolment.
pub async fn start(state: &AppState, user_id: UserId) -> Result<Enrolment> {
    let user = users::find(&state.pool, user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    if store::is_enabled(&state.pool, user_id).await? {
        return Err(Error::Conflict {
            code: "totp_already_enabled",
            message: "two-factor sign-in is already on",
        });
    }
    let mut raw = [0u8; 20];
    rand::fill(&mut raw);
    let totp = totp(raw.to_vec(), &user.email)?;
    let sealed = state.vault.seal(
        &SecretString::from(hex_encode(&raw)),
        &store::seal_context(user_id),
    )?;
    store::put_pending(&state.pool, user_id, &sealed).await?;
    let url = totp.get_url();
    Ok(Enrolment {
        secret: SecretString::from(totp.get_secret_base32()),
        qr_svg: SecretString::from(qr_svg(&url)?),
        otpauth_url: SecretString::from(url),
    })
}

/// Confirms enrolment with a first code; returns the recovery codes (shown once).
pub async fn confirm(state: &AppState, user_id: UserId, code: &str) -> Result<Vec<String>> {
    let user = users::find(&state.pool, user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let mut tx = state.pool.begin().await?;
    let row = store::find_for_update(&mut tx, user_id)
        .await?
        .ok_or(Error::Conflict {
            code: "totp_not_started",
            message: "start two-factor enrolment first",
        })?;
    if row.enabled_at.is_some() {
        return Err(Error::Conflict {
            code: "totp_already_enabled",
            message: "two-factor sign-in is already on",
        });
    }
    let totp = totp(open_secret(state, user_id, &row)?, &user.email)?;
    let step = matching_step(&totp, code, Utc::now().timestamp(), row.last_used_step)
        .ok_or(Error::InvalidSecondFactor)?;
    store::mark_used(&mut *tx, user_id, step, true).await?;
    let codes = new_recovery_codes(&mut tx, user_id).await?;
    audit::record(&mut *tx, Some(user_id), Event::TotpEnabled, None, json!({})).await?;
    tx.commit().await?;
    Ok(codes)
}

/// Checks a code at sign-in, inside the sign-in's transaction.
pub async fn verify(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
    email: &str,
    code: &str,
) -> Result<bool> {
    let Some(row) = store::find_for_update(tx, user_id).await? else {
        return Ok(false);
    };
    if row.enabled_at.is_none() {
        return Ok(false);
    }
    let totp = totp(open_secret(state, user_id, &row)?, email)?;
    match matching_step(&totp, code, Utc::now().timestamp(), row.last_used_step) {
        Some(step) => {
            store::mark_used(&mut *tx, user_id, step, false).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Turns two-factor sign-in off (after re-checking the password, or the second factor of an
/// account without one).
pub async fn disable(state: &AppState, user_id: UserId, proof: &Reauthentication) -> Result<()> {
    recheck(state, user_id, proof).await?;
    let mut tx = state.pool.begin().await?;
    store::delete(&mut *tx, user_id).await?;
    store::delete_recovery_codes(&mut *tx, user_id).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::TotpDisabled,
        None,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// An administrator turns a user's two-factor sign-in off (a lost phone and no recovery codes
/// left): the secret, a pending enrolment and the recovery codes go. Answers whether 2FA was on.
pub async fn reset_by_admin(state: &AppState, user_id: UserId, admin_id: UserId) -> Result<bool> {
    let mut tx = state.pool.begin().await?;
    if !users::exists(&mut *tx, user_id).await? {
        return Err(Error::UserNotFound);
    }
    let was_enabled = store::is_enabled(&mut *tx, user_id).await?;
    store::delete(&mut *tx, user_id).await?;
    store::delete_recovery_codes(&mut *tx, user_id).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::TotpDisabled,
        None,
        json!({"by": admin_id, "reset": true, "was_enabled": was_enabled}),
    )
    .await?;
    tx.commit().await?;
    Ok(was_enabled)
}

/// New recovery codes, the old ones void (after re-checking the password, or the second factor
/// of an account without one).
pub async fn regenerate_recovery_codes(
    state: &AppState,
    user_id: UserId,
    proof: &Reauthentication,
) -> Result<Vec<String>> {
    recheck(state, user_id, proof).await?;
    if !store::is_enabled(&state.pool, user_id).await? {
        return Err(Error::Conflict {
            code: "totp_not_enabled",
            message: "two-factor sign-in is off",
        });
    }
    let mut tx = state.pool.begin().await?;
    let codes = new_recovery_codes(&mut tx, user_id).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::RecoveryCodesRegenerated,
        None,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

async fn new_recovery_codes(tx: &mut sqlx::PgConnection, user_id: UserId) -> Result<Vec<String>> {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let salted: Vec<(Vec<u8>, Vec<u8>)> = codes
        .iter()
        .map(|code| {
            let mut salt = vec![0u8; 16];
            rand::fill(&mut salt[..]);
            let hash = hash_recovery_code(code, Some(&salt));
            (salt, hash)
        })
        .collect();
    store::replace_recovery_codes(tx, user_id, &salted).await?;
    Ok(codes)
}

/// Uses up one of the user's recovery codes, if `code` is one of the unused ones.
pub async fn use_recovery_code(
    tx: &mut sqlx::PgConnection,
    user_id: UserId,
    code: &str,
) -> Result<bool> {
    for row in store::unused_recovery_codes(&mut *tx, user_id).await? {
        let hash = hash_recovery_code(code, row.salt.as_deref());
        if bool::from(hash.ct_eq(&row.code_hash)) {
            return store::mark_recovery_code_used(&mut *tx, user_id, &row.code_hash).await;
        }
    }
    Ok(false)
}

/// `xxxxx-xxxxx` from an unambiguous alphabet: about 50 random bits.
fn recovery_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut code = String::with_capacity(11);
    for i in 0..10 {
        if i == 5 {
            code.push('-');
        }
        code.push(RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char);
    }
    code
}

/// SHA-256 of the salt and the code without dashes, spaces or case. Codes issued before salts
/// (no salt) are SHA-256 of the code alone. A fast hash is enough for 50 random bits behind the
/// sign-in throttle; the salt keeps one precomputed table from serving every user.
pub fn hash_recovery_code(code: &str, salt: Option<&[u8]>) -> Vec<u8> {
    let normalised: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    let mut hasher = Sha256::new();
    if let Some(salt) = salt {
        hasher.update(salt);
    }
    hasher.update(normalised.as_bytes());
    hasher.finalize().to_vec()
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_once() {
        let totp = totp(vec![7u8; 20], "a@example.com").unwrap();
        let now = 1_800_000_000i64;
        let code = totp.generate(now as u64);
        let step = matching_step(&totp, &code, now, None).unwrap();
        assert_eq!(step, now / 30);
        // Replay of the same step is refused.
        assert!(matching_step(&totp, &code, now, Some(step)).is_none());
        // A code from the previous step is still accepted (drift), two steps back is not.
        let previous = totp.generate((now - 30) as u64);
        assert!(matching_step(&totp, &previous, now, None).is_some());
        let old = totp.generate((now - 90) as u64);
        assert!(matching_step(&totp, &old, now, None).is_none());
        assert!(matching_step(&totp, "000000x", now, None).is_none());
    }

    #[test]
    fn recovery_codes_normalise() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(
            hash_recovery_code(&code, Some(b"salt")),
            hash_recovery_code(&code.to_uppercase().replace('-', " "), Some(b"salt"))
        );
        assert_ne!(
            hash_recovery_code(&code, Some(b"salt")),
            hash_recovery_code(&code, Some(b"pepper"))
        );
        assert_eq!(
            hex_decode(&hex_encode(&[1, 2, 255])).unwrap(),
            vec![1, 2, 255]
        );
    }
}
