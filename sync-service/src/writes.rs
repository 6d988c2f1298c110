//! What a run of decisions wrote, kept in memory and stored with multi-row statements: the
//! links removed and saved, their conflicts and the commands (in the decisions' order). Used
//! where the decisions read nothing from the database in between: the finale's pages settle
//! their steps on the links loaded for the page (decisions #83, #96, [`Writes`]), and a
//! set-wise batch decides on the state it loaded (`setwise`, decisions #87, #95, which keeps
//! the links it wrote itself and uses [`Effects`] for the rest). The outcome is that of storing
//! each decision as it is made ([`crate::handler::persist`]).

use sync_model::{LinkId, UserId};
use sync_protocol::{CommandMessage, Envelope};

use crate::domain::{FieldConflict, Link, Output, Rules};
use crate::handler::command_envelope;
use crate::store::{Tx, batch, conflicts, links};

/// What decisions wrote besides their links' content: removals, conflicts and commands.
#[derive(Default)]
pub(crate) struct Effects {
    /// Removed in this order, before the links saved are stored.
    removed: Vec<LinkId>,
    conflicts: Vec<(UserId, Link, Rules, FieldConflict)>,
    commands: Vec<Envelope<CommandMessage>>,
}

impl Effects {
    /// A link removed by a decision.
    pub(crate) fn remove(&mut self, id: LinkId) {
        self.removed.push(id);
    }

    /// The links removed so far.
    pub(crate) fn removed(&self) -> &[LinkId] {
        &self.removed
    }

    /// A link removed earlier and saved again: stored as saved only, not removed first.
    pub(crate) fn revive(&mut self, id: LinkId) {
        self.removed.retain(|r| *r != id);
    }

    /// The conflicts and commands of a decision that saved `link`; whether it wrote commands.
    pub(crate) fn saved(
        &mut self,
        user: UserId,
        link: &Link,
        out: &mut Output,
        rules: Rules,
    ) -> bool {
        for conflict in out.conflicts.drain(..) {
            metrics::counter!("sync_conflicts_total").increment(1);
            self.conflicts.push((user, link.clone(), rules, conflict));
        }
        for command in &out.commands {
            self.commands.push(command_envelope(user, link, command));
        }
        !out.commands.is_empty()
    }

    /// Takes in what `other` holds (another user's decisions, stored with these).
    pub(crate) fn append(&mut self, other: &mut Effects) {
        self.removed.append(&mut other.removed);
        self.conflicts.append(&mut other.conflicts);
        self.commands.append(&mut other.commands);
    }

    /// Stores the conflicts, the removals, then `saved` and the commands (one statement), and
    /// empties itself. Whether commands were written.
    pub(crate) async fn store(&mut self, tx: &mut Tx<'_>, saved: &[&Link]) -> anyhow::Result<bool> {
        // Conflicts first: the removals and the saves drop the held ones their links no longer
        // hold (decision 107).
        for (user, link, rules, conflict) in &self.conflicts {
            conflicts::record(tx, *user, link, rules.conflict_rule, conflict).await?;
        }
        // A link removed and saved anew (the finale's pair keeping the Zoho half's id) keeps
        // the held conflicts it is saved with.
        let holding: Vec<LinkId> = saved
            .iter()
            .filter(|l| !l.held.is_empty())
            .map(|l| l.id)
            .collect();
        links::remove_many(tx, &self.removed, &holding).await?;
        batch::save(tx, saved, &self.commands).await?;
        let wrote = !self.commands.is_empty();
        self.removed.clear();
        self.conflicts.clear();
        self.commands.clear();
        Ok(wrote)
    }
}

/// A finale page's writes: the last content of each link saved, and its [`Effects`]. A link
/// saved again after its removal is removed, then inserted anew (as one decision after the
/// other would).
#[derive(Default)]
pub(crate) struct Writes {
    /// The last content of each link saved (and not removed since), in the order first saved.
    saved: Vec<Link>,
    effects: Effects,
}

impl Writes {
    /// `handler::persist`, kept: returns whether the decision wrote commands.
    pub(crate) fn record(
        &mut self,
        user: UserId,
        old: Option<LinkId>,
        mut out: Output,
        rules: Rules,
    ) -> bool {
        if out.remove {
            if let Some(id) = old {
                self.saved.retain(|l| l.id != id);
                self.effects.remove(id);
            }
            return false;
        }
        let Some(link) = out.link.take() else {
            return false;
        };
        let wrote = self.effects.saved(user, &link, &mut out, rules);
        match self.saved.iter_mut().find(|l| l.id == link.id) {
            Some(saved) => *saved = link,
            None => self.saved.push(link),
        }
        wrote
    }

    /// Stores what was recorded: removals, conflicts, then links and commands (one statement).
    pub(crate) async fn flush(mut self, tx: &mut Tx<'_>) -> anyhow::Result<()> {
        let saved: Vec<&Link> = self.saved.iter().collect();
        self.effects.store(tx, &saved).await?;
        Ok(())
    }
}
