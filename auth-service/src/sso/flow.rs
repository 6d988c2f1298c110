//! The sign-in flow: `start` sends the browser to the provider; `finish` takes the provider's
//! answer (single-use `state` bound to the starting browser by a cookie, PKCE, nonce), validates
//! the ID token, decides the account ([`super::accounts`]) and hands back a one-time ticket;
//! `redeem` turns the ticket into a session, with the same session rules, throttling and audit
//! log as password sign-in.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::accounts::{self, Decision, Facts, Refusal};
use super::client::VerifiedIdentity;
use super::error::SsoFailure;
use super::store::{self, NewIdentity};
use crate::auth::sessions::{self as signin, Credentials, SignedIn, claim_attempt};
use crate::auth::{accounts as account_store, totp};
use crate::crypto::Sealed;
use crate::domain::{EmailAddress, UserId};
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::audit::{self, Event};
use crate::store::users::{self, UserRow};
use crate::store::{second_factor, throttle};

const FLOW_TTL: Duration = Duration::minutes(10);
const TICKET_TTL: Duration = Duration::minutes(10);

/// Authentication methods (RFC 8176) that already are a second factor at the provider.
const MULTI_FACTOR_AMR: &[&str] = &["mfa", "otp", "hwk", "swk", "fido", "sms", "tel", "sc"];

pub fn cookie_name(provider: &str) -> String {
    format!("ozs_sso_{}", provider.replace('-', "_"))
}

pub fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!("{}/v1/sso/{provider}/callback", state.public_url)
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    B64.encode(bytes)
}

