//! Which poll messages still count (decisions #112). A connector's poller claims a user's watch
//! for a lease, reads a page and publishes it. Should it stall longer than the lease between the
//! two, another replica claims the watch, reads the same changes again and what changed since,
//! and its messages arrive first; the stalled page, arriving after them, would be taken as the
//! newest news of its items (a deleted contact copied again, an older edit written back). Every
//! claim of a watch carries a number greater than the watch's claims before it: a message of a
//! claim older than the newest seen for its user, kind and side can only be such a page (or a
//! message that lost its place in the queue), and is dropped. A page that arrives before the newer claim's messages is read as what it is, an
//! older read that they follow.

use std::collections::HashMap;

use sync_model::{ItemKind, Side};
use sync_protocol::PollClaim;

/// The newest claim seen per kind and side, for one user.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    newest: HashMap<(ItemKind, Side), PollClaim>,
    moved: Vec<(ItemKind, Side)>,
}

impl Fence {
    pub fn new(known: impl IntoIterator<Item = ((ItemKind, Side), PollClaim)>) -> Self {
        Fence {
            newest: known.into_iter().collect(),
            moved: Vec::new(),
        }
    }

    /// Whether a message of `kind` and `side` read under `claim` is taken in; a newer claim
    /// becomes the newest. A message with no claim (an answer to a command, or from a
    /// connector of an earlier version) always is.
    pub fn admits(&mut self, kind: ItemKind, side: Side, claim: Option<PollClaim>) -> bool {
        let Some(claim) = claim else {
            return true;
        };
        match self.newest.get(&(kind, side)) {
            Some(newest) if claim < *newest => false,
            Some(newest) if claim == *newest => true,
            _ => {
                self.newest.insert((kind, side), claim);
                if !self.moved.contains(&(kind, side)) {
                    self.moved.push((kind, side));
                }
                true
            }
        }
    }

    /// The newest claims that moved since [`Fence::new`], to be stored.
    pub fn moved(&self) -> impl Iterator<Item = (ItemKind, Side, PollClaim)> + '_ {
        self.moved
            .iter()
            .map(|&(kind, side)| (kind, side, self.newest[&(kind, side)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(number: i64) -> Option<PollClaim> {
        Some(PollClaim(number))
    }

    #[test]
    fn a_page_of_an_older_claim_is_dropped_once_a_newer_one_is_seen() {
        let mut fence = Fence::default();
        assert!(fence.admits(ItemKind::Contact, Side::Outlook, claim(7)));
        assert!(fence.admits(ItemKind::Contact, Side::Outlook, claim(7)));
        assert!(!fence.admits(ItemKind::Contact, Side::Outlook, claim(6)));
        assert!(fence.admits(ItemKind::Contact, Side::Outlook, claim(9)));
        assert!(!fence.admits(ItemKind::Contact, Side::Outlook, claim(7)));
    }

    #[test]
    fn each_kind_and_side_has_its_own_newest_claim() {
        let mut fence = Fence::new([((ItemKind::Contact, Side::Outlook), PollClaim(10))]);
        assert!(fence.admits(ItemKind::Contact, Side::Zoho, claim(3)));
        assert!(fence.admits(ItemKind::Task, Side::Outlook, claim(3)));
        assert!(!fence.admits(ItemKind::Contact, Side::Outlook, claim(3)));
    }

    #[test]
    fn messages_without_a_claim_are_taken() {
        let mut fence = Fence::new([((ItemKind::Contact, Side::Zoho), PollClaim(500))]);
        assert!(fence.admits(ItemKind::Contact, Side::Zoho, None));
        assert_eq!(fence.moved().count(), 0);
    }

    #[test]
    fn only_claims_that_moved_are_to_be_stored() {
        let mut fence = Fence::new([((ItemKind::Event, Side::Outlook), PollClaim(4))]);
        assert!(fence.admits(ItemKind::Event, Side::Outlook, claim(4)));
        assert_eq!(fence.moved().count(), 0);
        assert!(fence.admits(ItemKind::Event, Side::Zoho, claim(5)));
        assert!(fence.admits(ItemKind::Event, Side::Zoho, claim(6)));
        let moved: Vec<_> = fence.moved().collect();
        assert_eq!(moved, vec![(ItemKind::Event, Side::Zoho, PollClaim(6))]);
    }
}
