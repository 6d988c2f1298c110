//! What the oracle reads of an item, on either side, from the emulators' own JSON: its content
//! key (contacts: name and primary e-mail; tasks: subject and due date; events: subject and
//! start), the same string on both sides for the same item, and its *marker*, the one field the
//! workload edits (contacts: job title; tasks: notes; events: location). Computed here from the
//! raw payloads rather than through the connectors' mapping, so that a mapping bug shows up as a
//! lost and an extra item instead of being shared by the system and its judge.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Contact,
    Task,
    Event,
}

pub const KINDS: [Kind; 3] = [Kind::Contact, Kind::Task, Kind::Event];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Outlook,
    Zoho,
}

pub const SIDES: [Side; 2] = [Side::Outlook, Side::Zoho];

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Outlook => Side::Zoho,
            Side::Zoho => Side::Outlook,
        }
    }
}

impl Kind {
    /// sync-service's name of the kind (`links.kind`, `kind_progress.kind`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Contact => "contact",
            Kind::Task => "task",
            Kind::Event => "event",
        }
    }

    /// The sandbox control API's collection of a mailbox.
    pub fn outlook_collection(self) -> &'static str {
        match self {
            Kind::Contact => "contacts",
            Kind::Task => "tasks",
            Kind::Event => "events",
        }
    }

    /// The Zoho CRM module.
    pub fn zoho_module(self) -> &'static str {
        match self {
            Kind::Contact => "Contacts",
            Kind::Task => "Tasks",
            Kind::Event => "Events",
        }
    }
}

fn s(value: &Value) -> String {
    value.as_str().unwrap_or_default().trim().to_string()
}

fn lower(value: &Value) -> String {
    s(value).to_lowercase()
}

/// `2026-11-26T15:00` from Graph's `dateTime` in UTC (`2026-11-26T15:00:00.0000000`).
fn graph_minute(value: &Value) -> String {
    s(value).chars().take(16).collect()
}

