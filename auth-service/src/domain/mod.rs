//! Parsed values: parse at the edge, trust inside.

mod email;
mod provider;

pub use email::{EmailAddress, EmailError};
pub use provider::{MicrosoftTenant, Provider, ZohoDataCentre};

use serde::{Deserialize, Serialize};

/// A user of this system.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct UserId(pub uuid::Uuid);

impl UserId {
    pub fn new() -> Self {
        UserId(uuid::Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(UserId)
    }
}
