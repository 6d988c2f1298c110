//! Property tests of the engine: two simulated accounts, the engine, and the queues between
//! them, driven by random interleavings of user edits, polls, engine steps and writes.

use std::collections::{BTreeMap, VecDeque};

use proptest::prelude::*;
use sync_model::capacity::zoho_length::DESCRIPTION;
use sync_model::{
    Contact, EmailAddress, ExternalId, Item, ItemKind, LinkId, Modified, Side, UserId, Version,
};
use sync_protocol::{ApplyOp, FailureCode, PollClaim};
use uuid::Uuid;

use super::collision;
use super::engine::{Command, Ids, Input, Output, Rules, step};
use super::fence::Fence;
use super::finale::{self, Step, Waiting};
use super::full_read;
use super::link::{Link, LinkStatus};
use super::scope::Settled;
use super::settings::{ConflictRule, Direction};
use super::unknown_read::{self, UnknownRead};

const USER: UserId = UserId(Uuid::nil());

/// Fields both sides hold (an e-mail field is a position in the list).
const FIELDS: [&str; 6] = [
    "job_title",
    "department",
    "notes",
    "email1",
    "email2",
    "business_phone",
];
/// Edits only an Outlook user can make: a third address, a second business phone, notes longer
/// than Zoho's `Description` (they differ beyond Zoho's length only).
const OUTLOOK_ONLY: [&str; 3] = ["email3", "phone2", "long_notes"];
/// The fields whose one-side edits must survive as typed (list positions can shift).
const PLAIN: [&str; 4] = ["job_title", "department", "notes", "business_phone"];

/// A value a user types: phone numbers compare by their digits, so each side and field has its
/// own prefix digits there.
fn typed(side: Side, field: &str, value: &str) -> String {
    let side_digit = if side == Side::Outlook { 1 } else { 2 };
    match field {
        "business_phone" => format!("+{side_digit}1 {value}"),
        "phone2" => format!("+{side_digit}2 {value}"),
        _ => format!("{side}-{field}-{value}"),
    }
}

/// What a side stores of a contact written to it: Zoho its projection, Outlook at most three
/// addresses and two numbers per phone collection, read back first-number-first (Graph's
/// `businessPhones` is a list: a second number without a first reads as the first).
fn hold(side: Side, contact: Contact) -> Contact {
    match side {
        Side::Zoho => contact.project_for_zoho(),
        Side::Outlook => {
            let mut c = contact.project_for_outlook();
            if c.business_phone.is_none() && !c.more_business_phones.is_empty() {
                c.business_phone = Some(c.more_business_phones.remove(0));
            }
            c
        }
    }
}

/// Whether a windowed re-read lists the item (half of them, by id: the others lie outside).
fn in_window(id: &str) -> bool {
    id.bytes().map(u32::from).sum::<u32>() % 2 == 0
}

/// The values of an Outlook contact Zoho cannot hold.
#[derive(Debug, Clone, Default, PartialEq)]
struct Beyond {
    email3: Option<String>,
    phone2: Option<String>,
    long_notes: Option<String>,
}

impl Beyond {
    fn of(c: &Contact) -> Beyond {
        Beyond {
            // The third different address: a repeat is no address of its own (Zoho's two
            // slots go to two different ones).
            email3: {
                let mut distinct: Vec<&str> = Vec::new();
                for e in &c.emails {
                    if !distinct.iter().any(|d| d.eq_ignore_ascii_case(&e.0)) {
                        distinct.push(&e.0);
                    }
                }
                distinct.get(2).map(|e| (*e).to_owned())
            },
            phone2: c.more_business_phones.first().cloned(),
            long_notes: c.notes.clone().filter(|n| n.chars().count() > DESCRIPTION),
        }
    }
}

struct CountingIds(u128);

impl Ids for CountingIds {
    fn link_id(&mut self) -> LinkId {
        self.0 += 1;
        LinkId(Uuid::from_u128(self.0))
    }
    fn command_id(&mut self) -> Uuid {
        self.0 += 1;
        Uuid::from_u128(self.0)
    }
}

/// When the provider last changed an item at `version`: each change of an item gets a new
/// version, so its times are in the same order. Zoho's have one-second resolution: two
/// changes of a record may show the same time, which orders nothing.
fn changed_at(side: Side, version: impl std::borrow::Borrow<u64>) -> Option<Modified> {
    let version = *version.borrow();
    let seconds = match side {
        Side::Outlook => version,
        Side::Zoho => version / 2,
    };
    let at = chrono::DateTime::from_timestamp(1_700_000_000 + seconds as i64, 0)?;
    Some(Modified(at))
}

/// One simulated account: items, versions, and what changed since the last poll.
#[derive(Default)]
struct Account {
    items: BTreeMap<String, (u64, Contact)>,
    dirty: Vec<(String, bool)>,
    next: u64,
    /// The link identity our creates wrote on their items (both connectors do): Zoho's reads
    /// carry it back.
    made_by: std::collections::HashMap<LinkId, String>,
    /// Items a read has listed. Outlook tells the deletion only of these, as Graph's
    /// `calendarView/delta` tells removals only of what its sync state listed.
    listed: std::collections::BTreeSet<String>,
    /// Items a person took out of what the user syncs (an event's synced category removed):
    /// a read of one shows it outside the scope, as `scope::within` makes of it.
    out: std::collections::BTreeSet<String>,
}

impl Account {
    fn create(&mut self, side: Side, contact: Contact) -> String {
        self.next += 1;
        let id = format!("{side}-{}", self.next);
        self.items.insert(id.clone(), (1, hold(side, contact)));
        self.dirty.push((id.clone(), false));
        id
    }
    fn edit(&mut self, side: Side, id: &str, field: &str, value: &str) {
        if let Some((version, contact)) = self.items.get_mut(id) {
            set(contact, field, value);
            *contact = hold(side, contact.clone());
            *version += 1;
            self.dirty.push((id.to_owned(), false));
        }
    }
    fn delete(&mut self, id: &str) {
        if self.items.remove(id).is_some() {
            self.out.remove(id);
            self.dirty.push((id.to_owned(), true));
        }
    }
    /// A person takes the item out of the scope, or puts it back (a change of the item there).
    fn rescope_item(&mut self, id: &str, out: bool) {
        if let Some((version, _)) = self.items.get_mut(id) {
            let changed = if out {
                self.out.insert(id.to_owned())
            } else {
                self.out.remove(id)
            };
            if changed {
                *version += 1;
                self.dirty.push((id.to_owned(), false));
            }
        }
    }
    /// What a read of the item shows: it, or that it is outside the scope (then with its time,
    /// as `scope::within` turns a read outside the category filter into `LeftScope`).
    fn read(&self, side: Side, id: &str) -> Option<Input> {
        let (version, c) = self.items.get(id)?;
        let external_id = ExternalId(id.to_owned());
        let modified = changed_at(side, version);
        Some(if self.out.contains(id) {
            Input::LeftScope {
                side,
                external_id,
                modified,
            }
        } else {
            Input::Changed {
                side,
                external_id,
                version: Version(version.to_string()),
                item: Item::Contact(c.clone()),
                identity: None,
                modified,
            }
        })
    }
}

fn set(contact: &mut Contact, field: &str, value: &str) {
    let value = (!value.is_empty()).then(|| value.to_owned());
    match field {
        "job_title" => contact.job_title = value,
        "department" => contact.department = value,
        "business_phone" => contact.business_phone = value,
        "phone2" => contact.more_business_phones = value.into_iter().collect(),
        "long_notes" => {
            contact.notes = value.map(|tail| format!("{}{tail}", "x".repeat(DESCRIPTION)));
        }
        "email1" | "email2" | "email3" => {
            let position = usize::from(field.as_bytes()[5] - b'1');
            match value {
                Some(v) if position < contact.emails.len() => {
                    contact.emails[position] = EmailAddress(v);
                }
                Some(v) => contact.emails.push(EmailAddress(v)),
                None if position < contact.emails.len() => {
                    contact.emails.remove(position);
                }
                None => {}
            }
        }
        _ => contact.notes = value,
    }
}

fn get(contact: &Contact, field: &str) -> Option<String> {
    match field {
        "job_title" => contact.job_title.clone(),
        "department" => contact.department.clone(),
        "business_phone" => contact.business_phone.clone(),
        "email1" | "email2" | "email3" => {
            let position = usize::from(field.as_bytes()[5] - b'1');
            contact.emails.get(position).map(|e| e.0.clone())
        }
        _ => contact.notes.clone(),
    }
}

/// The other side never receives a value it cannot hold.
fn assert_fits(side: Side, c: &Contact) {
    assert_eq!(
        &hold(side, c.clone()),
        c,
        "{side} was sent more than it holds"
    );
}

fn contact(item: &Item) -> Contact {
    match item {
        Item::Contact(c) => c.clone(),
        other => panic!("the simulation syncs contacts only, not {other:?}"),
    }
}

#[derive(Debug, Clone)]
enum Action {
    Create(Side, u8),
    Edit(Side, u8, usize, u8),
    Delete(Side, u8),
    Poll(Side),
    Engine,
    Write(Side),
    /// A write is carried out but its answer is lost (a dropped connection).
    WriteLost(Side),
    /// A write is carried out and its answer comes late: after what the side's next poll read,
    /// the write included (the connector published its result after the poller published
    /// what it read since; a crash between the write and the result makes it seconds).
    WriteLate(Side),
    /// A poll whose cursor expired: what changed since is not reported one by one; the side
    /// is read in full instead (every item it holds now), between a start and an end message.
    Resync(Side),
    /// As `Resync` of Outlook, reading a window only (like its calendar): half the items are
    /// not listed (they lie outside), so what it does not list proves nothing. A create whose
    /// answer was lost and whose copy lies outside the window is retried with `may_exist`, and
    /// Outlook answers with the copy it finds (decision 84). A read parked before the re-read
    /// that it did not list is asked for by id when released (decision 102).
    WindowedResync,
    /// The user chooses another (empty) contact folder: a re-scope (`scope.rs`).
    MoveScope,
    /// A person takes an Outlook item out of what the user syncs (`true`: removes its synced
    /// category), or puts it back (decision 105).
    Categorise(u8, bool),
    /// The user saves another calendar filter that keeps every item where it is: like the
    /// settings route, the links whose item departed judge it anew (`Input::Rescoped`).
    Refilter,
    /// Review mode: the user resolves the held conflicts of an item waiting for a choice by
    /// keeping one side's values (decisions 107, 108).
    Choose(u8, Side),
    /// A poller claims the side's watch, reads what changed and stalls before publishing it
    /// (its cursor does not move); the page arrives after the side's next round, which took
    /// the watch over (decisions #111, #112).
    PollStale(Side),
}

/// What the engine's queue carries: inputs, and the start and end of full re-reads.
#[derive(Debug, Clone, PartialEq)]
enum Msg {
    Input(Input),
    FullReadStarted(Side, Uuid, bool),
    /// `true`: the read listed everything; `false`: a window only (Outlook's calendar).
    FullReadCompleted(Side, Uuid, bool),
    /// A read of a re-scope's full read, tagged with the re-scope's number.
    Tagged(u32, Input),
    /// The end of a re-scope's full read of a side.
    RescopeRead(u32, Side),
    /// The next page of the finale under way (like the handler's pager, it takes its turn
    /// among the user's other messages).
    FinalePage,
    /// A poll round's message, with the number of the round's claim of the side's watch.
    Claimed(Side, i64, Box<Msg>),
}

