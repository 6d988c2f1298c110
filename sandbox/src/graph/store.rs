//! Mailboxes, their contact folders, contacts, To Do lists and tasks, and the per-mailbox change
//! sequence that drives delta queries. Every write takes the next sequence number; a deleted item
//! leaves a tombstone carrying the sequence number of its deletion, so a delta round can report
//! it. Contacts, To Do lists and tasks are all [`Item`]s (server fields plus a property map);
//! calendar events live in [`crate::graph::calendar`].

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::calendar::event::CalendarStore;
use crate::{ids, time};

/// Access tokens live one hour, as Microsoft's do (`expires_in` 3599).
pub const ACCESS_TOKEN_SECONDS: i64 = 3599;

/// Everything Graph-side; serialisable for the snapshot file.
#[derive(Default, Serialize, Deserialize)]
pub struct GraphWorld {
    pub mailboxes: HashMap<String, Mailbox>,
    pub access_tokens: HashMap<String, Grant>,
    /// Refresh token → mailbox id. Redeemed tokens stay valid, as Microsoft's do.
    pub refresh_tokens: HashMap<String, String>,
    /// Authorization codes waiting to be redeemed (not kept in snapshots).
    #[serde(skip)]
    pub codes: HashMap<String, crate::oauth::PendingCode>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub mailbox_id: String,
    pub expires_at: DateTime<Utc>,
    /// The OAuth client the token endpoint issued it to; `None` for a token minted by the
    /// control API (it stands for another app, such as the user's own Outlook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl GraphWorld {
    /// A new mailbox with its default "Contacts" folder; returns its id.
    pub fn create_mailbox(
        &mut self,
        display_name: Option<String>,
        email: Option<String>,
    ) -> String {
        let number = self.mailboxes.len() + 1;
        let id = uuid::Uuid::new_v4().to_string();
        let display_name = display_name.unwrap_or_else(|| format!("Sandbox User {number}"));
        let email = email.unwrap_or_else(|| format!("user{number}@sandbox.onmicrosoft.com"));
        let root_folder_id = ids::graph_id();
        let default_folder = Folder {
            id: ids::graph_id(),
            display_name: "Contacts".to_owned(),
            parent_folder_id: root_folder_id.clone(),
        };
        let mut mailbox = Mailbox {
            id: id.clone(),
            display_name,
            email,
            root_folder_id,
            default_folder_id: default_folder.id.clone(),
            folders: vec![default_folder],
            contacts: HashMap::new(),
            todo_lists: HashMap::new(),
            tasks: HashMap::new(),
            default_list_id: String::new(),
            calendar: CalendarStore::default(),
            tombstones: Vec::new(),
            seq: 0,
            delta_epoch: 1,
            cancelled_occurrences: true,
        };
        let mut list = Map::new();
        list.insert("displayName".into(), Value::String("Tasks".into()));
        list.insert(
            "wellknownListName".into(),
            Value::String("defaultList".into()),
        );
        let list = mailbox.insert_item(Collection::TodoLists, TODO_LISTS, list);
        mailbox.default_list_id = list.id;
        self.mailboxes.insert(id.clone(), mailbox);
        id
    }

    pub fn issue_refresh_token(&mut self, mailbox_id: &str) -> String {
        let token = ids::token("sbx-graph-rt.");
        self.refresh_tokens
            .insert(token.clone(), mailbox_id.to_owned());
        token
    }

    /// A JWT-shaped (but unsigned, opaque to the sandbox) access token, for `client_id` (`None`:
    /// minted by the control API).
    pub fn issue_access_token(
        &mut self,
        mailbox_id: &str,
        client_id: Option<&str>,
    ) -> (String, i64) {
        let expires_at = time::in_seconds(ACCESS_TOKEN_SECONDS);
        let header = ids::b64(br#"{"typ":"JWT","alg":"none"}"#);
        let claims = serde_json::json!({
            "aud": "https://graph.microsoft.com",
            "oid": mailbox_id,
            "exp": expires_at.timestamp(),
            "jti": ids::hex(8),
        });
        let token = format!(
            "{header}.{}.{}",
            ids::b64(claims.to_string().as_bytes()),
            ids::hex(16)
        );
        self.access_tokens.insert(
            token.clone(),
            Grant {
                mailbox_id: mailbox_id.to_owned(),
                expires_at,
                client_id: client_id.map(str::to_owned),
            },
        );
        (token, ACCESS_TOKEN_SECONDS)
    }

    pub fn expire_access_tokens(&mut self) {
        let past = time::now() - chrono::Duration::seconds(1);
        for grant in self.access_tokens.values_mut() {
            grant.expires_at = past;
        }
    }
}

#[derive(Serialize, Deserialize)]
pub struct Mailbox {
    pub id: String,
    pub display_name: String,
    pub email: String,
    /// The invisible root that top-level folders name as their parent.
    pub root_folder_id: String,
    pub default_folder_id: String,
    pub folders: Vec<Folder>,
    pub contacts: HashMap<String, Contact>,
    /// To Do lists (container [`TODO_LISTS`]) and their tasks (container: the list id).
    pub todo_lists: HashMap<String, Item>,
    pub tasks: HashMap<String, Item>,
    /// The list called "Tasks" (`wellknownListName: defaultList`), which cannot be deleted.
    pub default_list_id: String,
    /// Calendars, events, master categories and calendar-view sync states.
    pub calendar: CalendarStore,
    pub tombstones: Vec<Tombstone>,
    seq: u64,
    /// Delta tokens carry the epoch they were issued in; bumping it expires them all.
    pub delta_epoch: u64,
    /// Whether a selected `cancelledOccurrences` is answered (Graph leaves it out for some
    /// mailboxes; clients must then find cancelled dates from the instances).
    #[serde(default = "yes")]
    pub cancelled_occurrences: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Folder {
    pub id: String,
    pub display_name: String,
    pub parent_folder_id: String,
}

/// The container of every To Do list.
pub const TODO_LISTS: &str = "todo";

/// Which map of a mailbox an item lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Contacts,
    TodoLists,
    Tasks,
}

pub type Contact = Item;

/// An Outlook item: its server fields and the properties that have been set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    /// The folder, list (tasks) or [`TODO_LISTS`] it is in.
    pub folder_id: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub change_key: String,
    /// Sequence number of the last change.
    pub seq: u64,
    /// Sequence number of the creation: the stable listing order.
    pub order: u64,
    /// The writable properties that have been set (see `schema`).
    pub props: Map<String, Value>,
}

