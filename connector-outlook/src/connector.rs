//! [`OutlookConnector`]: reads Graph delta pages into change events and writes apply commands
//! through `$batch`.
//!
//! - Contacts: the delta query of the chosen contact folder.
//! - Tasks: the delta query of the chosen To Do list.
//! - Events: `calendarView/delta` over a window around today. It answers single events,
//!   occurrences and exceptions, never series masters: an occurrence stands for its series, so its
//!   master is read (once a round, see [`EventState`]) and published (the series is one item on
//!   both sides). Removals are checked, since Graph also reports events that merely moved out of
//!   the window: only an event that is really gone is published as deleted.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sync_model::{Event, EventTime, ExternalId, Item, ItemKind, Modified, Side, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, FailureCode};

use connector_kit::api::malformed;
use connector_kit::calendar::{Rule, utc_to_local, zone};
use connector_kit::store::Watch;
use connector_kit::{ApiError, ApplyRequest, CallContext, Connector, Page};

use crate::event_state::EventState;
use crate::graph::{
    BATCH_SIZE, BatchAnswer, BatchRequest, GraphClient, is_not_found, is_precondition_failed,
};
use crate::identity;
use crate::mapping::{contact, event, task};

/// The calendar window of `calendarView/delta`, in days around the start of a round.
#[derive(Debug, Clone, Copy)]
pub struct CalendarWindow {
    pub days_back: u32,
    pub days_ahead: u32,
}

/// A window this old is moved forward with a new full round at the end of a round.
const WINDOW_MAX_AGE: Duration = Duration::days(7);

/// Where the next delta read starts: the `@odata.nextLink` of an unfinished round or the
/// `@odata.deltaLink` of the last finished one, replayed verbatim as Graph asks.
#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    link: String,
    /// Events: when the window of this delta link was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window_set_at: Option<DateTime<Utc>>,
    /// Events: what was published and what this round has read by id.
    #[serde(flatten)]
    events: EventState,
}

pub struct OutlookConnector {
    graph: GraphClient,
    window: CalendarWindow,
}

fn no_container(kind: ItemKind) -> ApiError {
    let what = match kind {
        ItemKind::Contact => "no contact folder is chosen",
        ItemKind::Task => "no To Do list is chosen",
        ItemKind::Event => "no calendar is chosen",
    };
    ApiError::Permanent {
        code: "no_container".into(),
        message: what.into(),
    }
}

/// The version of an item: its `changeKey`, else the payload of its `@odata.etag` (To Do tasks
/// carry only the etag, `W/"<changeKey>"`).
fn version_of(value: &Value) -> String {
    if let Some(key) = value.get("changeKey").and_then(Value::as_str) {
        return key.to_owned();
    }
    let etag = value
        .get("@odata.etag")
        .and_then(Value::as_str)
        .unwrap_or_default();
    etag.trim_start_matches("W/").trim_matches('"').to_owned()
}

/// When Graph last changed the item (`lastModifiedDateTime`); `None` when absent or unreadable,
/// which only leaves the read unordered.
fn modified_of(value: &Value) -> Option<Modified> {
    let at = value.get("lastModifiedDateTime")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|at| Modified(at.with_timezone(&chrono::Utc)))
}

fn if_match(version: &Version) -> String {
    format!("W/\"{}\"", version.0)
}

/// A Graph resource as a canonical item of `kind`.
fn parse_item(kind: ItemKind, value: &Value) -> Result<Item, String> {
    Ok(match kind {
        ItemKind::Contact => Item::Contact(contact::from_graph(value)?),
        ItemKind::Task => Item::Task(task::from_graph(value)?),
        ItemKind::Event => Item::Event(event::from_graph(value)?),
    })
}

/// A delta entry as a change (a removal, or the item).
fn to_change(kind: ItemKind, value: &Value) -> Result<ChangeMessage, String> {
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .ok_or("an item without an id")?;
    let external_id = ExternalId(id.to_owned());
    if let Some(removed) = value.get("@removed") {
        // "deleted" is a delete; any other reason (a move out of the folder) only leaves the
        // synced scope.
        let left_scope = removed.get("reason").and_then(Value::as_str) != Some("deleted");
        return Ok(ChangeMessage::ItemDeleted {
            side: Side::Outlook,
            kind,
            external_id,
            left_scope,
        });
    }
    Ok(ChangeMessage::ItemChanged {
        side: Side::Outlook,
        external_id,
        version: Version(version_of(value)),
        item: parse_item(kind, value)?,
        // Present where the read expanded the property (task delta, identify reads).
        identity: identity::identity_of(value),
        modified: modified_of(value),
    })
}

/// The identity a create request writes (the link, and the Zoho record it copies).
fn create_identity(request: &ApplyRequest) -> sync_protocol::LinkIdentity {
    let origin = match &request.op {
        ApplyOp::Create { origin, .. } => origin.as_ref(),
        _ => None,
    };
    identity::of(request.link_id, origin)
}

fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn unreadable(reason: &str) {
    // One unreadable item must not stop the others; it is counted and logged (without its
    // content) and read again in the next full read.
    metrics::counter!("connector_unreadable_items_total", "side" => "outlook").increment(1);
    tracing::warn!(%reason, "skipping an unreadable Graph item");
}

/// How one apply command is carried out.
enum Plan {
    /// Answered without calling Graph (the item cannot be written).
    Done(ApplyOutcome),
    Write {
        request: BatchRequest,
        /// For events: the exceptions to apply after the write (occurrences to delete).
        exceptions: Vec<NaiveDate>,
    },
}

impl OutlookConnector {
    pub fn new(graph: GraphClient, window: CalendarWindow) -> Self {
        OutlookConnector { graph, window }
    }