/// What a run exercises.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mix {
    /// Plain contacts, edits of the fields both sides hold, full re-reads.
    Plain,
    /// Contacts with everything Outlook holds beyond Zoho (a third address, a second phone) and
    /// Outlook users editing those; full re-reads too.
    Capacity,
    /// As `Capacity`, with notes longer than Zoho's `Description` too (slow in a debug build).
    LongTexts,
    /// As `Plain`, with Outlook items leaving the scope and coming back (the category filter).
    Categories,
}

/// Random actions of a `mix`.
fn action(mix: Mix) -> BoxedStrategy<Action> {
    let side = prop_oneof![Just(Side::Outlook), Just(Side::Zoho)];
    let common = prop_oneof![
        1 => (side.clone(), any::<u8>()).prop_map(|(s, n)| Action::Create(s, n)),
        1 => (side.clone(), any::<u8>()).prop_map(|(s, i)| Action::Delete(s, i)),
        3 => side.clone().prop_map(Action::Poll),
        6 => Just(Action::Engine),
        4 => side.clone().prop_map(Action::Write),
        1 => side.clone().prop_map(Action::WriteLost),
        1 => side.clone().prop_map(Action::WriteLate),
        1 => side.clone().prop_map(Action::PollStale),
    ];
    match mix {
        Mix::Categories => prop_oneof![
            8 => action(Mix::Plain),
            1 => (any::<u8>(), any::<bool>()).prop_map(|(i, out)| Action::Categorise(i, out)),
            1 => Just(Action::Refilter),
        ]
        .boxed(),
        Mix::Plain => prop_oneof![
            16 => common,
            4 => (side.clone(), any::<u8>(), 0..PLAIN.len() - 1, 0u8..4).prop_map(|(s, i, f, v)| Action::Edit(s, i, f, v)),
            1 => side.prop_map(Action::Resync),
            1 => Just(Action::WindowedResync),
        ]
        .boxed(),
        Mix::Capacity | Mix::LongTexts => {
            let outlook_only = if mix == Mix::LongTexts { OUTLOOK_ONLY.len() } else { 2 };
            prop_oneof![
                16 => common,
                4 => (side.clone(), any::<u8>(), 0..FIELDS.len(), 0u8..4).prop_map(|(s, i, f, v)| Action::Edit(s, i, f, v)),
                2 => (any::<u8>(), 0..outlook_only, 0u8..4).prop_map(|(i, f, v)| Action::Edit(Side::Outlook, i, FIELDS.len() + f, v)),
                1 => side.prop_map(Action::Resync),
            ]
            .boxed()
        }
    }
}

/// [`action`] of [`Mix::Plain`], and now and then a user's choice of a held conflict.
fn action_with_choices() -> impl Strategy<Value = Action> {
    let side = prop_oneof![Just(Side::Outlook), Just(Side::Zoho)];
    prop_oneof![
        12 => action(Mix::Plain),
        1 => (any::<u8>(), side).prop_map(|(n, keep)| Action::Choose(n, keep)),
    ]
}

/// [`action`] without expired cursors (full re-reads are `random_interleavings_converge`'s
/// concern), and now and then another contact folder.
fn action_with_moves() -> impl Strategy<Value = Action> {
    prop_oneof![
        40 => action(Mix::Plain).prop_filter("no expired cursor", |a| !matches!(a, Action::Resync(_) | Action::WindowedResync)),
        1 => Just(Action::MoveScope),
    ]
}

/// A read parked while a create with its content was in flight.
struct ParkedRead {
    input: Input,
    /// A windowed re-read of its side began since it was parked (like the handler's
    /// `parked_changes.unconfirmed`, decision 102).
    unconfirmed: bool,
}

struct World {
    outlook: Account,
    zoho: Account,
    links: Vec<Link>,
    to_engine: VecDeque<Msg>,
    to_side: BTreeMap<Side, VecDeque<Command>>,
    rules: Rules,
    ids: CountingIds,
    /// Deletes whose conflict the editing side won (the item rightly came back).
    resurrected: Vec<LinkId>,
    /// The user's choices made at the end (review mode), to alternate the side kept.
    choices: usize,
    /// Reads parked while a create with the same content was in flight.
    parked: Vec<ParkedRead>,
    /// (side, external id, field) → last value a user typed there.
    edits: BTreeMap<(Side, String, &'static str), String>,
    /// Items users created, and deleted.
    created: usize,
    deleted: usize,
    rounds: u128,
    /// Folders the user left (their items stay there, unsynced).
    left_folders: Vec<Account>,
    /// An open re-scope: whether each side's tagged full read is in (Outlook, Zoho).
    rescope: Option<(bool, bool)>,
    /// The sides whose connector still owes the re-scope's full read (its next round).
    owed: Vec<Side>,
    /// The number of the latest re-scope (its tag).
    rescopes: u32,
    /// Items the engine's deletes removed on each side (not counting copies our creates made).
    engine_deletes: BTreeMap<Side, usize>,
    /// Deletes users made on each side.
    user_deletes: BTreeMap<Side, usize>,
    /// Outlook id → what the Outlook user last left there beyond Zoho's capacity.
    beyond: BTreeMap<String, Beyond>,
    /// Every conflict the engine reported, with its link.
    conflicts: Vec<(LinkId, super::merge::FieldConflict)>,
    /// Answers of writes held back until the side's next poll has been read ([`Action::WriteLate`]).
    late: Vec<(Side, Msg)>,
    /// What this run exercises (see [`Mix`]).
    mix: Mix,
    /// The steps of the finale under way, still to settle (decisions #83).
    finale: Option<VecDeque<Step>>,
    /// Steps a finale page settles.
    page: usize,
    /// The newest claims seen, as sync-service keeps them (`poll_claims`).
    fence: Fence,
    /// The last claim's number (the connector's numbers only grow).
    claims: i64,
    /// Pages of stalled pollers, delivered after their side's next round.
    stalled: Vec<(Side, Vec<Msg>)>,
}

impl World {
    fn new(rule: ConflictRule, mix: Mix) -> Self {
        World {
            outlook: Account::default(),
            zoho: Account::default(),
            links: Vec::new(),
            to_engine: VecDeque::new(),
            to_side: BTreeMap::new(),
            rules: Rules {
                direction: Some(Direction::TwoWay),
                conflict_rule: rule,
                first_sync_open: false,
                rebuilding: false,
            },
            ids: CountingIds(0),
            resurrected: Vec::new(),
            choices: 0,
            parked: Vec::new(),
            edits: BTreeMap::new(),
            created: 0,
            deleted: 0,
            rounds: 0,
            left_folders: Vec::new(),
            rescope: None,
            owed: Vec::new(),
            rescopes: 0,
            engine_deletes: BTreeMap::new(),
            user_deletes: BTreeMap::new(),
            beyond: BTreeMap::new(),
            conflicts: Vec::new(),
            late: Vec::new(),
            mix,
            finale: None,
            page: 1,
            fence: Fence::default(),
            claims: 0,
            stalled: Vec::new(),
        }
    }

    fn account(&mut self, side: Side) -> &mut Account {
        match side {
            Side::Outlook => &mut self.outlook,
            Side::Zoho => &mut self.zoho,
        }
    }

    /// After an Outlook user's edit: what that user now has beyond Zoho's capacity.
    fn record_beyond(&mut self, side: Side, id: &str) {
        if side == Side::Outlook
            && let Some((_, c)) = self.outlook.items.get(id)
        {
            self.beyond.insert(id.to_owned(), Beyond::of(c));
        }
    }

    fn pick(&mut self, side: Side, n: u8) -> Option<String> {
        let items = &self.account(side).items;
        (!items.is_empty())
            .then(|| items.keys().nth(n as usize % items.len()).cloned())
            .flatten()
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Create(side, n) => {
                let mut c = Contact {
                    surname: Some(format!("Person {n}")),
                    ..Contact::default()
                };
                if matches!(self.mix, Mix::Capacity | Mix::LongTexts) && n % 4 == 0 {
                    // Everything this side can hold: three addresses, two business phones and
                    // long notes in Outlook (Zoho keeps its share of them).
                    for (i, field) in ["email1", "email2", "email3"].into_iter().enumerate() {
                        set(&mut c, field, &format!("{side}-new{n}-{i}@x.jp"));
                    }
                    set(
                        &mut c,
                        "business_phone",
                        &typed(side, "business_phone", &format!("9{n}")),
                    );
                    set(&mut c, "phone2", &typed(side, "phone2", &format!("9{n}")));
                    if self.mix == Mix::LongTexts {
                        set(&mut c, "long_notes", &format!("{side}-new{n}"));
                    }
                }
                let id = self.account(side).create(side, c);
                self.created += 1;
                self.record_beyond(side, &id);
            }
            Action::Edit(side, n, field, value) => {
                if let Some(id) = self.pick(side, n) {
                    let field = FIELDS
                        .iter()
                        .chain(&OUTLOOK_ONLY)
                        .nth(field)
                        .copied()
                        .unwrap_or("notes");
                    let value = typed(side, field, &value.to_string());
                    self.account(side).edit(side, &id, field, &value);
                    self.record_beyond(side, &id);
                    // The canonical field the edit landed in: a second phone typed where
                    // there is no first becomes the first (Graph's list).
                    let compacted = field == "phone2"
                        && self.account(side).items[&id]
                            .1
                            .more_business_phones
                            .is_empty();
                    let key = match field {
                        "long_notes" => "notes",
                        "phone2" if compacted => "business_phone",
                        other => other,
                    };
                    let typed = get(&self.account(side).items[&id].1, key).unwrap_or(value);
                    self.edits.insert((side, id, key), typed);
                }
            }
            Action::Delete(side, n) => {
                if let Some(id) = self.pick(side, n) {
                    self.account(side).delete(&id);
                    self.deleted += 1;
                    *self.user_deletes.entry(side).or_default() += 1;
                }
            }
            Action::Poll(side) => self.poll(side),
            Action::PollStale(side) => self.poll_stale(side),
            Action::Engine => self.engine(),
            Action::Write(side) => self.write(side),
            Action::WriteLost(side) => self.write_lost(side),
            Action::WriteLate(side) => self.write_late(side),
            Action::Resync(side) => self.resync(side, false),
            Action::WindowedResync => self.resync(Side::Outlook, true),
            Action::MoveScope => self.move_scope(),
            Action::Categorise(n, out) => {
                if let Some(id) = self.pick(Side::Outlook, n) {
                    self.outlook.rescope_item(&id, out);
                }
            }
            Action::Refilter => {
                for i in 0..self.links.len() {
                    if self.links[i].departed.is_some() {
                        self.run(
                            Some(i),
                            Input::Rescoped {
                                side: Side::Outlook,
                            },
                        );
                    }
                }
            }
            Action::Choose(n, keep) => {
                let waiting: Vec<usize> = (0..self.links.len())
                    .filter(|i| self.links[*i].awaits_choice())
                    .collect();
                if !waiting.is_empty() {
                    self.choose(waiting[usize::from(n) % waiting.len()], keep);
                }
            }
        }
    }

