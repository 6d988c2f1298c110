//! The user's side of the run: a seeded, random stream of creates, edits and deletes on both
//! sides, made through the emulated Graph and Zoho CRM APIs as the user's own apps would (the
//! sandbox's control API only hands out the tokens and lists items), each recorded in the
//! [`Model`] once the emulator accepted it.
//!
//! An item is edited or deleted on the side where the harness put or found it at seed time, or
//! on the other side once its copy is there (found by key in a listing at most a few seconds
//! old, and only when exactly one item has that key). Items seeded on both sides are left alone
//! until sync-service's first sync of their kind is done (before that, the first sync's merge or
//! a delete it never saw decides, which the model does not try to predict); that flag is the
//! only thing read from the system under test, and only to schedule, never to expect.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{Days, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use sandbox::client::Control;
use serde_json::{Value, json};

use crate::keys::{self, KINDS, Kind, SIDES, Side};
use crate::model::{DeletedCopy, Model, OpCounts, Origin};

/// A user's two sandbox accounts and where the workload writes.
#[derive(Debug, Clone)]
pub struct Target {
    pub mailbox_id: String,
    pub org_id: String,
    pub contact_folder_id: String,
    pub task_list_id: String,
}

pub struct Workload {
    http: reqwest::Client,
    control: Control,
    sandbox_url: String,
    target: Target,
    rng: StdRng,
    /// Tells this run's items apart from seeded ones and from other runs'.
    tag: String,
    anchor: NaiveDate,
    next: u64,
    pub model: Model,
    pub counts: OpCounts,
    graph_token: Option<(String, Instant)>,
    zoho_token: Option<(String, String, Instant)>,
    /// Ids by key, per kind and side, as last listed.
    listings: BTreeMap<(Kind, Side), BTreeMap<String, Vec<String>>>,
    /// For the same listings: the link whose create made an item (by id), where one did.
    made_by: BTreeMap<(Kind, Side), BTreeMap<String, String>>,
    listed_at: Option<Instant>,
    /// Kinds whose first sync sync-service reports done.
    pub first_sync_done: BTreeMap<Kind, bool>,
    /// Creates the workload made (the aimed kills tell the connectors' from these).
    pub graph_creates: Arc<AtomicU64>,
    pub zoho_inserts: Arc<AtomicU64>,
    /// When the workload began: the items' histories count from here.
    started: Instant,
}

/// What an API answered.
struct Answer {
    status: u16,
    body: Value,
}

const TOKEN_LIFETIME: Duration = Duration::from_secs(600);
const LISTING_AGE: Duration = Duration::from_secs(4);

impl Workload {
    pub fn new(
        http: reqwest::Client,
        sandbox_url: String,
        target: Target,
        model: Model,
        seed: u64,
        anchor: NaiveDate,
    ) -> Workload {
        Workload {
            control: Control::new(sandbox_url.clone(), http.clone()),
            http,
            sandbox_url,
            target,
            rng: StdRng::seed_from_u64(seed ^ 0x0005_eed0_f0b5),
            tag: format!("r{seed}"),
            anchor,
            next: 0,
            model,
            counts: OpCounts::default(),
            graph_token: None,
            zoho_token: None,
            listings: BTreeMap::new(),
            made_by: BTreeMap::new(),
            listed_at: None,
            first_sync_done: BTreeMap::new(),
            graph_creates: Arc::new(AtomicU64::new(0)),
            zoho_inserts: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
        }
    }

    /// One operation, drawn from the workload's generator: a create (30 %), an edit (50 %) or a
    /// delete (20 %), of a contact (60 %), task or event, on either side.
    pub async fn step(&mut self) -> anyhow::Result<()> {
        if self.listed_at.is_none_or(|t| t.elapsed() > LISTING_AGE) {
            self.refresh_listings().await?;
        }
        let kind = match self.rng.random_range(0..10) {
            0..6 => Kind::Contact,
            6..8 => Kind::Task,
            _ => Kind::Event,
        };
        let side = if self.rng.random_bool(0.5) {
            Side::Outlook
        } else {
            Side::Zoho
        };
        match self.rng.random_range(0..10) {
            0..3 => self.create(kind, side).await,
            3..8 => self.edit(kind, side).await,
            _ => self.delete(kind, side).await,
        }
    }

    /// A line of an item's history, timed from the workload's start.
    fn note(&self, what: String) -> String {
        format!("{:.1} s {what}", self.started.elapsed().as_secs_f64())
    }

    async fn refresh_listings(&mut self) -> anyhow::Result<()> {
        for kind in KINDS {
            for side in SIDES {
                let items = match side {
                    Side::Outlook => {
                        self.control
                            .mailbox_items(&self.target.mailbox_id, kind.outlook_collection())
                            .await?
                    }
                    Side::Zoho => {
                        self.control
                            .org_records(&self.target.org_id, kind.zoho_module())
                            .await?
                    }
                };
                let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
                let mut made_by = BTreeMap::new();
                for item in &items {
                    if let Some(key) = keys::key(kind, side, item, &self.target.task_list_id) {
                        by_key.entry(key).or_default().push(keys::id(item));
                    }
                    if let Some(link) = keys::made_by(side, item) {
                        made_by.insert(keys::id(item), link);
                    }
                }
                self.listings.insert((kind, side), by_key);
                self.made_by.insert((kind, side), made_by);
            }
        }
        self.listed_at = Some(Instant::now());
        Ok(())
    }

