//! A user's item messages and results of a batch decided set-wise (decisions #87, #95, #96):
//! what they need is loaded in a few statements (their links, parked reads and the creates
//! their contents may echo, in one), the domain decides each message in order against that state in memory (a
//! later message of an item sees what an earlier one made of it; a result releases the parked
//! reads it lets go on, as [`crate::handler::on_result`] does), and the links, commands and
//! released reads are written with multi-row statements (links and commands in one). A message whose handling needs more
//! than this state (a parked read, an identity to look up, a read the domain parks or joins to a
//! create, a result whose item a read linked first) is handled by the one-by-one path
//! ([`crate::handler::on_item`], [`crate::handler::on_result`]) after what came before it is
//! written; the state is then loaded again for the messages after it.

use std::collections::{HashMap, HashSet};

use sync_model::{ContentHash, ExternalId, ItemKind, LinkId, Side, UserId};
use sync_protocol::{ApplyOutcome, ChangeMessage, Envelope};
use tracing::Instrument;

use crate::domain::scope::{self, Reading};
use crate::domain::unknown_read::{self, UnknownRead};
use crate::domain::{Input, Link, LinkStatus, Output, RandomIds, Rules, UserSettings};
use crate::handler::{on_item, on_result, result_input, rules_of};
use crate::store::parked::Parked;
use crate::store::{Tx, batch, links, parked, progress};
use crate::writes::Effects;

/// A message admitted by the inbox that is decided set-wise: an item message (`item_changed`,
/// `item_deleted`) or the result of one of our commands (`apply_result`).
pub(crate) struct ItemMessage {
    kind: ItemKind,
    side: Side,
    subject: Subject,
    rescope: Option<uuid::Uuid>,
    span: tracing::Span,
}

/// What an [`ItemMessage`] tells.
enum Subject {
    /// An item read or deleted, as the engine's input.
    Item(Input),
    /// The answer to the command `command_id` of `link`.
    Result {
        link: LinkId,
        command_id: uuid::Uuid,
        outcome: ApplyOutcome,
    },
}

/// A message admitted by the inbox: one decided set-wise, or another one (as it came).
pub(crate) enum Sorted {
    Item(ItemMessage),
    Other(Envelope<ChangeMessage>),
}

impl ItemMessage {
    pub(crate) fn sort(envelope: Envelope<ChangeMessage>, span: tracing::Span) -> Sorted {
        let rescope = envelope.rescope;
        match envelope.body {
            ChangeMessage::ItemChanged {
                side,
                external_id,
                version,
                item,
                identity,
                modified,
            } => Sorted::Item(ItemMessage {
                kind: item.kind(),
                side,
                subject: Subject::Item(Input::Changed {
                    side,
                    external_id,
                    version,
                    item,
                    identity,
                    modified,
                }),
                rescope,
                span,
            }),
            ChangeMessage::ItemDeleted {
                side,
                kind,
                external_id,
                left_scope,
            } => Sorted::Item(ItemMessage {
                kind,
                side,
                subject: Subject::Item(if left_scope {
                    Input::LeftScope {
                        side,
                        external_id,
                        modified: None,
                    }
                } else {
                    Input::Deleted { side, external_id }
                }),
                rescope,
                span,
            }),
            ChangeMessage::ApplyResult {
                command_id,
                link_id,
                side,
                kind,
                outcome,
            } => Sorted::Item(ItemMessage {
                kind,
                side,
                subject: Subject::Result {
                    link: link_id,
                    command_id,
                    outcome,
                },
                rescope,
                span,
            }),
            body => Sorted::Other(Envelope { body, ..envelope }),
        }
    }

    /// The item the message names: the one read or deleted, or the one a result says our
    /// command wrote or found.
    fn external_id(&self) -> Option<&ExternalId> {
        match &self.subject {
            Subject::Item(
                Input::Changed { external_id, .. }
                | Input::Deleted { external_id, .. }
                | Input::LeftScope { external_id, .. },
            ) => Some(external_id),
            Subject::Item(_) => None,
            Subject::Result { outcome, .. } => match outcome {
                ApplyOutcome::Applied { external_id, .. }
                | ApplyOutcome::Stale { external_id, .. } => Some(external_id),
                ApplyOutcome::Gone { .. } | ApplyOutcome::Failed { .. } => None,
            },
        }
    }

