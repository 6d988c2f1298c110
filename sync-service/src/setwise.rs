//! A user's item messages of a batch decided set-wise (decisions #87, #95): what they need is
//! loaded with one statement (their links, parked reads and the creates their contents may
//! echo) after the rules of their kinds, the domain decides each message in order against that
//! state in memory (a later message of an item sees what an earlier one made of it), and the
//! links and commands are written with one statement. A message whose handling needs more than this state (a parked read, an
//! identity to look up, a read the domain parks or joins to a create) is handled by the one-by-one
//! path ([`crate::handler::on_item`]) after what came before it is written; the state is then
//! loaded again for the messages after it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use sync_model::{ContentHash, ExternalId, ItemKind, LinkId, Side, UserId};
use sync_protocol::{ChangeMessage, CommandMessage, Envelope};
use tracing::Instrument;

use crate::domain::scope::{self, Reading};
use crate::domain::unknown_read::{self, UnknownRead};
use crate::domain::{
    FieldConflict, Input, Link, LinkStatus, Output, RandomIds, Rules, UserSettings,
};
use crate::handler::{on_item, rules_of};
use crate::store::{Tx, batch, conflicts, links, progress};
use service_kit::telemetry::current_traceparent;

/// An item message (`item_changed`, `item_deleted`) admitted by the inbox, as the engine's input.
pub(crate) struct ItemMessage {
    kind: ItemKind,
    side: Side,
    input: Input,
    rescope: Option<uuid::Uuid>,
    span: tracing::Span,
}

/// A message admitted by the inbox: an item message, or another one (as it came).
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
            } => Sorted::Item(ItemMessage {
                kind: item.kind(),
                side,
                input: Input::Changed {
                    side,
                    external_id,
                    version,
                    item,
                    identity,
                },
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
                input: if left_scope {
                    Input::LeftScope { side, external_id }
                } else {
                    Input::Deleted { side, external_id }
                },
                rescope,
                span,
            }),
            body => Sorted::Other(Envelope { body, ..envelope }),
        }
    }

    fn external_id(&self) -> &ExternalId {
        match &self.input {
            Input::Changed { external_id, .. }
            | Input::Deleted { external_id, .. }
            | Input::LeftScope { external_id, .. } => external_id,
            _ => unreachable!("item messages are changes, deletions or departures"),
        }
    }
}

/// Decides `messages` (one user's, in order) in `tx`. Returns whether commands were written.
pub(crate) async fn decide(
    tx: &mut Tx<'_>,
    user: UserId,
    messages: Vec<ItemMessage>,
) -> anyhow::Result<bool> {
    let mut wrote = false;
    let mut rest = messages.as_slice();
    while !rest.is_empty() {
        let mut state = State::load(tx, user, rest).await?;
        let mut handled = rest.len();
        for (i, message) in rest.iter().enumerate() {
            match message.span.in_scope(|| state.decide(user, i, message)) {
                Some(commands) => wrote |= commands,
                None => {
                    handled = i;
                    break;
                }
            }
        }
        wrote |= state.flush(tx, user).await?;
        let Some(message) = rest.get(handled) else {
            break;
        };
        metrics::counter!("sync_batch_messages_one_by_one_total").increment(1);
        wrote |= on_item(
            tx,
            user,
            message.kind,
            message.side,
            message.input.clone(),
            message.rescope,
        )
        .instrument(message.span.clone())
        .await?;
        rest = &rest[handled + 1..];
    }
    Ok(wrote)
}

/// What the messages need, loaded at once, and what their decisions wrote, not yet stored.
struct State {
    rules: HashMap<ItemKind, (Rules, Option<UserSettings>, Reading)>,
    /// Current links by (kind, side, item id); a removed link is gone from both maps.
    by_item: HashMap<(ItemKind, Side, ExternalId), LinkId>,
    links: HashMap<LinkId, Link>,
    /// By message index: whether its item has a parked read (looked up for the items no link
    /// knew when loaded; any other message that meets no link goes one by one).
    parked: HashMap<usize, bool>,
    /// By message index: the stored links whose create may have made the item it reads.
    creates: HashMap<usize, Vec<Link>>,
    /// Links written since loaded, in the order first written; removed ones.
    saved: Vec<LinkId>,
    /// The create hashes (Outlook, Zoho) of the links written since loaded, computed once
    /// when written: every later read of the run compares them.
    saved_hashes: HashMap<LinkId, (Option<ContentHash>, Option<ContentHash>)>,
    removed: Vec<LinkId>,
    conflicts: Vec<(Link, Rules, FieldConflict)>,
    commands: Vec<Envelope<CommandMessage>>,
}

