//! Signed access tokens: compact JWS with EdDSA (Ed25519), verified by the other services through
//! `/.well-known/jwks.json`.
//!
//! Signing keys live in Postgres (private halves sealed by the vault), so every replica signs
//! with the same keys and publishes the same JWKS. A key signs for `key_rotation`, then stays
//! published until every token it signed has expired. A new key is used as soon as it exists;
//! verifiers refetch the JWKS when they meet an unknown `kid` (the usual JWKS client behaviour).

use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::crypto::{Sealed, Vault};
use crate::error::{Error, Result};
use crate::settings::SessionSettings;

pub const ALGORITHM: &str = "EdDSA";
/// Clock skew tolerated between replicas and verifiers.
const LEEWAY_SECS: i64 = 30;
/// How long a loaded key set is trusted before it is read again.
const CACHE_TTL: StdDuration = StdDuration::from_secs(60);
/// An unknown `kid` reloads the key set, but not more often than this.
const RELOAD_FLOOR: StdDuration = StdDuration::from_secs(2);

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The session the token belongs to.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    /// Administrators may call `/v1/admin`.
    #[serde(default)]
    pub admin: bool,
    /// How the user signed in: `pwd`, `otp`, `recovery_code`, `app_password`.
    #[serde(default)]
    pub amr: Vec<String>,
}

struct LoadedKey {
    kid: String,
    verifying: VerifyingKey,
    signing: Option<SigningKey>,
    active_until: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    kid: String,
    public_key: Vec<u8>,
    private_key_key_id: String,
    private_key_sealed: Vec<u8>,
    active_until: DateTime<Utc>,
}

struct KeySet {
    loaded_at: Instant,
    keys: Vec<LoadedKey>,
}

pub struct Jwt {
    settings: SessionSettings,
    cache: RwLock<Option<KeySet>>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

pub(crate) fn seal_context(kid: &str) -> String {
    format!("auth/signing_keys/{kid}/private_key")
}

impl Jwt {
    pub fn new(settings: SessionSettings) -> Self {
        Jwt {
            settings,
            cache: RwLock::new(None),
        }
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    /// Signs an access token for a session; returns it and its claims.
    pub async fn issue(
        &self,
        pool: &PgPool,
        vault: &Vault,
        user: Uuid,
        session: Uuid,
        admin: bool,
        amr: Vec<String>,
    ) -> Result<(SecretString, Claims)> {
        let now = Utc::now();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub: user,
            sid: session,
            iat: now.timestamp(),
            exp: (now + self.settings.access_token_ttl).timestamp(),
            jti: Uuid::new_v4(),
            admin,
            amr,
        };
        let (kid, key) = self.active_key(pool, vault).await?;
        let header = json!({"alg": ALGORITHM, "typ": "JWT", "kid": kid});
        let signing_input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header).map_err(anyhow::Error::from)?),
            B64.encode(serde_json::to_vec(&claims).map_err(anyhow::Error::from)?)
        );
        let signature = key.sign(signing_input.as_bytes());
        let token = format!("{signing_input}.{}", B64.encode(signature.to_bytes()));
        Ok((SecretString::from(token), claims))
    }

    /// Checks signature, algorithm, issuer, audience and expiry. Any failure is
    /// [`Error::Unauthenticated`]: callers learn nothing about why.
    pub async fn verify(&self, pool: &PgPool, vault: &Vault, token: &str) -> Result<Claims> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::Unauthenticated);
        };
        let header: Value = decode_json(header)?;
        if header["alg"] != ALGORITHM {
            return Err(Error::Unauthenticated);
        }
        let kid = header["kid"].as_str().ok_or(Error::Unauthenticated)?;
        let verifying = self
            .verifying_key(pool, vault, kid)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let signature: [u8; 64] = B64
            .decode(signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or(Error::Unauthenticated)?;
        let signing_input = &token[..header_and_payload_len(token)];
        verifying
            .verify(signing_input.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| Error::Unauthenticated)?;
        let claims: Claims = decode_json(payload)?;
        let now = Utc::now().timestamp();
        if claims.iss != self.settings.issuer
            || claims.aud != self.settings.audience
            || claims.exp + LEEWAY_SECS < now
            || claims.iat - LEEWAY_SECS > now
        {
            return Err(Error::Unauthenticated);
        }
        Ok(claims)
    }

    /// The published keys, as a JWK set.
    pub async fn jwks(&self, pool: &PgPool) -> Result<Value> {
        let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT kid, public_key FROM signing_keys WHERE publish_until > now() ORDER BY created_at DESC",
        )
        .fetch_all(pool)
        .await?;
        let keys: Vec<Value> = rows
            .into_iter()
            .map(|(kid, public)| {
                json!({"kty": "OKP", "crv": "Ed25519", "alg": ALGORITHM, "use": "sig", "kid": kid, "x": B64.encode(public)})
            })
            .collect();
        Ok(json!({"keys": keys}))
    }

    async fn active_key(&self, pool: &PgPool, vault: &Vault) -> Result<(String, SigningKey)> {
        for attempt in 0..2 {
            {
                let cache = self.cache.read().await;
                if let Some(set) = cache.as_ref().filter(|s| s.loaded_at.elapsed() < CACHE_TTL)
                    && let Some(key) = set
                        .keys
                        .iter()
                        .filter(|k| k.active_until > Utc::now())
                        .find_map(|k| k.signing.as_ref().map(|s| (k.kid.clone(), s.clone())))
                {
                    return Ok(key);
                }
            }
            if attempt == 0 {
                ensure_active_key(pool, vault, &self.settings).await?;
                self.reload(pool, vault).await?;
            }
        }
        Err(anyhow::anyhow!("no active signing key after creating one").into())
    }

    async fn verifying_key(
        &self,
        pool: &PgPool,
        vault: &Vault,
        kid: &str,
    ) -> Result<Option<VerifyingKey>> {
        {
            let cache = self.cache.read().await;
            if let Some(set) = cache.as_ref() {
                if let Some(key) = set.keys.iter().find(|k| k.kid == kid) {
                    if set.loaded_at.elapsed() < CACHE_TTL {
                        return Ok(Some(key.verifying));
                    }
                } else if set.loaded_at.elapsed() < RELOAD_FLOOR {
                    return Ok(None);
                }
            }
        }
        self.reload(pool, vault).await?;
        let cache = self.cache.read().await;
        Ok(cache
            .as_ref()
            .and_then(|s| s.keys.iter().find(|k| k.kid == kid))
            .map(|k| k.verifying))
    }

    async fn reload(&self, pool: &PgPool, vault: &Vault) -> Result<()> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT kid, public_key, private_key_key_id, private_key_sealed, active_until \
             FROM signing_keys WHERE publish_until > now() ORDER BY created_at DESC",
        )
        .fetch_all(pool)
        .await?;
        let mut keys = Vec::with_capacity(rows.len());
        for KeyRow {
            kid,
            public_key: public,
            private_key_key_id: key_id,
            private_key_sealed: sealed,
            active_until,
        } in rows
        {
            let Ok(public) = <[u8; 32]>::try_from(public.as_slice()) else {
                continue;
            };
            let Ok(verifying) = VerifyingKey::from_bytes(&public) else {
                continue;
            };
            // Only keys that still sign need their private half in memory.
            let signing = if active_until > Utc::now() {
                let secret = vault.open(
                    &Sealed {
                        key_id,
                        bytes: sealed,
                    },
                    &seal_context(&kid),
                )?;
                let bytes = B64
                    .decode(secret.expose_secret())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .ok_or_else(|| anyhow::anyhow!("signing key {kid} is malformed"))?;
                Some(SigningKey::from_bytes(&bytes))
            } else {
                None
            };
            keys.push(LoadedKey {
                kid,
                verifying,
                signing,
                active_until,
            });
        }
        *self.cache.write().await = Some(KeySet {
            loaded_at: Instant::now(),
            keys,
        });
        Ok(())
    }
}

