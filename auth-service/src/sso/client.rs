//! One configured provider, spoken to through the `openidconnect` crate: discovery (cached), the
//! authorization URL (code flow, PKCE S256, `state`, `nonce`), the code exchange and the ID
//! token's validation (signature against the JWKS, issuer, audience, expiry, nonce). An unknown
//! `kid` refetches the JWKS once: providers rotate their keys without notice.
//!
//! Our reqwest client carries the crate's HTTP (no redirects followed, a timeout). Nothing here
//! logs a token or a provider's answer body.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AsyncHttpClient, AuthenticationFlow, AuthorizationCode,
    ClaimsVerificationError, Client, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, TokenResponse as _,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::config::{OidcProviderSettings, ProviderKind};
use super::error::SsoFailure;

/// Claims beyond the standard ones that we read: Entra ID's tenant and its "the domain owner
/// verified this e-mail address" flag.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xms_edov: Option<serde_json::Value>,
}

impl AdditionalClaims for ExtraClaims {}

type IdTokenFields = openidconnect::IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenResponse = StandardTokenResponse<IdTokenFields, CoreTokenType>;
type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Microsoft personal accounts' tenant: their e-mail addresses are verified by Microsoft.
const MICROSOFT_CONSUMER_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// The HTTP client the crate's requests go through.
#[derive(Clone)]
pub struct Http(reqwest::Client);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

impl Http {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Http(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(15))
                .build()?,
        ))
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let answer = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(e.without_url().to_string()))?;
            let mut response = http::Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = answer.headers().clone();
            }
            let body = answer
                .bytes()
                .await
                .map_err(|e| HttpError(e.without_url().to_string()))?;
            response
                .body(body.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// What the provider proved about the person.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    /// The provider vouches for the e-mail address (see [`email_verified`]).
    pub email_verified: bool,
    pub name: Option<String>,
    /// RFC 8176 authentication methods the provider reports.
    pub amr: Vec<String>,
    /// Entra ID's tenant (`tid`).
    pub tenant: Option<String>,
}

/// The start of a flow: where to send the browser and what to keep.
pub struct Authorization {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: SecretString,
}

pub struct OidcProvider {
    pub settings: OidcProviderSettings,
    http: Http,
    metadata: RwLock<Option<CoreProviderMetadata>>,
}

impl OidcProvider {
    pub fn new(settings: OidcProviderSettings, http: Http) -> Self {
        OidcProvider {
            settings,
            http,
            metadata: RwLock::new(None),
        }
    }

    /// The discovery document and its JWKS, fetched once (and again after a failure).
    async fn metadata(&self) -> Result<CoreProviderMetadata, SsoFailure> {
        if let Some(m) = self.metadata.read().await.as_ref() {
            return Ok(m.clone());
        }
        let fetched = self.discover().await?;
        *self.metadata.write().await = Some(fetched.clone());
        Ok(fetched)
    }

