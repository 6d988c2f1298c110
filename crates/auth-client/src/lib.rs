//! Access-token verification against auth-service's JWKS.
#![doc = include_str!("../README.md")]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde::Deserialize;
use sync_model::UserId;
use tokio::sync::RwLock;

/// The `amr` value (authentication methods reference, RFC 8176) auth-service puts in the access
/// token of a session opened with an app password.
pub const AMR_APP_PASSWORD: &str = "app_password";

/// Who is calling, from a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub admin: bool,
    /// How the session was opened (the token's signed `amr` claim).
    pub sign_in: SignInMethod,
}

/// How a session was opened, as far as the services' permissions go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// The account's password (and second factor), or single sign-on: its owner, in person.
    Interactive,
    /// An app password: a script or API client. Services refuse it the actions that change
    /// how the account or the deployment runs (decisions #49).
    AppPassword,
}

impl SignInMethod {
    /// From the `amr` claim: any app password among the methods makes it an app-password
    /// session (a claim can list several methods; the weakest decides).
    pub fn from_amr<'a>(amr: impl IntoIterator<Item = &'a str>) -> Self {
        if amr.into_iter().any(|m| m == AMR_APP_PASSWORD) {
            SignInMethod::AppPassword
        } else {
            SignInMethod::Interactive
        }
    }
}

impl Caller {
    pub fn by_app_password(&self) -> bool {
        self.sign_in == SignInMethod::AppPassword
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the access token is malformed")]
    Malformed,
    #[error("the access token's signature is not valid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not for this service")]
    WrongAudience,
    #[error("the access token's session is over (signed out, revoked or account disabled)")]
    Revoked,
    #[error("the signing keys cannot be fetched: {0}")]
    KeysUnavailable(String),
    #[error("auth-service cannot confirm the session: {0}")]
    SessionUnconfirmed(String),
}

impl VerifyError {
    /// auth-service could not be asked (keys or session): the caller should answer 503, not 401.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            VerifyError::KeysUnavailable(_) | VerifyError::SessionUnconfirmed(_)
        )
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: uuid::Uuid,
    exp: i64,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    amr: Vec<String>,
}

#[derive(Deserialize)]
struct CurrentSession {
    user_id: uuid::Uuid,
    admin: bool,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    crv: Option<String>,
    x: Option<String>,
}

/// Keys are trusted this long before they are read again.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// An unknown key id refetches the keys, but not more often than this.
const REFETCH_FLOOR: Duration = Duration::from_secs(5);
/// Tolerated clock difference with auth-service.
const LEEWAY_SECS: i64 = 30;

struct KeySet {
    keys: HashMap<String, VerifyingKey>,
    fetched: Option<Instant>,
}

pub struct TokenVerifier {
    http: reqwest::Client,
    jwks_url: String,
    session_url: String,
    issuer: String,
    audience: String,
    keys: RwLock<KeySet>,
}

impl TokenVerifier {
    pub fn new(http: reqwest::Client, auth_url: &str, issuer: &str, audience: &str) -> Self {
        TokenVerifier {
            http,
            jwks_url: format!("{}/.well-known/jwks.json", auth_url.trim_end_matches('/')),
            session_url: format!("{}/v1/sessions/current", auth_url.trim_end_matches('/')),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            keys: RwLock::new(KeySet {
                keys: HashMap::new(),
                fetched: None,
            }),
        }
    }

    /// Verifies the token's signature, issuer, audience and expiry here, then asks auth-service
    /// whether its session is still active (`GET /v1/sessions/current` with the token itself):
    /// sign-out, a revoked session, a disabled account or a demotion take effect at once, and
    /// `admin` is the user's role now rather than when the token was issued (decisions #48).
    pub async fn verify(&self, token: &str) -> Result<Caller, VerifyError> {
        let signed = self.verify_signature(token).await?;
        let answer = self
            .http
            .get(&self.session_url)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| VerifyError::SessionUnconfirmed(e.to_string()))?;
        match answer.status() {
            reqwest::StatusCode::OK => {}
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN => {
                return Err(VerifyError::Revoked);
            }
            other => return Err(VerifyError::SessionUnconfirmed(other.to_string())),
        }
        let session: CurrentSession = answer
            .json()
            .await
            .map_err(|e| VerifyError::SessionUnconfirmed(e.to_string()))?;
        if session.user_id != signed.user_id.0 {
            return Err(VerifyError::Revoked);
        }
        Ok(Caller {
            user_id: signed.user_id,
            admin: session.admin,
            sign_in: signed.sign_in,
        })
    }

    /// The local checks only: signature, issuer, audience, expiry. The `admin` claim is the role
    /// when the token was issued.
    async fn verify_signature(&self, token: &str) -> Result<Caller, VerifyError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let header: Header = decode(header)?;
        if header.alg != "EdDSA" {
            return Err(VerifyError::Malformed);
        }
        let kid = header.kid.ok_or(VerifyError::Malformed)?;
        let key = self.key(&kid).await?;
        let signature = B64.decode(signature).map_err(|_| VerifyError::Malformed)?;
        let signature = Signature::from_slice(&signature).map_err(|_| VerifyError::Malformed)?;
        let signed = &token[..header_len(token)];
        key.verify(signed.as_bytes(), &signature)
            .map_err(|_| VerifyError::BadSignature)?;
        let claims: Claims = decode(payload)?;
        if claims.iss != self.issuer || claims.aud != self.audience {
            return Err(VerifyError::WrongAudience);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        if claims.exp + LEEWAY_SECS < now {
            return Err(VerifyError::Expired);
        }
        Ok(Caller {
            user_id: UserId(claims.sub),
            admin: claims.admin,
            sign_in: SignInMethod::from_amr(claims.amr.iter().map(String::as_str)),
        })
    }

    async fn key(&self, kid: &str) -> Result<VerifyingKey, VerifyError> {
        {
            let set = self.keys.read().await;
            let fresh = set.fetched.is_some_and(|t| t.elapsed() < CACHE_TTL);
            if let Some(key) = set.keys.get(kid)
                && fresh
            {
                return Ok(*key);
            }
            if set.fetched.is_some_and(|t| t.elapsed() < REFETCH_FLOOR) {
                return set.keys.get(kid).copied().ok_or(VerifyError::BadSignature);
            }
        }
        let mut set = self.keys.write().await;
        let jwks: Jwks = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?;
        set.keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "OKP" && k.crv.as_deref() == Some("Ed25519"))
            .filter_map(|k| {
                let bytes: [u8; 32] = B64.decode(k.x?).ok()?.try_into().ok()?;
                Some((k.kid, VerifyingKey::from_bytes(&bytes).ok()?))
            })
            .collect();
        set.fetched = Some(Instant::now());
        set.keys.get(kid).copied().ok_or(VerifyError::BadSignature)
    }
}

fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, VerifyError> {
    let bytes = B64.decode(part).map_err(|_| VerifyError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_password_anywhere_in_the_amr_claim_makes_an_app_password_session() {
        assert_eq!(
            SignInMethod::from_amr(["app_password"]),
            SignInMethod::AppPassword
        );
        assert_eq!(
            SignInMethod::from_amr(["pwd", "app_password"]),
            SignInMethod::AppPassword
        );
        assert_eq!(
            SignInMethod::from_amr(["pwd", "otp"]),
            SignInMethod::Interactive
        );
        assert_eq!(SignInMethod::from_amr([]), SignInMethod::Interactive);
    }
}
