//! Application-specific passwords: for scripts and API clients of a user with two-factor
//! sign-in, who must not put the main password into them. Named, shown once, listed, revoked;
//! stored as Argon2id hashes. The first group of four characters is stored in the clear as a
//! lookup key, so sign-in hashes only the matching candidate, not every app password the user has.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use uuid::Uuid;

use crate::domain::UserId;
use crate::error::{Error, Result};
use crate::startup::AppState;
use crate::store::app_passwords as store;
use crate::store::audit::{self, Event};

/// No 0/o, 1/l/i: people type these.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const LEN: usize = 16;
pub const MAX_PER_USER: usize = 50;

/// `abcd-efgh-jkmn-pqrs`: about 79 random bits.
fn generate() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let raw: String = (0..LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    raw.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

/// Without dashes, spaces or case; `None` if it cannot be an app password at all.
fn normalise(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// Creates one; the plaintext is returned this once and never again.
pub async fn create(state: &AppState, user_id: UserId, name: &str) -> Result<(Uuid, SecretString)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(
            "invalid_name",
            "name",
            "name must be 1 to 100 characters",
        ));
    }
    if store::list_active(&state.pool, user_id, None).await?.len() >= MAX_PER_USER {
        return Err(Error::Conflict {
            code: "too_many_app_passwords",
            message: "revoke an app password first",
        });
    }
    let password = generate();
    let normalised = normalise(&password)
        .ok_or_else(|| anyhow::anyhow!("generated app password is malformed"))?;
    let hash = state
        .passwords
        .hash(&SecretString::from(normalised.clone()))
        .await?;
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    store::insert(&mut *tx, id, user_id, name, &normalised[..4], &hash).await?;
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::AppPasswordCreated,
        None,
        json!({"app_password_id": id, "name": name}),
    )
    .await?;
    tx.commit().await?;
    Ok((id, SecretString::from(password)))
}

/// The app password `presented` matches, if any.
pub async fn verify(
    state: &AppState,
    user_id: UserId,
    presented: &SecretString,
) -> Result<Option<Uuid>> {
    let Some(normalised) = normalise(presented.expose_secret()) else {
        return Ok(None);
    };
    let candidates = store::list_active(&state.pool, user_id, Some(&normalised[..4])).await?;
    let normalised = SecretString::from(normalised);
    for candidate in candidates {
        if state
            .passwords
            .verify(&normalised, Some(&candidate.password_hash))
            .await?
        {
            store::touch(&state.pool, candidate.id).await?;
            return Ok(Some(candidate.id));
        }
    }
    Ok(None)
}

pub async fn revoke(state: &AppState, user_id: UserId, id: Uuid) -> Result<()> {
    let mut tx = state.pool.begin().await?;
    if !store::revoke(&mut tx, user_id, id).await? {
        return Err(Error::NotFound {
            code: "app_password_not_found",
            message: "no such app password",
        });
    }
    audit::record(
        &mut *tx,
        Some(user_id),
        Event::AppPasswordRevoked,
        None,
        json!({"app_password_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_normalise() {
        let p = generate();
        assert_eq!(p.len(), 19);
        assert_eq!(p.matches('-').count(), 3);
        let n = normalise(&p).unwrap();
        assert_eq!(normalise(&p.to_uppercase().replace('-', " ")).unwrap(), n);
        assert!(normalise("correct horse battery").is_none());
        assert!(normalise("0000-0000-0000-0000").is_none());
    }
}