    async fn discover(&self) -> Result<CoreProviderMetadata, SsoFailure> {
        let issuer = IssuerUrl::new(self.settings.issuer.clone())
            .map_err(|_| SsoFailure::ProviderMisconfigured("the issuer is not a URL"))?;
        if self.is_multi_tenant() {
            // Entra ID's shared endpoints publish an issuer template (`{tenantid}`), which the
            // crate's discovery rightly refuses to match: read it as is; tokens are checked
            // against the template filled with their `tid` ([`OidcProvider::check_issuer`]).
            let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
            let answer = self
                .http
                .0
                .get(url)
                .send()
                .await
                .map_err(|_| SsoFailure::ProviderUnavailable)?;
            if !answer.status().is_success() {
                return Err(SsoFailure::ProviderUnavailable);
            }
            let mut metadata: CoreProviderMetadata = answer
                .json()
                .await
                .map_err(|_| SsoFailure::ProviderMisconfigured("bad discovery document"))?;
            let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
                .await
                .map_err(|_| SsoFailure::ProviderUnavailable)?;
            metadata = metadata.set_jwks(jwks);
            return Ok(metadata);
        }
        CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|err| {
                tracing::warn!(provider = %self.settings.id, error = %err, "OpenID Connect discovery failed");
                match err {
                    openidconnect::DiscoveryError::Request(_) => SsoFailure::ProviderUnavailable,
                    _ => SsoFailure::ProviderMisconfigured("the discovery document is invalid"),
                }
            })
    }

    /// Entra ID's `common`, `organizations` and `consumers` endpoints.
    fn is_multi_tenant(&self) -> bool {
        self.settings.kind == ProviderKind::Microsoft
            && ["/common/", "/organizations/", "/consumers/"]
                .iter()
                .any(|t| self.settings.issuer.contains(t))
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
        redirect_uri: &str,
    ) -> Result<OidcClient, SsoFailure> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|_| SsoFailure::ProviderMisconfigured("the redirect URI is not a URL"))?;
        Ok(OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose_secret().to_owned(),
            )),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new flow.
    pub async fn authorize(&self, redirect_uri: &str) -> Result<Authorization, SsoFailure> {
        let client = self.client(self.metadata().await?, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".to_owned()))
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok(Authorization {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    /// Redeems the code and validates the ID token it brings.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &SecretString,
        nonce: &str,
    ) -> Result<VerifiedIdentity, SsoFailure> {
        let metadata = self.metadata().await?;
        let client = self.client(metadata.clone(), redirect_uri)?;
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| SsoFailure::ProviderMisconfigured("the provider has no token endpoint"))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_owned(),
            ));
        let tokens = request.request_async(&self.http).await.map_err(|err| match err {
            RequestTokenError::ServerResponse(answer) => {
                tracing::info!(provider = %self.settings.id, error = ?answer.error(), "the provider refused the code");
                SsoFailure::CodeRefused
            }
            RequestTokenError::Request(_) => SsoFailure::ProviderUnavailable,
            _ => SsoFailure::ProviderMisconfigured("the token answer is not OAuth 2.0"),
        })?;
        let id_token = tokens.id_token().ok_or(SsoFailure::InvalidIdToken)?;
        let nonce = Nonce::new(nonce.to_owned());
        let verify = |client: &OidcClient| -> Result<VerifiedIdentity, ClaimsVerificationError> {
            let verifier = client
                .id_token_verifier()
                .require_issuer_match(!self.is_multi_tenant());
            let claims = id_token.claims(&verifier, &nonce)?;
            Ok(self.identity(claims))
        };
        let identity = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key we have not seen: the provider rotated. Fetch the set again, once.
                let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
                    .await
                    .map_err(|_| SsoFailure::ProviderUnavailable)?;
                let refreshed = metadata.set_jwks(jwks);
                *self.metadata.write().await = Some(refreshed.clone());
                tracing::info!(provider = %self.settings.id, "signing keys refetched (unknown kid)");
                verify(&self.client(refreshed, redirect_uri)?)
            }
            other => other,
        }
        .map_err(SsoFailure::from)?;
        self.check_issuer(&identity)?;
        Ok(identity)
    }

    fn identity(
        &self,
        claims: &openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>,
    ) -> VerifiedIdentity {
        let extra = claims.additional_claims();
        let email = claims.email().map(|e| e.as_str().to_owned());
        VerifiedIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email_verified: email_verified(self.settings.kind, claims.email_verified(), extra),
            email,
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|m| m.as_str().to_owned()).collect())
                .unwrap_or_default(),
            tenant: extra.tid.clone(),
        }
    }

    /// Entra ID's shared endpoints: the issuer must be the template filled with the token's
    /// own tenant (Microsoft's documented check); elsewhere the crate compared it already.
    fn check_issuer(&self, identity: &VerifiedIdentity) -> Result<(), SsoFailure> {
        if !self.is_multi_tenant() {
            return Ok(());
        }
        let template = self
            .metadata
            .try_read()
            .ok()
            .and_then(|m| m.as_ref().map(|m| m.issuer().as_str().to_owned()))
            .unwrap_or_default();
        let Some(tid) = identity.tenant.as_deref() else {
            return Err(SsoFailure::IssuerMismatch);
        };
        let expected = template
            .replace("{tenantid}", tid)
            .replace("%7Btenantid%7D", tid);
        if expected == identity.issuer {
            Ok(())
        } else {
            Err(SsoFailure::IssuerMismatch)
        }
    }
}

/// Whether the provider vouches for the e-mail address. The standard claim where it is sent;
/// Entra ID sends none (its `email` is whatever a tenant admin typed): there only the
/// `xms_edov` optional claim (the tenant owns the address's domain) or a personal Microsoft
/// account (Microsoft verified the address) count.
pub fn email_verified(kind: ProviderKind, standard: Option<bool>, extra: &ExtraClaims) -> bool {
    match kind {
        ProviderKind::Microsoft => {
            let edov = matches!(&extra.xms_edov, Some(serde_json::Value::Bool(true)))
                || matches!(&extra.xms_edov, Some(serde_json::Value::String(s)) if s == "1" || s.eq_ignore_ascii_case("true"));
            standard == Some(true)
                || edov
                || extra.tid.as_deref() == Some(MICROSOFT_CONSUMER_TENANT)
        }
        ProviderKind::Google | ProviderKind::Generic => standard == Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extra(tid: Option<&str>, edov: Option<serde_json::Value>) -> ExtraClaims {
        ExtraClaims {
            tid: tid.map(str::to_owned),
            xms_edov: edov,
        }
    }

    #[test]
    fn entra_id_email_counts_only_with_domain_owner_proof_or_a_personal_account() {
        let m = ProviderKind::Microsoft;
        assert!(!email_verified(m, None, &extra(Some("some-tenant"), None)));
        assert!(email_verified(
            m,
            None,
            &extra(Some("t"), Some(serde_json::json!(true)))
        ));
        assert!(email_verified(
            m,
            None,
            &extra(Some("t"), Some(serde_json::json!("1")))
        ));
        assert!(!email_verified(
            m,
            None,
            &extra(Some("t"), Some(serde_json::json!(false)))
        ));
        assert!(email_verified(
            m,
            None,
            &extra(Some(MICROSOFT_CONSUMER_TENANT), None)
        ));
    }

    #[test]
    fn elsewhere_only_the_standard_claim_counts() {
        let g = ProviderKind::Generic;
        assert!(email_verified(g, Some(true), &ExtraClaims::default()));
        assert!(!email_verified(g, Some(false), &ExtraClaims::default()));
        assert!(!email_verified(
            g,
            None,
            &extra(None, Some(serde_json::json!(true)))
        ));
    }
}
