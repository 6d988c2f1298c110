//! Why a write failed: our own reasons as variants, a provider's own error code as it came.
//!
//! On the wire and in storage a code is one string (`"create_unconfirmed"`, `"MANDATORY_NOT_FOUND"`),
//! so messages and links written before this type existed read back the same.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// A create whose answer was lost: the item may or may not exist on that side.
    CreateUnconfirmed,
    /// The provider refused our credentials; the user must connect the account again.
    ReconnectNeeded,
    /// The provider refused the token once; the connector retries with a fresh one.
    Unauthorized,
    /// The provider asked us to slow down and the retries ran out.
    Throttled,
    /// A transient provider error outlasted the retries.
    Transient,
    /// The provider answered something we cannot read.
    MalformedResponse,
    /// The provider's answer named no result for this record.
    NoResult,
    /// The connector produced no outcome for this command (a bug guard).
    NoOutcome,
    /// The folder, list or calendar to write to does not exist any more.
    NoContainer,
    /// A discovered item's kind or source is not one we know.
    UnknownDiscovery,
    /// The item is of another kind on that side than the link says.
    KindMismatch,
    /// A value that side cannot hold (an unsupported recurrence, say).
    UnsupportedValue,
    /// A delete the provider refused.
    DeleteFailed,
    /// The provider's change cursor expired: that side must be read again in full.
    ResyncRequired,
    /// A links rebuild found no partner for the item; it creates nothing.
    LinksRebuildUnpaired,
    /// The provider's own error code (`MANDATORY_NOT_FOUND`, `ErrorInvalidProperty`, ...).
    Provider(String),
}

impl FailureCode {
    const OURS: [(FailureCode, &'static str); 15] = [
        (FailureCode::CreateUnconfirmed, "create_unconfirmed"),
        (FailureCode::ReconnectNeeded, "reconnect_needed"),
        (FailureCode::Unauthorized, "unauthorized"),
        (FailureCode::Throttled, "throttled"),
        (FailureCode::Transient, "transient"),
        (FailureCode::MalformedResponse, "malformed_response"),
        (FailureCode::NoResult, "no_result"),
        (FailureCode::NoOutcome, "no_outcome"),
        (FailureCode::NoContainer, "no_container"),
        (FailureCode::UnknownDiscovery, "unknown_discovery"),
        (FailureCode::KindMismatch, "kind_mismatch"),
        (FailureCode::UnsupportedValue, "unsupported_value"),
        (FailureCode::DeleteFailed, "delete_failed"),
        (FailureCode::ResyncRequired, "resync_required"),
        (FailureCode::LinksRebuildUnpaired, "links_rebuild_unpaired"),
    ];

    /// A provider's code as it came. One spelled like ours is taken as ours: providers spell
    /// theirs in capitals or camel case, ours are lower snake case.
    pub fn provider(code: impl Into<String>) -> Self {
        Self::parse(code.into())
    }

    fn parse(code: String) -> Self {
        Self::OURS
            .iter()
            .find(|(_, name)| *name == code)
            .map(|(ours, _)| ours.clone())
            .unwrap_or(FailureCode::Provider(code))
    }

    pub fn as_str(&self) -> &str {
        match self {
            FailureCode::Provider(code) => code,
            ours => Self::OURS
                .iter()
                .find(|(known, _)| known == ours)
                .map(|(_, name)| *name)
                .expect("every variant but Provider is in OURS"),
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FailureCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_ours_round_trips_through_its_wire_name() {
        for (code, name) in FailureCode::OURS {
            assert_eq!(code.as_str(), name);
            let wire = serde_json::to_string(&code).unwrap();
            assert_eq!(wire, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<FailureCode>(&wire).unwrap(), code);
        }
    }

    #[test]
    fn a_providers_code_is_kept_as_it_came() {
        let code: FailureCode = serde_json::from_str("\"MANDATORY_NOT_FOUND\"").unwrap();
        assert_eq!(code, FailureCode::Provider("MANDATORY_NOT_FOUND".into()));
        assert_eq!(code.to_string(), "MANDATORY_NOT_FOUND");
        assert_eq!(
            FailureCode::provider("create_unconfirmed"),
            FailureCode::CreateUnconfirmed
        );
    }
}