    /// Whether `side`'s tagged full read of an open re-scope is still to come.
    fn awaiting(&self, side: Side) -> bool {
        match (self.rescope, side) {
            (Some((outlook, _)), Side::Outlook) => !outlook,
            (Some((_, zoho)), Side::Zoho) => !zoho,
            (None, _) => false,
        }
    }

    /// Like the settings route: everything known in the old folder leaves the scope and the
    /// first sync opens again; the connector writes what was sent before the new watch into the
    /// old folder, then watches the new one.
    fn move_scope(&mut self) {
        for i in (0..self.links.len()).rev() {
            // Like `links::on_side`: also those whose Outlook item departed.
            if self.links[i].lookup_id(Side::Outlook).is_some() || self.links[i].outlook.is_some() {
                self.run(
                    Some(i),
                    Input::ScopeMoved {
                        side: Side::Outlook,
                    },
                );
            }
        }
        // Like the settings route: parked reads are of the old scope; the full reads bring
        // again whatever is in scope.
        self.parked.clear();
        // Like the settings route: the finale of the scope before is dropped.
        self.finale = None;
        self.rules.first_sync_open = true;
        self.rescope = Some((false, false));
        self.owed = Side::ALL.to_vec();
        self.rescopes += 1;
        while self
            .to_side
            .get(&Side::Outlook)
            .is_some_and(|q| !q.is_empty())
        {
            self.write(Side::Outlook);
        }
        let next = self.outlook.next;
        let old = std::mem::take(&mut self.outlook);
        self.outlook.next = next;
        self.left_folders.push(old);
    }

    /// The re-scope's full read of `side`: every item it holds now, tagged. Zoho's scope did not
    /// change: its read is also a full re-read (decision 41: what it does not list is gone); the
    /// new folder's is a first read.
    fn rescope_read(&mut self, side: Side) {
        self.owed.retain(|s| *s != side);
        self.account(side).dirty.clear();
        self.rounds += 1;
        let round = Uuid::from_u128(u128::MAX - self.rounds);
        if side == Side::Zoho {
            self.to_engine
                .push_back(Msg::FullReadStarted(side, round, true));
        }
        let account = self.account(side);
        let ids: Vec<String> = account.items.keys().cloned().collect();
        let items: Vec<Input> = ids.iter().filter_map(|id| account.read(side, id)).collect();
        account.listed.extend(ids);
        let tag = self.rescopes;
        self.to_engine
            .extend(items.into_iter().map(|input| Msg::Tagged(tag, input)));
        if side == Side::Zoho {
            self.to_engine
                .push_back(Msg::FullReadCompleted(side, round, true));
        }
        self.to_engine.push_back(Msg::RescopeRead(tag, side));
        self.to_engine.push_back(Msg::Input(Input::ReleaseDelete));
        self.to_engine.push_back(Msg::Input(Input::Retry { side }));
    }

    /// Both tagged reads are in: the domain plans the matching of what waits (like the
    /// handler), settled in pages among the other messages.
    fn finish_rescope(&mut self) {
        let waiting = self
            .links
            .iter()
            .filter_map(|l| Waiting::of(l, self.rules.rebuilding))
            .collect();
        self.finale = Some(finale::plan(waiting, self.rules.rebuilding).into());
        self.to_engine.push_back(Msg::FinalePage);
    }

    /// The finale's next page, on the links as they are now (like [`crate::finale::page`]);
    /// after the last, a sweep plans what arrived meanwhile; nothing left, the re-scope is done.
    fn finale_page(&mut self) {
        let Some(queue) = &mut self.finale else {
            return; // a later re-scope dropped it
        };
        let steps: Vec<Step> = queue.drain(..self.page.min(queue.len())).collect();
        let more = !queue.is_empty();
        let ids: Vec<LinkId> = steps.iter().flat_map(Step::links).collect();
        let mut links = self
            .links
            .iter()
            .filter(|l| ids.contains(&l.id))
            .map(|l| (l.id, l.clone()))
            .collect();
        for step in &steps {
            for Settled { id, out } in finale::settle(step, &mut links, self.rules, &mut self.ids) {
                let index = self.links.iter().position(|l| l.id == id);
                if out.remove {
                    if let Some(i) = index {
                        self.links.remove(i);
                    }
                } else if let Some(link) = out.link {
                    match index {
                        Some(i) => self.links[i] = link,
                        None => self.links.push(link),
                    }
                }
                for command in out.commands {
                    self.to_side
                        .entry(command.side)
                        .or_default()
                        .push_back(command);
                }
            }
        }
        if !more {
            let waiting = self
                .links
                .iter()
                .filter_map(|l| Waiting::of(l, self.rules.rebuilding))
                .collect();
            let sweep = finale::plan(waiting, self.rules.rebuilding);
            if sweep.is_empty() {
                self.finale = None;
                self.rules.first_sync_open = false;
                self.rescope = None;
                return;
            }
            self.finale = Some(sweep.into());
        }
        self.to_engine.push_back(Msg::FinalePage);
    }

    /// A full re-read of `side`: the changes since the last poll (deletes included) are not
    /// reported; every item the side holds now is, between the round's start and end.
    fn resync(&mut self, side: Side, windowed: bool) {
        if self.owed.contains(&side) {
            return self.rescope_read(side); // the round after the new watch is the tagged one
        }
        // The expired cursor's changes are never told; an item outside the window is read by a
        // later round (as an event that comes into the window is).
        let account = self.account(side);
        let items = &account.items;
        account
            .dirty
            .retain(|(id, _)| windowed && !in_window(id) && items.contains_key(id));
        self.rounds += 1;
        let round = Uuid::from_u128(u128::MAX - self.rounds);
        self.to_engine
            .push_back(Msg::FullReadStarted(side, round, !windowed));
        let account = self.account(side);
        let ids: Vec<String> = account
            .items
            .keys()
            .filter(|id| !windowed || in_window(id))
            .cloned()
            .collect();
        let items: Vec<Input> = ids.iter().filter_map(|id| account.read(side, id)).collect();
        account.listed.extend(ids);
        self.to_engine.extend(items.into_iter().map(Msg::Input));
        self.to_engine
            .push_back(Msg::FullReadCompleted(side, round, !windowed));
        self.to_engine.push_back(Msg::Input(Input::ReleaseDelete));
        self.to_engine.push_back(Msg::Input(Input::Retry { side }));
    }

    fn poll(&mut self, side: Side) {
        let claim = self.claim();
        let start = self.to_engine.len();
        if self.owed.contains(&side) {
            self.rescope_read(side);
            self.claimed(side, claim, start);
            self.deliver_late(side);
            return self.deliver_stalled(side);
        }
        let reads = self.reads(side, true);
        self.to_engine.extend(reads);
        self.claimed(side, claim, start);
        self.deliver_late(side);
        // The end of the round releases staged deletes (the guard is exercised elsewhere) and
        // retries creates whose answer was lost.
        let start = self.to_engine.len();
        self.to_engine.push_back(Msg::Input(Input::ReleaseDelete));
        self.to_engine.push_back(Msg::Input(Input::Retry { side }));
        self.claimed(side, claim, start);
        self.deliver_stalled(side);
    }

    /// What a round of `side` reads now: each item changed since the last round (`take`: the
    /// round's cursor moves past them), as read now. Outlook tells no removal of an item it
    /// never listed.
    fn reads(&mut self, side: Side, take: bool) -> Vec<Msg> {
        let dirty = if take {
            std::mem::take(&mut self.account(side).dirty)
        } else {
            self.account(side).dirty.clone()
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut reads = Vec::new();
        for (id, _) in dirty.iter().rev() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let account = self.account(side);
            let input = match account.read(side, id) {
                Some(read) => {
                    if take {
                        account.listed.insert(id.clone());
                    }
                    read
                }
                None if side == Side::Outlook && !account.listed.contains(id) => continue,
                None => {
                    if take && side == Side::Outlook {
                        account.listed.remove(id);
                    }
                    Input::Deleted {
                        side,
                        external_id: ExternalId(id.clone()),
                    }
                }
            };
            reads.push(Msg::Input(input));
        }
        reads
    }

    /// A claim of a watch: a number above every claim before it.
    fn claim(&mut self) -> i64 {
        self.claims += 1;
        self.claims
    }

    /// Puts `claim` on the messages queued for the engine since `start`.
    fn claimed(&mut self, side: Side, claim: i64, start: usize) {
        for msg in self.to_engine.iter_mut().skip(start) {
            let inner = std::mem::replace(msg, Msg::FinalePage);
            *msg = Msg::Claimed(side, claim, Box::new(inner));
        }
    }

    /// A poller that reads `side` and stalls before publishing: neither its cursor nor what
    /// the side lists moves; its page, the round's end included, comes after the next round.
    fn poll_stale(&mut self, side: Side) {
        if self.owed.contains(&side) {
            return;
        }
        let claim = self.claim();
        let mut page = self.reads(side, false);
        page.push(Msg::Input(Input::ReleaseDelete));
        page.push(Msg::Input(Input::Retry { side }));
        let page = page
            .into_iter()
            .map(|msg| Msg::Claimed(side, claim, Box::new(msg)))
            .collect();
        self.stalled.push((side, page));
    }

    /// The stalled pages of `side`, after the round that took its watch over.
    fn deliver_stalled(&mut self, side: Side) {
        let (stalled, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stalled)
            .into_iter()
            .partition(|(s, _)| *s == side);
        self.stalled = still;
        for (_, page) in stalled {
            self.to_engine.extend(page);
        }
    }

    /// The answers of `side`'s writes held back by [`Action::WriteLate`], after what it read.
    fn deliver_late(&mut self, side: Side) {
        let (late, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.late)
            .into_iter()
            .partition(|(s, _)| *s == side);
        self.late = still;
        self.to_engine.extend(late.into_iter().map(|(_, msg)| msg));
    }

    fn find(&self, side: Side, id: &ExternalId) -> Option<usize> {
        self.links
            .iter()
            .position(|l| l.lookup_id(side) == Some(id))
    }

