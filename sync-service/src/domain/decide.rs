//! The decision: (link state, incoming change, settings) → what to do. Pure, so every rule is
//! tested without a database or a broker.

use sync_model::{ExternalId, Item, Side, Version};

use super::link::{Link, LinkStatus};
use super::settings::Direction;

/// A change read from one side, as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Changed {
        side: Side,
        external_id: ExternalId,
        version: Version,
        item: Item,
    },
    Deleted {
        side: Side,
        external_id: ExternalId,
        left_scope: bool,
    },
}

impl Incoming {
    pub fn side(&self) -> Side {
        match self {
            Incoming::Changed { side, .. } | Incoming::Deleted { side, .. } => *side,
        }
    }

    pub fn external_id(&self) -> &ExternalId {
        match self {
            Incoming::Changed { external_id, .. } | Incoming::Deleted { external_id, .. } => {
                external_id
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to record or write.
    Ignore { reason: &'static str },
    /// Our own write read back (or a change that is no change): only the version is recorded.
    Echo,
    /// A new item: link it and create it on `target`.
    Create { target: Side, item: Item },
    /// Write `item` to `target`; `base` is what `target` held, `new_base` the agreed content after.
    Update {
        target: Side,
        item: Item,
        base: Item,
        new_base: Item,
    },
    /// The other side's create is still in flight: only move the base; the create's result sends
    /// the difference.
    Rebase { new_base: Item },
    /// Delete the item on `target`.
    Delete { target: Side },
    /// Stop syncing the item on `side` (it left the folder or categories); nothing is deleted.
    Unlink { side: Side },
}

/// Decides what a change means. `direction` is `None` when the kind does not sync for the user.
pub fn decide(link: Option<&Link>, change: &Incoming, direction: Option<Direction>) -> Decision {
    let Some(direction) = direction else {
        return Decision::Ignore {
            reason: "this kind does not sync for the user",
        };
    };
    let from = change.side();
    let to = from.other();
    match (change, link) {
        (Incoming::Changed { item, .. }, None) => {
            if direction.allows(from) {
                Decision::Create {
                    target: to,
                    item: item.clone(),
                }
            } else {
                Decision::Ignore {
                    reason: "the sync direction excludes this side's new items",
                }
            }
        }
        (Incoming::Changed { .. }, Some(link)) if link.status == LinkStatus::Deleted => {
            Decision::Ignore {
                reason: "the item was deleted on the other side",
            }
        }
        (Incoming::Changed { item, version, .. }, Some(link)) => {
            // The same version again (a replay, a full re-read) is no change, even when the base
            // has moved on since: re-applying it would revert a newer edit.
            let seen = link.side(from).and_then(|s| s.version.as_ref()) == Some(version);
            if seen || link.is_echo(from, item) {
                return Decision::Echo;
            }
            if !direction.allows(from) {
                return Decision::Ignore {
                    reason: "the sync direction excludes this side's edits",
                };
            }
            let mut merged = item.clone();
            merged.refill_from(&link.base, from);
            if link.awaits_create_on(to) {
                Decision::Rebase { new_base: merged }
            } else {
                Decision::Update {
                    target: to,
                    item: merged.clone(),
                    base: link.base.clone(),
                    new_base: merged,
                }
            }
        }
        (Incoming::Deleted { .. }, None) => Decision::Ignore {
            reason: "the item was never synced",
        },
        (Incoming::Deleted { .. }, Some(link)) if link.status == LinkStatus::Deleted => {
            Decision::Ignore {
                reason: "the delete was already propagated",
            }
        }
        (
            Incoming::Deleted {
                left_scope: true, ..
            },
            Some(_),
        ) => Decision::Unlink { side: from },
        (Incoming::Deleted { .. }, Some(link)) => {
            if direction.allows(from) && link.side(to).is_some() {
                Decision::Delete { target: to }
            } else {
                Decision::Unlink { side: from }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::link::SideRef;
    use sync_model::{Contact, EmailAddress, ItemKind, LinkId, UserId};
    use uuid::Uuid;

    fn contact(given: &str, emails: &[&str]) -> Item {
        Item::Contact(Contact {
            given_name: Some(given.into()),
            surname: Some("山田".into()),
            emails: emails.iter().map(|e| EmailAddress((*e).into())).collect(),
            ..Contact::default()
        })
    }

    fn side_ref(id: &str) -> Option<SideRef> {
        Some(SideRef {
            id: ExternalId(id.into()),
            version: Some(Version("v1".into())),
        })
    }

    fn link(base: Item) -> Link {
        Link {
            id: LinkId(Uuid::nil()),
            user_id: UserId(Uuid::nil()),
            kind: ItemKind::Contact,
            outlook: side_ref("o1"),
            zoho: side_ref("z1"),
            base,
            status: LinkStatus::Active,
        }
    }

    fn changed(side: Side, item: Item) -> Incoming {
        Incoming::Changed {
            side,
            external_id: ExternalId("x".into()),
            version: Version("v2".into()),
            item,
        }
    }

    fn deleted(side: Side, left_scope: bool) -> Incoming {
        Incoming::Deleted {
            side,
            external_id: ExternalId("x".into()),
            left_scope,
        }
    }

    const TWO_WAY: Option<Direction> = Some(Direction::TwoWay);

    #[test]
    fn new_item_is_created_on_the_other_side() {
        let item = contact("Taro", &["taro@example.jp"]);
        assert_eq!(
            decide(None, &changed(Side::Outlook, item.clone()), TWO_WAY),
            Decision::Create {
                target: Side::Zoho,
                item
            }
        );
    }

    #[test]
    fn reading_back_our_own_write_is_an_echo() {
        let base = contact("Taro", &["taro@example.jp"]);
        let link = link(base);
        let reread = contact(" Taro ", &["TARO@example.jp"]);
        assert_eq!(
            decide(Some(&link), &changed(Side::Zoho, reread), TWO_WAY),
            Decision::Echo
        );
    }

    #[test]
    fn a_replayed_version_never_reverts_a_newer_edit() {
        let mut link = link(contact("Jiro", &[]));
        // The base moved on (an Outlook edit) while Zoho's record is still at version v1.
        link.zoho = side_ref("z1");
        let stale = Incoming::Changed {
            side: Side::Zoho,
            external_id: ExternalId("z1".into()),
            version: Version("v1".into()),
            item: contact("Taro", &[]),
        };
        assert_eq!(decide(Some(&link), &stale, TWO_WAY), Decision::Echo);
    }

    #[test]
    fn an_edit_goes_to_the_other_side_with_the_base() {
        let base = contact("Taro", &["taro@example.jp"]);
        let link = link(base.clone());
        let edited = contact("Tarō", &["taro@example.jp"]);
        assert_eq!(
            decide(Some(&link), &changed(Side::Zoho, edited.clone()), TWO_WAY),
            Decision::Update {
                target: Side::Outlook,
                item: edited.clone(),
                base,
                new_base: edited
            }
        );
    }

    #[test]
    fn an_edit_in_zoho_keeps_the_third_outlook_email() {
        let base = contact("Taro", &["a@x.jp", "b@x.jp", "c@x.jp"]);
        let link = link(base);
        let from_zoho = contact("Taro", &["a@x.jp", "new@x.jp"]);
        let Decision::Update { item, .. } =
            decide(Some(&link), &changed(Side::Zoho, from_zoho), TWO_WAY)
        else {
            panic!("expected an update");
        };
        assert_eq!(item, contact("Taro", &["a@x.jp", "new@x.jp", "c@x.jp"]));
    }

    #[test]
    fn zoho_reading_two_of_three_emails_is_still_an_echo() {
        let link = link(contact("Taro", &["a@x.jp", "b@x.jp", "c@x.jp"]));
        let from_zoho = contact("Taro", &["a@x.jp", "b@x.jp"]);
        assert_eq!(
            decide(Some(&link), &changed(Side::Zoho, from_zoho), TWO_WAY),
            Decision::Echo
        );
    }

    #[test]
    fn an_edit_while_the_create_is_in_flight_moves_the_base_only() {
        let mut link = link(contact("Taro", &[]));
        link.zoho = None;
        let edited = contact("Jiro", &[]);
        assert_eq!(
            decide(
                Some(&link),
                &changed(Side::Outlook, edited.clone()),
                TWO_WAY
            ),
            Decision::Rebase { new_base: edited }
        );
    }

    #[test]
    fn one_way_sync_ignores_the_other_side() {
        let item = contact("Taro", &[]);
        let outlook_to_zoho = Some(Direction::OutlookToZoho);
        assert!(matches!(
            decide(None, &changed(Side::Zoho, item.clone()), outlook_to_zoho),
            Decision::Ignore { .. }
        ));
        let link = link(contact("Jiro", &[]));
        assert!(matches!(
            decide(Some(&link), &changed(Side::Zoho, item), outlook_to_zoho),
            Decision::Ignore { .. }
        ));
    }

    #[test]
    fn disabled_kind_is_ignored() {
        assert!(matches!(
            decide(None, &changed(Side::Outlook, contact("Taro", &[])), None),
            Decision::Ignore { .. }
        ));
    }

    #[test]
    fn delete_propagates_and_leaving_scope_only_unlinks() {
        let link = link(contact("Taro", &[]));
        assert_eq!(
            decide(Some(&link), &deleted(Side::Outlook, false), TWO_WAY),
            Decision::Delete { target: Side::Zoho }
        );
        assert_eq!(
            decide(Some(&link), &deleted(Side::Outlook, true), TWO_WAY),
            Decision::Unlink {
                side: Side::Outlook
            }
        );
        assert!(matches!(
            decide(None, &deleted(Side::Zoho, false), TWO_WAY),
            Decision::Ignore { .. }
        ));
    }

    #[test]
    fn a_repeated_delete_is_ignored() {
        let mut link = link(contact("Taro", &[]));
        link.status = LinkStatus::Deleted;
        assert!(matches!(
            decide(Some(&link), &deleted(Side::Zoho, false), TWO_WAY),
            Decision::Ignore { .. }
        ));
    }
}
