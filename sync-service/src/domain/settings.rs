//! A user's sync settings, validated when they come in: everything inside trusts them.

use serde::{Deserialize, Serialize};
use sync_model::{ItemKind, Side};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    #[default]
    ZohoWins,
    OutlookWins,
    /// Hold the conflict until the user picks.
    Review,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KindSettings {
    pub enabled: bool,
    #[serde(default)]
    pub direction: Direction,
}

/// Which Outlook events sync, by category (the plugin's setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", content = "names", rename_all = "snake_case")]
pub enum CategoryFilter {
    /// Only events in the "Zoho" category (the default).
    #[default]
    ZohoOnly,
    All,
    Chosen(Vec<String>),
}

impl CategoryFilter {
    pub fn admits(&self, categories: &[String]) -> bool {
        let has = |name: &str| {
            categories
                .iter()
                .any(|c| c.trim().eq_ignore_ascii_case(name.trim()))
        };
        match self {
            CategoryFilter::ZohoOnly => has(super::engine::ZOHO_CATEGORY),
            CategoryFilter::All => true,
            CategoryFilter::Chosen(names) => names.iter().any(|n| has(n)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserSettings {
    /// The Outlook contact folder that syncs (its Graph id).
    pub contact_folder_id: Option<String>,
    pub contacts: KindSettings,
    /// The Microsoft To Do list that syncs.
    #[serde(default)]
    pub task_list_id: Option<String>,
    #[serde(default)]
    pub tasks: KindSettings,
    #[serde(default)]
    pub events: KindSettings,
    #[serde(default)]
    pub calendar_categories: CategoryFilter,
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

/// Calendar categories a user may choose at most, and the longest name (Outlook's limit).
pub const MAX_CATEGORIES: usize = 100;
pub const MAX_CATEGORY_NAME_CHARS: usize = 255;

/// The lowest floor a deployment may set (`SYNC_SERVICE_MIN_POLL_INTERVAL_SECS`, default
/// [`DEFAULT_MIN_POLL_INTERVAL_SECS`]): the tests and the local runner poll every second.
pub const MIN_POLL_INTERVAL_SECS: u32 = 1;
/// A production floor: polling faster spends the providers' API budgets for little gain.
pub const DEFAULT_MIN_POLL_INTERVAL_SECS: u32 = 60;
pub const MAX_POLL_INTERVAL_SECS: u32 = 24 * 3600;

impl UserSettings {
    /// The first field holding a NUL character, which no provider id or category name can
    /// contain (and Postgres text cannot store): the request is refused with 400 before
    /// anything else is checked.
    pub fn field_with_nul(&self) -> Option<&'static str> {
        let has_nul = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains('\0'));
        if has_nul(&self.contact_folder_id) {
            return Some("contact_folder_id");
        }
        if has_nul(&self.task_list_id) {
            return Some("task_list_id");
        }
        match &self.calendar_categories {
            CategoryFilter::Chosen(names) if names.iter().any(|n| n.contains('\0')) => {
                Some("calendar_categories")
            }
            _ => None,
        }
    }

    /// `min_poll_interval_secs`: this deployment's floor on the poll interval.
    pub fn validate(&self, min_poll_interval_secs: u32) -> Result<(), InvalidSetting> {
        let floor = min_poll_interval_secs.max(MIN_POLL_INTERVAL_SECS);
        if !(floor..=MAX_POLL_INTERVAL_SECS).contains(&self.poll_interval_secs) {
            return Err(InvalidSetting {
                field: "poll_interval_secs",
                reason: format!(
                    "must be between {floor} and {MAX_POLL_INTERVAL_SECS} seconds on this deployment"
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
        if self.tasks.enabled
            && self
                .task_list_id
                .as_deref()
                .is_none_or(|l| l.trim().is_empty())
        {
            return Err(InvalidSetting {
                field: "task_list_id",
                reason: "choose the Microsoft To Do list to sync".into(),
            });
        }
        if let CategoryFilter::Chosen(names) = &self.calendar_categories
            && (names.len() > MAX_CATEGORIES
                || names
                    .iter()
                    .any(|n| n.chars().count() > MAX_CATEGORY_NAME_CHARS))
        {
            return Err(InvalidSetting {
                field: "calendar_categories",
                reason: format!(
                    "at most {MAX_CATEGORIES} categories of at most {MAX_CATEGORY_NAME_CHARS} characters each"
                ),
            });
        }
        if let CategoryFilter::Chosen(names) = &self.calendar_categories
            && names.iter().all(|n| n.trim().is_empty())
        {
            return Err(InvalidSetting {
                field: "calendar_categories",
                reason: "choose at least one category, or sync the \"Zoho\" category or all".into(),
            });
        }
        Ok(())
    }

    /// Whether an item read from `side` is within what the user syncs (Outlook events: the
    /// category filter). An item outside stops syncing; it is never deleted elsewhere for it.
    pub fn in_scope(&self, side: Side, item: &sync_model::Item) -> bool {
        match (side, item) {
            (Side::Outlook, sync_model::Item::Event(event)) => {
                self.calendar_categories.admits(&event.categories)
            }
            _ => true,
        }
    }

    /// Whether the user switched `kind` on (paused or not).
    pub fn kind_enabled(&self, kind: ItemKind) -> bool {
        match kind {
            ItemKind::Contact => self.contacts.enabled,
            ItemKind::Task => self.tasks.enabled,
            ItemKind::Event => self.events.enabled,
        }
    }

    /// The direction of `kind`, or `None` when it does not sync (or the user paused).
    pub fn direction(&self, kind: ItemKind) -> Option<Direction> {
        if self.paused {
            return None;
        }
        let kind = match kind {
            ItemKind::Contact => &self.contacts,
            ItemKind::Task => &self.tasks,
            ItemKind::Event => &self.events,
        };
        kind.enabled.then_some(kind.direction)
    }

    /// Categories `side`'s mailbox must have for `kind` to sync as chosen: the "Zoho" category
    /// when the calendar filter names it (created when missing).
    pub fn required_categories(&self, side: Side, kind: ItemKind) -> Vec<String> {
        let zoho = super::engine::ZOHO_CATEGORY;
        let names_zoho = match &self.calendar_categories {
            CategoryFilter::ZohoOnly => true,
            CategoryFilter::All => false,
            CategoryFilter::Chosen(names) => {
                names.iter().any(|n| n.trim().eq_ignore_ascii_case(zoho))
            }
        };
        if side == Side::Outlook && kind == ItemKind::Event && names_zoho {
            vec![zoho.to_owned()]
        } else {
            Vec::new()
        }
    }

    /// What `side`'s connector should watch for `kind`.
    pub fn container(&self, side: Side, kind: ItemKind) -> Option<String> {
        match (side, kind) {
            (Side::Outlook, ItemKind::Contact) => self.contact_folder_id.clone(),
            (Side::Outlook, ItemKind::Task) => self.task_list_id.clone(),
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
            task_list_id: None,
            tasks: KindSettings::default(),
            events: KindSettings::default(),
            calendar_categories: CategoryFilter::default(),
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
        assert_eq!(settings.validate(1).unwrap_err().field, "contact_folder_id");
        assert!(valid().validate(1).is_ok());
    }

    #[test]
    fn poll_interval_is_bounded() {
        let settings = UserSettings {
            poll_interval_secs: 0,
            ..valid()
        };
        assert_eq!(
            settings.validate(1).unwrap_err().field,
            "poll_interval_secs"
        );
        assert_eq!(
            settings.validate(0).unwrap_err().field,
            "poll_interval_secs"
        );
    }

    #[test]
    fn poll_intervals_below_the_deployments_floor_are_refused() {
        let every = |secs| UserSettings {
            poll_interval_secs: secs,
            ..valid()
        };
        let floor = DEFAULT_MIN_POLL_INTERVAL_SECS;
        let refused = every(1).validate(floor).unwrap_err();
        assert_eq!(refused.field, "poll_interval_secs");
        assert!(refused.reason.contains("60"), "{}", refused.reason);
        assert_eq!(
            every(59).validate(floor).unwrap_err().field,
            "poll_interval_secs"
        );
        assert!(every(60).validate(floor).is_ok());
        assert!(
            every(1).validate(1).is_ok(),
            "a low floor (tests, run-local)"
        );
        assert!(every(MAX_POLL_INTERVAL_SECS + 1).validate(1).is_err());
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
    fn nul_characters_and_unbounded_category_lists_are_refused() {
        let with = |filter: CategoryFilter, folder: &str| UserSettings {
            contact_folder_id: Some(folder.into()),
            calendar_categories: filter,
            ..valid()
        };
        assert_eq!(
            with(CategoryFilter::All, "fo\0lder").field_with_nul(),
            Some("contact_folder_id")
        );
        let nul_name = with(CategoryFilter::Chosen(vec!["a\0b".into()]), "f");
        assert_eq!(nul_name.field_with_nul(), Some("calendar_categories"));
        assert_eq!(with(CategoryFilter::All, "f").field_with_nul(), None);

        let many = with(
            CategoryFilter::Chosen((0..=MAX_CATEGORIES).map(|i| format!("c{i}")).collect()),
            "f",
        );
        assert_eq!(many.validate(1).unwrap_err().field, "calendar_categories");
        let long = with(
            CategoryFilter::Chosen(vec!["x".repeat(MAX_CATEGORY_NAME_CHARS + 1)]),
            "f",
        );
        assert_eq!(long.validate(1).unwrap_err().field, "calendar_categories");
        let enough = with(
            CategoryFilter::Chosen((0..MAX_CATEGORIES).map(|i| format!("c{i}")).collect()),
            "f",
        );
        assert!(enough.validate(1).is_ok());
    }

    #[test]
    fn tasks_need_a_list_and_chosen_categories_need_names() {
        let tasks = UserSettings {
            tasks: KindSettings {
                enabled: true,
                direction: Direction::TwoWay,
            },
            ..valid()
        };
        assert_eq!(tasks.validate(1).unwrap_err().field, "task_list_id");
        let chosen = UserSettings {
            calendar_categories: CategoryFilter::Chosen(vec![" ".into()]),
            ..valid()
        };
        assert_eq!(chosen.validate(1).unwrap_err().field, "calendar_categories");
    }

    #[test]
    fn category_filter() {
        let cats = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(CategoryFilter::ZohoOnly.admits(&cats(&["zoho"])));
        assert!(!CategoryFilter::ZohoOnly.admits(&cats(&["Red"])));
        assert!(CategoryFilter::All.admits(&cats(&[])));
        assert!(CategoryFilter::Chosen(cats(&["Customers"])).admits(&cats(&["customers", "Red"])));
        assert!(!CategoryFilter::Chosen(cats(&["Customers"])).admits(&cats(&["Red"])));
    }

    #[test]
    fn the_zoho_category_is_required_only_when_the_filter_names_it() {
        let events = |filter| UserSettings {
            calendar_categories: filter,
            ..valid()
        };
        let required = |s: &UserSettings| s.required_categories(Side::Outlook, ItemKind::Event);
        assert_eq!(required(&events(CategoryFilter::ZohoOnly)), vec!["Zoho"]);
        assert!(required(&events(CategoryFilter::All)).is_empty());
        let chosen = events(CategoryFilter::Chosen(vec![" zoho ".into(), "Red".into()]));
        assert_eq!(required(&chosen), vec!["Zoho"]);
        assert!(required(&events(CategoryFilter::Chosen(vec!["Red".into()]))).is_empty());
        assert!(
            events(CategoryFilter::ZohoOnly)
                .required_categories(Side::Zoho, ItemKind::Event)
                .is_empty()
        );
    }

    #[test]
    fn one_way_directions() {
        assert!(Direction::OutlookToZoho.allows(Side::Outlook));
        assert!(!Direction::OutlookToZoho.allows(Side::Zoho));
        assert!(Direction::ZohoToOutlook.allows(Side::Zoho));
    }
}