    fn engine(&mut self) {
        let mut tagged = false;
        let msg = match self.to_engine.pop_front() {
            // Like `fencing::fenced_in`: a page of a claim older than the newest is dropped.
            Some(Msg::Claimed(side, number, msg)) => {
                if !self
                    .fence
                    .admits(ItemKind::Contact, side, Some(PollClaim(number)))
                {
                    return;
                }
                Some(*msg)
            }
            other => other,
        };
        let input = match msg {
            None => return,
            Some(Msg::Claimed(..)) => unreachable!("a claim is put on a message once"),
            Some(Msg::Input(input)) => input,
            Some(Msg::Tagged(tag, input)) => {
                // A read of an older re-scope is of the old scope, like an untagged one.
                tagged = tag == self.rescopes;
                input
            }
            Some(Msg::FinalePage) => return self.finale_page(),
            Some(Msg::RescopeRead(tag, side)) => {
                if tag != self.rescopes {
                    return;
                }
                if let Some((outlook, zoho)) = &mut self.rescope {
                    match side {
                        Side::Outlook => *outlook = true,
                        Side::Zoho => *zoho = true,
                    }
                }
                if let Some((outlook_done, zoho_done)) = self.rescope
                    && super::scope::reads_in(
                        !self.rules.first_sync_open,
                        super::scope::Reading {
                            open: None,
                            outlook_done,
                            zoho_done,
                        },
                    )
                {
                    self.finish_rescope();
                }
                return;
            }
            // Like the handler: the links known on `side` now await the round...
            Some(Msg::FullReadStarted(side, round, lists_everything)) => {
                for link in &mut self.links {
                    full_read::begin(link, side, round);
                }
                // ...and its parked reads are dropped: the round lists again what still exists
                // (unless it reads a window only: then they are asked for by id when released).
                if lists_everything {
                    self.parked.retain(
                        |p| !matches!(&p.input, Input::Changed { side: s, .. } if *s == side),
                    );
                } else {
                    for parked in &mut self.parked {
                        if matches!(&parked.input, Input::Changed { side: s, .. } if *s == side) {
                            parked.unconfirmed = true;
                        }
                    }
                }
                return;
            }
            // ...and those it did not show lost their item there.
            Some(Msg::FullReadCompleted(side, round, lists_everything)) => {
                for i in (0..self.links.len()).rev() {
                    if let Some(input) =
                        full_read::end(&mut self.links[i], side, round, lists_everything)
                    {
                        self.run(Some(i), input);
                    }
                }
                return;
            }
        };
        if let Input::Retry { side } = input {
            let lost: Vec<usize> = (0..self.links.len())
                .filter(|&i| unknown_read::lost_create(&self.links[i], side))
                .collect();
            for i in lost.into_iter().rev() {
                self.run(Some(i), Input::Retry { side });
            }
            // Like the handler: copies our creates made that no read has listed are asked for
            // once a whole round has passed.
            let unlisted: Vec<(usize, Input)> = (0..self.links.len())
                .filter_map(|i| match full_read::unlisted(&mut self.links[i], side) {
                    Some(full_read::Unlisted::Ask(input)) => Some((i, input)),
                    _ => None,
                })
                .collect();
            for (i, input) in unlisted.into_iter().rev() {
                self.run(Some(i), input);
            }
            return;
        }
        if input == Input::ReleaseDelete {
            let staged: Vec<usize> = (0..self.links.len())
                .filter(|&i| matches!(self.links[i].status, LinkStatus::StagedDelete { .. }))
                .collect();
            for i in staged.into_iter().rev() {
                self.run(Some(i), Input::ReleaseDelete);
            }
            return;
        }
        let index = match &input {
            Input::Changed {
                side, external_id, ..
            }
            | Input::Deleted { side, external_id }
            | Input::LeftScope {
                side, external_id, ..
            } => self.find(*side, external_id),
            // Like the handler, which finds a result's link by the id its command carries.
            answer => answer.answer().and_then(|(side, command_id)| {
                self.links
                    .iter()
                    .position(|l| l.unanswered(side, command_id))
            }),
        };
        // Like the handler: before its tagged full read, a side's untagged read of an unknown
        // item comes from the old scope.
        if let Input::Changed { side, .. } = &input
            && index.is_none()
            && !tagged
            && self.awaiting(*side)
        {
            return;
        }
        if index.is_none() && !matches!(input, Input::Changed { .. }) {
            // Like the handler: a parked read of an item deleted since is dropped (unless what
            // told it is older than the parked read).
            let (told, modified) = match &input {
                Input::Deleted { side, external_id } => (Some((side, external_id)), None),
                Input::LeftScope {
                    side,
                    external_id,
                    modified,
                } => (Some((side, external_id)), *modified),
                _ => (None, None),
            };
            if let Some((side, external_id)) = told {
                self.parked.retain(|p| match &p.input {
                    Input::Changed {
                        side: s,
                        external_id: e,
                        modified: parked,
                        ..
                    } if s == side && e == external_id => Modified::before(modified, *parked),
                    _ => true,
                });
            }
            return;
        }
        // Like the handler: a new item read while a create with its content is in flight there
        // is parked until that create's result says whether it was ours.
        if index.is_none()
            && let Input::Changed {
                side,
                external_id,
                item,
                ..
            } = &input
        {
            let parked = self.parked.iter_mut().find(|p| {
                matches!(&p.input, Input::Changed { side: s, external_id: e, .. } if s == side && e == external_id)
            });
            if let Some(parked) = parked {
                *parked = ParkedRead {
                    input,
                    unconfirmed: false,
                };
                return;
            }
            // The handler's rules for a read no link knows. Zoho's reads carry the identity our
            // create wrote on the item (its field); Outlook's contact reads do not: content
            // decides there.
            let claimed = match side {
                Side::Zoho => self
                    .zoho
                    .made_by
                    .iter()
                    .find(|(_, id)| **id == external_id.0)
                    .and_then(|(link, _)| self.links.iter().find(|l| l.id == *link)),
                Side::Outlook => None,
            };
            match unknown_read::decide(USER, ItemKind::Contact, *side, item, claimed, &self.links) {
                UnknownRead::Park => {
                    self.parked.push(ParkedRead {
                        input,
                        unconfirmed: false,
                    });
                    return;
                }
                UnknownRead::Join(id) => {
                    let i = self
                        .links
                        .iter()
                        .position(|l| l.id == id)
                        .expect("decide joins one of the links");
                    unknown_read::adopt(&mut self.links[i], *side, external_id.clone());
                    self.run(Some(i), input);
                    return;
                }
                UnknownRead::New => {}
            }
        }
        let result_side = match &input {
            Input::Applied { side, .. }
            | Input::Failed { side, .. }
            | Input::Gone { side, .. }
            | Input::Stale { side, .. } => Some(*side),
            _ => None,
        };
        // Like the handler: a create's result naming an item another link holds (read and
        // linked before the result came): the holder gives it up (`collision`), and what it
        // learned of the item goes to the result's link after its result.
        if let Some(i) = index
            && let Input::Applied {
                side, external_id, ..
            }
            | Input::Stale {
                side, external_id, ..
            } = &input
            && let Some(j) = self.find(*side, external_id)
            && j != i
        {
            let link_id = self.links[i].id;
            let side = *side;
            let resolution =
                collision::resolve(self.links[j].clone(), side, self.rules, &mut self.ids);
            self.absorb(Some(j), resolution.holder);
            let i = self.links.iter().position(|l| l.id == link_id);
            self.run(i, input);
            if let Some(news) = resolution.news {
                let i = self.links.iter().position(|l| l.id == link_id);
                self.run(i, news);
            }
            if let Some(item) = resolution.pending
                && let Some(i) = self.links.iter().position(|l| l.id == link_id)
            {
                let out = collision::expect_write(
                    self.links[i].clone(),
                    side,
                    item,
                    self.rules,
                    &mut self.ids,
                );
                self.absorb(Some(i), out);
            }
            if let Some(side) = result_side {
                self.release_parked(side);
            }
            return;
        }
        self.run(index, input);
        if let Some(side) = result_side {
            self.release_parked(side);
        }
    }

    fn release_parked(&mut self, side: Side) {
        let parked = std::mem::take(&mut self.parked);
        for parked in parked {
            let Input::Changed {
                side: s,
                external_id,
                item,
                ..
            } = &parked.input
            else {
                continue;
            };
            let index = self.find(*s, external_id);
            if !unknown_read::releases(side, *s, item, index.is_some(), &self.links) {
                self.parked.push(parked);
                continue;
            }
            self.run_released(index, parked);
        }
    }

    /// Like the conflicts route: the link's held conflicts resolved by keeping `keep`'s values.
    fn choose(&mut self, index: usize, keep: Side) {
        // Keeping the side that edited an item the other deleted brings it back there.
        let edited = self.links[index].held.iter().any(|c| {
            c.field == super::engine::DELETE_VERSUS_EDIT
                && match keep {
                    Side::Outlook => c.outlook == "edited",
                    Side::Zoho => c.zoho == "edited",
                }
        });
        if edited {
            self.resurrected.push(self.links[index].id);
        }
        self.run(Some(index), Input::Resolve { keep });
    }

    fn run(&mut self, index: Option<usize>, input: Input) {
        self.decide(index, input, |link, input, rules, ids| {
            step(link, input, USER, rules, ids)
        });
    }

    /// Like the handler, a released read goes through `unknown_read::release`.
    fn run_released(&mut self, index: Option<usize>, parked: ParkedRead) {
        let unconfirmed = parked.unconfirmed;
        self.decide(index, parked.input, |link, input, rules, ids| {
            unknown_read::release(link, input, unconfirmed, USER, rules, ids)
        });
    }

    fn decide(
        &mut self,
        index: Option<usize>,
        input: Input,
        rule: impl FnOnce(Option<Link>, Input, Rules, &mut dyn Ids) -> Output,
    ) {
        let link = index.map(|i| self.links[i].clone());
        // `SIM_TRACE=1 cargo test ... simulation::<case>` prints every input and decision.
        let trace = std::env::var_os("SIM_TRACE").is_some();
        if trace {
            eprintln!("IN {input:?}\n  LINK {link:?}");
        }
        let out: Output = rule(link, input, self.rules, &mut self.ids);
        if trace {
            eprintln!(
                "  OUT {:?} remove={} conflicts={:?}",
                out.commands, out.remove, out.conflicts
            );
        }
        self.absorb(index, out);
    }

    /// Stores what the engine decided for the link at `index` (a new one when `None`).
    fn absorb(&mut self, index: Option<usize>, out: Output) {
        if let Some(link) = &out.link {
            // Held conflicts wait for the user in review (or with a delete staged), never on
            // an active or a deleted link (decisions 107, 108).
            assert!(
                link.status != LinkStatus::Deleted || link.held.is_empty(),
                "a deleted link holds a conflict: {link:#?}"
            );
            assert!(
                link.status != LinkStatus::Review || !link.held.is_empty(),
                "in review with nothing held: {link:#?}"
            );
            assert!(
                link.status != LinkStatus::Active || link.held.is_empty(),
                "active with a conflict held: {link:#?}"
            );
        }
        let link_id = index.map(|i| self.links[i].id);
        if let Some(id) = out.link.as_ref().map(|l| l.id).or(link_id) {
            self.conflicts
                .extend(out.conflicts.iter().map(|c| (id, c.clone())));
        }
        // A delete that lost to an edit: decided when the delete is released, or, when a write
        // was in flight on the other side then, once its result is in (any input).
        if out
            .conflicts
            .iter()
            .any(|c| c.field == super::engine::DELETE_VERSUS_EDIT)
            && let Some(link) = &out.link
            && link.status == LinkStatus::Active
        {
            self.resurrected.push(link.id);
        }
        if out.remove {
            if let Some(i) = index {
                self.links.remove(i);
            }
        } else if let Some(link) = out.link {
            match index {
                Some(i) => self.links[i] = link,
                None => self.links.push(link),
            }
        }
        for command in out.commands {
            self.to_side
                .entry(command.side)
                .or_default()
                .push_back(command);
        }
    }

