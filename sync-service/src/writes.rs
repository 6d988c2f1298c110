//! What a run of decisions wrote, kept in memory and stored with multi-row statements: the
//! links removed and saved, their conflicts and the commands (in the decisions' order). Used
//! where the decisions read nothing from the database in between (the finale's pages settle
//! their steps on the links loaded for the page, decisions #83, #96), so the outcome is that of
//! storing each decision as it is made ([`crate::handler::persist`]).

use sync_model::{LinkId, UserId};
use sync_protocol::{CommandMessage, Envelope};

use crate::domain::{FieldConflict, Link, Output, Rules};
use crate::handler::command_envelope;
use crate::store::{Tx, batch, conflicts, links};

#[derive(Default)]
pub(crate) struct Writes {
    /// Removed in this order; a link saved again after its removal is removed, then inserted
    /// anew (as one decision after the other would).
    removed: Vec<LinkId>,
    /// The last content of each link saved (and not removed since), in the order first saved.
    saved: Vec<Link>,
    conflicts: Vec<(Link, Rules, FieldConflict)>,
    commands: Vec<Envelope<CommandMessage>>,
}

impl Writes {
    /// `handler::persist`, kept: returns whether the decision wrote commands.
    pub(crate) fn record(
        &mut self,
        user: UserId,
        old: Option<LinkId>,
        out: Output,
        rules: Rules,
    ) -> bool {
        if out.remove {
            if let Some(id) = old {
                self.saved.retain(|l| l.id != id);
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
            self.commands.push(command_envelope(user, &link, command));
        }
        match self.saved.iter_mut().find(|l| l.id == link.id) {
            Some(saved) => *saved = link,
            None => self.saved.push(link),
        }
        !out.commands.is_empty()
    }

    /// Stores what was recorded: removals, conflicts, then links and commands (one statement).
    pub(crate) async fn flush(self, tx: &mut Tx<'_>, user: UserId) -> anyhow::Result<()> {
        links::remove_many(tx, &self.removed).await?;
        for (link, rules, conflict) in &self.conflicts {
            conflicts::record(tx, user, link, rules.conflict_rule, conflict).await?;
        }
        let saved: Vec<&Link> = self.saved.iter().collect();
        batch::save(tx, &saved, &self.commands).await?;
        Ok(())
    }
}
