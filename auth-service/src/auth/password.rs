//! Argon2id password hashing. Hashing is CPU- and memory-heavy by design, so it runs on the
//! blocking pool, bounded by a semaphore: a burst of sign-ins cannot starve the async workers or
//! exhaust memory. The queue in front of it is bounded too: past `parallel_hashes +
//! queued_hashes` hashes at once, a request is refused at once with [`Error::Busy`] (503 and
//! `Retry-After`) instead of waiting behind a flood, so an honest sign-in waits at most a few
//! hashes' time or is told to come back. Unknown users are checked against a dummy hash, so the
//! answer takes as long whether or not the account exists.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::{Error, Result};
use crate::settings::PasswordSettings;

#[derive(Debug)]
pub struct Passwords {
    params: Params,
    /// Hashes running at once.
    permits: Arc<Semaphore>,
    /// Hashes running or waiting: a request that gets none of these is refused, not queued.
    admission: Arc<Semaphore>,
    dummy: OnceCell<String>,
}

/// How long a refused hash is told to wait (`Retry-After`).
const BUSY_RETRY_AFTER_SECS: u64 = 1;

impl Passwords {
    pub fn new(settings: &PasswordSettings) -> anyhow::Result<Self> {
        let params = Params::new(settings.memory_kib, settings.iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let parallel = settings.parallel_hashes.max(1);
        Ok(Passwords {
            params,
            permits: Arc::new(Semaphore::new(parallel)),
            admission: Arc::new(Semaphore::new(parallel + settings.queued_hashes)),
            dummy: OnceCell::new(),
        })
    }

    /// Runs `work` on the blocking pool once a hashing permit is free; refuses at once when
    /// the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T> {
        let _admitted = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy {
                retry_after: BUSY_RETRY_AFTER_SECS,
            })?;
        let _permit = self
            .permits
            .acquire()
            .await
            .context("hashing is shut down")?;
        Ok(tokio::task::spawn_blocking(work)
            .await
            .context("hashing task failed")??)
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// A PHC string (`$argon2id$v=19$m=...`), parameters included, so they can change later.
    pub async fn hash(&self, password: &SecretString) -> Result<String> {
        let password = password.clone();
        let params = self.params.clone();
        self.run(move || {
            let mut salt = [0u8; 16];
            rand::fill(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
            Self::argon2(params)
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
        })
        .await
    }

    /// Whether `password` matches `hash`; with no hash (unknown user), checks a dummy one and
    /// answers false.
    pub async fn verify(&self, password: &SecretString, hash: Option<&str>) -> Result<bool> {
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy_hash().await?.to_owned(), false),
        };
        let password = password.clone();
        let params = self.params.clone();
        let matches = self
            .run(move || {
                let parsed = PasswordHash::new(&hash)
                    .map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
                Ok::<_, anyhow::Error>(
                    Self::argon2(params)
                        .verify_password(password.expose_secret().as_bytes(), &parsed)
                        .is_ok(),
                )
            })
            .await?;
        Ok(matches && real)
    }

    async fn dummy_hash(&self) -> Result<&str> {
        self.dummy
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                rand::fill(&mut random);
                self.hash(&SecretString::from(hex_string(&random))).await
            })
            .await
            .map(String::as_str)
    }
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The password rules: long enough to resist guessing, short enough not to be a hashing DoS.
pub fn check_strength(password: &SecretString) -> Result<(), &'static str> {
    let chars = password.expose_secret().chars().count();
    if chars < 10 {
        return Err("the password must have at least 10 characters");
    }
    if password.expose_secret().len() > 1024 {
        return Err("the password must have at most 1024 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(&PasswordSettings {
            memory_kib: 256,
            iterations: 1,
            parallel_hashes: 2,
            queued_hashes: 8,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let p = cheap();
        let secret = SecretString::from("correct horse battery staple");
        let hash = p.hash(&secret).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{hash}");
        assert!(p.verify(&secret, Some(&hash)).await.unwrap());
        assert!(
            !p.verify(&SecretString::from("wrong"), Some(&hash))
                .await
                .unwrap()
        );
        // Unknown users never match, even with the dummy's own input.
        assert!(!p.verify(&secret, None).await.unwrap());
    }

    #[test]
    fn strength() {
        assert!(check_strength(&SecretString::from("short")).is_err());
        assert!(check_strength(&SecretString::from("long enough")).is_ok());
    }
}