    fn write(&mut self, side: Side) {
        let Some(command) = self.to_side.entry(side).or_default().pop_front() else {
            return;
        };
        let mut removed = false;
        let link = self
            .links
            .iter()
            .find(|l| l.awaits(side, command.command_id))
            .map(|l| l.id);
        let account = self.account(side);
        // The copy an earlier attempt of this link's create made, found by the identity on it.
        let first_copy = link
            .and_then(|l| account.made_by.get(&l))
            .filter(|id| account.items.contains_key(*id))
            .cloned();
        let result = match command.op {
            // Outlook, told the item may exist (an earlier answer was lost), looks for it first
            // and answers what it holds, writing nothing.
            ApplyOp::Create {
                may_exist: true, ..
            } if side == Side::Outlook && first_copy.is_some() => {
                let id = first_copy.expect("matched above");
                let (version, current) = account.items[&id].clone();
                Input::Stale {
                    side,
                    command_id: command.command_id,
                    external_id: ExternalId(id),
                    version: Version(version.to_string()),
                    item: Item::Contact(current),
                    modified: changed_at(side, version),
                }
            }
            // Zoho creates through `upsert` on the identity field: a create whose first copy
            // exists overwrites it.
            ApplyOp::Create { item, .. } if side == Side::Zoho && first_copy.is_some() => {
                let id = first_copy.expect("matched above");
                assert_fits(side, &contact(&item));
                let new = hold(side, contact(&item));
                let entry = account.items.get_mut(&id).expect("the copy exists");
                if entry.1 != new {
                    *entry = (entry.0 + 1, new);
                    account.dirty.push((id.clone(), false));
                }
                Input::Applied {
                    side,
                    command_id: command.command_id,
                    external_id: ExternalId(id.clone()),
                    version: Version(account.items[&id].0.to_string()),
                    modified: changed_at(side, account.items[&id].0),
                }
            }
            ApplyOp::Create { item, .. } => {
                assert_fits(side, &contact(&item));
                let id = account.create(side, contact(&item));
                // The link's identity on the item (both connectors write it).
                if let Some(l) = link {
                    account.made_by.insert(l, id.clone());
                }
                Input::Applied {
                    side,
                    command_id: command.command_id,
                    external_id: ExternalId(id),
                    version: Version("1".into()),
                    modified: changed_at(side, 1),
                }
            }
            ApplyOp::Update {
                external_id,
                item,
                base,
                expected_version,
            } => match account.items.get(&external_id.0).cloned() {
                None => Input::Gone {
                    side,
                    command_id: command.command_id,
                },
                Some((version, current))
                    if expected_version
                        .as_ref()
                        .is_some_and(|v| v.0 != version.to_string()) =>
                {
                    Input::Stale {
                        side,
                        command_id: command.command_id,
                        external_id,
                        version: Version(version.to_string()),
                        item: Item::Contact(current),
                        modified: changed_at(side, version),
                    }
                }
                Some(_) => {
                    // Like the connectors: only the fields that differ from the base are written;
                    // an address list or a phone collection is written whole.
                    let (new, base) = (
                        contact(&item),
                        base.as_ref().map(contact).unwrap_or_default(),
                    );
                    assert_fits(side, &new);
                    if let Some((_, c)) = account.items.get_mut(&external_id.0) {
                        let was = c.clone();
                        for field in ["job_title", "department", "notes", "business_phone"] {
                            if get(&new, field) != get(&base, field) {
                                set(c, field, &get(&new, field).unwrap_or_default());
                            }
                        }
                        if new.emails != base.emails {
                            c.emails.clone_from(&new.emails);
                        }
                        if new.more_business_phones != base.more_business_phones
                            || new.business_phone != base.business_phone
                        {
                            c.business_phone.clone_from(&new.business_phone);
                            c.more_business_phones.clone_from(&new.more_business_phones);
                        }
                        if new.surname != base.surname {
                            c.surname.clone_from(&new.surname);
                        }
                        *c = hold(side, c.clone());
                        if *c != was {
                            account.dirty.push((external_id.0.clone(), false));
                            if let Some((v, _)) = account.items.get_mut(&external_id.0) {
                                *v += 1;
                            }
                        }
                    }
                    let version = account
                        .items
                        .get(&external_id.0)
                        .map(|(v, _)| *v)
                        .unwrap_or_default();
                    Input::Applied {
                        side,
                        command_id: command.command_id,
                        external_id,
                        version: Version(version.to_string()),
                        modified: changed_at(side, version),
                    }
                }
            },
            ApplyOp::Probe { external_id } => match account.items.get(&external_id.0).cloned() {
                Some((version, current)) => Input::Stale {
                    side,
                    command_id: command.command_id,
                    external_id,
                    version: Version(version.to_string()),
                    item: Item::Contact(current),
                    modified: changed_at(side, version),
                },
                None => Input::Gone {
                    side,
                    command_id: command.command_id,
                },
            },
            ApplyOp::Delete {
                external_id,
                expected_version,
            } => match account.items.get(&external_id.0).cloned() {
                Some((version, current))
                    if expected_version
                        .as_ref()
                        .is_some_and(|v| v.0 != version.to_string()) =>
                {
                    Input::Stale {
                        side,
                        command_id: command.command_id,
                        external_id,
                        version: Version(version.to_string()),
                        item: Item::Contact(current),
                        modified: changed_at(side, version),
                    }
                }
                _ => {
                    // A copy our own create made, undone as a duplicate (`collision`), is not a
                    // user's item lost.
                    removed = account.items.contains_key(&external_id.0)
                        && !account.made_by.values().any(|id| *id == external_id.0);
                    account.delete(&external_id.0);
                    Input::Gone {
                        side,
                        command_id: command.command_id,
                    }
                }
            },
        };
        if removed {
            *self.engine_deletes.entry(side).or_default() += 1;
        }
        self.to_engine.push_back(Msg::Input(result));
    }

    /// Carries out the next write but loses its answer: creates report `create_unconfirmed`,
    /// other writes are retried like a transient failure (the broker redelivers them).
    fn write_lost(&mut self, side: Side) {
        let Some(command) = self.to_side.entry(side).or_default().front().cloned() else {
            return;
        };
        self.write(side);
        if let ApplyOp::Create { .. } = command.op {
            // Replace the answer the write produced with the connector's "unconfirmed" failure.
            self.to_engine.pop_back();
            self.to_engine.push_back(Msg::Input(Input::Failed {
                side,
                command_id: command.command_id,
                code: FailureCode::CreateUnconfirmed,
                message: "the answer was lost".into(),
            }));
        }
    }

    /// Carries out the next write and holds its answer back until the side's next poll.
    /// Creates are answered in time: a Zoho copy deleted before its create's late answer is in
    /// is a known gap (decision 93; on Outlook, decision 91's probe covers it). Holding create
    /// answers back too, the property test fails within 2,000 cases, e.g. with `[Create(Outlook,
    /// 0), Poll(Outlook), Create(Outlook, 0), Engine, WriteLate(Zoho), Create(Outlook, 0),
    /// Delete(Zoho, 0)]` under "Zoho wins".
    fn write_late(&mut self, side: Side) {
        let is_create = self
            .to_side
            .get(&side)
            .and_then(|q| q.front())
            .is_some_and(|c| matches!(c.op, ApplyOp::Create { .. }));
        if is_create {
            return self.write(side);
        }
        self.write_late_answer(side);
    }

    /// Carries out the next write, whatever it is, and holds its answer back until the side's
    /// next poll.
    fn write_late_answer(&mut self, side: Side) {
        let before = self.to_engine.len();
        self.write(side);
        let answers: Vec<Msg> = self.to_engine.drain(before..).collect();
        self.late.extend(answers.into_iter().map(|msg| (side, msg)));
    }

    /// Lets every queue drain and both sides be polled until nothing moves.
    fn settle(&mut self) {
        for _ in 0..50 {
            for side in Side::ALL {
                self.poll(side);
            }
            while !self.to_engine.is_empty() || self.to_side.values().any(|q| !q.is_empty()) {
                while !self.to_engine.is_empty() {
                    self.engine();
                }
                for side in Side::ALL {
                    while self.to_side.get(&side).is_some_and(|q| !q.is_empty()) {
                        self.write(side);
                    }
                }
            }
            let staged = self
                .links
                .iter()
                .any(|l| matches!(l.status, LinkStatus::StagedDelete { .. }));
            // A copy no round has listed yet is asked for after a round more: polls go on.
            let unlisted = self.links.iter().any(|l| {
                l.status != LinkStatus::Deleted
                    && Side::ALL
                        .iter()
                        .any(|s| l.side(*s).is_some_and(|state| state.unlisted))
            });
            // Review mode: the user gets to every item waiting for a choice, in turn keeping
            // Outlook's and Zoho's values.
            let waiting = self.links.iter().filter(|l| l.awaits_choice()).count();
            if waiting > 0 {
                for _ in 0..waiting {
                    let Some(i) = self.links.iter().position(Link::awaits_choice) else {
                        break;
                    };
                    let keep = if self.choices.is_multiple_of(2) {
                        Side::Zoho
                    } else {
                        Side::Outlook
                    };
                    self.choices += 1;
                    self.choose(i, keep);
                }
                continue;
            }
            if self.outlook.dirty.is_empty()
                && self.zoho.dirty.is_empty()
                && self.late.is_empty()
                && !staged
                && !unlisted
                && self.rescope.is_none()
            {
                return;
            }
        }
        panic!("the sync did not settle");
    }

    /// After folder moves: the current folder and Zoho agree on every linked item; every Zoho
    /// item is linked once, or waits out of scope (its partner stayed in a folder left behind);
    /// nothing refers to an item of a folder left behind.
    fn assert_converged_after_moves(&self) {
        let live: Vec<&Link> = self
            .links
            .iter()
            .filter(|l| l.status != LinkStatus::Deleted)
            .collect();
        let active: Vec<&&Link> = live
            .iter()
            .filter(|l| l.status == LinkStatus::Active)
            .collect();
        for link in &live {
            assert!(
                matches!(link.status, LinkStatus::Active | LinkStatus::OutOfScope),
                "a link waits: {link:#?}"
            );
            let z = link.external_id(Side::Zoho).expect("a Zoho side");
            assert!(
                self.zoho.items.contains_key(&z.0),
                "a gone Zoho item: {link:#?}"
            );
            if link.status == LinkStatus::OutOfScope {
                assert!(link.outlook.is_none(), "{link:#?}");
                continue;
            }
            let Some(o) = link.external_id(Side::Outlook) else {
                panic!("no Outlook side: {link:#?}");
            };
            let Some((_, oc)) = self.outlook.items.get(&o.0) else {
                panic!("linked to an item outside the folder: {link:#?}");
            };
            let (_, zc) = &self.zoho.items[&z.0];
            assert_eq!(oc, zc, "both sides hold the same content");
        }
        assert_eq!(
            self.outlook.items.len(),
            active.len(),
            "each item of the folder once"
        );
        assert_eq!(self.zoho.items.len(), live.len(), "each Zoho item once");
    }

