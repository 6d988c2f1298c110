//! What the two authorization-code flows share: pending codes with their PKCE challenge.
//! The sandbox has no login page: its authorize endpoints consent at once and redirect back
//! with a code, for the account named by `login_hint` (an id or e-mail the control API gave)
//! or else for a new account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// An issued authorization code.
#[derive(Debug, Clone)]
pub struct PendingCode {
    /// The mailbox or org it grants access to.
    pub account_id: String,
    pub redirect_uri: String,
    /// `(method, challenge)`: `S256` or `plain`.
    pub challenge: Option<(String, String)>,
    pub scope: String,
    /// Zoho's `access_type=offline` / Microsoft's `offline_access`: a refresh token comes too.
    pub offline: bool,
    pub expires_at: DateTime<Utc>,
    pub redeemed: bool,
}

/// Why a code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeProblem {
    Unknown,
    Expired,
    Redeemed,
    RedirectMismatch,
    VerifierMissing,
    VerifierMismatch,
}

/// RFC 7636: `S256` is `BASE64URL(SHA256(verifier))`, `plain` the verifier itself.
pub fn verifier_matches(method: &str, challenge: &str, verifier: &str) -> bool {
    if method.eq_ignore_ascii_case("S256") {
        URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
    } else {
        verifier == challenge
    }
}

/// Checks and marks a code redeemed (codes are single-use).
pub fn redeem(
    codes: &mut std::collections::HashMap<String, PendingCode>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    now: DateTime<Utc>,
) -> Result<PendingCode, CodeProblem> {
    let pending = codes.get_mut(code).ok_or(CodeProblem::Unknown)?;
    if pending.redeemed {
        return Err(CodeProblem::Redeemed);
    }
    if pending.expires_at <= now {
        return Err(CodeProblem::Expired);
    }
    if redirect_uri.is_some_and(|r| r != pending.redirect_uri) {
        return Err(CodeProblem::RedirectMismatch);
    }
    if let Some((method, challenge)) = &pending.challenge {
        let verifier = verifier.ok_or(CodeProblem::VerifierMissing)?;
        if !verifier_matches(method, challenge, verifier) {
            return Err(CodeProblem::VerifierMismatch);
        }
    }
    pending.redeemed = true;
    Ok(pending.clone())
}

/// `redirect_uri` with `params` appended to its query.
pub fn redirect_to(redirect_uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_example() {
        // RFC 7636 appendix B.
        assert!(verifier_matches(
            "S256",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!verifier_matches(
            "S256",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "x"
        ));
        assert!(verifier_matches("plain", "abc", "abc"));
    }
}