    /// An item of `kind` to edit or delete on `side`, with its id there.
    fn pick(&mut self, kind: Kind, side: Side) -> Option<(usize, String)> {
        let candidates: Vec<usize> = self
            .model
            .items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.kind == kind && i.deleted.is_none() && !i.namesake)
            .filter(|(_, i)| {
                i.origin != Origin::Seeded(None)
                    || self.first_sync_done.get(&kind).copied().unwrap_or(false)
            })
            .map(|(n, _)| n)
            .collect();
        for _ in 0..8 {
            let n = *candidates.get(self.rng.random_range(0..candidates.len().max(1)))?;
            let item = &self.model.items[n];
            if let Some(id) = item.id(side) {
                return Some((n, id.to_owned()));
            }
            // The copy the sync made: only when exactly one item has the key there.
            if let Some([id]) = self
                .listings
                .get(&(kind, side))
                .and_then(|m| m.get(&item.key))
                .map(Vec::as_slice)
            {
                return Some((n, id.clone()));
            }
        }
        None
    }

    async fn create(&mut self, kind: Kind, side: Side) -> anyhow::Result<()> {
        self.next += 1;
        let n = self.next;
        let tag = &self.tag;
        let marker = format!("created {tag}-{n}");
        let day = self.anchor + Days::new(n % 60);
        let hour = 6 + n % 12;
        let (key, outlook, zoho) = match kind {
            Kind::Contact => {
                let (given, surname) = ("Crash".to_owned(), format!("Test {tag} {n}"));
                let email = format!("crash.{tag}.{n}@example.test");
                (
                    format!(
                        "{}|{}|{email}",
                        given.to_lowercase(),
                        surname.to_lowercase()
                    ),
                    json!({"givenName": given, "surname": surname, "jobTitle": marker,
                        "emailAddresses": [{"address": email, "name": email}]}),
                    json!({"First_Name": given, "Last_Name": surname, "Email": email,
                        "Title": marker}),
                )
            }
            Kind::Task => {
                let subject = format!("Crash task {tag} {n}");
                (
                    format!("{}|{day}", subject.to_lowercase()),
                    json!({"title": subject, "body": {"content": marker, "contentType": "text"},
                        "dueDateTime": {"dateTime": format!("{day}T00:00:00"), "timeZone": "UTC"}}),
                    json!({"Subject": subject, "Due_Date": day.to_string(), "Description": marker}),
                )
            }
            Kind::Event => {
                let subject = format!("Crash event {tag} {n}");
                let start = format!("{day}T{hour:02}:00");
                (
                    format!("{}|{start}", subject.to_lowercase()),
                    json!({"subject": subject, "location": {"displayName": marker},
                        "start": {"dateTime": format!("{start}:00"), "timeZone": "UTC"},
                        "end": {"dateTime": format!("{day}T{hour:02}:30:00"), "timeZone": "UTC"}}),
                    json!({"Event_Title": subject, "Venue": marker,
                        "Start_DateTime": format!("{start}:00+00:00"),
                        "End_DateTime": format!("{day}T{hour:02}:30:00+00:00")}),
                )
            }
        };
        let id = match side {
            Side::Outlook => {
                let path = match kind {
                    Kind::Contact => format!(
                        "/me/contactFolders/{}/contacts",
                        self.target.contact_folder_id
                    ),
                    Kind::Task => format!("/me/todo/lists/{}/tasks", self.target.task_list_id),
                    Kind::Event => "/me/events".to_owned(),
                };
                self.graph_creates.fetch_add(1, Ordering::SeqCst);
                let answer = self.graph(Method::POST, &path, Some(outlook)).await?;
                anyhow::ensure!(answer.status == 201, "Graph create {path}: {}", answer.body);
                keys::id(&answer.body)
            }
            Side::Zoho => {
                let path = format!("/{}", kind.zoho_module());
                self.zoho_inserts.fetch_add(1, Ordering::SeqCst);
                let answer = self
                    .zoho(Method::POST, &path, Some(json!({"data": [zoho]})))
                    .await?;
                let result = &answer.body["data"][0];
                anyhow::ensure!(
                    result["code"] == "SUCCESS",
                    "Zoho create {path}: {}",
                    answer.body
                );
                keys::id(&result["details"])
            }
        };
        anyhow::ensure!(!id.is_empty(), "a create answered no id");
        let note = self.note(format!("created on {side:?} as {id}"));
        self.model.created(kind, side, key, id, marker);
        if let Some(item) = self.model.items.last_mut() {
            item.history.push(note);
        }
        self.counts.creates += 1;
        Ok(())
    }

    async fn edit(&mut self, kind: Kind, side: Side) -> anyhow::Result<()> {
        let Some((n, id)) = self.pick(kind, side) else {
            return Ok(());
        };
        self.next += 1;
        let marker = format!("edit {}-{}", self.tag, self.next);
        let accepted = match side {
            Side::Outlook => {
                let (path, body) = match kind {
                    Kind::Contact => (format!("/me/contacts/{id}"), json!({"jobTitle": marker})),
                    Kind::Task => (
                        format!("/me/todo/lists/{}/tasks/{id}", self.target.task_list_id),
                        json!({"body": {"content": marker, "contentType": "text"}}),
                    ),
                    Kind::Event => (
                        format!("/me/events/{id}"),
                        json!({"location": {"displayName": marker}}),
                    ),
                };
                self.graph(Method::PATCH, &path, Some(body)).await?.status == 200
            }
            Side::Zoho => {
                let field = match kind {
                    Kind::Contact => "Title",
                    Kind::Task => "Description",
                    Kind::Event => "Venue",
                };
                let path = format!("/{}/{id}", kind.zoho_module());
                let answer = self
                    .zoho(Method::PUT, &path, Some(json!({"data": [{field: marker}]})))
                    .await?;
                answer.body["data"][0]["code"] == "SUCCESS"
            }
        };
        // Refused (the copy went away meanwhile): nothing happened, nothing to expect.
        let note = self.note(format!(
            "edit `{marker}` on {side:?} of {id}{}",
            if accepted { "" } else { " refused" }
        ));
        self.model.items[n].history.push(note);
        if accepted {
            self.model.items[n].edits.push((side, marker));
            self.counts.edits += 1;
        }
        Ok(())
    }

    async fn delete(&mut self, kind: Kind, side: Side) -> anyhow::Result<()> {
        let Some((n, id)) = self.pick(kind, side) else {
            return Ok(());
        };
        let accepted = match side {
            Side::Outlook => {
                let path = match kind {
                    Kind::Contact => format!("/me/contacts/{id}"),
                    Kind::Task => format!("/me/todo/lists/{}/tasks/{id}", self.target.task_list_id),
                    Kind::Event => format!("/me/events/{id}"),
                };
                self.graph(Method::DELETE, &path, None).await?.status == 204
            }
            Side::Zoho => {
                let path = format!("/{}/{id}", kind.zoho_module());
                let answer = self.zoho(Method::DELETE, &path, None).await?;
                answer.body["data"][0]["code"] == "SUCCESS"
            }
        };
        let note = self.note(format!(
            "delete on {side:?} of {id}{}",
            if accepted { "" } else { " refused" }
        ));
        self.model.items[n].history.push(note);
        if accepted {
            let made_by = self.made_by.get(&(kind, side)).and_then(|m| m.get(&id));
            self.model.items[n].deleted_copy = made_by.map(|link| DeletedCopy {
                id: id.clone(),
                made_by: link.clone(),
            });
            self.model.items[n].deleted = Some(side);
            self.counts.deletes += 1;
        }
        Ok(())
    }

    async fn graph(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        if self
            .graph_token
            .as_ref()
            .is_none_or(|(_, t)| t.elapsed() > TOKEN_LIFETIME)
        {
            let token = self.control.graph_token(&self.target.mailbox_id).await?;
            self.graph_token = Some((token, Instant::now()));
        }
        let token = self
            .graph_token
            .as_ref()
            .map(|t| t.0.clone())
            .unwrap_or_default();
        let url = format!("{}/graph/v1.0{path}", self.sandbox_url);
        send(&self.http, method, &url, body, &format!("Bearer {token}")).await
    }

    async fn zoho(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Answer> {
        if self
            .zoho_token
            .as_ref()
            .is_none_or(|(_, _, t)| t.elapsed() > TOKEN_LIFETIME)
        {
            let (token, api) = self.control.zoho_token(&self.target.org_id).await?;
            self.zoho_token = Some((token, api, Instant::now()));
        }
        let (token, api) = self
            .zoho_token
            .as_ref()
            .map(|t| (t.0.clone(), t.1.clone()))
            .unwrap_or_default();
        let url = format!("{api}/crm/v8{path}");
        send(
            &self.http,
            method,
            &url,
            body,
            &format!("Zoho-oauthtoken {token}"),
        )
        .await
    }
}

/// One call, retried while the emulator throttles (Outlook's 4 concurrent requests are shared
/// with the connector) or answers 5xx. Other answers are returned as they are.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
    authorization: &str,
) -> anyhow::Result<Answer> {
    for attempt in 0.. {
        let mut request = http
            .request(method.clone(), url)
            .header("Authorization", authorization);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.with_context(|| url.to_owned())?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if (status == 429 || status >= 500) && attempt < 20 {
            tokio::time::sleep(Duration::from_millis(250 * (attempt + 1).min(4))).await;
            continue;
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        return Ok(Answer { status, body });
    }
    unreachable!("the loop returns")
}