    /// Every item of both sides linked once, both sides holding the same; with items that left
    /// the scope ([`Mix::Categories`], all put back since), a Zoho item may also wait out of
    /// scope when its Outlook partner was deleted while outside, and only then.
    fn assert_converged(&self) {
        let live: Vec<&Link> = self
            .links
            .iter()
            .filter(|l| l.status != LinkStatus::Deleted)
            .collect();
        let (active, out_of_scope): (Vec<&Link>, Vec<&Link>) =
            live.iter().partition(|l| l.status == LinkStatus::Active);
        assert!(
            out_of_scope.iter().all(|l| self.mix == Mix::Categories
                && l.status == LinkStatus::OutOfScope
                && l.outlook.is_none()
                && l.departed
                    .as_ref()
                    .is_none_or(|d| !self.outlook.items.contains_key(&d.id.0))
                && l.external_id(Side::Zoho)
                    .is_some_and(|z| self.zoho.items.contains_key(&z.0))),
            "links held: {out_of_scope:#?}"
        );
        assert_eq!(
            self.outlook.items.len(),
            active.len(),
            "Outlook items vs links"
        );
        assert_eq!(self.zoho.items.len(), live.len(), "Zoho items vs links");
        for link in active {
            let o = link.external_id(Side::Outlook).expect("Outlook side");
            let z = link.external_id(Side::Zoho).expect("Zoho side");
            let (_, oc) = &self.outlook.items[&o.0];
            let (_, zc) = &self.zoho.items[&z.0];
            assert_eq!(
                oc.project_for_zoho().normalised(),
                zc.normalised(),
                "Zoho holds what it can of Outlook's content"
            );
            assert_eq!(
                Item::Contact(oc.clone()).content_hash(),
                link.target.content_hash()
            );
        }
    }
}

/// Runs `actions`, lets the sync settle and checks what `random_interleavings_converge` says.
fn check_interleaving(
    rule: ConflictRule,
    actions: Vec<Action>,
    mix: Mix,
) -> Result<(), TestCaseError> {
    let mut world = World::new(rule, mix);
    let mut deleted = Vec::new();
    for action in actions {
        if let Action::Delete(side, n) = &action
            && let Some(id) = world.pick(*side, *n)
        {
            deleted.push((*side, id));
        }
        world.act(action);
    }
    world.settle();
    if mix == Mix::Categories {
        // Everything back in scope: each item pairs again with its partner, none copied twice.
        let out: Vec<String> = world.outlook.out.iter().cloned().collect();
        for id in out {
            world.outlook.rescope_item(&id, false);
        }
        world.settle();
    }
    world.assert_converged();
    let live = world
        .links
        .iter()
        .filter(|l| l.status != LinkStatus::Deleted)
        .count();
    prop_assert!(
        live + world.deleted >= world.created,
        "items lost: {} created, {} deleted by users, {} left",
        world.created,
        world.deleted,
        live
    );

    for (side, id) in deleted {
        let back = world.account(side).items.contains_key(&id);
        prop_assert!(!back, "a deleted item's id is never reused");
    }
    for link in &world.links {
        if link.status == LinkStatus::Deleted || world.resurrected.contains(&link.id) {
            continue;
        }
        // Out of scope (its Outlook item deleted while out, [`Mix::Categories`]): Zoho keeps
        // what it holds, whatever was decided for the item while both were known.
        if mix == Mix::Categories && link.status == LinkStatus::OutOfScope {
            continue;
        }
        let ids: Vec<(Side, String)> = Side::ALL
            .iter()
            .filter_map(|s| link.external_id(*s).map(|i| (*s, i.0.clone())))
            .collect();
        for field in PLAIN {
            let edits: Vec<&String> = ids
                .iter()
                .filter_map(|(s, id)| world.edits.get(&(*s, id.clone(), field)))
                .collect();
            if let [only] = edits.as_slice() {
                let target = contact(&link.target);
                let value = get(&target, field);
                prop_assert_eq!(
                    value.as_ref(),
                    Some(*only),
                    "a one-side edit of {} was lost",
                    field
                );
            }
        }
        // What the Outlook user left beyond Zoho's capacity is still in Outlook: only an
        // Outlook edit changes it (notes Zoho's user rewrote are a notes edit, decided above).
        let Some(o) = link.external_id(Side::Outlook) else {
            continue;
        };
        let (Some(kept), Some((_, now))) = (world.beyond.get(&o.0), world.outlook.items.get(&o.0))
        else {
            continue;
        };
        // A conflict about the addresses both sides hold can leave fewer than two of them: the
        // third then moves up into what Zoho holds, where Zoho's users may change it.
        let emails_conflict = world
            .conflicts
            .iter()
            .any(|(id, c)| *id == link.id && c.field == "emails");
        if let Some(email) = kept.email3.as_ref().filter(|_| !emails_conflict) {
            prop_assert!(
                now.emails.iter().any(|e| &e.0 == email),
                "third address {} lost: {:?}",
                email,
                now.emails
            );
        }
        if let Some(phone) = &kept.phone2 {
            prop_assert!(
                now.more_business_phones.contains(phone)
                    || now.business_phone.as_ref() == Some(phone),
                "second phone {} lost: {:?}",
                phone,
                now
            );
        }
        let zoho_rewrote = link.external_id(Side::Zoho).is_some_and(|z| {
            world
                .edits
                .contains_key(&(Side::Zoho, z.0.clone(), "notes"))
        });
        if let Some(notes) = &kept.long_notes
            && !zoho_rewrote
        {
            prop_assert_eq!(now.notes.as_ref(), Some(notes), "long notes cut");
        }
    }
    for (_, conflict) in &world.conflicts {
        prop_assert!(!conflict.field.starts_with("more_"), "{:?}", conflict);
        for value in [&conflict.outlook, &conflict.zoho, &conflict.base] {
            prop_assert!(
                value.as_array().is_none_or(|a| a.len() <= 2),
                "{:?}",
                conflict
            );
            prop_assert!(
                value
                    .as_str()
                    .is_none_or(|t| t.chars().count() <= DESCRIPTION),
                "{:?}",
                conflict
            );
        }
    }
    Ok(())
}

/// The number of random cases: `default`, or `PROPTEST_CASES` when set (a longer hunt for races
/// before landing a change of the rules).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1000), ..ProptestConfig::default() })]

    /// Whatever the interleaving (full re-reads after an expired cursor included), both sides
    /// end equal (Zoho holding its share of what Outlook holds), nothing is duplicated or lost,
    /// an edit made on one side only survives, what an Outlook user keeps beyond Zoho's capacity
    /// (a third address, a second phone) stays in Outlook, and a deleted item stays deleted
    /// unless its delete lost a conflict to an edit.
    #[test]
    fn random_interleavings_converge(
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins)],
        actions in proptest::collection::vec(action(Mix::Plain), 1..120),
    ) {
        check_interleaving(rule, actions, Mix::Plain)?;
    }

    /// As above, with contacts holding what only Outlook can (a third address, a second business
    /// phone) and Outlook users editing those: they stay in Outlook whatever Zoho's users do,
    /// Zoho is never sent them, and no conflict names them.
    #[test]
    fn what_only_outlook_holds_survives_random_interleavings(
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins)],
        actions in proptest::collection::vec(action(Mix::Capacity), 1..120),
    ) {
        check_interleaving(rule, actions, Mix::Capacity)?;
    }

    /// Review mode: conflicts wait for the user, who chooses now and then among the rest, and
    /// at the end for every item still waiting; then as `random_interleavings_converge`. A
    /// delete versus an edit goes the way the user chose (decision 108), and no deleted link
    /// holds a conflict (decision 107).
    #[test]
    fn review_mode_converges_once_the_user_chooses(
        actions in proptest::collection::vec(action_with_choices(), 1..120),
    ) {
        check_interleaving(ConflictRule::Review, actions, Mix::Plain)?;
    }

    /// Outlook items leaving the scope and coming back (their synced category removed and put
    /// back), at random moments among the rest: once all are back, each is linked again with
    /// its Zoho partner, nothing copied twice, an edit made on one side only (while out of
    /// scope too) survives; a Zoho item whose Outlook partner was deleted while outside stays,
    /// out of scope (decision 105).
    #[test]
    fn items_leaving_the_scope_and_coming_back_are_never_duplicated(
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins)],
        actions in proptest::collection::vec(action(Mix::Categories), 1..120),
    ) {
        check_interleaving(rule, actions, Mix::Categories)?;
    }

    /// Another contact folder, chosen at random moments among edits, deletes, polls, writes and
    /// lost answers: the new folder and Zoho end in agreement, each item once; the contacts of
    /// the folders left behind are never deleted anywhere for it (the engine deletes in Zoho
    /// only what users deleted in Outlook), and their Zoho partners stay, out of scope, unless
    /// a Zoho user deleted them (also while the re-scope is open, or before the move was
    /// polled: Zoho's re-read of the re-scope tells it). The finale is settled in pages of 1
    /// to 3 steps among the other messages.
    #[test]
    fn a_moved_contact_folder_converges_and_deletes_nothing(
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins)],
        actions in proptest::collection::vec(action_with_moves(), 1..150),
        page in 1usize..4,
    ) {
        let mut world = World::new(rule, Mix::Plain);
        world.page = page;
        for action in actions {
            world.act(action);
        }
        world.settle();
        world.assert_converged_after_moves();
        let count = |map: &BTreeMap<Side, usize>, side| map.get(&side).copied().unwrap_or(0);
        prop_assert!(
            count(&world.engine_deletes, Side::Zoho) <= count(&world.user_deletes, Side::Outlook),
            "Zoho deletes {:?} beyond Outlook users' {:?}", world.engine_deletes, world.user_deletes
        );
        prop_assert!(
            count(&world.engine_deletes, Side::Outlook) <= count(&world.user_deletes, Side::Zoho),
            "Outlook deletes {:?} beyond Zoho users' {:?}", world.engine_deletes, world.user_deletes
        );
        for folder in &world.left_folders {
            for id in folder.items.keys() {
                prop_assert!(
                    world.links.iter().all(|l| l.lookup_id(Side::Outlook).map(|i| &i.0) != Some(id)),
                    "an item of a folder left behind is still linked"
                );
            }
        }
    }

    /// The same field edited on both sides before either is synced: the rule's side wins, on
    /// both sides, and the conflict is logged.
    #[test]
    fn concurrent_edits_are_decided_by_the_rule(
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins)],
        first in prop_oneof![Just(Side::Outlook), Just(Side::Zoho)],
        field in 0..PLAIN.len(),
    ) {
        let mut world = World::new(rule, Mix::Capacity);
        world.act(Action::Create(Side::Outlook, 1));
        world.settle();
        let field = PLAIN[field];
        for side in Side::ALL {
            let id = world.pick(side, 0).expect("the item");
            world.account(side).edit(side, &id, field, &typed(side, field, "7"));
        }
        // The first side's change reaches the engine first; its write to the other side then
        // meets the other side's own edit.
        world.poll(first);
        world.settle();
        world.assert_converged();
        let winner = if rule == ConflictRule::ZohoWins { Side::Zoho } else { Side::Outlook };
        let target = contact(&world.links[0].target);
        prop_assert_eq!(get(&target, field), Some(typed(winner, field, "7")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// As `what_only_outlook_holds_survives_random_interleavings`, with Outlook notes longer than Zoho's `Description`:
    /// Zoho gets their first 32,000 characters, Outlook keeps them whole, and the cut never comes
    /// back as an edit (unless a Zoho user rewrote the notes).
    #[test]
    fn long_texts_survive_random_interleavings(
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins)],
        actions in proptest::collection::vec(action(Mix::LongTexts), 1..120),
    ) {
        check_interleaving(rule, actions, Mix::LongTexts)?;
    }
}

