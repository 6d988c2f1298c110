//! Sign-in, refresh, sign-out.
//!
//! A session is a row; its refresh token is `<session id>.<256-bit secret>` and only the
//! secret's SHA-256 is stored. Every refresh rotates the secret and keeps the retired one's hash;
//! presenting any retired secret (a replay of a rotated token: a sign that it was copied) revokes
//! the session. A session slides with use but ends at the latest `max_session_age` after sign-in. Access
//! tokens are short-lived JWTs naming the session (`sid`), so revoking a session ends them at
//! this service at once and everywhere else within their lifetime.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::auth::{app_passwords, totp};
use crate::domain::{EmailAddress, UserId};
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::users::UserRow;
use crate::store::{second_factor as second_factor_store, sessions, throttle, users};

/// What a successful sign-in or refresh answers.
#[derive(Debug)]
pub struct SignedIn {
    pub access_token: SecretString,
    pub expires_in: i64,
    pub refresh_token: SecretString,
    pub session_id: Uuid,
    pub session_expires_at: DateTime<Utc>,
    pub user_id: UserId,
}

#[derive(Debug)]
pub struct Credentials {
    pub email: String,
    pub password: SecretString,
    pub keep_signed_in: bool,
    pub user_agent: Option<String>,
    /// The second factor, for accounts with two-factor sign-in.
    pub totp_code: Option<SecretString>,
    pub recovery_code: Option<SecretString>,
    /// Who is signing in: a person at a browser, or a script or app.
    pub client: Client,
    /// The client's address, for per-address throttling (none: not throttled by address).
    pub address: Option<std::net::IpAddr>,
    /// The password confirms linking an external identity to the account: accepted even
    /// where the organisation turned password sign-in off.
    pub link_confirmation: bool,
}

/// Interactive (browser) sign-in takes the main password and, with 2FA on, a second factor;
/// API sign-in takes an app password, or the main password only while 2FA is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Client {
    #[default]
    Browser,
    Api,
}

/// The `amr` (authentication methods reference, RFC 8176) value of a session opened with an
/// app password. Such sessions are refused the account's sensitive actions, here and (by the
/// access token's `amr` claim, read by `auth_client`) at the other services.
pub const AMR_APP_PASSWORD: &str = auth_client::AMR_APP_PASSWORD;

/// How the user proved who they are.
struct Proof {
    amr: Vec<String>,
    app_password_id: Option<Uuid>,
}

fn hash_secret(secret: &[u8]) -> Vec<u8> {
    Sha256::digest(secret).to_vec()
}

fn new_secret() -> ([u8; 32], String) {
    let mut secret = [0u8; 32];
    rand::fill(&mut secret);
    let encoded = B64.encode(secret);
    (secret, encoded)
}

fn session_ttl(state: &AppState, long_lived: bool) -> Duration {
    let s = &state.jwt.settings();
    if long_lived {
        s.long_session_ttl
    } else {
        s.short_session_ttl
    }
}

/// When a session ends if not used again: its idle lifetime from now, but never later than the
/// absolute cap after its sign-in, however often it is refreshed.
fn session_expiry(
    state: &AppState,
    long_lived: bool,
    signed_in_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let idle = Utc::now() + session_ttl(state, long_lived);
    idle.min(signed_in_at + state.jwt.settings().max_session_age)
}

/// Counts an attempt against `key` before anything is checked, or refuses it when the key had
/// too many failures lately (before any hashing: a throttled guess costs us almost nothing).
pub(crate) async fn claim_attempt(
    state: &AppState,
    key: &str,
    max_failures: u32,
) -> Result<throttle::Claim> {
    let window = state.jwt.settings().failed_sign_in_window;
    match throttle::claim(&state.pool, key, max_failures, window).await? {
        throttle::Attempt::Allowed(claim) => Ok(claim),
        throttle::Attempt::Refused { oldest } => {
            let until = oldest.unwrap_or_else(Utc::now) + window;
            let retry_after = (until - Utc::now()).num_seconds().max(1) as u64;
            Err(Error::TooManyAttempts { retry_after })
        }
    }
}