    /// The message's item read or deleted, if it is one.
    fn input(&self) -> Option<&Input> {
        match &self.subject {
            Subject::Item(input) => Some(input),
            Subject::Result { .. } => None,
        }
    }

    /// Decides the message by the one-by-one path, in `tx`.
    async fn one_by_one(&self, tx: &mut Tx<'_>, user: UserId) -> anyhow::Result<bool> {
        match &self.subject {
            Subject::Item(input) => {
                on_item(tx, user, self.kind, self.side, input.clone(), self.rescope).await
            }
            Subject::Result {
                link,
                command_id,
                outcome,
            } => {
                on_result(
                    tx,
                    user,
                    self.kind,
                    self.side,
                    *link,
                    *command_id,
                    outcome.clone(),
                )
                .await
            }
        }
    }
}

/// Decides `runs` (each its user's item messages, in order; a user at most once) in `tx`: the
/// users' runs are loaded and stored together (decisions #115). Returns whether commands were
/// written.
pub(crate) async fn decide(
    tx: &mut Tx<'_>,
    runs: &[(UserId, Vec<ItemMessage>)],
) -> anyhow::Result<bool> {
    let mut wrote = false;
    let mut pending: Vec<(UserId, &[ItemMessage])> = runs
        .iter()
        .filter(|(_, messages)| !messages.is_empty())
        .map(|(user, messages)| (*user, messages.as_slice()))
        .collect();
    while !pending.is_empty() {
        let mut states = State::load(tx, &pending).await?;
        let mut stops = Vec::with_capacity(states.len());
        for ((user, rest), state) in pending.iter().zip(&mut states) {
            let mut handled = rest.len();
            for (i, message) in rest.iter().enumerate() {
                match message.span.in_scope(|| state.decide(*user, i, message)) {
                    Some(commands) => wrote |= commands,
                    None => {
                        handled = i;
                        break;
                    }
                }
            }
            stops.push(handled);
        }
        wrote |= State::flush(tx, &mut states).await?;
        // A user's message that needs more than the loaded state, one by one, after what came
        // before it was written; the messages after it are loaded again.
        let mut next = Vec::new();
        for ((user, rest), handled) in pending.into_iter().zip(stops) {
            let Some(message) = rest.get(handled) else {
                continue;
            };
            metrics::counter!("sync_batch_messages_one_by_one_total").increment(1);
            wrote |= message
                .one_by_one(tx, user)
                .instrument(message.span.clone())
                .await?;
            if handled + 1 < rest.len() {
                next.push((user, &rest[handled + 1..]));
            }
        }
        pending = next;
    }
    Ok(wrote)
}

/// What the messages need, loaded at once, and what their decisions wrote, not yet stored.
struct State {
    user: UserId,
    rules: HashMap<ItemKind, (Rules, Option<UserSettings>, Reading)>,
    /// Current links by (kind, side, item id); a removed link is gone from both maps. Complete
    /// for the keys the messages and parked reads name (looked up when loaded), and for the
    /// links of the results (loaded by id).
    by_item: HashMap<(ItemKind, Side, ExternalId), LinkId>,
    links: HashMap<LinkId, Link>,
    /// By message index: whether its item has a parked read (looked up for the items no link
    /// knew when loaded; any other message that meets no link goes one by one).
    parked: HashMap<usize, bool>,
    /// The parked reads of each (kind, side) some result of the messages answers, in their
    /// order, each with its key's index in the load; a released one is gone from its list (and
    /// in `released`).
    parked_reads: HashMap<(ItemKind, Side), Vec<(usize, Parked)>>,
    /// By message index: its key's index in the load.
    key_of: HashMap<usize, usize>,
    /// By key index: the stored links whose create may have made the item its read holds.
    creates: HashMap<usize, Vec<Link>>,
    /// Links written since loaded, in the order first written; removed ones.
    saved: Vec<LinkId>,
    /// The create hashes (Outlook, Zoho) of the links written since loaded, computed once
    /// when written: every later read of the run compares them.
    saved_hashes: HashMap<LinkId, (Option<ContentHash>, Option<ContentHash>)>,
    /// Removals, conflicts and commands.
    effects: Effects,
    /// Parked reads released by results, to remove.
    released: Vec<i64>,
    /// The (kind, side) pairs a result says were written to (`progress::written`).
    written: Vec<(ItemKind, Side)>,
}