fn outlook_contact() -> impl Strategy<Value = Contact> {
    (
        proptest::collection::vec(0u8..6, 0..=3),
        proptest::option::of(0u8..3),
        proptest::option::of(0u8..3),
        proptest::option::of(0u8..3),
        any::<bool>(),
    )
        .prop_map(|(emails, phone, phone2, title, long)| {
            let mut c = Contact {
                surname: Some("Sato".into()),
                ..Contact::default()
            };
            for e in emails {
                c.emails.push(EmailAddress(format!("e{e}@x.jp")));
            }
            c.business_phone = phone.map(|p| format!("+81 3 100{p}"));
            c.more_business_phones = phone2
                .map(|p| format!("+81 3 200{p}"))
                .into_iter()
                .collect();
            c.job_title = title.map(|t| format!("title {t}"));
            c.notes = long.then(|| format!("{}tail", "n".repeat(DESCRIPTION)));
            hold(Side::Outlook, c)
        })
}

proptest! {
    /// First sync: whatever Zoho holds of a matched contact and whatever the rule, what only
    /// Outlook can hold (a third address, a second phone, notes beyond Zoho's length) is kept
    /// unless a value both sides hold replaced it, Zoho is sent nothing it cannot hold, and no
    /// conflict is about what Zoho cannot hold.
    #[test]
    fn first_sync_keeps_what_only_outlook_holds(
        outlook in outlook_contact(),
        zoho in outlook_contact(),
        zoho_same in any::<bool>(),
        rule in prop_oneof![Just(ConflictRule::ZohoWins), Just(ConflictRule::OutlookWins), Just(ConflictRule::Review)],
    ) {
        // Zoho holds either Outlook's share of the same contact or its own values.
        let zoho = if zoho_same { outlook.project_for_zoho() } else { zoho.project_for_zoho() };
        let (merged, conflicts) = super::merge::combine(
            &Item::Contact(outlook.clone()), &Item::Contact(zoho.clone()), rule);
        let merged = contact(&merged);
        let beyond = Beyond::of(&outlook);
        if let Some(email) = &beyond.email3 {
            prop_assert!(merged.emails.iter().any(|e| &e.0 == email), "{:?}", merged.emails);
        }
        prop_assert_eq!(&merged.more_business_phones, &outlook.more_business_phones);
        let zoho_notes = zoho.notes.is_none() || zoho.notes == outlook.project_for_zoho().notes;
        if beyond.long_notes.is_some() && zoho_notes {
            prop_assert_eq!(&merged.notes, &outlook.notes);
        }
        if zoho_same {
            prop_assert!(conflicts.is_empty(), "{:?}", conflicts);
            prop_assert_eq!(Item::Contact(merged.clone()).content_hash(), Item::Contact(outlook.clone()).content_hash());
        }
        for conflict in &conflicts {
            prop_assert!(!conflict.field.starts_with("more_"), "{:?}", conflict);
            prop_assert!(conflict.outlook.as_array().is_none_or(|a| a.len() <= 2), "{:?}", conflict);
            prop_assert!(conflict.outlook.as_str().is_none_or(|t| t.chars().count() <= DESCRIPTION), "{:?}", conflict);
        }
    }
}

/// Found by the capacity mix: an Outlook item read while our create of the same content was in
/// flight (parked), deleted before a full re-read of Outlook (which reports no deletes one by
/// one), must not come back when the parked read is released.
#[test]
fn a_parked_read_of_an_item_deleted_before_a_full_reread_stays_deleted() {
    use Action::{Create, Delete, Poll, Resync};
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    for action in [
        Create(Side::Zoho, 137),
        Poll(Side::Zoho),
        Create(Side::Outlook, 137),
        Poll(Side::Outlook),
        Delete(Side::Outlook, 0),
        Resync(Side::Outlook),
    ] {
        world.act(action);
    }
    world.settle();
    world.assert_converged();
    assert_eq!(world.outlook.items.len(), 1, "only Zoho's item, once");
}

/// Found by the property test once full re-reads were simulated: a create on Outlook whose
/// answer was lost, then a re-read of the Zoho item, must not create a second Outlook copy (the
/// first shows up in Outlook's next read and joins the link).
#[test]
fn a_lost_create_is_not_repeated_on_the_other_sides_next_read() {
    use Action::*;
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    for action in [
        Create(Side::Zoho, 0),
        Poll(Side::Zoho),
        Engine,
        WriteLost(Side::Outlook),
        Resync(Side::Zoho),
        Resync(Side::Outlook),
        Delete(Side::Outlook, 0),
        Resync(Side::Outlook),
    ] {
        world.act(action);
    }
    world.settle();
    world.assert_converged();
    assert!(world.links.iter().all(|l| l.status == LinkStatus::Deleted));
    assert!(world.outlook.items.is_empty() && world.zoho.items.is_empty());
}

/// Found by the property test: Zoho's copy deleted, the delete found by a full re-read of Zoho
/// while our update was in flight on Outlook, then an Outlook edit; the release waits for the
/// update's result and the edit wins (Outlook wins): Zoho gets a new copy holding what both
/// sides last agreed on (Zoho's own earlier edit included). The model counted the item as
/// resurrected only when the conflict came from the release itself, so it looked for the edit
/// of the deleted copy's department in vain.
#[test]
fn a_delete_that_loses_to_an_edit_after_a_write_result_brings_the_agreed_item_back() {
    use Action::*;
    let mut world = World::new(ConflictRule::OutlookWins, Mix::Plain);
    for action in [
        Create(Side::Outlook, 0),
        Edit(Side::Outlook, 0, 1, 0),
        Poll(Side::Outlook),
        Engine,
        Write(Side::Zoho),
        Edit(Side::Zoho, 0, 1, 0),
        Engine,
        Poll(Side::Zoho),
        Engine,
        Engine,
        Delete(Side::Zoho, 0),
        Engine,
        Resync(Side::Zoho),
        Write(Side::Outlook),
        Resync(Side::Outlook),
        Edit(Side::Outlook, 0, 0, 0),
    ] {
        world.act(action);
    }
    world.settle();
    world.assert_converged();
    let link = &world.links[0];
    assert!(
        world.resurrected.contains(&link.id),
        "the edit won the delete"
    );
    let target = contact(&link.target);
    assert_eq!(
        get(&target, "department").as_deref(),
        Some("zoho-department-0")
    );
    assert_eq!(
        get(&target, "job_title").as_deref(),
        Some("outlook-job_title-0")
    );
    assert!(world.zoho.items.contains_key("zoho-2") && !world.zoho.items.contains_key("zoho-1"));
}

/// A windowed re-read of Outlook (its calendar's) after deletions it was never told of: what it
/// did not list is asked for by id; the deleted items are deleted in Zoho, the ones outside the
/// window stay on both sides.
#[test]
fn a_windowed_reread_finds_the_deletions_and_keeps_what_lies_outside() {
    use Action::*;
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    for n in 0..6 {
        world.act(Create(Side::Outlook, n));
        world.act(Create(Side::Zoho, 100 + n));
    }
    world.act(Poll(Side::Outlook));
    world.act(Poll(Side::Zoho));
    world.settle();
    world.assert_converged();
    assert_eq!(world.outlook.items.len(), 12);
    // Four deleted in Outlook, never told (the expired cursor), then the window is read.
    for n in 0..4 {
        world.act(Delete(Side::Outlook, n * 2));
    }
    world.act(WindowedResync);
    world.settle();
    world.assert_converged();
    assert_eq!(world.outlook.items.len(), 8);
    assert_eq!(
        world.zoho.items.len(),
        8,
        "each deletion reached Zoho, nothing else did"
    );
}

/// The gap of decision 52, closed: a create on Outlook whose answer was lost made its copy
/// outside the window a windowed re-read lists (an event outside the calendar window). The
/// round's end retries the create; told the copy may exist, Outlook finds it by the identity and
/// answers with what it holds (`Stale`): no second copy, the Outlook user's edit of the copy and
/// the Zoho user's edit made meanwhile both arrive.
#[test]
fn a_create_retried_after_a_windowed_reread_finds_its_copy_outside_the_window() {
    use Action::*;
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    world.act(Create(Side::Zoho, 0));
    world.act(Poll(Side::Zoho));
    world.act(Engine); // the read: a create in Outlook
    world.act(WriteLost(Side::Outlook));
    let copy = world
        .outlook
        .items
        .keys()
        .next()
        .cloned()
        .expect("the copy");
    assert!(!in_window(&copy), "the copy lies outside the window");
    // A person edits the copy in Outlook, another the original in Zoho.
    world.act(Edit(Side::Outlook, 0, 0, 1)); // job_title
    world.act(Edit(Side::Zoho, 0, 1, 2)); // department
    world.act(WindowedResync);
    // The window's round ends before any read shows the copy: its end retries the create.
    let outlook_writes = |w: &World| w.to_side.get(&Side::Outlook).is_some_and(|q| !q.is_empty());
    while !world.to_engine.is_empty() || outlook_writes(&world) {
        while !world.to_engine.is_empty() {
            world.engine();
        }
        while outlook_writes(&world) {
            world.write(Side::Outlook);
        }
    }
    assert_eq!(world.outlook.items.len(), 1, "no second copy");
    world.settle();
    world.assert_converged();
    assert_eq!(world.outlook.items.len(), 1);
    assert_eq!(world.zoho.items.len(), 1);
    let (_, outlook) = &world.outlook.items[&copy];
    assert_eq!(
        get(outlook, "job_title"),
        Some(typed(Side::Outlook, "job_title", "1"))
    );
    assert_eq!(
        get(outlook, "department"),
        Some(typed(Side::Zoho, "department", "2"))
    );
}

/// Found by the property test with windowed re-reads among its random actions (decision 102):
/// an Outlook read parked while our create of the same content was in flight there, of an item
/// then deleted unannounced before a windowed re-read that did not list it. Released as a live
/// item, it was linked and copied to Zoho, and no read ever told its deletion. Now the
/// windowed re-read marks it unconfirmed, and its release asks Outlook for it by id before
/// copying: gone, nothing is copied. (A complete re-read drops parked reads:
/// `a_parked_read_of_an_item_deleted_before_a_full_reread_stays_deleted`.)
#[test]
fn a_parked_read_of_an_item_deleted_before_a_windowed_reread_stays_deleted() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    for action in [
        Create(Outlook, 0),
        Create(Zoho, 0),
        Create(Zoho, 0),
        Create(Zoho, 0),
        Engine,
        Create(Outlook, 0),
        Create(Outlook, 0),
        Engine,
        Poll(Zoho),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Poll(Outlook),
        Delete(Outlook, 0),
        WindowedResync,
    ] {
        world.act(action);
    }
    world.settle();
    world.assert_converged();
}

/// A copy our create made, deleted there before the create's answer is in (a connector slow to
/// publish its result, a person quick to delete the copy). The poll tells the deletion of an id
/// no link knows yet, which is dropped; the late answer then links the gone copy, and the end of
/// Outlook's next round asks for it by id (decision 91): gone, so its original goes too.
#[test]
fn a_copy_deleted_before_its_creates_answer_stays_deleted() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    for action in [Create(Outlook, 0), Create(Zoho, 0), Poll(Zoho), Engine] {
        world.act(action);
    }
    world.write_late_answer(Outlook);
    for action in [Delete(Outlook, 115), Create(Outlook, 0)] {
        world.act(action);
    }
    world.settle();
    world.assert_converged();
}

