//! Orgs (one per data centre account), their user, records per module, deleted records, the
//! accounts and tags that lookups point at, and issued page tokens.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Dc;
use super::credits::Credits;
use super::custom::CustomField;
use super::error::ItemError;
use super::index::ValueIndex;
use super::modules::{self, Field, Input, Kind, Module, System};
use super::paging::PageToken;
use crate::ids::{self, ZohoIds};
use crate::time;

/// Access tokens live one hour (api-reference 2.1).
pub const ACCESS_TOKEN_SECONDS: i64 = 3600;

/// Everything Zoho-side; serialisable for the snapshot file (issued page tokens are not kept).
#[derive(Default, Serialize, Deserialize)]
pub struct ZohoWorld {
    pub orgs: HashMap<String, Org>,
    pub access_tokens: HashMap<String, Grant>,
    /// Refresh token → org id. Zoho refresh tokens do not rotate and live until revoked.
    pub refresh_tokens: HashMap<String, String>,
    /// Authorization codes waiting to be redeemed (not kept in snapshots).
    #[serde(skip)]
    pub codes: HashMap<String, crate::oauth::PendingCode>,
    /// The scope of refresh tokens issued by the code grant (others have every scope).
    #[serde(default)]
    pub refresh_scopes: HashMap<String, String>,
    /// Per refresh token: when its access tokens were issued (last 10 minutes) and which are
    /// still active, oldest first (only for orgs with `token_limits`).
    #[serde(skip)]
    pub issued: HashMap<String, (VecDeque<DateTime<Utc>>, VecDeque<String>)>,
    /// The credit budget of new orgs (`SANDBOX_ZOHO_CREDIT_BUDGET`); `None`: unlimited.
    pub default_credit_budget: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Grant {
    pub org_id: String,
    pub dc: Dc,
    pub expires_at: DateTime<Utc>,
    /// The scopes granted (comma-separated, as Zoho writes them); `None`: every scope (tokens
    /// from the control API and refresh tokens it issued).
    #[serde(default)]
    pub scope: Option<String>,
    /// The refresh token it was made from: revoking that one revokes this too (Zoho's docs).
    #[serde(default)]
    pub refresh_token: Option<String>,
}

impl ZohoWorld {
    /// A new org in `dc` with its one user; returns the org id.
    pub fn create_org(
        &mut self,
        dc: Dc,
        user_name: Option<String>,
        user_email: Option<String>,
    ) -> String {
        let number = self.orgs.len() + 1;
        let mut ids = ZohoIds::new();
        let id = loop {
            let candidate = (rand::random::<u32>() % 900_000_000 + 100_000_000).to_string();
            if !self.orgs.contains_key(&candidate) {
                break candidate;
            }
        };
        let user = User {
            id: ids.next_id(),
            name: user_name.unwrap_or_else(|| format!("Sandbox User {number}")),
            email: user_email.unwrap_or_else(|| format!("user{number}@sandbox.zoho.example")),
            time_zone: utc_name(),
        };
        let org = Org {
            id: id.clone(),
            dc,
            user,
            ids,
            accounts: BTreeMap::new(),
            tags: BTreeMap::new(),
            modules: HashMap::new(),
            page_tokens: HashMap::new(),
            credits: Credits::new(self.default_credit_budget),
            token_limits: false,
            unique_fields: BTreeMap::new(),
            custom_fields: BTreeMap::new(),
            customize_crm: true,
        };
        self.orgs.insert(id.clone(), org);
        id
    }

    /// `1000.<hex>.<hex>`, the shape of Zoho's tokens.
    fn zoho_token() -> String {
        format!("1000.{}.{}", ids::hex(16), ids::hex(16))
    }

    pub fn issue_refresh_token(&mut self, org_id: &str) -> String {
        let token = Self::zoho_token();
        self.refresh_tokens.insert(token.clone(), org_id.to_owned());
        token
    }

    pub fn issue_access_token(&mut self, org_id: &str) -> Option<(String, i64)> {
        self.issue_scoped_access_token(org_id, None)
    }

