//! The operator's OpenID Connect providers: `AUTH_OIDC_PROVIDERS=microsoft,google,corp` and, per
//! id, `AUTH_OIDC_<ID>_CLIENT_ID`, `_CLIENT_SECRET`, `_ISSUER` (Microsoft's and Google's have a
//! default), `_NAME` (the button's label) and `_SIGN_UP_DOMAINS` (e-mail domains that may get a
//! new account on first sign-in; none by default).

use anyhow::{Context, bail};
use secrecy::SecretString;
use service_kit::settings as env;

/// How a provider's tokens are read beyond the standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Entra ID: a multi-tenant issuer (`.../{tenantid}/v2.0`) and no `email_verified` claim.
    Microsoft,
    Google,
    Generic,
}

#[derive(Debug, Clone)]
pub struct OidcProviderSettings {
    /// Lower-case letters, digits and `-`: the path segment and the stored provider name.
    pub id: String,
    pub kind: ProviderKind,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Lower-case e-mail domains whose people get an account on first sign-in.
    pub sign_up_domains: Vec<String>,
}

/// Microsoft's multi-tenant endpoint: work, school and personal accounts.
pub const MICROSOFT_ISSUER: &str = "https://login.microsoftonline.com/common/v2.0";
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parses the providers from the environment.
pub fn from_env(prefix: &str) -> anyhow::Result<Vec<OidcProviderSettings>> {
    let Some(list) = env::var(prefix, "OIDC_PROVIDERS") else {
        return Ok(Vec::new());
    };
    let mut providers: Vec<OidcProviderSettings> = Vec::new();
    for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !valid_id(id) {
            bail!("AUTH_OIDC_PROVIDERS: `{id}` must be lower-case letters, digits or -");
        }
        if providers.iter().any(|p| p.id == id) {
            bail!("AUTH_OIDC_PROVIDERS: `{id}` appears twice");
        }
        let upper = id.to_ascii_uppercase().replace('-', "_");
        let name = |field: &str| format!("OIDC_{upper}_{field}");
        let kind = match id {
            "microsoft" => ProviderKind::Microsoft,
            "google" => ProviderKind::Google,
            _ => ProviderKind::Generic,
        };
        let issuer = match (env::var(prefix, &name("ISSUER")), kind) {
            (Some(issuer), _) => issuer,
            (None, ProviderKind::Microsoft) => MICROSOFT_ISSUER.to_owned(),
            (None, ProviderKind::Google) => GOOGLE_ISSUER.to_owned(),
            (None, ProviderKind::Generic) => {
                bail!(
                    "AUTH_{} is required for the provider `{id}`",
                    name("ISSUER")
                )
            }
        };
        url::Url::parse(&issuer)
            .with_context(|| format!("AUTH_{} is not a URL", name("ISSUER")))?;
        let client_id = env::var(prefix, &name("CLIENT_ID"))
            .with_context(|| format!("AUTH_{} is required", name("CLIENT_ID")))?;
        let client_secret = env::var(prefix, &name("CLIENT_SECRET"))
            .map(SecretString::from)
            .with_context(|| format!("AUTH_{} is required", name("CLIENT_SECRET")))?;
        let display_name = env::var(prefix, &name("NAME")).unwrap_or_else(|| match kind {
            ProviderKind::Microsoft => "Microsoft".to_owned(),
            ProviderKind::Google => "Google".to_owned(),
            ProviderKind::Generic => id.to_owned(),
        });
        let sign_up_domains = env::var(prefix, &name("SIGN_UP_DOMAINS"))
            .map(|raw| parse_domains(&raw))
            .unwrap_or_default();
        providers.push(OidcProviderSettings {
            id: id.to_owned(),
            kind,
            display_name,
            issuer: issuer.trim_end_matches('/').to_owned(),
            client_id,
            client_secret,
            sign_up_domains,
        });
    }
    Ok(providers)
}

pub fn parse_domains(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_path_safe() {
        assert!(valid_id("corp-idp"));
        assert!(!valid_id("Corp"));
        assert!(!valid_id("a/b"));
        assert!(!valid_id(""));
    }

    #[test]
    fn domains_are_normalised() {
        assert_eq!(
            parse_domains(" Example.com, @corp.example ,,"),
            vec!["example.com", "corp.example"]
        );
    }
}
