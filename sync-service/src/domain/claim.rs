//! A read item that carries a link's identity (written there by our create) belongs to that
//! link, whatever its content became since: this is what a crash between our create and its
//! recorded result needs. Content alone cannot tell an edited copy of ours from a new item; the
//! identity can, where the read carries it (every Zoho read; Outlook's To Do delta and identify
//! reads).

use sync_model::{ItemKind, Side, UserId};

use super::link::{InflightOp, Link, LinkStatus};

/// What a read of an unknown item carrying `link`'s identity means for that link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Our create of it is in flight: the read waits (parked) for the create's result.
    Park,
    /// Our create's answer was lost (nothing in flight, no id): the item is the link's.
    Adopt,
    /// The identity names no create of ours on that side (a copy a person made of one of our
    /// items carries the same property): an ordinary new item.
    None,
}

pub fn claim(link: &Link, user: UserId, kind: ItemKind, side: Side) -> Claim {
    if link.user_id != user || link.kind != kind || link.status == LinkStatus::Deleted {
        return Claim::None;
    }
    let Some(state) = link.side(side) else {
        return Claim::None;
    };
    if state.id.is_some() {
        return Claim::None;
    }
    match &state.inflight {
        Some(inflight) if matches!(inflight.op, InflightOp::Create { .. }) => Claim::Park,
        Some(_) => Claim::None,
        None => Claim::Adopt,
    }
}

#[cfg(test)]
mod tests {
    use sync_model::{Contact, ExternalId, Item, LinkId, Version};
    use uuid::Uuid;

    use super::*;
    use crate::domain::{Inflight, SideState};

    const USER: UserId = UserId(Uuid::nil());

    fn link_creating_on_zoho(inflight: Option<InflightOp>) -> Link {
        let item = Item::Contact(Contact {
            surname: Some("Sato".into()),
            ..Contact::default()
        });
        let mut link = Link::new(
            LinkId(Uuid::from_u128(1)),
            USER,
            LinkStatus::Active,
            item.clone(),
        );
        link.outlook = Some(SideState::seen(
            ExternalId("o1".into()),
            Version("v".into()),
            item,
        ));
        link.zoho = Some(SideState {
            id: None,
            version: None,
            known: None,
            inflight: inflight.map(|op| Inflight {
                command_id: Uuid::from_u128(2),
                op,
            }),
            created: false,
            may_exist: false,
            read_in_flight: None,
            probe_after_write: false,
            unlisted: false,
            unlisted_a_round: false,
            modified: None,
        });
        link
    }

    #[test]
    fn a_copy_read_while_its_create_is_in_flight_waits_for_the_result() {
        let create = InflightOp::Create {
            item: Item::Contact(Contact::default()),
        };
        let link = link_creating_on_zoho(Some(create));
        assert_eq!(
            claim(&link, USER, ItemKind::Contact, Side::Zoho),
            Claim::Park
        );
    }

    #[test]
    fn a_copy_whose_create_answer_was_lost_is_adopted_even_if_edited_since() {
        let link = link_creating_on_zoho(None);
        assert_eq!(
            claim(&link, USER, ItemKind::Contact, Side::Zoho),
            Claim::Adopt
        );
    }

    #[test]
    fn an_identity_that_names_no_create_of_ours_claims_nothing() {
        let link = link_creating_on_zoho(None);
        // The Outlook side has its item: a second Outlook item with the identity is a copy.
        assert_eq!(
            claim(&link, USER, ItemKind::Contact, Side::Outlook),
            Claim::None
        );
        // Another user's or kind's link never.
        let other = UserId(Uuid::from_u128(9));
        assert_eq!(
            claim(&link, other, ItemKind::Contact, Side::Zoho),
            Claim::None
        );
        assert_eq!(claim(&link, USER, ItemKind::Task, Side::Zoho), Claim::None);
        let mut deleted = link_creating_on_zoho(None);
        deleted.status = LinkStatus::Deleted;
        assert_eq!(
            claim(&deleted, USER, ItemKind::Contact, Side::Zoho),
            Claim::None
        );
    }
}