    /// An access token limited to `scope` (`None`: every scope).
    pub fn issue_scoped_access_token(
        &mut self,
        org_id: &str,
        scope: Option<String>,
    ) -> Option<(String, i64)> {
        let dc = self.orgs.get(org_id)?.dc;
        let token = Self::zoho_token();
        self.access_tokens.insert(
            token.clone(),
            Grant {
                org_id: org_id.to_owned(),
                dc,
                expires_at: time::in_seconds(ACCESS_TOKEN_SECONDS),
                scope,
                refresh_token: None,
            },
        );
        Some((token, ACCESS_TOKEN_SECONDS))
    }

    /// An access token for a refresh, within Zoho's limits when the org enforces them: at most
    /// 10 access tokens per refresh token in 10 minutes (`None` past it), and at most 15 active
    /// per refresh token (the 16th invalidates the oldest).
    pub fn refresh(&mut self, org_id: &str, refresh_token: &str) -> Option<(String, i64)> {
        let limited = self.orgs.get(org_id)?.token_limits;
        let scope = self.refresh_scopes.get(refresh_token).cloned();
        if !limited {
            let issued = self.issue_scoped_access_token(org_id, scope)?;
            self.mark_made_from(&issued.0, refresh_token);
            return Some(issued);
        }
        let now = time::now();
        let (recent, _) = self.issued.entry(refresh_token.to_owned()).or_default();
        while recent
            .front()
            .is_some_and(|t| *t <= now - chrono::Duration::minutes(10))
        {
            recent.pop_front();
        }
        if recent.len() >= 10 {
            return None;
        }
        recent.push_back(now);
        let (token, expires_in) = self.issue_scoped_access_token(org_id, scope)?;
        self.mark_made_from(&token, refresh_token);
        let (_, active) = self.issued.entry(refresh_token.to_owned()).or_default();
        active.push_back(token.clone());
        while active.len() > 15 {
            if let Some(oldest) = active.pop_front() {
                self.access_tokens.remove(&oldest);
            }
        }
        Some((token, expires_in))
    }

    fn mark_made_from(&mut self, access_token: &str, refresh_token: &str) {
        if let Some(grant) = self.access_tokens.get_mut(access_token) {
            grant.refresh_token = Some(refresh_token.to_owned());
        }
    }

    /// `POST /oauth/v2/token/revoke?token=`: a refresh token goes with every access token made
    /// from it; an access token goes alone. `false`: no such token in `dc`.
    pub fn revoke(&mut self, dc: Dc, token: &str) -> bool {
        let org_of = |org_id: &String| self.orgs.get(org_id).is_some_and(|o| o.dc == dc);
        if self.refresh_tokens.get(token).is_some_and(org_of) {
            self.refresh_tokens.remove(token);
            self.refresh_scopes.remove(token);
            self.issued.remove(token);
            self.access_tokens
                .retain(|_, grant| grant.refresh_token.as_deref() != Some(token));
            return true;
        }
        if self.access_tokens.get(token).is_some_and(|g| g.dc == dc) {
            self.access_tokens.remove(token);
            return true;
        }
        false
    }