    fn initial_delta_url(
        &self,
        watch: &Watch,
    ) -> Result<(String, Option<DateTime<Utc>>), ApiError> {
        let base = self.graph.base_url();
        match watch.kind {
            ItemKind::Contact | ItemKind::Task => {
                let container = watch
                    .container_id
                    .as_deref()
                    .ok_or_else(|| no_container(watch.kind))?;
                let path = match watch.kind {
                    ItemKind::Contact => {
                        format!("/me/contactFolders/{}/contacts/delta", urlencode(container))
                    }
                    // Task delta carries the link identity (documented); contact delta cannot.
                    _ => format!(
                        "/me/todo/lists/{}/tasks/delta?$expand={}",
                        urlencode(container),
                        urlencode(&identity::expand())
                    ),
                };
                Ok((format!("{base}{path}"), None))
            }
            ItemKind::Event => {
                let now = Utc::now();
                let start = now - Duration::days(i64::from(self.window.days_back));
                let end = now + Duration::days(i64::from(self.window.days_ahead));
                let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                Ok((
                    format!(
                        "{base}/me/calendarView/delta?startDateTime={}&endDateTime={}",
                        fmt(start),
                        fmt(end)
                    ),
                    Some(now),
                ))
            }
        }
    }

    fn delta_operation(kind: ItemKind) -> &'static str {
        match kind {
            ItemKind::Contact => "GET /me/contactFolders/{id}/contacts/delta",
            ItemKind::Task => "GET /me/todo/lists/{id}/tasks/delta",
            ItemKind::Event => "GET /me/calendarView/delta",
        }
    }

    /// Reads events by id in `$batch`es: each as a change (its series master for an occurrence,
    /// the event itself otherwise), or a delete when Graph no longer has it. Every id read is
    /// marked read in `state`; the master of an occurrence found here is read only if this
    /// round has not read it yet. `ids` tells for each id whether it is known to be a series
    /// master. Returns the ids read.
    async fn events_by_id(
        &self,
        ctx: &CallContext,
        ids: BTreeMap<String, bool>,
        state: &mut EventState,
        changes: &mut Vec<ChangeMessage>,
    ) -> Result<BTreeSet<String>, ApiError> {
        let mut todo = ids;
        let mut seen = BTreeSet::new();
        // Two passes at most: an id may turn out to be an occurrence whose master is read next.
        for pass in 0..2 {
            let ids: Vec<(String, bool)> = todo
                .iter()
                .filter(|(i, _)| !seen.contains(*i) && (pass == 0 || !state.was_read(i)))
                .map(|(i, master)| (i.clone(), *master))
                .collect();
            todo = BTreeMap::new();
            for chunk in ids.chunks(BATCH_SIZE) {
                let requests: Vec<BatchRequest> = chunk
                    .iter()
                    .enumerate()
                    .map(|(n, (id, master))| BatchRequest {
                        id: n.to_string(),
                        method: Method::GET,
                        url: event_url(id, *master),
                        body: None,
                        if_match: None,
                        depends_on: vec![],
                    })
                    .collect();
                let answers = self.graph.batch(ctx, &requests).await?;
                for (n, (id, _)) in chunk.iter().enumerate() {
                    seen.insert(id.clone());
                    state.mark_read(id);
                    let answer = answers
                        .get(&n.to_string())
                        .cloned()
                        .ok_or_else(|| malformed("a $batch answer without one of its ids"))?;
                    match answer.into_result() {
                        Ok(Some(value)) => {
                            let kind = value.get("type").and_then(Value::as_str);
                            if matches!(kind, Some("occurrence" | "exception")) {
                                if let Some(master) =
                                    value.get("seriesMasterId").and_then(Value::as_str)
                                {
                                    todo.insert(master.to_owned(), true);
                                }
                                continue;
                            }
                            match to_change(ItemKind::Event, &value) {
                                Ok(mut change) => {
                                    self.fill_exceptions(ctx, &value, &mut change).await?;
                                    changes.push(change)
                                }
                                Err(reason) => unreadable(&reason),
                            }
                        }
                        Ok(None) => return Err(malformed("an event answered without a body")),
                        Err(err) if is_not_found(&err) => {
                            changes.push(ChangeMessage::ItemDeleted {
                                side: Side::Outlook,
                                kind: ItemKind::Event,
                                external_id: ExternalId(id.clone()),
                                left_scope: false,
                            })
                        }
                        // Anything else fails the page: it is read again, nothing is lost.
                        Err(err) => return Err(err),
                    }
                }
            }
            if todo.is_empty() {
                break;
            }
        }
        Ok(seen)
    }

    /// A series master without `cancelledOccurrences` (Graph returns it only when selected on a
    /// GET by id, as [`event_url`] asks; this is the fallback should a mailbox leave it out):
    /// its exceptions are the dates its rule has that its instances lack, up to the end of the
    /// calendar window. An exception (a moved occurrence) is no cancelled one: it counts as
    /// present on its original day, as it is absent from `cancelledOccurrences`.
    async fn fill_exceptions(
        &self,
        ctx: &CallContext,
        value: &Value,
        change: &mut ChangeMessage,
    ) -> Result<(), ApiError> {
        let ChangeMessage::ItemChanged {
            external_id,
            item: Item::Event(event),
            ..
        } = change
        else {
            return Ok(());
        };
        if value.get("cancelledOccurrences").is_some() {
            return Ok(());
        }
        let Some(recurrence) = &event.recurrence else {
            return Ok(());
        };
        let Ok(rule) = Rule::parse(&recurrence.rrule) else {
            return Ok(());
        };
        let limit = (Utc::now() + Duration::days(i64::from(self.window.days_ahead))).date_naive();
        let expected = rule.occurrences(event::local_start_date(event), limit);
        let (Some(first), Some(last)) = (expected.first(), expected.last()) else {
            return Ok(());
        };
        let path = format!(
            "/me/events/{}/instances?startDateTime={}&endDateTime={}&$top=500",
            urlencode(&external_id.0),
            (*first - Duration::days(1)).format("%Y-%m-%dT00:00:00Z"),
            (*last + Duration::days(2)).format("%Y-%m-%dT00:00:00Z"),
        );
        let instances = self
            .graph
            .list_all(ctx, "GET /me/events/{id}/instances", &path)
            .await?;
        let tz = match &event.start {
            EventTime::DateTime { time_zone, .. } => time_zone.as_deref().and_then(zone),
            EventTime::Date { .. } => None,
        };
        let local_date = |utc: DateTime<Utc>| match tz {
            Some(tz) => utc_to_local(utc, tz).date(),
            None => utc.date_naive(),
        };
        let mut present = BTreeSet::new();
        for instance in &instances {
            // An exception (a moved occurrence) counts on its original day.
            let original = instance
                .get("originalStart")
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| local_date(t.with_timezone(&Utc)));
            let date = match original {
                Some(date) => Some(date),
                None => event::from_graph(instance).ok().map(|o| match o.start {
                    EventTime::Date { date } => date,
                    EventTime::DateTime { utc, .. } => local_date(utc),
                }),
            };
            present.extend(date);
        }
        if let Some(r) = &mut event.recurrence {
            r.exceptions = expected
                .into_iter()
                .filter(|d| !present.contains(d))
                .collect();
        }
        Ok(())
    }

    /// The plan of one apply command.
    fn plan(&self, index: usize, request: &ApplyRequest) -> Plan {
        let id = index.to_string();
        let failed = |code: FailureCode, message: String| {
            Plan::Done(ApplyOutcome::Failed {
                code,
                message,
                retryable: false,
            })
        };
        let item_path = |kind: ItemKind, external_id: &ExternalId| -> Result<String, ApiError> {
            let eid = urlencode(&external_id.0);
            Ok(match kind {
                ItemKind::Contact => format!("/me/contacts/{eid}"),
                ItemKind::Event => format!("/me/events/{eid}"),
                ItemKind::Task => {
                    let list = request
                        .container_id
                        .as_deref()
                        .ok_or_else(|| no_container(kind))?;
                    format!("/me/todo/lists/{}/tasks/{eid}", urlencode(list))
                }
            })
        };
        match &request.op {
            ApplyOp::Create { item, .. } => {
                if item.kind() != request.kind {
                    return failed(
                        FailureCode::KindMismatch,
                        "the item is not of the command's kind".into(),
                    );
                }
                let (url, body, exceptions) = match item {
                    Item::Contact(c) => {
                        let Some(folder) = request.container_id.as_deref() else {
                            return Plan::Done(no_container(ItemKind::Contact).into_outcome());
                        };
                        (
                            format!("/me/contactFolders/{}/contacts", urlencode(folder)),
                            Value::Object(contact::to_graph(c)),
                            vec![],
                        )
                    }
                    Item::Task(t) => {
                        let Some(list) = request.container_id.as_deref() else {
                            return Plan::Done(no_container(ItemKind::Task).into_outcome());
                        };
                        (
                            format!("/me/todo/lists/{}/tasks", urlencode(list)),
                            Value::Object(task::to_graph(t)),
                            vec![],
                        )
                    }
                    Item::Event(e) => {
                        let mut body = match event::to_graph(e) {
                            Ok(body) => body,
                            Err(reason) => return failed(FailureCode::UnsupportedValue, reason),
                        };
                        // Graph drops a second POST with the same transactionId: a create
                        // retried after a lost answer does not duplicate the event.
                        body.insert("transactionId".into(), json!(request.command_id));
                        let url = match request.container_id.as_deref() {
                            Some(calendar) => {
                                format!("/me/calendars/{}/events", urlencode(calendar))
                            }
                            None => "/me/events".to_owned(),
                        };
                        let exceptions = e
                            .recurrence
                            .as_ref()
                            .map(|r| r.exceptions.clone())
                            .unwrap_or_default();
                        (url, Value::Object(body), exceptions)
                    }
                };
                let mut body = body;
                if let Value::Object(fields) = &mut body {
                    fields.insert(
                        "singleValueExtendedProperties".into(),
                        identity::property(&create_identity(request)),
                    );
                }
                Plan::Write {
                    request: BatchRequest {
                        id,
                        method: Method::POST,
                        url,
                        body: Some(body),
                        if_match: None,
                        depends_on: vec![],
                    },
                    exceptions,
                }
            }
            ApplyOp::Update {
                external_id,
                item,
                base,
                expected_version,
                ..
            } => {
                let url = match item_path(item.kind(), external_id) {
                    Ok(url) => url,
                    Err(err) => return Plan::Done(err.into_outcome()),
                };
                let (body, exceptions) = match (item, base) {
                    (Item::Contact(c), b) => {
                        let b = match b {
                            Some(Item::Contact(b)) => Some(b),
                            _ => None,
                        };
                        (contact::patch(c, b), vec![])
                    }
                    (Item::Task(t), b) => {
                        let b = match b {
                            Some(Item::Task(b)) => Some(b),
                            _ => None,
                        };
                        (task::patch(t, b), vec![])
                    }
                    (Item::Event(e), b) => {
                        let b = match b {
                            Some(Item::Event(b)) => Some(b),
                            _ => None,
                        };
                        let body = match event::patch(e, b) {
                            Ok(body) => body,
                            Err(reason) => return failed(FailureCode::UnsupportedValue, reason),
                        };
                        (body, new_exceptions(e, b))
                    }
                };
                // Nothing of ours changed: read the item for its version instead of writing.
                let (method, body) = if body.is_empty() {
                    (Method::GET, None)
                } else {
                    (Method::PATCH, Some(Value::Object(body)))
                };
                Plan::Write {
                    request: BatchRequest {
                        id,
                        method,
                        url,
                        body,
                        if_match: expected_version.as_ref().map(if_match),
                        depends_on: vec![],
                    },
                    exceptions,
                }
            }
            ApplyOp::Delete {
                external_id,
                expected_version,
            } => match item_path(request.kind, external_id) {
                Ok(url) => Plan::Write {
                    request: BatchRequest {
                        id,
                        method: Method::DELETE,
                        url,
                        body: None,
                        if_match: expected_version.as_ref().map(if_match),
                        depends_on: vec![],
                    },
                    exceptions: vec![],
                },
                Err(err) => Plan::Done(err.into_outcome()),
            },
            ApplyOp::Probe { external_id } => {
                let url = match (request.kind, item_path(request.kind, external_id)) {
                    (ItemKind::Event, _) => event_url(&external_id.0, false),
                    (_, Ok(url)) => url,
                    (_, Err(err)) => return Plan::Done(err.into_outcome()),
                };
                Plan::Write {
                    request: BatchRequest {
                        id,
                        method: Method::GET,
                        url,
                        body: None,
                        if_match: None,
                        depends_on: vec![],
                    },
                    exceptions: vec![],
                }
            }
        }
    }

    /// The outcome of one write from its `$batch` answer.
    async fn outcome(
        &self,
        ctx: &CallContext,
        request: &ApplyRequest,
        sent: &BatchRequest,
        answer: BatchAnswer,
    ) -> ApplyOutcome {
        let kind = request.kind;
        match (&request.op, answer.into_result()) {
            (ApplyOp::Delete { external_id, .. }, Ok(_)) => ApplyOutcome::Gone {
                external_id: Some(external_id.clone()),
            },
            (
                ApplyOp::Delete { external_id, .. }
                | ApplyOp::Update { external_id, .. }
                | ApplyOp::Probe { external_id },
                Err(err),
            ) if is_not_found(&err) => ApplyOutcome::Gone {
                external_id: Some(external_id.clone()),
            },
            (
                ApplyOp::Update { external_id, .. } | ApplyOp::Delete { external_id, .. },
                Err(err),
            ) if is_precondition_failed(&err) => {
                // Changed since the version sync-service holds: answer what Graph has now (an
                // event as the reader reads it, a series with its cancelled occurrences).
                let url = match &request.op {
                    ApplyOp::Update {
                        item: Item::Event(e),
                        ..
                    } => event_url(&external_id.0, e.recurrence.is_some()),
                    _ => sent.url.clone(),
                };
                match self.graph.get(ctx, "GET item", &url).await {
                    Ok(Some(value)) => match parse_item(kind, &value) {
                        Ok(item) => ApplyOutcome::Stale {
                            external_id: external_id.clone(),
                            version: Version(version_of(&value)),
                            item,
                            modified: modified_of(&value),
                        },
                        Err(reason) => ApplyOutcome::Failed {
                            code: FailureCode::MalformedResponse,
                            message: reason,
                            retryable: true,
                        },
                    },
                    Ok(None) => ApplyOutcome::Gone {
                        external_id: Some(external_id.clone()),
                    },
                    Err(err) => err.into_outcome(),
                }
            }
            (ApplyOp::Create { .. } | ApplyOp::Update { .. }, Ok(Some(value))) => {
                applied(kind, &value)
            }
            (ApplyOp::Probe { external_id }, Ok(Some(value))) => {
                self.probed(ctx, kind, external_id, value).await
            }
            (_, Ok(None)) => ApplyOutcome::Failed {
                code: FailureCode::MalformedResponse,
                message: "Graph answered without a body".into(),
                retryable: true,
            },
            (_, Err(err)) => err.into_outcome(),
        }
    }

    /// A probed item as it is now. A series master is read again with its cancelled
    /// occurrences, which are part of its content (the batch's plain read omits them).
    async fn probed(
        &self,
        ctx: &CallContext,
        kind: ItemKind,
        external_id: &ExternalId,
        value: Value,
    ) -> ApplyOutcome {
        let value = if value.get("type").and_then(Value::as_str) == Some("seriesMaster") {
            match self
                .graph
                .get(ctx, "GET item", &event_url(&external_id.0, true))
                .await
            {
                Ok(Some(value)) => value,
                Ok(None) => {
                    return ApplyOutcome::Gone {
                        external_id: Some(external_id.clone()),
                    };
                }
                Err(err) => return err.into_outcome(),
            }
        } else {
            value
        };
        match parse_item(kind, &value) {
            Ok(item) => ApplyOutcome::Stale {
                external_id: external_id.clone(),
                version: Version(version_of(&value)),
                item,
                modified: modified_of(&value),
            },
            Err(reason) => ApplyOutcome::Failed {
                code: FailureCode::MalformedResponse,
                message: reason,
                retryable: true,
            },
        }
    }

    /// A written series: removes the occurrences on its new exception dates, and answers the
    /// content it now holds (Graph's answer does not list removed occurrences).
    async fn finish_series(
        &self,
        ctx: &CallContext,
        request: &ApplyRequest,
        mut outcome: ApplyOutcome,
        exceptions: &[NaiveDate],
    ) -> ApplyOutcome {
        if let (
            ApplyOutcome::Applied {
                external_id,
                content_hash,
                ..
            },
            ApplyOp::Create {
                item: Item::Event(e),
                ..
            }
            | ApplyOp::Update {
                item: Item::Event(e),
                ..
            },
        ) = (&mut outcome, &request.op)
            && e.recurrence.is_some()
        {
            if !exceptions.is_empty()
                && let Err(err) = self
                    .apply_exceptions(ctx, &external_id.0, e, exceptions)
                    .await
            {
                tracing::warn!(error = %err, "cannot remove the occurrences of a series' exceptions");
            }
            *content_hash = Item::Event(e.clone()).content_hash();
        }
        outcome
    }

    /// The answer to a create that found the copy an earlier attempt made: nothing is created;
    /// the copy as it is, `Stale` (it holds what that attempt sent, which may not be what this
    /// one carries, and may have been edited since). A series first loses the occurrences on
    /// this create's exception dates, as a write of it would (the attempt may have died before
    /// removing them; removing one twice is harmless), then is read with its cancelled
    /// occurrences, like a probe.
    async fn found_copy(
        &self,
        ctx: &CallContext,
        request: &ApplyRequest,
        value: Value,
    ) -> ApplyOutcome {
        let Some(id) = value.get("id").and_then(Value::as_str).map(str::to_owned) else {
            return ApplyOutcome::Failed {
                code: FailureCode::MalformedResponse,
                message: "Graph listed an item without an id".into(),
                retryable: true,
            };
        };
        if let ApplyOp::Create {
            item: Item::Event(e),
            ..
        } = &request.op
            && e.recurrence.is_some()
        {
            let exceptions = new_exceptions(e, None);
            if !exceptions.is_empty()
                && let Err(err) = self.apply_exceptions(ctx, &id, e, &exceptions).await
            {
                tracing::warn!(error = %err, "cannot remove the occurrences of a series' exceptions");
            }
        }
        self.probed(ctx, request.kind, &ExternalId(id), value).await
    }

    /// The item an earlier attempt of this create made, found by the link's identity in the
    /// container it was created in.
    async fn find_created(
        &self,
        ctx: &CallContext,
        request: &ApplyRequest,
    ) -> Result<Option<Value>, ApiError> {
        let container = request.container_id.as_deref();
        let (operation, collection) = match (request.kind, container) {
            (ItemKind::Contact, Some(folder)) => (
                "GET /me/contactFolders/{id}/contacts",
                format!("/me/contactFolders/{}/contacts", urlencode(folder)),
            ),
            (ItemKind::Task, Some(list)) => (
                "GET /me/todo/lists/{id}/tasks",
                format!("/me/todo/lists/{}/tasks", urlencode(list)),
            ),
            (ItemKind::Event, Some(calendar)) => (
                "GET /me/calendars/{id}/events",
                format!("/me/calendars/{}/events", urlencode(calendar)),
            ),
            (ItemKind::Event, None) => ("GET /me/events", "/me/events".to_owned()),
            (kind, None) => return Err(no_container(kind)),
        };
        let mut path = format!(
            "{collection}?$filter={}",
            urlencode(&identity::filter(&create_identity(request)))
        );
        if request.kind == ItemKind::Event {
            path.push_str(&format!("&$select={}", event::SELECT));
        }
        let found = self.graph.get(ctx, operation, &path).await?;
        Ok(found
            .and_then(|page| page.get("value").and_then(Value::as_array).cloned())
            .and_then(|items| items.into_iter().next()))
    }

    /// Deletes the occurrences of a series that fall on its exception dates (Graph has no
    /// writable list of them). Restoring an occurrence is not possible through Graph.
    async fn apply_exceptions(
        &self,
        ctx: &CallContext,
        series_id: &str,
        item: &Event,
        exceptions: &[NaiveDate],
    ) -> Result<(), ApiError> {
        let (Some(first), Some(last)) = (exceptions.iter().min(), exceptions.iter().max()) else {
            return Ok(());
        };
        let from = (*first - Duration::days(1)).format("%Y-%m-%dT00:00:00Z");
        let to = (*last + Duration::days(2)).format("%Y-%m-%dT00:00:00Z");
        let path = format!(
            "/me/events/{}/instances?startDateTime={from}&endDateTime={to}",
            urlencode(series_id)
        );
        let instances = self
            .graph
            .list_all(ctx, "GET /me/events/{id}/instances", &path)
            .await?;
        let tz = match &item.start {
            EventTime::DateTime { time_zone, .. } => time_zone.as_deref().and_then(zone),
            EventTime::Date { .. } => None,
        };
        let mut deletes = Vec::new();
        for instance in &instances {
            let Ok(occurrence) = event::from_graph(instance) else {
                continue;
            };
            let date = match occurrence.start {
                EventTime::Date { date } => date,
                EventTime::DateTime { utc, .. } => match tz {
                    Some(tz) => utc_to_local(utc, tz).date(),
                    None => utc.date_naive(),
                },
            };
            if exceptions.contains(&date)
                && let Some(id) = instance.get("id").and_then(Value::as_str)
            {
                deletes.push(BatchRequest {
                    id: deletes.len().to_string(),
                    method: Method::DELETE,
                    url: format!("/me/events/{}", urlencode(id)),
                    body: None,
                    if_match: None,
                    depends_on: vec![],
                });
            }
        }
        for chunk in deletes.chunks(BATCH_SIZE) {
            for (_, answer) in self.graph.batch(ctx, chunk).await? {
                match answer.into_result() {
                    Ok(_) => {}
                    Err(err) if is_not_found(&err) => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(())
    }
}

/// The path of an event read by id, with every property the reader uses selected
/// ([`event::SELECT`]), and for a known series master its `cancelledOccurrences` (Graph
/// documents the property only for a GET of a master by id; other ids are not asked for it).
fn event_url(id: &str, master: bool) -> String {
    let cancelled = if master { ",cancelledOccurrences" } else { "" };
    format!(
        "/me/events/{}?$select={}{cancelled}",
        urlencode(id),
        event::SELECT
    )
}

/// Exception dates of `new` that `base` did not have.
fn new_exceptions(new: &Event, base: Option<&Event>) -> Vec<NaiveDate> {
    let new = new
        .recurrence
        .as_ref()
        .map(|r| r.exceptions.clone())
        .unwrap_or_default();
    let old = base
        .and_then(|b| b.recurrence.as_ref())
        .map(|r| r.exceptions.clone())
        .unwrap_or_default();
    new.into_iter().filter(|d| !old.contains(d)).collect()
}

/// Where an identify read goes on: the next page of its listing, and (events) what it read.
#[derive(Debug, Serialize, Deserialize)]
struct IdentifyCursor {
    identify: String,
    #[serde(flatten)]
    events: EventState,
}

impl OutlookConnector {
    /// The first page of an identify read: a plain listing of the watched scope with the link
    /// identity expanded (the contact and calendar delta queries cannot expand it).
    fn identify_url(&self, watch: &Watch) -> Result<String, ApiError> {
        let base = self.graph.base_url();
        let expand = urlencode(&identity::expand());
        let container = || {
            watch
                .container_id
                .as_deref()
                .map(urlencode)
                .ok_or_else(|| no_container(watch.kind))
        };
        Ok(match watch.kind {
            ItemKind::Contact => format!(
                "{base}/me/contactFolders/{}/contacts?$expand={expand}",
                container()?
            ),
            ItemKind::Task => format!(
                "{base}/me/todo/lists/{}/tasks?$expand={expand}",
                container()?
            ),
            ItemKind::Event => {
                let now = Utc::now();
                let start = now - Duration::days(i64::from(self.window.days_back));
                let end = now + Duration::days(i64::from(self.window.days_ahead));
                let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
                format!(
                    "{base}/me/calendarView?startDateTime={}&endDateTime={}&$expand={expand}",
                    fmt(start),
                    fmt(end)
                )
            }
        })
    }

    /// A links rebuild's read: every item of the scope with the identity it carries, then the
    /// round ends with a null cursor, so the next round is a full delta read (whose items are
    /// echoes of these). A series is published once, as its master, with the identity its
    /// occurrences carry (an occurrence has its master's extended properties).
    async fn identify_page(
        &self,
        ctx: &CallContext,
        watch: &Watch,
        cursor: Option<IdentifyCursor>,
    ) -> Result<Page, ApiError> {
        let (url, mut state) = match cursor {
            Some(c) => (c.identify, c.events),
            None => (self.identify_url(watch)?, EventState::default()),
        };
        let operation = match watch.kind {
            ItemKind::Contact => "GET /me/contactFolders/{id}/contacts",
            ItemKind::Task => "GET /me/todo/lists/{id}/tasks",
            ItemKind::Event => "GET /me/calendarView",
        };
        let page = self.graph.delta(ctx, operation, &url).await?;
        let mut changes = Vec::with_capacity(page.value.len());
        let mut unreadable_items = 0;
        let mut masters: BTreeMap<String, Option<sync_protocol::LinkIdentity>> = BTreeMap::new();
        for value in &page.value {
            if watch.kind == ItemKind::Event {
                let event_type = value.get("type").and_then(Value::as_str);
                let master = value.get("seriesMasterId").and_then(Value::as_str);
                if let (Some("occurrence" | "exception"), Some(master)) = (event_type, master) {
                    if !state.was_read(master) {
                        masters
                            .entry(master.to_owned())
                            .or_insert_with(|| identity::identity_of(value));
                    }
                    continue;
                }
            }
            match to_change(watch.kind, value) {
                Ok(change) => changes.push(change),
                Err(reason) => {
                    unreadable(&reason);
                    unreadable_items += 1;
                }
            }
        }
        if !masters.is_empty() {
            let ids = masters.keys().map(|id| (id.clone(), true)).collect();
            let mut read = Vec::new();
            self.events_by_id(ctx, ids, &mut state, &mut read).await?;
            for mut change in read {
                if let ChangeMessage::ItemChanged {
                    external_id,
                    identity,
                    ..
                } = &mut change
                    && identity.is_none()
                {
                    *identity = masters.get(&external_id.0).cloned().flatten();
                }
                changes.push(change);
            }
        }
        let more = page.next_link.is_some();
        let cursor = match page.next_link {
            Some(next) => serde_json::to_value(IdentifyCursor {
                identify: next,
                events: state,
            })
            .map_err(|e| ApiError::Transient(e.into()))?,
            None => Value::Null,
        };
        Ok(Page {
            changes,
            cursor,
            more,
            unreadable: unreadable_items,
        })
    }
}

/// The outcome of a create or update, from the resource Graph answered with.
fn applied(kind: ItemKind, value: &Value) -> ApplyOutcome {
    let malformed = |message: String| ApplyOutcome::Failed {
        code: FailureCode::MalformedResponse,
        message,
        retryable: true,
    };
    match to_change(kind, value) {
        Ok(ChangeMessage::ItemChanged {
            external_id,
            version,
            item,
            modified,
            ..
        }) => ApplyOutcome::Applied {
            external_id,
            version,
            content_hash: item.content_hash(),
            modified,
        },
        Ok(_) => malformed("Graph answered with a removed item".into()),
        Err(reason) => malformed(reason),
    }
}

#[async_trait]
impl Connector for OutlookConnector {
    fn side(&self) -> Side {
        Side::Outlook
    }

    async fn read_page(
        &self,
        ctx: &CallContext,
        watch: &Watch,
        cursor: Option<&Value>,
    ) -> Result<Page, ApiError> {
        let identifying =
            cursor.and_then(|c| serde_json::from_value::<IdentifyCursor>(c.clone()).ok());
        if identifying.is_some() || (cursor.is_none() && watch.identify) {
            return self.identify_page(ctx, watch, identifying).await;
        }
        let stored = cursor.and_then(|c| serde_json::from_value::<Cursor>(c.clone()).ok());
        // A finished round of an old calendar window: start over with a window around today.
        let stale_window = stored.as_ref().is_some_and(|c| {
            c.link.contains("deltatoken")
                && c.window_set_at
                    .is_some_and(|at| Utc::now() - at > WINDOW_MAX_AGE)
        });
        let (url, window_set_at, mut state) = match stored {
            Some(cursor) if !stale_window => (cursor.link, cursor.window_set_at, cursor.events),
            // A full round publishes every event of the window again.
            _ => {
                let (url, at) = self.initial_delta_url(watch)?;
                (url, at, EventState::default())
            }
        };
        let page = self
            .graph
            .delta(ctx, Self::delta_operation(watch.kind), &url)
            .await?;
        let mut changes = Vec::with_capacity(page.value.len());
        // Ids to read, each with whether it is a series master.
        let mut by_id = BTreeMap::new();
        let mut removed = BTreeSet::new();
        let mut unreadable_items = 0;
        for value in &page.value {
            if watch.kind == ItemKind::Event {
                let id = value.get("id").and_then(Value::as_str);
                let event_type = value.get("type").and_then(Value::as_str);
                let master = value.get("seriesMasterId").and_then(Value::as_str);
                match (id, value.get("@removed"), event_type, master) {
                    // Deleted, or only moved out of the window: read it to know which.
                    (Some(id), Some(_), _, _) => {
                        removed.insert(id.to_owned());
                        continue;
                    }
                    // An occurrence stands for its series, read once a round.
                    (_, None, Some("occurrence" | "exception"), Some(master)) => {
                        if !state.was_read(master) {
                            by_id.insert(master.to_owned(), true);
                        }
                        continue;
                    }
                    // A master is read whole (with its cancelled occurrences).
                    (Some(id), None, Some("seriesMaster"), _) => {
                        if !state.was_read(id) {
                            by_id.insert(id.to_owned(), true);
                        }
                        continue;
                    }
                    _ => {}
                }
            }
            match to_change(watch.kind, value) {
                Ok(change) => changes.push(change),
                Err(reason) => {
                    unreadable(&reason);
                    unreadable_items += 1;
                }
            }
        }
        if !by_id.is_empty() || !removed.is_empty() {
            for id in &removed {
                let master = state.series.contains(id);
                by_id.entry(id.clone()).or_insert(master);
            }
            let checked = self
                .events_by_id(ctx, by_id, &mut state, &mut changes)
                .await?;
            // A removal Graph no longer has, of no event we published, may be a deleted
            // occurrence: its series changed (one more exception) and nothing says which, so
            // every known series is read again, also those read earlier in this round (the
            // occurrence may have gone after that read).
            let unexplained = changes.iter().any(|c| {
                matches!(c, ChangeMessage::ItemDeleted { external_id, .. }
                    if removed.contains(&external_id.0) && !state.explains_removal(&external_id.0))
            });
            if unexplained {
                let again: BTreeMap<String, bool> = state
                    .series
                    .difference(&checked)
                    .map(|id| (id.clone(), true))
                    .collect();
                if !again.is_empty() {
                    self.events_by_id(ctx, again, &mut state, &mut changes)
                        .await?;
                }
            }
        }
        if watch.kind == ItemKind::Event {
            state.record(&changes);
        }
        let (link, more) = match (page.next_link, page.delta_link) {
            (Some(next), _) => (next, true),
            (None, Some(delta)) => (delta, false),
            (None, None) => return Err(malformed("a delta page without nextLink or deltaLink")),
        };
        if !more {
            state.end_round();
        }
        let cursor = serde_json::to_value(Cursor {
            link,
            window_set_at,
            events: state,
        })
        .map_err(|e| ApiError::Transient(e.into()))?;
        Ok(Page {
            changes,
            cursor,
            more,
            unreadable: unreadable_items,
        })
    }

    async fn apply(&self, ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        let mut outcomes: Vec<Option<ApplyOutcome>> = vec![None; requests.len()];
        let mut writes: Vec<(usize, BatchRequest, Vec<NaiveDate>)> = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            let may_exist = match &request.op {
                ApplyOp::Create { may_exist, .. } => request.repeated || *may_exist,
                _ => false,
            };
            if may_exist {
                match self.find_created(ctx, request).await {
                    Ok(Some(value)) => {
                        tracing::info!(link = %request.link_id, repeated = request.repeated, "a create found the copy an earlier attempt made");
                        outcomes[index] = Some(self.found_copy(ctx, request, value).await);
                        continue;
                    }
                    Ok(None) => {}
                    Err(err) => {
                        outcomes[index] = Some(err.into_outcome());
                        continue;
                    }
                }
            }
            match self.plan(index, request) {
                Plan::Done(outcome) => outcomes[index] = Some(outcome),
                Plan::Write {
                    request: r,
                    exceptions,
                } => writes.push((index, r, exceptions)),
            }
        }
        for chunk in writes.chunks(BATCH_SIZE) {
            let batch: Vec<BatchRequest> = chunk.iter().map(|(_, r, _)| r.clone()).collect();
            let answers = match self.graph.batch(ctx, &batch).await {
                Ok(answers) => answers,
                Err(err) => {
                    // A create whose answer was lost is tried again: its next attempt looks for
                    // the copy this one may have made (the link's identity is on the item).
                    for (index, _, _) in chunk {
                        outcomes[*index] = Some(err.outcome());
                    }
                    continue;
                }
            };
            for (index, sent, exceptions) in chunk {
                let request = &requests[*index];
                let Some(answer) = answers.get(&sent.id).cloned() else {
                    outcomes[*index] = Some(ApplyOutcome::Failed {
                        code: FailureCode::NoResult,
                        message: "the $batch answer lacks this request".into(),
                        retryable: true,
                    });
                    continue;
                };
                let outcome = self.outcome(ctx, request, sent, answer).await;
                outcomes[*index] =
                    Some(self.finish_series(ctx, request, outcome, exceptions).await);
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or(ApplyOutcome::Failed {
                    code: FailureCode::NoResult,
                    message: "not carried out".into(),
                    retryable: true,
                })
            })
            .collect()
    }

    /// The calendar is read over a window around today: an event missing from a full read may
    /// only lie outside it (or have been moved there), so its absence proves no deletion.
    fn full_read_lists_everything(&self, kind: ItemKind) -> bool {
        kind != ItemKind::Event
    }

    fn discoveries(&self) -> &'static [&'static str] {
        &["contact-folders", "todo-lists", "categories", "mailbox"]
    }

    /// `POST /me/outlook/masterCategories` for each name the mailbox lacks (Graph compares names
    /// without case); one created meanwhile answers 409 `ErrorAlreadyExists`, which is fine.
    async fn ensure_categories(&self, ctx: &CallContext, names: &[String]) -> Result<(), ApiError> {
        let have = self
            .graph
            .list_all(
                ctx,
                "GET /me/outlook/masterCategories",
                "/me/outlook/masterCategories",
            )
            .await?;
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| {
                !have.iter().any(|c| {
                    c["displayName"]
                        .as_str()
                        .is_some_and(|d| d.trim().eq_ignore_ascii_case(name.trim()))
                })
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let requests: Vec<BatchRequest> = missing
            .iter()
            .enumerate()
            .map(|(n, name)| BatchRequest {
                id: n.to_string(),
                method: reqwest::Method::POST,
                url: "/me/outlook/masterCategories".into(),
                body: Some(serde_json::json!({"displayName": name.trim(), "color": "preset7"})),
                if_match: None,
                depends_on: Vec::new(),
            })
            .collect();
        for (_, answer) in self.graph.batch(ctx, &requests).await? {
            if answer.status == reqwest::StatusCode::CONFLICT {
                continue;
            }
            answer.into_result()?;
        }
        tracing::info!(categories = ?missing, "created the mailbox's categories");
        Ok(())
    }

    async fn discover(&self, ctx: &CallContext, what: &str) -> Result<Value, ApiError> {
        if what == "mailbox" {
            // Which mailbox is connected, for the Accounts page (`GET /me`).
            let me = self
                .graph
                .get(ctx, "GET /me", "/me")
                .await?
                .unwrap_or_default();
            let email = me["mail"]
                .as_str()
                .filter(|m| !m.is_empty())
                .or_else(|| me["userPrincipalName"].as_str());
            return Ok(json!({"display_name": me["displayName"], "email": email}));
        }
        let (path, operation, keys): (&str, &'static str, &[&str]) = match what {
            "contact-folders" => (
                "/me/contactFolders",
                "GET /me/contactFolders",
                &["id", "displayName", "parentFolderId"],
            ),
            "todo-lists" => (
                "/me/todo/lists",
                "GET /me/todo/lists",
                &[
                    "id",
                    "displayName",
                    "wellknownListName",
                    "isOwner",
                    "isShared",
                ],
            ),
            "categories" => (
                "/me/outlook/masterCategories",
                "GET /me/outlook/masterCategories",
                &["id", "displayName", "color"],
            ),
            other => {
                return Err(ApiError::Permanent {
                    code: "unknown_discovery".into(),
                    message: format!("`{other}` cannot be listed"),
                });
            }
        };
        let items = self.graph.list_all(ctx, operation, path).await?;
        let value: Vec<Value> = items
            .iter()
            .map(|item| {
                let mut out = serde_json::Map::new();
                for key in keys {
                    if let Some(v) = item.get(*key) {
                        out.insert((*key).to_owned(), v.clone());
                    }
                }
                Value::Object(out)
            })
            .collect();
        Ok(json!({"value": value}))
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn cursors_of_earlier_versions_still_read_and_contact_cursors_stay_small() {
        let old: Cursor =
            serde_json::from_value(json!({"link": "https://x/delta", "series": ["AAMk="]}))
                .unwrap();
        assert!(old.events.explains_removal("AAMk="));
        assert!(!old.events.was_read("AAMk="));
        let contacts = Cursor {
            link: "https://x/delta".into(),
            window_set_at: None,
            events: EventState::default(),
        };
        assert_eq!(
            serde_json::to_value(&contacts).unwrap(),
            json!({"link": "https://x/delta"})
        );
    }
}

#[cfg(test)]
mod payload_tests {
    //! Every published Graph payload (`fixtures/api-payloads/graph_*.json`) is read by the parser
    //! the connector uses for it; a new payload without one fails here.

    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use serde_json::Value;

    use super::*;
    use crate::graph::{BatchAnswer, DeltaPage, error_of};

    fn check(name: &str, value: &Value) {
        let h = HeaderMap::new();
        match name {
            "graph_429.json" => assert!(matches!(
                error_of(StatusCode::TOO_MANY_REQUESTS, &h, value),
                ApiError::Throttled { .. }
            )),
            "graph_error_irresolvable_conflict_412.json" => {
                assert!(crate::graph::is_precondition_failed(&error_of(
                    StatusCode::PRECONDITION_FAILED,
                    &h,
                    value
                )))
            }
            // auth-service's business, but an OAuth error body must not confuse the classifier.
            "graph_oauth_token_error.json" => assert!(matches!(
                error_of(StatusCode::BAD_REQUEST, &h, value),
                ApiError::Permanent { .. }
            )),
            "graph_oauth_token_refresh_response.json" => {
                assert!(value["access_token"].is_string() && value["expires_in"].is_number())
            }
            "graph_batch_response.json" => {
                for r in value["responses"].as_array().unwrap() {
                    let answer = BatchAnswer {
                        status: StatusCode::from_u16(r["status"].as_u64().unwrap() as u16).unwrap(),
                        body: r["body"].clone(),
                        headers: HeaderMap::new(),
                    };
                    let _ = answer.into_result();
                }
            }
            "graph_contact_folders.json"
            | "graph_master_categories.json"
            | "graph_todo_lists.json" => {
                let page: DeltaPage = serde_json::from_value(value.clone()).unwrap();
                assert!(
                    page.value
                        .iter()
                        .all(|v| v["id"].is_string() && v["displayName"].is_string())
                );
            }
            "graph_contact_get.json" | "graph_contact_update_response.json" => {
                parse_item(ItemKind::Contact, value).unwrap();
            }
            "graph_todo_task_create_response.json" => {
                parse_item(ItemKind::Task, value).unwrap();
            }
            "graph_event_create_recurring_response.json" => {
                parse_item(ItemKind::Event, value).unwrap();
            }
            "graph_contacts_delta_page.json"
            | "graph_todo_task_delta.json"
            | "graph_calendarview_delta_page1.json"
            | "graph_event_delta_removed.json" => {
                let kind = if name.contains("contacts") {
                    ItemKind::Contact
                } else if name.contains("todo") {
                    ItemKind::Task
                } else {
                    ItemKind::Event
                };
                let page: DeltaPage = serde_json::from_value(value.clone()).unwrap();
                assert!(page.next_link.is_some() || page.delta_link.is_some());
                for item in &page.value {
                    if item.get("id").is_some() {
                        to_change(kind, item).unwrap();
                    } else {
                        // The docs' sample contact has no id: such an item is skipped (and
                        // counted), its content still maps.
                        assert!(to_change(kind, item).is_err());
                        parse_item(kind, item).unwrap();
                    }
                }
            }
            other => panic!("{other}: a published payload without a parser test"),
        }
    }

    #[test]
    fn every_published_graph_payload_parses() {
        let mut seen = 0;
        for name in test_support::fixtures::api_payload_names("graph_") {
            let value = test_support::fixtures::api_payload(&name);
            check(&format!("{name}.json"), &value);
            seen += 1;
        }
        assert_eq!(seen, 16, "{seen} payloads");
    }

    #[test]
    fn the_removed_event_is_a_delete_and_the_other_a_change() {
        let text = test_support::fixtures::api_payload_text("graph_event_delta_removed");
        let page: DeltaPage = serde_json::from_str(&text).unwrap();
        let changes: Vec<ChangeMessage> = page
            .value
            .iter()
            .map(|v| to_change(ItemKind::Event, v).unwrap())
            .collect();
        assert!(matches!(
            changes[0],
            ChangeMessage::ItemDeleted {
                left_scope: false,
                ..
            }
        ));
        assert!(matches!(changes[1], ChangeMessage::ItemChanged { .. }));
        assert_eq!(
            version_of(&page.value[1]),
            "EZ9r3czxY0m2jz8c45czkwAALZu97w=="
        );
    }
}
