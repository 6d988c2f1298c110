//! The provider's signing keys (RFC 7517 JWKS, RS256 per RFC 7518 §3.3): the newest key signs;
//! a rotation adds a key and keeps the older ones published until they are retired, as real
//! providers do, so that relying parties that cached the set meet an unknown `kid` and refetch.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, rand_core::OsRng};
use serde_json::{Value, json};
use sha2::Sha256;

pub struct Key {
    pub kid: String,
    private: RsaPrivateKey,
}

impl Key {
    pub fn generate() -> Key {
        let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation");
        Key {
            kid: format!(
                "sandbox-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            private,
        }
    }

    /// The public half as a JWK.
    pub fn jwk(&self) -> Value {
        let public = self.private.to_public_key();
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": B64.encode(public.n().to_bytes_be()),
            "e": B64.encode(public.e().to_bytes_be()),
        })
    }

    /// A compact JWS (RFC 7515) of `claims`, RS256.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signer = SigningKey::<Sha256>::new(self.private.clone());
        let signature = signer.sign(input.as_bytes()).to_bytes();
        format!("{input}.{}", B64.encode(signature))
    }
}

/// Published keys, oldest first; the last one signs.
#[derive(Default)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// The signing key, made on first use (key generation takes a moment).
    pub fn active(&mut self) -> &Key {
        if self.keys.is_empty() {
            self.keys.push(Key::generate());
        }
        self.keys.last().expect("a key")
    }

    /// Adds a new signing key; with `retire_old`, the older keys leave the set.
    pub fn rotate(&mut self, retire_old: bool) -> &Key {
        if retire_old {
            self.keys.clear();
        }
        self.keys.push(Key::generate());
        self.keys.last().expect("a key")
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid.clone()).collect()
    }

    pub fn jwks(&mut self) -> Value {
        self.active();
        json!({"keys": self.keys.iter().map(Key::jwk).collect::<Vec<_>>()})
    }
}
