//! Key rotation of the token vault: re-seals every secret at rest under the active key.
//!
//! After adding a new key to `AUTH_ENCRYPTION_KEYS` and making it `AUTH_ENCRYPTION_ACTIVE_KEY`,
//! `auth-service reencrypt` opens every refresh token, access token, TOTP secret, signing key
//! and pending PKCE verifier sealed under another key and seals it again under the active one;
//! then the old key can be removed from the configuration. Each row is re-sealed in its own
//! transaction, under a row lock, so the running service can stay up; running it twice is
//! harmless (the second run finds nothing to do).

use sqlx::PgPool;

use crate::auth::jwt;
use crate::crypto::{Sealed, Vault};
use crate::domain::{Provider, UserId};
use crate::error::Result;
use crate::oauth;
use crate::store::{connections, second_factor};

/// How many values were re-sealed, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reencrypted {
    pub refresh_tokens: u64,
    pub access_tokens: u64,
    pub totp_secrets: u64,
    pub signing_keys: u64,
    pub oauth_verifiers: u64,
}

impl Reencrypted {
    pub fn total(&self) -> u64 {
        self.refresh_tokens
            + self.access_tokens
            + self.totp_secrets
            + self.signing_keys
            + self.oauth_verifiers
    }
}

/// Opens `sealed` (under whichever configured key sealed it) and seals it under the active key.
fn reseal(vault: &Vault, key_id: String, bytes: Vec<u8>, context: &str) -> Result<Sealed> {
    let plain = vault.open(&Sealed { key_id, bytes }, context)?;
    Ok(vault.seal(&plain, context)?)
}

fn provider(raw: &str) -> Result<Provider> {
    Provider::parse(raw).ok_or_else(|| anyhow::anyhow!("unknown provider `{raw}` in a row").into())
}

/// Re-seals everything not sealed under the vault's active key. Fails on the first value that
/// does not open (its key is not configured, or it was tampered with), leaving the rows done so
/// far re-sealed and the rest as they were.
#[tracing::instrument(skip_all, fields(active_key = vault.active_key_id()))]
pub async fn reencrypt_all(pool: &PgPool, vault: &Vault) -> Result<Reencrypted> {
    let active = vault.active_key_id().to_owned();
    let mut done = Reencrypted::default();

    // Provider connections: the refresh token and the cached access token.
    loop {
        let mut tx = pool.begin().await?;
        type Row = (
            UserId,
            String,
            String,
            Vec<u8>,
            Option<String>,
            Option<Vec<u8>>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT user_id, provider, refresh_token_key_id, refresh_token_sealed, \
                 access_token_key_id, access_token_sealed \
             FROM provider_connections \
             WHERE refresh_token_key_id <> $1 OR access_token_key_id <> $1 \
             LIMIT 1 FOR UPDATE",
        )
        .bind(&active)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, raw_provider, refresh_kid, refresh, access_kid, access)) = row else {
            break;
        };
        let provider = provider(&raw_provider)?;
        let refresh = if refresh_kid != active {
            done.refresh_tokens += 1;
            let context = connections::seal_context(user_id, provider, "refresh_token");
            reseal(vault, refresh_kid, refresh, &context)?
        } else {
            Sealed {
                key_id: refresh_kid,
                bytes: refresh,
            }
        };
        let access = match (access_kid, access) {
            (Some(kid), Some(bytes)) if kid != active => {
                done.access_tokens += 1;
                let context = connections::seal_context(user_id, provider, "access_token");
                Some(reseal(vault, kid, bytes, &context)?)
            }
            (Some(key_id), Some(bytes)) => Some(Sealed { key_id, bytes }),
            _ => None,
        };
        sqlx::query(
            "UPDATE provider_connections SET refresh_token_key_id = $3, refresh_token_sealed = $4, \
                 access_token_key_id = $5, access_token_sealed = $6 \
             WHERE user_id = $1 AND provider = $2",
        )
        .bind(user_id)
        .bind(&raw_provider)
        .bind(&refresh.key_id)
        .bind(&refresh.bytes)
        .bind(access.as_ref().map(|a| a.key_id.as_str()))
        .bind(access.as_ref().map(|a| a.bytes.as_slice()))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }

    // TOTP secrets (enabled or pending).
    loop {
        let mut tx = pool.begin().await?;
        let row: Option<(UserId, String, Vec<u8>)> = sqlx::query_as(
            "SELECT user_id, secret_key_id, secret_sealed FROM totp_credentials \
             WHERE secret_key_id <> $1 LIMIT 1 FOR UPDATE",
        )
        .bind(&active)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((user_id, kid, bytes)) = row else {
            break;
        };
        let sealed = reseal(vault, kid, bytes, &second_factor::seal_context(user_id))?;
        sqlx::query(
            "UPDATE totp_credentials SET secret_key_id = $2, secret_sealed = $3 WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(&sealed.key_id)
        .bind(&sealed.bytes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done.totp_secrets += 1;
    }

    // The private halves of the JWT signing keys.
    loop {
        let mut tx = pool.begin().await?;
        let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT kid, private_key_key_id, private_key_sealed FROM signing_keys \
             WHERE private_key_key_id <> $1 LIMIT 1 FOR UPDATE",
        )
        .bind(&active)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((kid, key_id, bytes)) = row else {
            break;
        };
        let sealed = reseal(vault, key_id, bytes, &jwt::seal_context(&kid))?;
        sqlx::query(
            "UPDATE signing_keys SET private_key_key_id = $2, private_key_sealed = $3 \
             WHERE kid = $1",
        )
        .bind(&kid)
        .bind(&sealed.key_id)
        .bind(&sealed.bytes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done.signing_keys += 1;
    }

    // PKCE verifiers of authorization flows in progress (minutes old at most).
    loop {
        let mut tx = pool.begin().await?;
        type Row = (Vec<u8>, UserId, String, String, Vec<u8>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT state_hash, user_id, provider, verifier_key_id, verifier_sealed \
             FROM oauth_states WHERE verifier_key_id <> $1 LIMIT 1 FOR UPDATE",
        )
        .bind(&active)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((state_hash, user_id, raw_provider, kid, bytes)) = row else {
            break;
        };
        let context = oauth::verifier_context(user_id, provider(&raw_provider)?);
        let sealed = reseal(vault, kid, bytes, &context)?;
        sqlx::query(
            "UPDATE oauth_states SET verifier_key_id = $2, verifier_sealed = $3 \
             WHERE state_hash = $1",
        )
        .bind(&state_hash)
        .bind(&sealed.key_id)
        .bind(&sealed.bytes)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done.oauth_verifiers += 1;
    }

    tracing::info!(
        refresh_tokens = done.refresh_tokens,
        access_tokens = done.access_tokens,
        totp_secrets = done.totp_secrets,
        signing_keys = done.signing_keys,
        oauth_verifiers = done.oauth_verifiers,
        "re-encrypted under the active key"
    );
    Ok(done)
}