/// Releases the claims of an attempt that was not a failed guess.
pub(crate) async fn release_attempt(state: &AppState, claims: &[throttle::Claim]) -> Result<()> {
    for claim in claims {
        throttle::release(&state.pool, *claim).await?;
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn sign_in(state: &AppState, credentials: Credentials) -> Result<SignedIn> {
    let email = EmailAddress::parse(&credentials.email).ok();
    let key = email
        .as_ref()
        .map(EmailAddress::key)
        .unwrap_or_else(|| credentials.email.trim().to_lowercase());
    // Per address too: one client guessing across many accounts. Its key cannot clash with
    // an e-mail key (no e-mail address starts with "address:" and has no "@" after it).
    let address_key = credentials.address.map(|a| format!("address:{a}"));
    let settings = state.jwt.settings();
    // Counted as failures now, released below when they were not: a burst of parallel guesses
    // gets no more checks than the limit.
    let mut claims = vec![claim_attempt(state, &key, settings.max_failed_sign_ins).await?];
    if let Some(address_key) = &address_key {
        match claim_attempt(state, address_key, settings.max_failed_sign_ins_per_address).await {
            Ok(claim) => claims.push(claim),
            Err(err) => {
                release_attempt(state, &claims).await?;
                return Err(err);
            }
        }
    }

    let checked = check_credentials(state, email.as_ref(), &credentials).await;
    let (user, proof) = match checked {
        Ok((Some(user), Some(Ok(proof)))) => (user, proof),
        // The password was right; a second factor (or an app password) is missing, or an
        // app password was used where it may not be. Not a failed guess.
        Ok((
            _,
            Some(Err(
                err @ (Error::SecondFactorRequired
                | Error::AppPasswordRequired
                | Error::AppPasswordNotAllowed),
            )),
        )) => {
            release_attempt(state, &claims).await?;
            return Err(err);
        }
        Ok((user, proof)) => {
            // The claims stay: they are this failure's record.
            let error = match proof {
                Some(Err(e)) => e,
                _ => Error::InvalidCredentials,
            };
            audit::record(
                &state.pool,
                user.as_ref().map(|u| u.id),
                Event::SignInFailed,
                None,
                json!({"reason": error.code()}),
            )
            .await?;
            return Err(error);
        }
        // Nothing was checked (busy hashing, a database error): not a guess either.
        Err(err) => {
            release_attempt(state, &claims).await?;
            return Err(err);
        }
    };
    // Single sign-on only: the main password no longer signs in (app passwords still do, for
    // scripts; administrators keep it, so that a provider outage cannot lock everyone out).
    if proof.app_password_id.is_none()
        && !user.is_admin
        && !credentials.link_confirmation
        && !crate::sso::store::password_sign_in(&state.pool).await?
    {
        release_attempt(state, &claims).await?;
        return Err(crate::sso::error::SsoFailure::PasswordSignInDisabled.into());
    }
    throttle::clear(&state.pool, &key).await?;
    release_attempt(state, &claims[1..]).await?;
    start_session(
        state,
        &user,
        credentials.keep_signed_in,
        proof.amr,
        proof.app_password_id,
        credentials.user_agent.as_deref(),
    )
    .await
}

/// The account and, when the password (and second factor) fit, how the user proved who they
/// are; `Some(Err(..))` when the password fit and something else did not.
async fn check_credentials(
    state: &AppState,
    email: Option<&EmailAddress>,
    credentials: &Credentials,
) -> Result<(Option<UserRow>, Option<Result<Proof>>)> {
    let user = match email {
        Some(email) => users::find_by_email(&state.pool, email).await?,
        None => None,
    };
    let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let password_ok = state.passwords.verify(&credentials.password, hash).await?;
    let proof = match &user {
        Some(user) if user.disabled_at.is_none() => {
            if password_ok {
                Some(second_factor(state, user, credentials).await)
            } else {
                // Not the main password: perhaps one of the user's app passwords.
                app_passwords::verify(state, user.id, &credentials.password)
                    .await?
                    .map(|id| match credentials.client {
                        // App passwords are for scripts and API clients: never the way into
                        // the settings page, where they would stand in for the second factor.
                        Client::Browser => Err(Error::AppPasswordNotAllowed),
                        Client::Api => Ok(Proof {
                            amr: vec![AMR_APP_PASSWORD.into()],
                            app_password_id: Some(id),
                        }),
                    })
            }
        }
        _ => None,
    };
    Ok((user, proof))
}

/// After a correct main password: the TOTP or recovery code, when the account has 2FA on.
async fn second_factor(
    state: &AppState,
    user: &UserRow,
    credentials: &Credentials,
) -> Result<Proof> {
    let enabled = second_factor_store::is_enabled(&state.pool, user.id).await?;
    if enabled && credentials.client == Client::Api {
        return Err(Error::AppPasswordRequired);
    }
    if !enabled {
        return Ok(Proof {
            amr: vec!["pwd".into()],
            app_password_id: None,
        });
    }
    let mut tx = state.pool.begin().await?;
    let amr = match (&credentials.totp_code, &credentials.recovery_code) {
        (Some(code), _) => {
            if !totp::verify(state, &mut tx, user.id, &user.email, code.expose_secret()).await? {
                return Err(Error::InvalidSecondFactor);
            }
            vec!["pwd".into(), "otp".into()]
        }
        (None, Some(code)) => {
            if !totp::use_recovery_code(&mut tx, user.id, code.expose_secret()).await? {
                return Err(Error::InvalidSecondFactor);
            }
            let left = second_factor_store::remaining_recovery_codes(&mut *tx, user.id).await?;
            audit::record(
                &mut *tx,
                Some(user.id),
                Event::RecoveryCodeUsed,
                None,
                json!({"remaining": left}),
            )
            .await?;
            vec!["pwd".into(), "recovery_code".into()]
        }
        (None, None) => return Err(Error::SecondFactorRequired),
    };
    tx.commit().await?;
    Ok(Proof {
        amr,
        app_password_id: None,
    })
}

/// Opens a session for a user who proved who they are.
pub async fn start_session(
    state: &AppState,
    user: &UserRow,
    long_lived: bool,
    amr: Vec<String>,
    app_password_id: Option<Uuid>,
    user_agent: Option<&str>,
) -> Result<SignedIn> {
    let session_id = Uuid::now_v7();
    let (secret, encoded) = new_secret();
    let expires_at = session_expiry(state, long_lived, Utc::now());
    let user_agent = user_agent.map(|ua| ua.chars().take(300).collect::<String>());
    let mut tx = state.pool.begin().await?;
    sessions::insert(
        &mut *tx,
        sessions::NewSession {
            id: session_id,
            user_id: user.id,
            secret_hash: &hash_secret(&secret),
            long_lived,
            amr: &amr,
            user_agent: user_agent.as_deref(),
            expires_at,
            app_password_id,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user.id),
        Event::SignedIn,
        None,
        json!({"session_id": session_id, "long_lived": long_lived, "amr": amr}),
    )
    .await?;
    tx.commit().await?;
    let (access_token, claims) = state
        .jwt
        .issue(
            &state.pool,
            &state.vault,
            user.id.0,
            session_id,
            user.is_admin,
            amr,
        )
        .await?;
    Ok(SignedIn {
        access_token,
        expires_in: claims.exp - claims.iat,
        refresh_token: SecretString::from(format!("{session_id}.{encoded}")),
        session_id,
        session_expires_at: expires_at,
        user_id: user.id,
    })
}

/// Trades a refresh token for a new access token and a new refresh token.
#[tracing::instrument(skip_all)]
pub async fn refresh(state: &AppState, refresh_token: &SecretString) -> Result<SignedIn> {
    let (id, secret) = refresh_token
        .expose_secret()
        .split_once('.')
        .ok_or(Error::InvalidSession)?;
    let session_id: Uuid = id.parse().map_err(|_| Error::InvalidSession)?;
    let secret = B64.decode(secret).map_err(|_| Error::InvalidSession)?;
    let presented = hash_secret(&secret);

    let mut tx = state.pool.begin().await?;
    let session = sessions::find_for_update(&mut tx, session_id)
        .await?
        .ok_or(Error::InvalidSession)?;
    let too_old = session.created_at + state.jwt.settings().max_session_age <= Utc::now();
    if session.revoked_at.is_some() || session.expires_at <= Utc::now() || too_old {
        return Err(Error::InvalidSession);
    }
    if !bool::from(presented.ct_eq(&session.secret_hash)) {
        // Any secret this session retired, however many rotations ago: whoever holds it copied
        // a token of the family, so the family (the session) ends for both holders.
        if sessions::was_retired(&mut *tx, session_id, &presented).await? {
            sessions::revoke(&mut *tx, session.user_id, session_id).await?;
            audit::record(
                &mut *tx,
                Some(session.user_id),
                Event::RefreshTokenReused,
                None,
                json!({"session_id": session_id}),
            )
            .await?;
            tx.commit().await?;
            tracing::warn!(%session_id, "a rotated refresh token was replayed; session revoked");
        }
        return Err(Error::InvalidSession);
    }
    let user = users::find(&mut *tx, session.user_id)
        .await?
        .ok_or(Error::InvalidSession)?;
    if user.disabled_at.is_some() {
        return Err(Error::InvalidSession);
    }
    let (new_secret, encoded) = new_secret();
    let expires_at = session_expiry(state, session.long_lived, session.created_at);
    sessions::rotate(&mut tx, session_id, &hash_secret(&new_secret), expires_at).await?;
    tx.commit().await?;
    let (access_token, claims) = state
        .jwt
        .issue(
            &state.pool,
            &state.vault,
            user.id.0,
            session_id,
            user.is_admin,
            session.amr,
        )
        .await?;
    Ok(SignedIn {
        access_token,
        expires_in: claims.exp - claims.iat,
        refresh_token: SecretString::from(format!("{session_id}.{encoded}")),
        session_id,
        session_expires_at: expires_at,
        user_id: user.id,
    })
}