/// Creates a signing key when none is active. Replicas starting together serialise on an
/// advisory lock, so they agree on one new key instead of each making its own.
pub async fn ensure_active_key(
    pool: &PgPool,
    vault: &Vault,
    settings: &SessionSettings,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('auth.signing_keys'))")
        .execute(&mut *tx)
        .await?;
    // A key about to retire is replaced a little early, so no replica signs with it at its edge.
    let margin = (settings.key_rotation / 4).min(Duration::minutes(1));
    let active: Option<String> = sqlx::query_scalar(
        "SELECT kid FROM signing_keys WHERE active_until > now() + make_interval(secs => $1) LIMIT 1",
    )
    .bind(margin.num_milliseconds() as f64 / 1000.0)
    .fetch_optional(&mut *tx)
    .await?;
    if active.is_none() {
        let mut seed = [0u8; 32];
        rand::fill(&mut seed);
        let key = SigningKey::from_bytes(&seed);
        let mut kid_bytes = [0u8; 12];
        rand::fill(&mut kid_bytes);
        let kid = B64.encode(kid_bytes);
        let sealed = vault.seal(&SecretString::from(B64.encode(seed)), &seal_context(&kid))?;
        let now = Utc::now();
        let active_until = now + settings.key_rotation;
        // Tokens signed at the last moment stay verifiable until they expire (plus a margin).
        let publish_until = active_until + settings.access_token_ttl + Duration::hours(1);
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_key_id, private_key_sealed, \
                 active_until, publish_until) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&kid)
        .bind(ALGORITHM)
        .bind(key.verifying_key().to_bytes().as_slice())
        .bind(&sealed.key_id)
        .bind(&sealed.bytes)
        .bind(active_until)
        .bind(publish_until)
        .execute(&mut *tx)
        .await?;
        tracing::info!(%kid, %active_until, "new token signing key");
    }
    tx.commit().await?;
    Ok(())
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T> {
    let bytes = B64.decode(part).map_err(|_| Error::Unauthenticated)?;
    serde_json::from_slice(&bytes).map_err(|_| Error::Unauthenticated)
}