/// Decision 91: a copy our create made in Outlook, deleted there before any poll listed it, is
/// never told deleted by the delta; the end of Outlook's next round asks for it by id, and its
/// original goes too.
#[test]
fn a_copy_deleted_before_any_read_listed_it_is_deleted_on_the_other_side() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let mut world = World::new(ConflictRule::ZohoWins, Mix::Plain);
    for action in [
        Create(Zoho, 0),
        Poll(Zoho),
        Engine,
        Write(Outlook),
        Engine,
        Delete(Outlook, 0),
    ] {
        world.act(action);
    }
    world.settle();
    world.assert_converged();
    assert!(world.zoho.items.is_empty(), "{:?}", world.zoho.items);
}

/// Found by the property test after decision 88, not yet fixed: a Zoho read that shows our
/// update in flight together with a Zoho user's edit of another field that update wrote is
/// compared with what Zoho held before the write (`merge::shows_write` wants every written field
/// as sent), so our write's notes count as the Zoho user's edit, and "Zoho wins" overwrites the
/// Outlook user's later notes. A fix compares field by field (each written field that holds what
/// we sent is ours); tried, it passes this case, but a 6,000-case run then found two other
/// failing cases not yet understood, so it has not landed.
#[test]
fn a_notes_edit_around_a_late_zoho_answer_is_kept() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let actions = vec![
        Create(Outlook, 0),
        Create(Zoho, 0),
        Poll(Outlook),
        Engine,
        Edit(Outlook, 0, 0, 0),
        Engine,
        Edit(Outlook, 0, 2, 1),
        Engine,
        Write(Zoho),
        Engine,
        Poll(Outlook),
        Engine,
        WriteLate(Zoho),
        Edit(Zoho, 5, 0, 0),
        Edit(Outlook, 0, 2, 0),
    ];
    check_interleaving(ConflictRule::ZohoWins, actions, Mix::Plain).unwrap();
}

#[test]
fn a_zoho_edit_around_a_lost_outlook_create_and_a_zoho_resync_is_kept() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let mut actions = vec![
        Create(Zoho, 0),
        Poll(Zoho),
        Delete(Outlook, 0),
        Delete(Outlook, 0),
        Engine,
        Delete(Outlook, 0),
        Poll(Outlook),
        Edit(Zoho, 0, 0, 0),
        WriteLost(Outlook),
        Engine,
        Resync(Zoho),
        Poll(Zoho),
        Edit(Outlook, 0, 1, 0),
        Poll(Outlook),
        Poll(Outlook),
        Poll(Outlook),
        Poll(Outlook),
    ];
    actions.extend(std::iter::repeat_n(Engine, 14));
    actions.push(WriteLost(Outlook));
    check_interleaving(ConflictRule::ZohoWins, actions, Mix::Capacity).unwrap();
}

/// Found by the property test with decision 91 in: a copy our create made in Outlook, edited
/// there against our delete (the edit wins, by the rule) and then deleted before any poll listed
/// it. The delete's stale answer read it by id, which does not make a later deletion told: it is
/// still asked for at the round's end, and Zoho's new copy goes too.
#[test]
fn a_copy_edited_against_our_delete_then_deleted_unlisted_is_deleted_on_zoho() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let actions = vec![
        Create(Zoho, 185),
        Poll(Zoho),
        Engine,
        Engine,
        Engine,
        Write(Outlook),
        Engine,
        Delete(Zoho, 0),
        Poll(Zoho),
        Engine,
        Engine,
        Engine,
        Edit(Outlook, 0, 6, 0),
        Engine,
        Write(Outlook),
        Delete(Outlook, 0),
    ];
    check_interleaving(ConflictRule::OutlookWins, actions, Mix::LongTexts).unwrap();
}

/// Found by a CI run: a link made from a read of the copy our lost create had made (a
/// duplicate link), given up with its delete of that copy in flight (its Zoho copy was deleted),
/// while the create's retry found the copy for its own link. The holder's delete was still in
/// flight, so the copy was not deleted: the result's link must not be told it was, which ended
/// that link with the copy still in Outlook.
#[test]
fn a_duplicate_links_delete_in_flight_is_no_deletion_for_the_link_that_finds_the_copy() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let actions = vec![
        Create(Zoho, 0),
        Poll(Zoho),
        Engine,
        Engine,
        Poll(Outlook),
        Delete(Outlook, 0),
        WriteLost(Outlook),
        Edit(Outlook, 0, 6, 0),
        Delete(Zoho, 0),
        Poll(Outlook),
        Poll(Outlook),
        Engine,
        Engine,
        Engine,
        Engine,
        Engine,
        Write(Zoho),
        Delete(Zoho, 0),
        Edit(Outlook, 0, 0, 0),
        Resync(Zoho),
    ];
    check_interleaving(ConflictRule::ZohoWins, actions, Mix::Capacity).unwrap();
}

/// Found by a local run of the property test: a create retried after a lost answer is
/// answered `Stale` with the copy's newer version (the person's second edit); a poll's read of
/// the older version arrives after that answer. Outlook's versions are opaque change keys: the
/// read's `lastModifiedDateTime` tells it is the older, and it changes nothing (decision 100).
#[test]
fn a_one_side_outlook_edit_survives_a_zoho_resync_and_a_lost_outlook_write() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let actions = vec![
        Delete(Outlook, 0),
        Delete(Outlook, 0),
        Delete(Outlook, 0),
        Create(Zoho, 0),
        Create(Zoho, 0),
        Resync(Zoho),
        Delete(Outlook, 0),
        Poll(Outlook),
        Engine,
        Engine,
        Engine,
        Engine,
        Engine,
        Create(Zoho, 0),
        WriteLost(Outlook),
        Engine,
        Create(Zoho, 0),
        Write(Outlook),
        Create(Zoho, 0),
        Edit(Outlook, 8, 0, 0),
        Create(Outlook, 1),
        Engine,
        Engine,
        Engine,
        Poll(Outlook),
        Poll(Outlook),
        Engine,
        Engine,
        Engine,
        Write(Zoho),
        Write(Zoho),
        Edit(Zoho, 153, 0, 0),
        Edit(Outlook, 87, 0, 1),
        Engine,
        Poll(Zoho),
        Engine,
        Engine,
        Write(Outlook),
    ];
    check_interleaving(ConflictRule::ZohoWins, actions, Mix::Plain).unwrap();
}

/// Found by CI at `fa4b872`: Zoho's answer to our update comes after a read of the record
/// made after the update, in which the person overwrote the field it wrote. The read is the
/// newer: the answer leaves it as what Zoho holds, so the next read of it (the same content)
/// is no edit of notes (decision 100).
#[test]
fn an_update_answered_after_a_read_that_overwrote_it_keeps_the_read() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let actions = vec![
        Delete(Outlook, 0),
        Create(Outlook, 0),
        Create(Outlook, 0),
        Poll(Outlook),
        Delete(Outlook, 224),
        Engine,
        Engine,
        Engine,
        Edit(Outlook, 0, 1, 0),
        Create(Outlook, 0),
        Engine,
        Create(Zoho, 0),
        Write(Zoho),
        Poll(Outlook),
        Poll(Outlook),
        Create(Zoho, 0),
        Create(Outlook, 0),
        Write(Zoho),
        Edit(Outlook, 54, 2, 0),
        Engine,
        Engine,
        Create(Zoho, 0),
        Write(Zoho),
        Engine,
        WriteLate(Zoho),
        Edit(Zoho, 127, 1, 0),
        Poll(Outlook),
        Poll(Zoho),
        Resync(Zoho),
    ];
    check_interleaving(ConflictRule::ZohoWins, actions, Mix::Plain).unwrap();
}

/// Found by a local run of the property test: as above, an older Outlook read after a retried
/// create's `Stale` answer, here with a Zoho edit of another link for the same copy.
#[test]
fn an_older_outlook_read_after_a_found_copy_loses_no_edit() {
    use Action::*;
    use Side::{Outlook, Zoho};
    let actions = vec![
        Create(Zoho, 0),
        Poll(Zoho),
        Edit(Outlook, 0, 0, 0),
        Poll(Outlook),
        Engine,
        Engine,
        Create(Outlook, 0),
        Poll(Outlook),
        Create(Zoho, 0),
        Engine,
        Poll(Outlook),
        WriteLost(Outlook),
        Engine,
        Engine,
        Edit(Outlook, 31, 0, 0),
        Poll(Outlook),
        Poll(Outlook),
        Edit(Zoho, 20, 2, 0),
        Poll(Outlook),
        Delete(Outlook, 74),
        Engine,
        Engine,
        Engine,
        Engine,
        Engine,
        Engine,
        Engine,
        Write(Zoho),
        Write(Zoho),
        Edit(Zoho, 59, 1, 0),
        Edit(Outlook, 0, 1, 0),
        Poll(Zoho),
        Engine,
        Engine,
        Write(Outlook),
    ];
    check_interleaving(ConflictRule::ZohoWins, actions, Mix::Plain).unwrap();
}

/// Found by `random_interleavings_converge` (decision 106): a windowed re-read's probe of an
/// item, carried out but answered late; the item deleted; a full re-read that did not list it
/// ended while the probe was still unanswered. The late answer (found) predates the deletion:
/// the item is asked for again, and its deletion reaches Zoho.
#[test]
fn a_late_probe_answer_does_not_hide_a_deletion_a_full_read_found() {
    use Action::*;
    use Side::*;
    check_interleaving(
        ConflictRule::OutlookWins,
        vec![
            Create(Outlook, 0),
            Create(Outlook, 0),
            Create(Outlook, 0),
            Delete(Outlook, 1),
            Create(Outlook, 0),
            Engine,
            Poll(Outlook),
            WindowedResync,
            Create(Outlook, 0),
            Create(Outlook, 0),
            Create(Outlook, 0),
            Engine,
            Engine,
            Engine,
            Engine,
            Engine,
            Engine,
            Engine,
            Poll(Outlook),
            Engine,
            Create(Zoho, 0),
            WriteLate(Outlook),
            Delete(Outlook, 90),
            Resync(Outlook),
        ],
        Mix::Plain,
    )
    .unwrap();
}

/// Found by `review_mode_converges_once_the_user_chooses` (decision 108): in review mode, Zoho's
/// delete was staged when Outlook's edit of the same field as Zoho's earlier edit came in; the
/// conflict put the link in review and the staged delete was forgotten, so once the user chose,
/// the link synced with a Zoho contact that no longer existed.
#[test]
fn an_edit_while_a_delete_is_staged_in_review_keeps_the_delete() {
    use Action::*;
    let actions = vec![
        Create(Side::Zoho, 0),
        Poll(Side::Zoho),
        Engine,
        Edit(Side::Zoho, 0, 0, 0),
        Poll(Side::Zoho),
        Delete(Side::Zoho, 0),
        Write(Side::Outlook),
        Poll(Side::Zoho),
        Edit(Side::Outlook, 0, 0, 0),
    ];
    check_interleaving(ConflictRule::Review, actions, Mix::Plain).unwrap();
}