impl State {
    async fn load(tx: &mut Tx<'_>, user: UserId, messages: &[ItemMessage]) -> anyhow::Result<Self> {
        let mut rules = HashMap::new();
        for message in messages {
            if let Entry::Vacant(vacant) = rules.entry(message.kind) {
                let (state, settings) =
                    progress::load_with_settings(tx, user, message.kind).await?;
                let kind_rules = rules_of(&state, settings.as_ref(), message.kind);
                vacant.insert((kind_rules, settings, state.reading()));
            }
        }
        // The hash of each read's content: the creates it may echo are looked up by it.
        let hashes: Vec<Option<ContentHash>> = messages
            .iter()
            .map(|m| match &m.input {
                Input::Changed { side, item, .. } => Some(item.project_for(*side).content_hash()),
                _ => None,
            })
            .collect();
        let keys: Vec<batch::Key> = messages
            .iter()
            .zip(&hashes)
            .map(|(m, hash)| batch::Key {
                kind: m.kind,
                side: m.side,
                item: m.external_id(),
                read: hash.as_ref(),
            })
            .collect();
        let loaded = batch::load(tx, user, &keys).await?;
        let mut state = State {
            rules,
            by_item: HashMap::new(),
            links: HashMap::new(),
            parked: HashMap::new(),
            creates: HashMap::new(),
            saved: Vec::new(),
            saved_hashes: HashMap::new(),
            removed: Vec::new(),
            conflicts: Vec::new(),
            commands: Vec::new(),
        };
        for link in loaded.links {
            state.index(&link);
            state.links.insert(link.id, link);
        }
        // Only the items no link knows look at parked reads and creates.
        for (i, key) in keys.iter().enumerate() {
            if state
                .by_item
                .contains_key(&(key.kind, key.side, key.item.clone()))
            {
                continue;
            }
            state.parked.insert(i, loaded.parked.contains(&i));
            if key.read.is_some() {
                state.creates.insert(i, Vec::new());
            }
        }
        for (i, link) in loaded.creates {
            if let Some(candidates) = state.creates.get_mut(&i) {
                candidates.push(link);
            }
        }
        Ok(state)
    }

    /// Decides message `i` in memory: whether it wrote commands, or `None` when it needs the
    /// one-by-one path (nothing changed then). The same steps as `handler::on_item`, against
    /// the loaded state.
    fn decide(&mut self, user: UserId, i: usize, message: &ItemMessage) -> Option<bool> {
        let (kind, side) = (message.kind, message.side);
        let (rules, settings, reading) = self.rules.get(&kind)?.clone();
        let input = scope::within(settings.as_ref(), message.input.clone());
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
            let candidates = self.creates_with(i, kind, side, &read)?;
            if unknown_read::decide(user, kind, side, item, None, &candidates) != UnknownRead::New {
                return None;
            }
        }
        let old = link.as_ref().map(|l| l.id);
        let out = crate::domain::step(link, input, user, rules, &mut RandomIds);
        Some(self.persist(user, old, out, rules))
    }

    /// What `links::creates_with` would answer now: the stored candidates not written since,
    /// and the links written since that now match (they are saved with fresh hashes).
    fn creates_with(
        &self,
        i: usize,
        kind: ItemKind,
        side: Side,
        read: &ContentHash,
    ) -> Option<Vec<Link>> {
        let stored = self.creates.get(&i)?;
        let written: HashSet<LinkId> = self.saved.iter().chain(&self.removed).copied().collect();
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
    fn persist(&mut self, user: UserId, old: Option<LinkId>, out: Output, rules: Rules) -> bool {
        if out.remove {
            if let Some(id) = old
                && let Some(link) = self.links.remove(&id)
            {
                self.unindex(&link);
                self.saved.retain(|s| *s != id);
                self.saved_hashes.remove(&id);
                self.removed.push(id);
            }
            return false;
        }
        let Some(link) = out.link else {
            return false;
        };
        for conflict in out.conflicts {
            metrics::counter!("sync_conflicts_total").increment(1);
            self.conflicts.push((link.clone(), rules, conflict));
        }
        for command in &out.commands {
            let message = CommandMessage::Apply {
                command_id: command.command_id,
                link_id: link.id,
                side: command.side,
                kind: link.kind,
                op: command.op.clone(),
            };
            self.commands
                .push(Envelope::new(user, message).with_traceparent(current_traceparent()));
        }
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
        self.removed.retain(|r| *r != link.id);
        self.index(&link);
        self.links.insert(link.id, link);
        !out.commands.is_empty()
    }

    fn index(&mut self, link: &Link) {
        for side in Side::ALL {
            if let Some(id) = link.external_id(side) {
                self.by_item.insert((link.kind, side, id.clone()), link.id);
            }
        }
    }

    fn unindex(&mut self, link: &Link) {
        for side in Side::ALL {
            if let Some(id) = link.external_id(side) {
                let key = (link.kind, side, id.clone());
                if self.by_item.get(&key) == Some(&link.id) {
                    self.by_item.remove(&key);
                }
            }
        }
    }

    /// Stores what the decisions wrote: removals, conflicts, then links and commands (one
    /// statement). Returns
    /// whether commands were written.
    async fn flush(&mut self, tx: &mut Tx<'_>, user: UserId) -> anyhow::Result<bool> {
        links::remove_many(tx, &self.removed).await?;
        let saved: Vec<&Link> = self
            .saved
            .iter()
            .filter_map(|id| self.links.get(id))
            .collect();
        for (link, rules, conflict) in &self.conflicts {
            conflicts::record(tx, user, link, rules.conflict_rule, conflict).await?;
        }
        batch::save(tx, &saved, &self.commands).await?;
        let wrote = !self.commands.is_empty();
        self.removed.clear();
        self.saved.clear();
        self.saved_hashes.clear();
        self.conflicts.clear();
        self.commands.clear();
        Ok(wrote)
    }
}