    pub fn expire_access_tokens(&mut self) {
        let past = time::now() - chrono::Duration::seconds(1);
        for grant in self.access_tokens.values_mut() {
            grant.expires_at = past;
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub email: String,
    /// The IANA zone the user works in: Zoho answers every date-time with its offset.
    #[serde(default = "utc_name")]
    pub time_zone: String,
}

fn utc_name() -> String {
    "Etc/UTC".to_owned()
}

#[derive(Serialize, Deserialize)]
pub struct Org {
    pub id: String,
    pub dc: Dc,
    pub user: User,
    ids: ZohoIds,
    /// Accounts that `Account_Name` lookups point at: id → name.
    pub accounts: BTreeMap<u64, String>,
    /// Tags by lower-case name: (id, name).
    pub tags: BTreeMap<String, (u64, String)>,
    #[serde(with = "module_map")]
    modules: HashMap<&'static str, ModuleData>,
    #[serde(skip)]
    pub page_tokens: HashMap<String, PageToken>,
    pub credits: Credits,
    /// Whether refreshes obey Zoho's per-refresh-token limits (see [`ZohoWorld::refresh`]).
    #[serde(default)]
    pub token_limits: bool,
    /// Fields made unique per module (control API): a clash is `DUPLICATE_DATA`.
    #[serde(default)]
    pub unique_fields: BTreeMap<String, Vec<String>>,
    /// Fields the org added to a module (Fields API), by module, in creation order.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, Vec<CustomField>>,
    /// Whether the org's user may customise the CRM (create fields); the control API turns it
    /// off to stand for a user without the administrator's permission.
    #[serde(default = "yes")]
    pub customize_crm: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ModuleData {
    pub records: BTreeMap<u64, Record>,
    pub deleted: Vec<Deleted>,
    /// The records by their text values; built again when a snapshot is loaded.
    #[serde(skip)]
    index: ValueIndex,
}

impl ModuleData {
    /// Indexes every record (after loading a snapshot).
    fn reindex(&mut self) {
        let mut index = ValueIndex::new();
        for record in self.records.values() {
            index.add(record.id, &record.values);
        }
        self.index = index;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    /// Stored values of writable fields (lookups as the target's id string).
    pub values: Map<String, Value>,
    pub created_time: DateTime<Utc>,
    pub modified_time: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deleted {
    pub id: u64,
    pub display_name: Option<String>,
    pub deleted_time: DateTime<Utc>,
}

static EMPTY: ModuleData = ModuleData {
    records: BTreeMap::new(),
    deleted: Vec::new(),
    index: ValueIndex::new(),
};

/// What a resolved write does to one stored field.
enum Change {
    Set(Value),
    Clear,
    Keep,
}

impl Org {
    pub fn next_id(&mut self) -> u64 {
        self.ids.next_id()
    }

    pub fn data(&self, module: &Module) -> &ModuleData {
        self.modules.get(module.api_name).unwrap_or(&EMPTY)
    }

    fn data_mut(&mut self, module: &Module) -> &mut ModuleData {
        self.modules.entry(module.api_name).or_default()
    }

    pub fn record(&self, module: &Module, id: u64) -> Option<&Record> {
        self.data(module).records.get(&id)
    }

    /// The custom fields of `module`, in creation order.
    pub fn custom(&self, module: &Module) -> &[CustomField] {
        self.custom_fields
            .get(module.api_name)
            .map_or(&[], Vec::as_slice)
    }

    /// The custom fields of `module` as fields, for reads and writes.
    pub fn extra_fields(&self, module: &Module) -> Vec<&'static Field> {
        self.custom(module).iter().map(CustomField::field).collect()
    }

    pub fn add_custom_field(&mut self, module: &Module, field: CustomField) {
        self.custom_fields
            .entry(module.api_name.to_owned())
            .or_default()
            .push(field);
    }

    /// The External ID field `api_name` of `module`, if it is one.
    pub fn external_field(&self, module: &Module, api_name: &str) -> Option<&CustomField> {
        self.custom(module)
            .iter()
            .find(|c| c.api_name == api_name && c.external.is_some())
    }

    /// How values of `api_name` clash, when no two records may share one: `Some(case
    /// sensitive)`. Unique through the control API (case-insensitive), a unique custom field, or
    /// an External ID (exact).
    pub fn uniqueness(&self, module: &Module, api_name: &str) -> Option<bool> {
        let by_control = self
            .unique_fields
            .get(module.api_name)
            .is_some_and(|names| names.iter().any(|n| n == api_name));
        if by_control {
            return Some(false);
        }
        self.custom(module)
            .iter()
            .find(|c| c.api_name == api_name)
            .and_then(CustomField::uniqueness)
    }

    /// The record of `module` whose `api_name` holds `value`, compared as the field's
    /// uniqueness says (exactly when case-sensitive, else trimmed and case-insensitively).
    pub fn find_by_value(
        &self,
        module: &Module,
        api_name: &str,
        value: &str,
        case_sensitive: bool,
        except: Option<u64>,
    ) -> Option<&Record> {
        let wanted = value.trim();
        let data = self.data(module);
        data.index
            .candidates(api_name, wanted)
            .filter(|id| Some(*id) != except)
            .filter_map(|id| data.records.get(&id))
            .find(|r| {
                // The index matched the value ignoring case.
                !case_sensitive
                    || r.values
                        .get(api_name)
                        .and_then(Value::as_str)
                        .is_some_and(|v| v.trim() == wanted)
            })
    }

    /// The user's zone (UTC when the stored name is unknown).
    pub fn zone(&self) -> chrono_tz::Tz {
        crate::graph::tz::zone(&self.user.time_zone).unwrap_or(chrono_tz::Tz::UTC)
    }

    /// An instant as Zoho answers it to this org's user.
    pub fn time(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        time::zoho(at, self.zone())
    }

    /// `{name, id}` of the org's user, as write results name it.
    pub fn user_ref(&self) -> Value {
        json!({"name": self.user.name, "id": self.user.id.to_string()})
    }

    /// `{name, id, email}`, as records name it.
    pub fn user_full(&self) -> Value {
        json!({"name": self.user.name, "id": self.user.id.to_string(), "email": self.user.email})
    }

    /// An account by name (case-insensitive), created when there is none.
    pub fn account_named(&mut self, name: &str) -> u64 {
        if let Some((id, _)) = self
            .accounts
            .iter()
            .find(|(_, n)| n.to_lowercase() == name.to_lowercase())
        {
            return *id;
        }
        let id = self.next_id();
        self.accounts.insert(id, name.to_owned());
        id
    }

    fn resolve(
        &mut self,
        inputs: Vec<(&'static Field, Input)>,
        index: usize,
    ) -> Result<Vec<(&'static str, Change)>, ItemError> {
        let related_invalid = |field: &Field| {
            ItemError::new(
                "INVALID_DATA",
                "the related id given seems to be invalid",
                json!({"api_name": field.api_name, "json_path": format!("$.data[{index}].{}", field.api_name)}),
            )
        };
        let mut changes = Vec::new();
        for (field, input) in inputs {
            let change = match input {
                Input::Clear => Change::Clear,
                Input::Value(value) => Change::Set(value),
                Input::AccountById(id) if self.accounts.contains_key(&id) => {
                    Change::Set(Value::String(id.to_string()))
                }
                Input::AccountById(_) => return Err(related_invalid(field)),
                Input::AccountByName(name) => {
                    Change::Set(Value::String(self.account_named(&name).to_string()))
                }
                Input::ContactById(id) if self.record(&modules::CONTACTS, id).is_some() => {
                    Change::Set(Value::String(id.to_string()))
                }
                Input::ContactById(_) => return Err(related_invalid(field)),
                Input::OwnerById(id) if id == self.user.id => Change::Keep,
                Input::OwnerById(_) => return Err(related_invalid(field)),
                Input::What(target, id) => {
                    let exists = match target {
                        "Accounts" => self.accounts.contains_key(&id),
                        _ => self.record(&modules::CONTACTS, id).is_some(),
                    };
                    if !exists {
                        return Err(related_invalid(field));
                    }
                    changes.push(("$se_module", Change::Set(json!(target))));
                    Change::Set(Value::String(id.to_string()))
                }
                Input::Participants(pairs) => {
                    for (position, (kind, who)) in pairs.iter().enumerate() {
                        let known = match kind.as_str() {
                            "contact" => who
                                .parse::<u64>()
                                .is_ok_and(|id| self.record(&modules::CONTACTS, id).is_some()),
                            "user" => who.parse::<u64>().is_ok_and(|id| id == self.user.id),
                            _ => true,
                        };
                        if !known {
                            return Err(ItemError::new(
                                "INVALID_DATA",
                                "the related id given seems to be invalid",
                                json!({"api_name": field.api_name,
                                       "json_path": format!("$.data[{index}].{}[{position}]", field.api_name)}),
                            ));
                        }
                    }
                    if pairs.is_empty() {
                        Change::Clear
                    } else {
                        Change::Set(Value::Array(
                            pairs
                                .into_iter()
                                .map(|(kind, who)| json!({"type": kind, "participant": who}))
                                .collect(),
                        ))
                    }
                }
                Input::Tags(names) if names.is_empty() => Change::Clear,
                Input::Tags(names) => {
                    for name in &names {
                        let key = name.to_lowercase();
                        if !self.tags.contains_key(&key) {
                            let id = self.next_id();
                            self.tags.insert(key, (id, name.clone()));
                        }
                    }
                    Change::Set(json!(names))
                }
            };
            changes.push((field.api_name, change));
        }
        Ok(changes)
    }

    fn apply(values: &mut Map<String, Value>, changes: Vec<(&'static str, Change)>) {
        for (name, change) in changes {
            match change {
                Change::Set(value) => {
                    values.insert(name.to_owned(), value);
                }
                Change::Clear => {
                    values.remove(name);
                }
                Change::Keep => {}
            }
        }
    }

    pub fn insert(
        &mut self,
        module: &Module,
        inputs: Vec<(&'static Field, Input)>,
        index: usize,
    ) -> Result<Record, ItemError> {
        let changes = self.resolve(inputs, index)?;
        let mut values = Map::new();
        Self::apply(&mut values, changes);
        let now = time::now();
        closed_time(module, &mut values, now);
        let record = Record {
            id: self.next_id(),
            values,
            created_time: now,
            modified_time: now,
        };
        let data = self.data_mut(module);
        data.index.add(record.id, &record.values);
        data.records.insert(record.id, record.clone());
        Ok(record)
    }

    /// Updates a record; every update moves `Modified_Time`, changed values or not.
    pub fn update(
        &mut self,
        module: &Module,
        id: u64,
        inputs: Vec<(&'static Field, Input)>,
        index: usize,
    ) -> Result<Record, ItemError> {
        if self.record(module, id).is_none() {
            return Err(ItemError::invalid_id(index));
        }
        let changes = self.resolve(inputs, index)?;
        let data = self.data_mut(module);
        let record = data
            .records
            .get_mut(&id)
            .ok_or_else(|| ItemError::invalid_id(index))?;
        data.index.remove(id, &record.values);
        Self::apply(&mut record.values, changes);
        record.modified_time = time::now();
        closed_time(module, &mut record.values, record.modified_time);
        data.index.add(id, &record.values);
        Ok(record.clone())
    }

    /// Moves a record to the recycle bin.
    pub fn delete(&mut self, module: &Module, id: u64) -> bool {
        let data = self.data_mut(module);
        let Some(record) = data.records.remove(&id) else {
            return false;
        };
        data.index.remove(id, &record.values);
        let display_name = full_name(module, &record);
        self.data_mut(module).deleted.push(Deleted {
            id,
            display_name,
            deleted_time: time::now(),
        });
        true
    }

    /// The `details` of a successful write.
    pub fn write_details(&self, record: &Record) -> Value {
        json!({
            "Modified_Time": self.time(record.modified_time),
            "Modified_By": self.user_ref(),
            "Created_Time": self.time(record.created_time),
            "id": record.id.to_string(),
            "Created_By": self.user_ref(),
        })
    }

    /// A record with `id` and the given fields (all fields when `None`); unset fields are `null`.
    pub fn render(
        &self,
        module: &'static Module,
        record: &Record,
        fields: Option<&[&'static Field]>,
    ) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(record.id.to_string()));
        let all: Vec<&'static Field> = module
            .fields
            .iter()
            .chain(self.extra_fields(module))
            .collect();
        let chosen: &[&'static Field] = match fields {
            Some(fields) => fields,
            None => &all,
        };
        for field in chosen {
            out.insert(
                field.api_name.to_owned(),
                self.render_field(module, record, field),
            );
            if field.kind == Kind::WhatLookup {
                out.insert(
                    "$se_module".to_owned(),
                    record
                        .values
                        .get("$se_module")
                        .cloned()
                        .unwrap_or(Value::Null),
                );
            }
        }
        Value::Object(out)
    }

    fn render_field(&self, module: &Module, record: &Record, field: &Field) -> Value {
        let stored = record.values.get(field.api_name);
        let stored_id = || {
            stored
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok())
        };
        match field.kind {
            Kind::System(System::Id) => Value::String(record.id.to_string()),
            Kind::System(System::FullName) => json!(full_name(module, record)),
            Kind::System(System::CreatedTime) => json!(self.time(record.created_time)),
            Kind::System(System::ModifiedTime) => json!(self.time(record.modified_time)),
            Kind::System(System::CreatedBy | System::ModifiedBy) | Kind::Owner => self.user_full(),
            Kind::System(System::LastActivityTime) => Value::Null,
            Kind::System(System::RecordStatus) => json!("Available"),
            Kind::System(System::Locked) => json!(false),
            Kind::AccountLookup => stored_id()
                .and_then(|id| Some(json!({"name": self.accounts.get(&id)?, "id": id.to_string()})))
                .unwrap_or(Value::Null),
            Kind::ContactLookup => stored_id()
                .and_then(|id| {
                    let target = self.record(&modules::CONTACTS, id)?;
                    Some(json!({"name": full_name(&modules::CONTACTS, target), "id": id.to_string()}))
                })
                .unwrap_or(Value::Null),
            Kind::Tags => {
                let names = stored.and_then(Value::as_array).cloned().unwrap_or_default();
                let tags: Vec<Value> = names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|name| {
                        let id = self.tags.get(&name.to_lowercase()).map(|(id, _)| id.to_string());
                        json!({"name": name, "id": id})
                    })
                    .collect();
                Value::Array(tags)
            }
            Kind::Boolean => stored.cloned().unwrap_or(Value::Bool(false)),
            Kind::DateTime | Kind::System(System::ClosedTime) => stored
                .and_then(Value::as_str)
                .and_then(time::parse_offset)
                .map_or(Value::Null, |at| json!(self.time(at))),
            Kind::RemindAt => match stored {
                Some(Value::String(s)) => {
                    time::parse_offset(s).map_or(Value::Null, |at| json!(self.time(at)))
                }
                other => other.cloned().unwrap_or(Value::Null),
            },
            Kind::WhatLookup => {
                let target = record.values.get("$se_module").and_then(Value::as_str);
                stored_id()
                    .and_then(|id| {
                        let name = match target {
                            Some("Accounts") => json!(self.accounts.get(&id)?),
                            _ => json!(full_name(
                                &modules::CONTACTS,
                                self.record(&modules::CONTACTS, id)?
                            )),
                        };
                        Some(json!({"name": name, "id": id.to_string()}))
                    })
                    .unwrap_or(Value::Null)
            }
            Kind::Participants => {
                let pairs = stored.and_then(Value::as_array).cloned().unwrap_or_default();
                Value::Array(
                    pairs
                        .iter()
                        .map(|p| self.render_participant(p))
                        .collect(),
                )
            }
            _ => stored.cloned().unwrap_or(Value::Null),
        }
    }
}

impl Org {
    /// A participant with the `name`, `Email`, `invited` and `status` Zoho adds.
    fn render_participant(&self, stored: &Value) -> Value {
        let kind = stored["type"].as_str().unwrap_or_default();
        let who = stored["participant"].as_str().unwrap_or_default();
        let (name, email) = match kind {
            "contact" => who
                .parse::<u64>()
                .ok()
                .and_then(|id| self.record(&modules::CONTACTS, id))
                .map_or((Value::Null, Value::Null), |c| {
                    (
                        json!(full_name(&modules::CONTACTS, c)),
                        c.values.get("Email").cloned().unwrap_or(Value::Null),
                    )
                }),
            "user" => (json!(self.user.name), json!(self.user.email)),
            "email" => (Value::Null, json!(who)),
            _ => (Value::Null, Value::Null),
        };
        json!({"type": kind, "participant": who, "name": name, "Email": email,
               "invited": false, "status": "not_known"})
    }
}

/// Whether `scope` (comma- or space-separated) allows `method` on `module`: `ZohoCRM.modules.ALL`,
/// `ZohoCRM.modules.{module}.ALL`, or the operation's own scope (`READ` for GET, `CREATE` for
/// POST, `UPDATE` for PUT, `DELETE` for DELETE, both `CREATE` and `UPDATE` for upsert; `WRITE`
/// covers the last three), module names case-insensitive.
pub fn scope_allows(scope: &str, module: &str, method: &str, upsert: bool) -> bool {
    let granted: Vec<String> = scope
        .split([',', ' '])
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let module = module.to_ascii_lowercase();
    let has = |operation: &str| {
        granted.iter().any(|g| {
            g == "zohocrm.modules.all"
                || *g == format!("zohocrm.modules.{module}.all")
                || *g == format!("zohocrm.modules.{module}.{operation}")
                || (operation != "read" && *g == format!("zohocrm.modules.{module}.write"))
        })
    };
    match (method, upsert) {
        ("GET", _) => has("read"),
        ("POST", true) => has("create") && has("update"),
        ("POST", false) => has("create"),
        ("PUT", _) => has("update"),
        ("DELETE", _) => has("delete"),
        _ => false,
    }
}

/// Whether `scope` allows `method` on the settings API `resource` (`fields`):
/// `ZohoCRM.settings.ALL`, `ZohoCRM.settings.{resource}.ALL`, or the operation's own scope
/// (`READ` for GET, `CREATE` for POST), as the Fields pages list them.
pub fn settings_scope_allows(scope: &str, resource: &str, method: &str) -> bool {
    let operation = match method {
        "GET" => "read",
        "POST" => "create",
        "PUT" | "PATCH" => "update",
        "DELETE" => "delete",
        _ => return false,
    };
    scope
        .split([',', ' '])
        .map(|s| s.trim().to_ascii_lowercase())
        .any(|g| {
            g == "zohocrm.settings.all"
                || g == format!("zohocrm.settings.{resource}.all")
                || g == format!("zohocrm.settings.{resource}.{operation}")
        })
}

/// Tasks: `Closed_Time` is set when `Status` is `Completed` and cleared otherwise.
fn closed_time(module: &Module, values: &mut Map<String, Value>, now: DateTime<Utc>) {
    if module.api_name != modules::TASKS.api_name {
        return;
    }
    let completed = values.get("Status").and_then(Value::as_str) == Some("Completed");
    if !completed {
        values.remove("Closed_Time");
    } else if !values.contains_key("Closed_Time") {
        values.insert("Closed_Time".into(), json!(now.to_rfc3339()));
    }
}

/// The module's name fields joined, e.g. `First_Name Last_Name`.
pub fn full_name(module: &Module, record: &Record) -> Option<String> {
    let name = module
        .name_fields
        .iter()
        .filter_map(|f| record.values.get(*f).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// Module data keyed by the module's API name: written as the name, read back as the table's
/// `&'static str` (an unknown module in a snapshot is an error).
mod module_map {
    use std::collections::HashMap;

    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ModuleData;
    use crate::zoho::modules;

    pub fn serialize<S: Serializer>(
        map: &HashMap<&'static str, ModuleData>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        map.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<HashMap<&'static str, ModuleData>, D::Error> {
        let named: HashMap<String, ModuleData> = HashMap::deserialize(deserializer)?;
        named
            .into_iter()
            .map(|(name, mut data)| {
                data.reindex();
                modules::find(&name)
                    .map(|m| (m.api_name, data))
                    .ok_or_else(|| D::Error::custom(format!("unknown module {name}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_obey_the_per_refresh_token_limits_when_enforced() {
        let mut world = ZohoWorld::default();
        let org = world.create_org(Dc::Com, None, None);
        let refresh = world.issue_refresh_token(&org);
        for _ in 0..20 {
            assert!(
                world.refresh(&org, &refresh).is_some(),
                "unlimited by default"
            );
        }
        world.orgs.get_mut(&org).expect("org").token_limits = true;
        let mut issued = Vec::new();
        for _ in 0..10 {
            issued.push(world.refresh(&org, &refresh).expect("within the limit").0);
        }
        assert!(
            world.refresh(&org, &refresh).is_none(),
            "11th in 10 minutes"
        );
        // Ten minutes later: six more make 16 active; the oldest is gone.
        let (recent, _) = world.issued.get_mut(&refresh).expect("log");
        for at in recent.iter_mut() {
            *at -= chrono::Duration::minutes(11);
        }
        for _ in 0..6 {
            assert!(world.refresh(&org, &refresh).is_some());
        }
        assert!(!world.access_tokens.contains_key(&issued[0]));
        assert!(world.access_tokens.contains_key(&issued[1]));
    }

    #[test]
    fn revoking_a_refresh_token_revokes_the_access_tokens_made_from_it() {
        let mut world = ZohoWorld::default();
        let org = world.create_org(Dc::Com, None, None);
        let refresh = world.issue_refresh_token(&org);
        let other = world.issue_refresh_token(&org);
        let (made, _) = world.refresh(&org, &refresh).expect("issued");
        let (kept, _) = world.refresh(&org, &other).expect("issued");

        assert!(
            !world.revoke(Dc::Eu, &refresh),
            "unknown in another data centre"
        );
        assert!(world.revoke(Dc::Com, &refresh));
        assert!(!world.refresh_tokens.contains_key(&refresh));
        assert!(!world.access_tokens.contains_key(&made));
        assert!(world.access_tokens.contains_key(&kept));
        assert!(!world.revoke(Dc::Com, &refresh), "already revoked");
        assert!(world.revoke(Dc::Com, &kept), "an access token alone");
        assert!(world.refresh_tokens.contains_key(&other));
    }
}
