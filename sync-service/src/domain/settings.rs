//! A user's sync settings, validated when they come in: everything inside trusts them.

use serde::{Deserialize, Serialize};
use sync_model::{ItemKind, Side};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    #[default]
    ZohoWins,
    OutlookWins,
    /// Hold the conflict until the user picks.
    Review,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    TwoWay,
    OutlookToZoho,
    ZohoToOutlook,
}

impl Direction {
    /// Whether a change read on `from` may be written to the other side.
    pub fn allows(self, from: Side) -> bool {
        match self {
            Direction::TwoWay => true,
            Direction::OutlookToZoho => from == Side::Outlook,
            Direction::ZohoToOutlook => from == Side::Zoho,
        }
    }
}

/// Settings of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindSettings {
    pub enabled: bool,
    #[serde(default)]
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSettings {
    /// The Outlook contact folder that syncs (its Graph id).
    pub contact_folder_id: Option<String>,
    pub contacts: KindSettings,
    #[serde(default)]
    pub conflict_rule: ConflictRule,
    /// Seconds between polls of each side.
    pub poll_interval_secs: u32,
    #[serde(default)]
    pub paused: bool,
}

/// A setting that cannot be accepted: the field and the reason, for a 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidSetting {
    pub field: &'static str,
    pub reason: String,
}

pub const MIN_POLL_INTERVAL_SECS: u32 = 1;
pub const MAX_POLL_INTERVAL_SECS: u32 = 24 * 3600;

impl UserSettings {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        if !(MIN_POLL_INTERVAL_SECS..=MAX_POLL_INTERVAL_SECS).contains(&self.poll_interval_secs) {
            return Err(InvalidSetting {
                field: "poll_interval_secs",
                reason: format!(
                    "must be between {MIN_POLL_INTERVAL_SECS} and {MAX_POLL_INTERVAL_SECS}"
                ),
            });
        }
        if self.contacts.enabled
            && self
                .contact_folder_id
                .as_deref()
                .is_none_or(|f| f.trim().is_empty())
        {
            return Err(InvalidSetting {
                field: "contact_folder_id",
                reason: "choose the Outlook contact folder to sync".into(),
            });
        }
        Ok(())
    }

    /// The direction of `kind`, or `None` when it does not sync (or the user paused).
    pub fn direction(&self, kind: ItemKind) -> Option<Direction> {
        if self.paused {
            return None;
        }
        match kind {
            ItemKind::Contact => self.contacts.enabled.then_some(self.contacts.direction),
            // Tasks and events join when their mapping does.
            ItemKind::Task | ItemKind::Event => None,
        }
    }

    /// What `side`'s connector should watch for `kind`.
    pub fn container(&self, side: Side, kind: ItemKind) -> Option<String> {
        match (side, kind) {
            (Side::Outlook, ItemKind::Contact) => self.contact_folder_id.clone(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> UserSettings {
        UserSettings {
            contact_folder_id: Some("AAMkFolder".into()),
            contacts: KindSettings {
                enabled: true,
                direction: Direction::TwoWay,
            },
            conflict_rule: ConflictRule::ZohoWins,
            poll_interval_secs: 60,
            paused: false,
        }
    }

    #[test]
    fn contacts_need_a_folder() {
        let settings = UserSettings {
            contact_folder_id: None,
            ..valid()
        };
        assert_eq!(settings.validate().unwrap_err().field, "contact_folder_id");
        assert!(valid().validate().is_ok());
    }

    #[test]
    fn poll_interval_is_bounded() {
        let settings = UserSettings {
            poll_interval_secs: 0,
            ..valid()
        };
        assert_eq!(settings.validate().unwrap_err().field, "poll_interval_secs");
    }

    #[test]
    fn paused_means_no_direction() {
        assert_eq!(
            valid().direction(ItemKind::Contact),
            Some(Direction::TwoWay)
        );
        let paused = UserSettings {
            paused: true,
            ..valid()
        };
        assert_eq!(paused.direction(ItemKind::Contact), None);
    }

    #[test]
    fn one_way_directions() {
        assert!(Direction::OutlookToZoho.allows(Side::Outlook));
        assert!(!Direction::OutlookToZoho.allows(Side::Zoho));
        assert!(Direction::ZohoToOutlook.allows(Side::Zoho));
    }
}
