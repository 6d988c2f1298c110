//! The token vault: AES-256-GCM for secrets at rest.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext+tag`, stored next to the id of the key that
//! sealed it, so keys can rotate: new values use the active key, old rows still open with the key
//! named on the row. The nonce is random per value (96 bits; far below the birthday bound for the
//! number of values one key will seal). The associated data binds a value to its row and column,
//! so a ciphertext copied into another user's row does not open.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use secrecy::{ExposeSecret, SecretString};

use crate::settings::EncryptionSettings;

const NONCE_LEN: usize = 12;

/// A secret as stored: key id and `nonce || ciphertext`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no encryption key with id `{0}` is configured")]
    UnknownKey(String),
    #[error("a sealed value could not be opened (wrong key, wrong row or tampered)")]
    Corrupt,
    #[error("encryption failed")]
    Seal,
}

pub struct Vault {
    ciphers: BTreeMap<String, Aes256Gcm>,
    active: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_ids", &self.ciphers.keys().collect::<Vec<_>>())
            .field("active", &self.active)
            .finish()
    }
}

impl Vault {
    pub fn new(settings: &EncryptionSettings) -> Self {
        let ciphers = settings
            .keys
            .keys()
            .filter_map(|kid| {
                let key = settings.key(kid)?;
                Some((
                    kid.clone(),
                    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
                ))
            })
            .collect();
        Vault {
            ciphers,
            active: settings.active_key_id.clone(),
        }
    }

    /// The id of the key that seals new values.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Seals `secret` with the active key; `context` names the row and column it belongs to.
    pub fn seal(&self, secret: &SecretString, context: &str) -> Result<Sealed, VaultError> {
        let cipher = self
            .ciphers
            .get(&self.active)
            .ok_or_else(|| VaultError::UnknownKey(self.active.clone()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Seal)?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.active.clone(),
            bytes,
        })
    }

    /// Opens a value sealed by [`Vault::seal`] with the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<SecretString, VaultError> {
        let cipher = self
            .ciphers
            .get(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKey(sealed.key_id.clone()))?;
        if sealed.bytes.len() < NONCE_LEN {
            return Err(VaultError::Corrupt);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| VaultError::Corrupt)?;
        let text = String::from_utf8(plain).map_err(|_| VaultError::Corrupt)?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::new(&EncryptionSettings::random())
    }

    #[test]
    fn round_trip_and_random_nonce() {
        let v = vault();
        let secret = SecretString::from("refresh-token-123");
        let a = v.seal(&secret, "ctx").unwrap();
        let b = v.seal(&secret, "ctx").unwrap();
        assert_ne!(a.bytes, b.bytes, "nonces must differ");
        assert!(!a.bytes.windows(7).any(|w| w == b"refresh"));
        assert_eq!(
            v.open(&a, "ctx").unwrap().expose_secret(),
            "refresh-token-123"
        );
        assert!(!format!("{a:?}").contains("refresh"));
    }

    #[test]
    fn wrong_context_or_tamper_fails() {
        let v = vault();
        let mut s = v.seal(&SecretString::from("x"), "row-1").unwrap();
        assert!(matches!(v.open(&s, "row-2"), Err(VaultError::Corrupt)));
        let last = s.bytes.len() - 1;
        s.bytes[last] ^= 1;
        assert!(matches!(v.open(&s, "row-1"), Err(VaultError::Corrupt)));
    }

    #[test]
    fn old_keys_still_open_after_rotation() {
        let one = EncryptionSettings::random();
        let sealed = Vault::new(&one)
            .seal(&SecretString::from("old"), "c")
            .unwrap();
        let mut two = EncryptionSettings::random();
        two.keys.insert("k0".into(), one.keys["k1"].clone());
        // Same id "k1" in both: rename the old one to k0 to simulate rotation.
        let sealed = Sealed {
            key_id: "k0".into(),
            ..sealed
        };
        let v = Vault::new(&two);
        assert_eq!(v.open(&sealed, "c").unwrap().expose_secret(), "old");
        assert_eq!(
            v.seal(&SecretString::from("new"), "c").unwrap().key_id,
            "k1"
        );
    }
}