/// `2026-11-26T15:00` (UTC) from Zoho's `2026-11-27T00:00:00+09:00`.
fn zoho_minute(value: &Value) -> String {
    chrono::DateTime::parse_from_rfc3339(&s(value))
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The item's content key, `None` when it is not an item the sync covers (an event's exception,
/// a task of another list).
pub fn key(kind: Kind, side: Side, item: &Value, task_list: &str) -> Option<String> {
    Some(match (kind, side) {
        (Kind::Contact, Side::Outlook) => format!(
            "{}|{}|{}",
            lower(&item["givenName"]),
            lower(&item["surname"]),
            lower(&item["emailAddresses"][0]["address"])
        ),
        (Kind::Contact, Side::Zoho) => format!(
            "{}|{}|{}",
            lower(&item["First_Name"]),
            lower(&item["Last_Name"]),
            lower(&item["Email"])
        ),
        (Kind::Task, Side::Outlook) => {
            if item["listId"].as_str() != Some(task_list) {
                return None;
            }
            let due: String = s(&item["dueDateTime"]["dateTime"])
                .chars()
                .take(10)
                .collect();
            format!("{}|{due}", lower(&item["title"]))
        }
        (Kind::Task, Side::Zoho) => format!("{}|{}", lower(&item["Subject"]), s(&item["Due_Date"])),
        (Kind::Event, Side::Outlook) => {
            if item["type"] == "exception" || item["type"] == "occurrence" {
                return None;
            }
            format!(
                "{}|{}",
                lower(&item["subject"]),
                graph_minute(&item["start"]["dateTime"])
            )
        }
        (Kind::Event, Side::Zoho) => format!(
            "{}|{}",
            lower(&item["Event_Title"]),
            zoho_minute(&item["Start_DateTime"])
        ),
    })
}

/// The field the workload edits, whitespace-trimmed (absent and empty are the same).
pub fn marker(kind: Kind, side: Side, item: &Value) -> String {
    match (kind, side) {
        (Kind::Contact, Side::Outlook) => s(&item["jobTitle"]),
        (Kind::Contact, Side::Zoho) => s(&item["Title"]),
        (Kind::Task, Side::Outlook) => s(&item["body"]["content"]),
        (Kind::Task, Side::Zoho) => s(&item["Description"]),
        (Kind::Event, Side::Outlook) => s(&item["location"]["displayName"]),
        (Kind::Event, Side::Zoho) => s(&item["Venue"]),
    }
}

pub fn id(item: &Value) -> String {
    s(&item["id"])
}

/// The link whose create made the item, from the identity our connectors write on their copies
/// (Graph: the single-value extended property, as the emulator's control API lists it; Zoho: the "Outlook
/// Sync Link" field): its value begins with the link id. `None` for an item no create of ours
/// made.
pub fn made_by(side: Side, item: &Value) -> Option<String> {
    let link = |value: &Value| -> Option<String> {
        let first = value.as_str()?.split_whitespace().next()?;
        uuid::Uuid::parse_str(first).ok().map(|u| u.to_string())
    };
    match side {
        Side::Outlook => item["singleValueExtendedProperties"]
            .as_array()?
            .iter()
            .find_map(|p| link(&p["value"])),
        Side::Zoho => link(&item["Outlook_Sync_Link"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_copy_names_the_link_that_made_it() {
        let link = "0b6f1f7e-8a52-4f7e-9d3c-2f1f0b6e7a11";
        let outlook = json!({"id": "o1", "singleValueExtendedProperties":
            [{"id": "String {66f5a359-4659-4830-9070-00040ec6ac6e} Name link", "value": format!("{link} z1")}]});
        let zoho = json!({"id": "z1", "Outlook_Sync_Link": link});
        assert_eq!(made_by(Side::Outlook, &outlook).as_deref(), Some(link));
        assert_eq!(made_by(Side::Zoho, &zoho).as_deref(), Some(link));
        assert_eq!(
            made_by(Side::Zoho, &json!({"Outlook_Sync_Link": "typed by hand"})),
            None
        );
        assert_eq!(made_by(Side::Outlook, &json!({"id": "o2"})), None);
    }

    #[test]
    fn the_same_item_has_the_same_key_on_both_sides() {
        let outlook = json!({"givenName": "Chloé", "surname": "Lefèvre",
            "emailAddresses": [{"address": "Chloe@Contoso.example"}], "jobTitle": " Lead "});
        let zoho = json!({"First_Name": "Chloé", "Last_Name": "Lefèvre",
            "Email": "chloe@contoso.example", "Title": "Lead"});
        assert_eq!(
            key(Kind::Contact, Side::Outlook, &outlook, ""),
            key(Kind::Contact, Side::Zoho, &zoho, "")
        );
        assert_eq!(marker(Kind::Contact, Side::Outlook, &outlook), "Lead");

        let task_o = json!({"title": "Call", "listId": "L",
            "dueDateTime": {"dateTime": "2026-12-14T00:00:00.0000000", "timeZone": "UTC"}});
        let task_z = json!({"Subject": "Call", "Due_Date": "2026-12-14"});
        assert_eq!(
            key(Kind::Task, Side::Outlook, &task_o, "L"),
            key(Kind::Task, Side::Zoho, &task_z, "")
        );
        assert_eq!(key(Kind::Task, Side::Outlook, &task_o, "other list"), None);

        let event_o = json!({"subject": "Demo", "type": "singleInstance",
            "start": {"dateTime": "2026-11-26T15:00:00.0000000", "timeZone": "UTC"}});
        let event_z = json!({"Event_Title": "Demo", "Start_DateTime": "2026-11-27T00:00:00+09:00"});
        assert_eq!(
            key(Kind::Event, Side::Outlook, &event_o, ""),
            key(Kind::Event, Side::Zoho, &event_z, "")
        );
        let exception = json!({"subject": "Demo", "type": "exception",
            "start": {"dateTime": "2026-11-26T15:00:00.0000000"}});
        assert_eq!(key(Kind::Event, Side::Outlook, &exception, ""), None);
    }
}