/// A contact that left a folder (deleted) at sequence number `seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tombstone {
    pub id: String,
    pub folder_id: String,
    pub seq: u64,
}

/// `POST` of a folder whose name is taken among its siblings.
#[derive(Debug)]
pub struct FolderExists;

impl Mailbox {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The sequence number of the latest change.
    pub fn current_seq(&self) -> u64 {
        self.seq
    }

    pub fn folder(&self, id: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.id == id)
    }

    pub fn children_of(&self, parent_id: &str) -> Vec<&Folder> {
        self.folders
            .iter()
            .filter(|f| f.parent_folder_id == parent_id)
            .collect()
    }

    pub fn create_folder(
        &mut self,
        parent_id: &str,
        display_name: &str,
    ) -> Result<Folder, FolderExists> {
        let taken = self.folders.iter().any(|f| {
            f.parent_folder_id == parent_id && f.display_name.eq_ignore_ascii_case(display_name)
        });
        if taken {
            return Err(FolderExists);
        }
        let folder = Folder {
            id: ids::graph_id(),
            display_name: display_name.to_owned(),
            parent_folder_id: parent_id.to_owned(),
        };
        self.folders.push(folder.clone());
        Ok(folder)
    }

    pub fn items(&self, collection: Collection) -> &HashMap<String, Item> {
        match collection {
            Collection::Contacts => &self.contacts,
            Collection::TodoLists => &self.todo_lists,
            Collection::Tasks => &self.tasks,
        }
    }

    fn items_mut(&mut self, collection: Collection) -> &mut HashMap<String, Item> {
        match collection {
            Collection::Contacts => &mut self.contacts,
            Collection::TodoLists => &mut self.todo_lists,
            Collection::Tasks => &mut self.tasks,
        }
    }

    /// A new item. Contacts keep whole seconds (as the contact examples show); To Do items
    /// carry Outlook's 7-digit fractions.
    pub fn insert_item(
        &mut self,
        collection: Collection,
        container: &str,
        props: Map<String, Value>,
    ) -> Item {
        let seq = self.next_seq();
        let now = match collection {
            Collection::Contacts => time::now(),
            _ => time::now_precise(),
        };
        let item = Item {
            id: ids::graph_id(),
            folder_id: container.to_owned(),
            created: now,
            modified: now,
            change_key: ids::change_key(),
            seq,
            order: seq,
            props,
        };
        self.items_mut(collection)
            .insert(item.id.clone(), item.clone());
        item
    }

    /// Applies `change` to an item and records the write (new change key, time and sequence
    /// number), whether or not a value actually changed, as Exchange does.
    pub fn update_item(
        &mut self,
        collection: Collection,
        id: &str,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Option<Item> {
        if !self.items(collection).contains_key(id) {
            return None;
        }
        let seq = self.next_seq();
        let item = self.items_mut(collection).get_mut(id)?;
        change(&mut item.props);
        item.seq = seq;
        item.modified = match collection {
            Collection::Contacts => time::now(),
            _ => time::now_precise(),
        };
        item.change_key = ids::change_key();
        Some(item.clone())
    }

    /// Removes an item, leaving a tombstone for delta.
    pub fn delete_item(&mut self, collection: Collection, id: &str) -> bool {
        let Some(item) = self.items_mut(collection).remove(id) else {
            return false;
        };
        let seq = self.next_seq();
        self.tombstones.push(Tombstone {
            id: item.id,
            folder_id: item.folder_id,
            seq,
        });
        true
    }

    /// The items of a container in creation order.
    pub fn items_in(&self, collection: Collection, container: &str) -> Vec<&Item> {
        let mut found: Vec<&Item> = self
            .items(collection)
            .values()
            .filter(|c| c.folder_id == container)
            .collect();
        found.sort_by_key(|c| c.order);
        found
    }

    pub fn insert_contact(&mut self, folder_id: &str, props: Map<String, Value>) -> Contact {
        self.insert_item(Collection::Contacts, folder_id, props)
    }

    pub fn update_contact(
        &mut self,
        id: &str,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> Option<Contact> {
        self.update_item(Collection::Contacts, id, change)
    }

    pub fn delete_contact(&mut self, id: &str) -> bool {
        self.delete_item(Collection::Contacts, id)
    }

    /// The contacts of a folder in creation order.
    pub fn contacts_in(&self, folder_id: &str) -> Vec<&Contact> {
        self.items_in(Collection::Contacts, folder_id)
    }

    /// Every contact in creation order.
    pub fn all_contacts(&self) -> Vec<&Contact> {
        let mut found: Vec<&Contact> = self.contacts.values().collect();
        found.sort_by_key(|c| c.order);
        found
    }
}