fn sha256(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

fn verifier_context(provider: &str) -> String {
    format!("auth/oidc_flows/{provider}/verifier")
}

pub struct Started {
    pub authorization_url: String,
    pub browser_cookie: SecretString,
}

pub async fn start(state: &AppState, provider_id: &str) -> Result<Started> {
    let provider = state.sso.get(provider_id)?;
    let authorization = provider
        .authorize(&redirect_uri(state, provider_id))
        .await?;
    let browser = random_token();
    let sealed = state
        .vault
        .seal(&authorization.pkce_verifier, &verifier_context(provider_id))?;
    let mut tx = state.pool.begin().await?;
    sqlx::query("DELETE FROM oidc_flows WHERE expires_at < now()")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO oidc_flows (state_hash, provider, browser_hash, nonce, verifier_key_id, \
         verifier_sealed, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(sha256(&authorization.state))
    .bind(provider_id)
    .bind(sha256(&browser))
    .bind(&authorization.nonce)
    .bind(&sealed.key_id)
    .bind(&sealed.bytes)
    .bind(Utc::now() + FLOW_TTL)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Started {
        authorization_url: authorization.url,
        browser_cookie: SecretString::from(browser),
    })
}

/// What the provider sends back.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<SecretString>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// A finished flow: a ticket for `POST /v1/sessions`.
pub struct Finished {
    pub ticket: SecretString,
    /// The account exists and its owner must confirm the link with its password.
    pub link_required: bool,
}

#[derive(sqlx::FromRow)]
struct PendingFlow {
    browser_hash: Vec<u8>,
    nonce: String,
    verifier_key_id: String,
    verifier_sealed: Vec<u8>,
}

/// Completes a flow. Counted against the client address's sign-in budget like a password
/// attempt: a failure that is bad proof (state, token, code) stays counted.
pub async fn finish(
    state: &AppState,
    provider_id: &str,
    callback: Callback,
    browser_cookie: Option<&str>,
    address: Option<std::net::IpAddr>,
) -> Result<Finished> {
    let settings = state.jwt.settings();
    let claim = match address {
        Some(a) => Some(
            claim_attempt(
                state,
                &format!("address:{a}"),
                settings.max_failed_sign_ins_per_address,
            )
            .await?,
        ),
        None => None,
    };
    let outcome = finish_inner(state, provider_id, callback, browser_cookie).await;
    let failed_proof = matches!(&outcome, Err(Error::Sso(f)) if f.is_failed_proof());
    if let (Some(claim), false) = (claim, failed_proof) {
        throttle::release(&state.pool, claim).await?;
    }
    if let Err(err) = &outcome {
        audit::record(
            &state.pool,
            None,
            Event::SignInFailed,
            None,
            json!({"via": "oidc", "provider": provider_id, "reason": err.code()}),
        )
        .await?;
    }
    outcome
}

async fn finish_inner(
    state: &AppState,
    provider_id: &str,
    callback: Callback,
    browser_cookie: Option<&str>,
) -> Result<Finished> {
    let provider = state.sso.get(provider_id)?;
    let flow_state = callback.state.as_deref().ok_or(SsoFailure::InvalidState)?;
    // Taken out whatever happens next: a state is good for one try.
    let pending: PendingFlow = sqlx::query_as(
        "DELETE FROM oidc_flows WHERE state_hash = $1 AND provider = $2 AND expires_at > now() \
         RETURNING browser_hash, nonce, verifier_key_id, verifier_sealed",
    )
    .bind(sha256(flow_state))
    .bind(provider_id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(SsoFailure::InvalidState)?;
    let same_browser = browser_cookie
        .is_some_and(|cookie| bool::from(sha256(cookie).ct_eq(&pending.browser_hash)));
    if !same_browser {
        return Err(SsoFailure::InvalidState.into());
    }
    if callback.error.is_some() {
        return Err(SsoFailure::ProviderDenied.into());
    }
    let code = callback.code.ok_or(SsoFailure::CodeRefused)?;
    let verifier = state.vault.open(
        &Sealed {
            key_id: pending.verifier_key_id,
            bytes: pending.verifier_sealed,
        },
        &verifier_context(provider_id),
    )?;
    let identity = provider
        .finish(
            &redirect_uri(state, provider_id),
            code.expose_secret(),
            &verifier,
            &pending.nonce,
        )
        .await?;
    resolve(
        state,
        provider_id,
        &provider.settings.sign_up_domains,
        identity,
    )
    .await
}

fn account(user: &UserRow) -> accounts::Account {
    accounts::Account {
        has_password: user.password_hash.is_some(),
        disabled: user.disabled_at.is_some(),
    }
}

async fn resolve(
    state: &AppState,
    provider_id: &str,
    sign_up_domains: &[String],
    identity: VerifiedIdentity,
) -> Result<Finished> {
    let linked =
        match store::find_identity(&state.pool, &identity.issuer, &identity.subject).await? {
            Some(row) => users::find(&state.pool, row.user_id).await?,
            None => None,
        };
    let verified = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .and_then(|e| EmailAddress::parse(e).ok());
    let with_email = match (&linked, &verified) {
        (None, Some(email)) => users::find_by_email(&state.pool, email).await?,
        _ => None,
    };
    let decision = accounts::decide(Facts {
        linked: linked.as_ref().map(account),
        verified_email: verified.as_ref().map(EmailAddress::as_str),
        account_with_email: with_email.as_ref().map(account),
        sign_up_domains,
    });
    let new_identity = |user_id: UserId| NewIdentity {
        user_id,
        provider: provider_id,
        issuer: &identity.issuer,
        subject: &identity.subject,
        email: identity.email.as_deref(),
    };
    let (user_id, link_required) = match decision {
        Decision::SignIn => (
            linked
                .as_ref()
                .map(|u| u.id)
                .ok_or(SsoFailure::InvalidIdToken)?,
            false,
        ),
        Decision::ConfirmWithPassword => (
            with_email
                .as_ref()
                .map(|u| u.id)
                .ok_or(SsoFailure::InvalidIdToken)?,
            true,
        ),
        Decision::LinkInvited => {
            let user_id = with_email
                .as_ref()
                .map(|u| u.id)
                .ok_or(SsoFailure::InvalidIdToken)?;
            link(state, new_identity(user_id), "invitation").await?;
            (user_id, false)
        }
        Decision::SignUp => {
            let email = verified.as_ref().ok_or(SsoFailure::EmailNotVerified)?;
            let user_id = account_store::create_user(
                state,
                account_store::NewAccount {
                    email: email.as_str().to_owned(),
                    display_name: identity.name.clone(),
                    password: None,
                    is_admin: false,
                },
                "oidc_sign_up",
            )
            .await?;
            link(state, new_identity(user_id), "sign_up").await?;
            (user_id, false)
        }
        Decision::Refuse(Refusal::AccountDisabled) => {
            return Err(SsoFailure::AccountDisabled.into());
        }
        Decision::Refuse(Refusal::EmailNotVerified) => {
            return Err(SsoFailure::EmailNotVerified.into());
        }
        Decision::Refuse(Refusal::SignUpNotAllowed) => {
            return Err(SsoFailure::SignUpNotAllowed.into());
        }
    };
    let ticket = random_token();
    sqlx::query(
        "INSERT INTO sso_tickets (ticket_hash, user_id, provider, issuer, subject, email, \
         link_required, provider_amr, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(sha256(&ticket))
    .bind(user_id)
    .bind(provider_id)
    .bind(&identity.issuer)
    .bind(&identity.subject)
    .bind(identity.email.as_deref())
    .bind(link_required)
    .bind(&identity.amr)
    .bind(Utc::now() + TICKET_TTL)
    .execute(&state.pool)
    .await?;
    Ok(Finished {
        ticket: SecretString::from(ticket),
        link_required,
    })
}

async fn link(state: &AppState, identity: NewIdentity<'_>, via: &str) -> Result<()> {
    let mut tx = state.pool.begin().await?;
    let user_id = identity.user_id;
    let provider = identity.provider.to_owned();
    if !store::link(&mut *tx, identity).await? {
        return Err(SsoFailure::IdentityTaken.into());
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::IdentityLinked,
        None,
        json!({"provider": provider, "via": via}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    user_id: UserId,
    provider: String,
    issuer: String,
    subject: String,
    email: Option<String>,
    link_required: bool,
    provider_amr: Vec<String>,
}

/// What `POST /v1/sessions` brings with a ticket.
pub struct Redemption {
    pub ticket: SecretString,
    /// Confirms a link to an account that has a password.
    pub password: Option<SecretString>,
    pub totp_code: Option<SecretString>,
    pub recovery_code: Option<SecretString>,
    pub keep_signed_in: bool,
    pub user_agent: Option<String>,
    pub address: Option<std::net::IpAddr>,
}

/// Turns a ticket into a session (the ticket is used up only by success).
pub async fn redeem(state: &AppState, redemption: Redemption) -> Result<SignedIn> {
    let hash = sha256(redemption.ticket.expose_secret());
    let ticket: TicketRow = sqlx::query_as(
        "SELECT user_id, provider, issuer, subject, email, link_required, provider_amr \
         FROM sso_tickets WHERE ticket_hash = $1 AND expires_at > now()",
    )
    .bind(&hash)
    .fetch_optional(&state.pool)
    .await?
    .ok_or(SsoFailure::InvalidTicket)?;
    let user = users::find(&state.pool, ticket.user_id)
        .await?
        .ok_or(SsoFailure::InvalidTicket)?;
    if user.disabled_at.is_some() {
        return Err(SsoFailure::AccountDisabled.into());
    }
    if ticket.link_required {
        let password = redemption
            .password
            .ok_or(SsoFailure::LinkConfirmationRequired)?;
        // The owner proves the account as at any password sign-in (throttle, second factor).
        let signed_in = signin::sign_in(
            state,
            Credentials {
                email: user.email.clone(),
                password,
                keep_signed_in: redemption.keep_signed_in,
                user_agent: redemption.user_agent,
                totp_code: redemption.totp_code,
                recovery_code: redemption.recovery_code,
                client: signin::Client::Browser,
                address: redemption.address,
                link_confirmation: true,
            },
        )
        .await?;
        if !take_ticket(state, &hash).await? {
            return Err(SsoFailure::InvalidTicket.into());
        }
        link(
            state,
            NewIdentity {
                user_id: user.id,
                provider: &ticket.provider,
                issuer: &ticket.issuer,
                subject: &ticket.subject,
                email: ticket.email.as_deref(),
            },
            "password_confirmation",
        )
        .await?;
        store::touch(&state.pool, &ticket.issuer, &ticket.subject, None).await?;
        return Ok(signed_in);
    }
    let mut amr = vec!["oidc".to_owned()];
    amr.extend(ticket.provider_amr.iter().cloned());
    let provider_mfa = ticket
        .provider_amr
        .iter()
        .any(|m| MULTI_FACTOR_AMR.contains(&m.as_str()));
    if !provider_mfa && second_factor::is_enabled(&state.pool, user.id).await? {
        amr.push(local_second_factor(state, &user, &redemption).await?);
    }
    if !take_ticket(state, &hash).await? {
        return Err(SsoFailure::InvalidTicket.into());
    }
    store::touch(
        &state.pool,
        &ticket.issuer,
        &ticket.subject,
        ticket.email.as_deref(),
    )
    .await?;
    signin::start_session(
        state,
        &user,
        redemption.keep_signed_in,
        amr,
        None,
        redemption.user_agent.as_deref(),
    )
    .await
}

/// The account's own TOTP (or a recovery code) after a provider sign-in without MFA; a wrong
/// code counts against the account's sign-in budget.
async fn local_second_factor(state: &AppState, user: &UserRow, r: &Redemption) -> Result<String> {
    let key = EmailAddress::parse(&user.email)
        .map(|e| e.key())
        .unwrap_or_else(|_| user.email.to_lowercase());
    if r.totp_code.is_none() && r.recovery_code.is_none() {
        return Err(Error::SecondFactorRequired);
    }
    let claim = claim_attempt(state, &key, state.jwt.settings().max_failed_sign_ins).await?;
    let mut tx = state.pool.begin().await?;
    let method = match (&r.totp_code, &r.recovery_code) {
        (Some(code), _) => totp::verify(state, &mut tx, user.id, &user.email, code.expose_secret())
            .await?
            .then_some("otp"),
        (None, Some(code)) => totp::use_recovery_code(&mut tx, user.id, code.expose_secret())
            .await?
            .then_some("recovery_code"),
        (None, None) => None,
    };
    let Some(method) = method else {
        return Err(Error::InvalidSecondFactor);
    };
    tx.commit().await?;
    throttle::release(&state.pool, claim).await?;
    Ok(method.to_owned())
}

async fn take_ticket(state: &AppState, hash: &[u8]) -> Result<bool> {
    let done = sqlx::query("DELETE FROM sso_tickets WHERE ticket_hash = $1 AND expires_at > now()")
        .bind(hash)
        .execute(&state.pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Unlinks one of the user's identities, unless it is their last way to sign in.
pub async fn unlink(state: &AppState, user_id: UserId, id: uuid::Uuid) -> Result<()> {
    let mut tx = state.pool.begin().await?;
    let user = users::find(&mut *tx, user_id)
        .await?
        .ok_or(Error::UserNotFound)?;
    // Serialises concurrent unlinks of the same user's identities.
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let removed = store::unlink(&mut *tx, user_id, id)
        .await?
        .ok_or(SsoFailure::IdentityNotFound)?;
    let left = store::list_identities(&mut *tx, user_id).await?;
    if user.password_hash.is_none() && left.is_empty() {
        return Err(SsoFailure::LastSignInMethod.into());
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::IdentityUnlinked,
        None,
        json!({"provider": removed.provider}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
