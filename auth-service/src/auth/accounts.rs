//! User accounts: creation (internal provisioning, admin API, the first administrator from
//! configuration) and password changes.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use crate::auth::password::check_strength;
use crate::auth::sessions::{claim_attempt, release_attempt};
use crate::auth::totp;
use crate::domain::{EmailAddress, EmailError, UserId};
use crate::error::{Error, Result};
use crate::settings::AdminSettings;
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::users::UserRow;
use crate::store::{app_passwords, second_factor, sessions, throttle, users};

#[derive(Debug)]
pub struct NewAccount {
    pub email: String,
    pub display_name: Option<String>,
    /// None: the user cannot sign in with a password (yet).
    pub password: Option<SecretString>,
    pub is_admin: bool,
}

/// Validates and stores a new user; `via` names the path it came in by, for the audit log.
pub async fn create_user(state: &AppState, account: NewAccount, via: &str) -> Result<UserId> {
    let email = EmailAddress::parse(&account.email).map_err(|e| match e {
        EmailError::Malformed => Error::invalid(
            "invalid_email",
            "email",
            "email is not a valid e-mail address",
        ),
        EmailError::LookAlikeDomain => Error::invalid(
            "look_alike_email_domain",
            "email",
            "the e-mail domain mixes scripts or imitates another domain",
        ),
    })?;
    let display_name = account
        .display_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if display_name.is_some_and(|n| n.chars().count() > 200) {
        return Err(Error::invalid(
            "invalid_display_name",
            "display_name",
            "display_name is longer than 200 characters",
        ));
    }
    let password_hash = match &account.password {
        Some(password) => {
            check_strength(password).map_err(|m| Error::invalid("weak_password", "password", m))?;
            Some(state.passwords.hash(password).await?)
        }
        None => None,
    };
    let user_id = UserId::new();
    let mut tx = state.pool.begin().await?;
    users::insert(
        &mut *tx,
        users::NewUser {
            id: user_id,
            email: &email,
            display_name,
            password_hash: password_hash.as_deref(),
            is_admin: account.is_admin,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::UserCreated,
        None,
        json!({"via": via, "is_admin": account.is_admin}),
    )
    .await?;
    tx.commit().await?;
    Ok(user_id)
}

/// Makes sure the configured administrator exists. An existing account keeps its password (the
/// setting only seeds the first one) but is made an administrator.
pub async fn bootstrap_admin(state: &AppState, admin: &AdminSettings) -> anyhow::Result<()> {
    let email = EmailAddress::parse(&admin.email).map_err(|_| {
        anyhow::anyhow!(
            "AUTH_ADMIN_EMAIL `{}` is not an e-mail address",
            admin.email
        )
    })?;
    if let Some(user) = users::find_by_email(&state.pool, &email).await? {
        if !user.is_admin {
            users::set_admin(&state.pool, user.id, true).await?;
            audit::record(
                &state.pool,
                Some(user.id),
                Event::AdminBootstrapped,
                None,
                json!({"existing": true}),
            )
            .await?;
        }
        return Ok(());
    }
    let account = NewAccount {
        email: admin.email.clone(),
        display_name: Some("Administrator".into()),
        password: Some(admin.password.clone()),
        is_admin: true,
    };
    match create_user(state, account, "configuration").await {
        Ok(user_id) => {
            tracing::info!(%user_id, "first administrator created");
            Ok(())
        }
        // Another replica created it a moment ago.
        Err(Error::EmailTaken) => Ok(()),
        Err(Error::InvalidInput { message, .. }) => anyhow::bail!("AUTH_ADMIN_PASSWORD: {message}"),
        Err(other) => Err(anyhow::anyhow!("{other}")),
    }
}

/// What a signed-in user gives to confirm a sensitive change.
#[derive(Debug)]
pub enum Reauthentication {
    Password(SecretString),
    /// Only for an account without a password (single sign-on, an invitation): the current
    /// TOTP code of its two-factor sign-in.
    TotpCode(SecretString),
    /// Likewise, one of its recovery codes (used up), for a lost phone.
    RecoveryCode(SecretString),
}

/// Re-checks a signed-in user's password before a sensitive change (turning 2FA off, a new
/// password, new recovery codes). Counted like sign-in guesses, before the check, under a key
/// of its own: a stolen session is not an unlimited password oracle, and guessing here does
/// not lock the owner out of signing in.
pub async fn recheck_password(
    state: &AppState,
    user_id: UserId,
    password: &SecretString,
) -> Result<UserRow> {
    recheck(
        state,
        user_id,
        &Reauthentication::Password(password.clone()),
    )
    .await
}

/// Re-checks the user before a sensitive change (decision 49). An account with a password gives
/// that password and nothing else; an account without one gives its second factor (decision
/// 63): something a thief holding only the session lacks, as the password is. Either way under
/// the same throttle key and limit, claimed before the check.
pub async fn recheck(
    state: &AppState,
    user_id: UserId,
    proof: &Reauthentication,
) -> Result<UserRow> {
    let key = format!("recheck:{user_id}");
    let claim = claim_attempt(state, &key, state.jwt.settings().max_failed_sign_ins).await?;
    let checked = async {
        let user = users::find(&state.pool, user_id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let ok = match (user.password_hash.as_deref(), proof) {
            (hash, Reauthentication::Password(password)) => {
                state.passwords.verify(password, hash).await?
            }
            // A code never stands in for an existing password.
            (Some(_), _) => false,
            (None, Reauthentication::TotpCode(code)) => {
                let mut tx = state.pool.begin().await?;
                let ok = totp::verify(state, &mut tx, user.id, &user.email, code.expose_secret())
                    .await?;
                tx.commit().await?;
                ok
            }
            (None, Reauthentication::RecoveryCode(code)) => {
                let mut tx = state.pool.begin().await?;
                let ok = totp::use_recovery_code(&mut tx, user.id, code.expose_secret()).await?;
                if ok {
                    let left = second_factor::remaining_recovery_codes(&mut *tx, user.id).await?;
                    audit::record(
                        &mut *tx,
                        Some(user.id),
                        Event::RecoveryCodeUsed,
                        None,
                        json!({"remaining": left, "for": "recheck"}),
                    )
                    .await?;
                }
                tx.commit().await?;
                ok
            }
        };
        Ok::<_, Error>((user, ok))
    }
    .await;
    match checked {
        Ok((user, true)) => {
            throttle::clear(&state.pool, &key).await?;
            Ok(user)
        }
        Ok((user, false)) => {
            // The claim stays: it is this failure's record.
            let with = match proof {
                Reauthentication::Password(_) => "password",
                Reauthentication::TotpCode(_) => "totp_code",
                Reauthentication::RecoveryCode(_) => "recovery_code",
            };
            audit::record(
                &state.pool,
                Some(user.id),
                Event::PasswordRecheckFailed,
                None,
                json!({"with": with}),
            )
            .await?;
            Err(match (user.password_hash.is_some(), proof) {
                (false, Reauthentication::Password(_)) => Error::SecondFactorRequired,
                (false, _) => Error::InvalidSecondFactor,
                (true, _) => Error::InvalidCredentials,
            })
        }
        // Not a guess (busy, database): it does not count.
        Err(err) => {
            release_attempt(state, &[claim]).await?;
            Err(err)
        }
    }
}

/// Changes a password after checking the current one; ends every other session and revokes
/// every app password (they were handed out under the old password, perhaps to whoever made
/// the change necessary).
pub async fn change_password(
    state: &AppState,
    user_id: UserId,
    session_id: Uuid,
    current: &SecretString,
    new: &SecretString,
) -> Result<()> {
    check_strength(new).map_err(|m| Error::invalid("weak_password", "new_password", m))?;
    recheck_password(state, user_id, current).await?;
    let hash = state.passwords.hash(new).await?;
    let mut tx = state.pool.begin().await?;
    users::set_password(&mut *tx, user_id, &hash).await?;
    let app_passwords_revoked = app_passwords::revoke_all(&mut *tx, user_id).await?;
    let ended = sessions::revoke_all(&mut *tx, user_id, Some(session_id)).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::PasswordChanged,
        None,
        json!({"sessions_ended": ended, "app_passwords_revoked": app_passwords_revoked}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
