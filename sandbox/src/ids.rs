//! Identifier and token shapes. Graph ids look like Exchange ids (URL-safe base64 ending in `=`,
//! so clients must put them in paths unmodified); change keys use standard base64 and may contain
//! `/` and `+`, as real ones do. Zoho ids are 19-digit numbers, growing over time like real ones
//! (so `sort_by=id` is also creation order).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::Rng;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill(&mut bytes[..]);
    bytes
}

/// An Outlook item or folder id.
pub fn graph_id() -> String {
    format!("AAMkA{}", URL_SAFE.encode(random_bytes::<46>()))
}

/// An Outlook change key (also the payload of the item's etag).
pub fn change_key() -> String {
    format!("EQAAABYAAAA{}", STANDARD.encode(random_bytes::<15>()))
}

/// A random opaque token with a readable prefix.
pub fn token(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<24>()))
}

/// A random lower-case hex string.
pub fn hex(len_bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..len_bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Base64url without padding, for self-describing tokens.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Zoho-style ids for one org: a 7-digit org prefix and a 12-digit counter that grows by a small
/// random step, giving 19 digits that sort by creation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ZohoIds {
    prefix: u64,
    counter: u64,
}

impl ZohoIds {
    pub fn new() -> Self {
        let mut rng = rand::rng();
        ZohoIds {
            prefix: rng.random_range(1_000_000..10_000_000),
            counter: rng.random_range(200_000..900_000),
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.counter += rand::rng().random_range(1..=40);
        self.prefix * 1_000_000_000_000 + self.counter
    }
}