impl State {
    /// The states of `runs` (one per run, in order), loaded together.
    async fn load(tx: &mut Tx<'_>, runs: &[(UserId, &[ItemMessage])]) -> anyhow::Result<Vec<Self>> {
        let mut pairs: Vec<(UserId, ItemKind)> = Vec::new();
        for (user, messages) in runs {
            for message in messages.iter() {
                if !pairs.contains(&(*user, message.kind)) {
                    pairs.push((*user, message.kind));
                }
            }
        }
        let progress = progress::load_many_with_settings(tx, &pairs).await?;

        // The results: their links by id, and the parked reads of the sides they answer.
        let mut answered: Vec<(UserId, ItemKind, Side)> = Vec::new();
        let mut result_links: Vec<LinkId> = Vec::new();
        for (user, messages) in runs {
            for message in messages.iter() {
                if let Subject::Result { link, .. } = &message.subject {
                    result_links.push(*link);
                    if !answered.contains(&(*user, message.kind, message.side)) {
                        answered.push((*user, message.kind, message.side));
                    }
                }
            }
        }
        let mut listed: HashMap<UserId, Vec<(ItemKind, Side, Parked)>> = HashMap::new();
        for (user, kind, side, read) in parked::list_many(tx, &answered).await? {
            listed.entry(user).or_default().push((kind, side, read));
        }

        // Per run, one key per message naming an item (a read's with its content's hash), then
        // one per parked read (its item, and the creates its content may echo); `owner` tells
        // each key's run.
        let hashes: Vec<Vec<Option<ContentHash>>> = runs
            .iter()
            .map(|(_, messages)| {
                messages
                    .iter()
                    .map(|m| match m.input() {
                        Some(Input::Changed { side, item, .. }) => {
                            Some(item.project_for(*side).content_hash())
                        }
                        _ => None,
                    })
                    .collect()
            })
            .collect();
        let no_reads = Vec::new();
        let parked_hashes: Vec<Vec<ContentHash>> = runs
            .iter()
            .map(|(user, _)| {
                listed
                    .get(user)
                    .unwrap_or(&no_reads)
                    .iter()
                    .map(|(_, side, read)| read.item.project_for(*side).content_hash())
                    .collect()
            })
            .collect();
        let mut keys: Vec<batch::Key> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        let mut key_of: Vec<HashMap<usize, usize>> = Vec::with_capacity(runs.len());
        let mut first_parked: Vec<usize> = Vec::with_capacity(runs.len());
        for (r, (user, messages)) in runs.iter().enumerate() {
            let mut of = HashMap::new();
            for (i, (message, hash)) in messages.iter().zip(&hashes[r]).enumerate() {
                if let Some(item) = message.external_id() {
                    of.insert(i, keys.len());
                    owner.push(r);
                    keys.push(batch::Key {
                        user: *user,
                        kind: message.kind,
                        side: message.side,
                        item,
                        read: hash.as_ref(),
                    });
                }
            }
            key_of.push(of);
            first_parked.push(keys.len());
            let reads = listed.get(user).unwrap_or(&no_reads);
            for ((kind, side, read), hash) in reads.iter().zip(&parked_hashes[r]) {
                owner.push(r);
                keys.push(batch::Key {
                    user: *user,
                    kind: *kind,
                    side: *side,
                    item: &read.external_id,
                    read: Some(hash),
                });
            }
        }
        let loaded = batch::load(tx, &keys).await?;
        let item_keys: Vec<(ItemKind, Side, ExternalId)> = keys
            .iter()
            .map(|k| (k.kind, k.side, k.item.clone()))
            .collect();
        drop(keys);

        let mut states = Vec::with_capacity(runs.len());
        let mut run_of: HashMap<UserId, usize> = HashMap::new();
        for (r, ((user, _), key_of)) in runs.iter().zip(key_of).enumerate() {
            let mut rules = HashMap::new();
            for (pair_user, kind) in &pairs {
                if pair_user != user {
                    continue;
                }
                let (state, settings) = progress
                    .get(&(*user, *kind))
                    .ok_or_else(|| anyhow::anyhow!("no progress loaded for {user} {kind}"))?;
                let kind_rules = rules_of(state, settings.as_ref(), *kind);
                rules.insert(*kind, (kind_rules, settings.clone(), state.reading()));
            }
            run_of.insert(*user, r);
            states.push(State {
                user: *user,
                rules,
                by_item: HashMap::new(),
                links: HashMap::new(),
                parked: HashMap::new(),
                parked_reads: HashMap::new(),
                key_of,
                creates: HashMap::new(),
                saved: Vec::new(),
                saved_hashes: HashMap::new(),
                effects: Effects::default(),
                released: Vec::new(),
                written: Vec::new(),
            });
        }
        let mut found = loaded.links;
        found.extend(links::get_many(tx, &result_links).await?);
        for link in found {
            // A result's link is another user's only if the message lies; it is not this
            // user's to decide (it is then as if it did not exist).
            let Some(&r) = run_of.get(&link.user_id) else {
                continue;
            };
            states[r].index(&link);
            states[r].links.insert(link.id, link);
        }
        for (r, ((user, messages), state)) in runs.iter().zip(&mut states).enumerate() {
            // Only the item messages no link knows look at parked reads and creates; every
            // parked read looks at the creates.
            for (i, message) in messages.iter().enumerate() {
                let Some(&k) = state.key_of.get(&i) else {
                    continue;
                };
                if message.input().is_none() || state.by_item.contains_key(&item_keys[k]) {
                    continue;
                }
                state.parked.insert(i, loaded.parked.contains(&k));
                if hashes[r][i].is_some() {
                    state.creates.insert(k, Vec::new());
                }
            }
            for (answered_user, kind, side) in &answered {
                if answered_user == user {
                    state.parked_reads.insert((*kind, *side), Vec::new());
                }
            }
            for (n, (kind, side, read)) in listed
                .remove(user)
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                let k = first_parked[r] + n;
                state.creates.insert(k, Vec::new());
                state
                    .parked_reads
                    .entry((kind, side))
                    .or_default()
                    .push((k, read));
            }
        }
        for (k, link) in loaded.creates {
            if let Some(candidates) = states[owner[k]].creates.get_mut(&k) {
                candidates.push(link);
            }
        }
        Ok(states)
    }

    /// Decides message `i` in memory: whether it wrote commands, or `None` when it needs the
    /// one-by-one path (nothing changed then).
    fn decide(&mut self, user: UserId, i: usize, message: &ItemMessage) -> Option<bool> {
        match &message.subject {
            Subject::Item(input) => self.decide_item(user, i, message, input),
            Subject::Result {
                link,
                command_id,
                outcome,
            } => self.decide_result(user, message, *link, *command_id, outcome),
        }
    }

    /// The same steps as `handler::on_item`, against the loaded state.
    fn decide_item(
        &mut self,
        user: UserId,
        i: usize,
        message: &ItemMessage,
        input: &Input,
    ) -> Option<bool> {
        let (kind, side) = (message.kind, message.side);
        let (rules, settings, reading) = self.rules.get(&kind)?.clone();
        let input = scope::within(settings.as_ref(), input.clone());
        let external_id = match &input {
            Input::Changed { external_id, .. }
            | Input::Deleted { external_id, .. }
            | Input::LeftScope { external_id, .. } => external_id.clone(),
            _ => return Some(false),
        };
        let link = self
            .by_item
            .get(&(kind, side, external_id))
            .and_then(|id| self.links.get(id))
            .cloned();
        if link.is_none()
            && matches!(input, Input::Changed { .. })
            && !reading.admits_new(side, message.rescope)
        {
            tracing::debug!(%side, "a read of the old scope skipped; the re-scope's full read follows");
            return Some(false);
        }
        if link.is_none() && self.parked.get(&i) != Some(&false) {
            // A parked read to replace or forget, or not looked up: one by one.
            return None;
        }
        if link.is_none()
            && let Input::Changed { item, identity, .. } = &input
        {
            if identity.is_some() && !rules.rebuilding {
                return None;
            }
            let read = item.project_for(side).content_hash();
            let candidates = self.creates_with(*self.key_of.get(&i)?, kind, side, &read)?;
            if unknown_read::decide(user, kind, side, item, None, &candidates) != UnknownRead::New {
                return None;
            }
        }
        let old = link.as_ref().map(|l| l.id);
        let out = crate::domain::step(link, input, user, rules, &mut RandomIds);
        Some(self.persist(user, old, out, rules))
    }

    /// The same steps as `handler::on_result`, against the loaded state: a result whose item a
    /// read linked first (a collision to resolve) goes one by one.
    fn decide_result(
        &mut self,
        user: UserId,
        message: &ItemMessage,
        link_id: LinkId,
        command_id: uuid::Uuid,
        outcome: &ApplyOutcome,
    ) -> Option<bool> {
        let (kind, side) = (message.kind, message.side);
        let (rules, _, _) = self.rules.get(&kind)?.clone();
        let Some(link) = self.links.get(&link_id).cloned() else {
            // Every result's link was looked up by id: it no longer exists.
            tracing::debug!(%link_id, "result for a link that no longer exists");
            return Some(false);
        };
        if let Some(external_id) = message.external_id()
            && link.awaits(side, command_id)
            && self
                .by_item
                .get(&(kind, side, external_id.clone()))
                .is_some_and(|holder| *holder != link.id)
        {
            return None;
        }
        let parked = self.parked_reads.get(&(kind, side))?;
        if parked.iter().any(|(k, _)| !self.creates.contains_key(k)) {
            return None; // not loaded (never so: every parked read's content is looked up)
        }
        if matches!(
            outcome,
            ApplyOutcome::Applied { .. } | ApplyOutcome::Gone { .. }
        ) && !self.written.contains(&(kind, side))
        {
            self.written.push((kind, side));
        }
        let input = result_input(side, command_id, outcome.clone());
        let out = crate::domain::step(Some(link), input, user, rules, &mut RandomIds);
        let wrote = self.persist(user, Some(link_id), out, rules);
        Some(self.release_parked(user, kind, side, rules) || wrote)
    }

    /// `handler::release_parked`, against the state: the parked reads of `side` the domain
    /// releases after a result from it go on, in their order.
    fn release_parked(&mut self, user: UserId, kind: ItemKind, side: Side, rules: Rules) -> bool {
        let mut wrote = false;
        let waiting = self.parked_reads.remove(&(kind, side)).unwrap_or_default();
        let mut kept = Vec::with_capacity(waiting.len());
        for (k, read) in waiting {
            let key = (kind, side, read.external_id.clone());
            let known = self.by_item.contains_key(&key);
            let creating = match known {
                true => Vec::new(),
                false => {
                    let hash = read.item.project_for(side).content_hash();
                    self.creates_with(k, kind, side, &hash).unwrap_or_default()
                }
            };
            if !unknown_read::releases(side, side, &read.item, known, &creating) {
                kept.push((k, read));
                continue;
            }
            self.released.push(read.id);
            let unconfirmed = read.unconfirmed;
            let input = Input::Changed {
                side,
                external_id: read.external_id,
                version: read.version,
                item: read.item,
                identity: None,
                modified: read.modified,
            };
            let link = self
                .by_item
                .get(&key)
                .and_then(|id| self.links.get(id))
                .cloned();
            let old = link.as_ref().map(|l| l.id);
            let out = unknown_read::release(link, input, unconfirmed, user, rules, &mut RandomIds);
            wrote |= self.persist(user, old, out, rules);
        }
        self.parked_reads.insert((kind, side), kept);
        wrote
    }

    /// What `links::creates_with` would answer now: the stored candidates not written since,
    /// and the links written since that now match (they are saved with fresh hashes).
    fn creates_with(
        &self,
        k: usize,
        kind: ItemKind,
        side: Side,
        read: &ContentHash,
    ) -> Option<Vec<Link>> {
        let stored = self.creates.get(&k)?;
        let written: HashSet<LinkId> = self
            .saved
            .iter()
            .chain(self.effects.removed())
            .copied()
            .collect();
        let mut candidates: Vec<Link> = stored
            .iter()
            .filter(|l| !written.contains(&l.id))
            .cloned()
            .collect();
        candidates.extend(
            self.saved
                .iter()
                .filter_map(|id| self.links.get(id))
                .filter(|l| {
                    l.kind == kind
                        && l.status == LinkStatus::Active
                        && l.external_id(side).is_none()
                        && self
                            .saved_hashes
                            .get(&l.id)
                            .and_then(|(outlook, zoho)| match side {
                                Side::Outlook => outlook.as_ref(),
                                Side::Zoho => zoho.as_ref(),
                            })
                            == Some(read)
                })
                .cloned(),
        );
        Some(candidates)
    }

    /// `handler::persist`, into the state: stored by [`Self::flush`].
    fn persist(
        &mut self,
        user: UserId,
        old: Option<LinkId>,
        mut out: Output,
        rules: Rules,
    ) -> bool {
        if out.remove {
            if let Some(id) = old
                && let Some(link) = self.links.remove(&id)
            {
                self.unindex(&link);
                self.saved.retain(|s| *s != id);
                self.saved_hashes.remove(&id);
                self.effects.remove(id);
            }
            return false;
        }
        let Some(link) = out.link.take() else {
            return false;
        };
        let wrote = self.effects.saved(user, &link, &mut out, rules);
        if let Some(before) = self.links.remove(&link.id) {
            self.unindex(&before);
        }
        if !self.saved.contains(&link.id) {
            self.saved.push(link.id);
        }
        self.saved_hashes.insert(
            link.id,
            (
                unknown_read::create_hash(&link, Side::Outlook),
                unknown_read::create_hash(&link, Side::Zoho),
            ),
        );
        self.effects.revive(link.id);
        self.index(&link);
        self.links.insert(link.id, link);
        wrote
    }

    fn index(&mut self, link: &Link) {
        for side in Side::ALL {
            if let Some(id) = link.lookup_id(side) {
                self.by_item.insert((link.kind, side, id.clone()), link.id);
            }
        }
    }

    fn unindex(&mut self, link: &Link) {
        for side in Side::ALL {
            if let Some(id) = link.lookup_id(side) {
                let key = (link.kind, side, id.clone());
                if self.by_item.get(&key) == Some(&link.id) {
                    self.by_item.remove(&key);
                }
            }
        }
    }

    /// Stores what the decisions of `states` wrote: progress, released reads, removals,
    /// conflicts, then links and commands (one statement for all of them). Returns whether
    /// commands were written.
    async fn flush(tx: &mut Tx<'_>, states: &mut [State]) -> anyhow::Result<bool> {
        let mut written = Vec::new();
        let mut released = Vec::new();
        let mut effects = Effects::default();
        for state in states.iter_mut() {
            let user = state.user;
            written.extend(
                state
                    .written
                    .drain(..)
                    .map(|(kind, side)| (user, kind, side)),
            );
            released.append(&mut state.released);
            effects.append(&mut state.effects);
        }
        progress::written_many(tx, &written).await?;
        parked::remove_many(tx, &released).await?;
        let saved: Vec<&Link> = states
            .iter()
            .flat_map(|state| state.saved.iter().filter_map(|id| state.links.get(id)))
            .collect();
        let wrote = effects.store(tx, &saved).await?;
        for state in states.iter_mut() {
            state.saved.clear();
            state.saved_hashes.clear();
        }
        Ok(wrote)
    }
}
