//! A read of an item that no link knows on its side: our own create's echo, a create of ours
//! whose answer was lost, or a new item. Deciding wrongly either duplicates an item (a second
//! copy made for our own echo) or swallows one (a person's item taken for ours), so the handler
//! and the property test both run these rules.

use sync_model::{ContentHash, ExternalId, Item, ItemKind, LinkId, Side, UserId};
use sync_protocol::FailureCode;

use super::claim::{Claim, claim};
use super::engine::{self, Ids, Input, Output, Rules};
use super::link::{Inflight, InflightOp, Link, LinkStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownRead {
    /// A create of ours with this content (or carrying this identity) is in flight there: the
    /// read waits until that create's result says whether it was ours.
    Park,
    /// The item is the one a create of `LinkId` made whose answer was lost: it joins that link
    /// ([`adopt`]).
    Join(LinkId),
    /// An item a person made: the engine links and copies it.
    New,
}

/// What the read `item` on `side` is. `claimed`: the link named by the identity the item
/// carries (none during a links rebuild, which pairs by identity itself); `candidates`: links of
/// this user and kind that may have created it (the handler loads those with a create in flight
/// or lost; any others are ignored).
pub fn decide<'a>(
    user: UserId,
    kind: ItemKind,
    side: Side,
    item: &Item,
    claimed: Option<&Link>,
    candidates: impl IntoIterator<Item = &'a Link> + Clone,
) -> UnknownRead {
    if let Some(link) = claimed {
        match claim(link, user, kind, side) {
            Claim::Park => return UnknownRead::Park,
            Claim::Adopt => return UnknownRead::Join(link.id),
            Claim::None => {}
        }
    }
    let read = item.project_for(side).content_hash();
    if candidates
        .clone()
        .into_iter()
        .any(|link| creates_same(link, side, &read))
    {
        return UnknownRead::Park;
    }
    candidates
        .into_iter()
        .find(|link| lost_create(link, side) && lost_copy(link, side) == read)
        .map_or(UnknownRead::New, |link| UnknownRead::Join(link.id))
}

/// The item `external_id` on `side` is the one this link's create made.
pub fn adopt(link: &mut Link, side: Side, external_id: ExternalId) {
    if let Some(state) = link.side_mut(side).as_mut() {
        state.id = Some(external_id);
        state.created = true;
    }
    link.last_error = None;
}

/// After a result from `result_side`: whether a read parked on `parked_side` goes on now. It
/// does once a link knows its item (`known`: our create's answer named it), or once no create
/// with its content is in flight there any more (it is a person's item). Reads of the other
/// side wait for that side's results.
pub fn releases<'a>(
    result_side: Side,
    parked_side: Side,
    item: &Item,
    known: bool,
    creating: impl IntoIterator<Item = &'a Link>,
) -> bool {
    if parked_side != result_side {
        return false;
    }
    let read = item.project_for(parked_side).content_hash();
    known
        || !creating
            .into_iter()
            .any(|link| creates_same(link, parked_side, &read))
}

/// A parked read that [`releases`] let go, decided: as any read of its item, except when no
/// link knows the item and a windowed re-read of its side did not list it while it was parked
/// (`unconfirmed`): the item may have been deleted unannounced since, so it is asked for by id
/// before it is copied (decision 102).
pub fn release(
    link: Option<Link>,
    read: Input,
    unconfirmed: bool,
    user: UserId,
    rules: Rules,
    ids: &mut dyn Ids,
) -> Output {
    match link {
        None if unconfirmed => engine::new_unconfirmed(read, user, rules, ids),
        link => engine::step(link, read, user, rules, ids),
    }
}

/// The content a read of the item `link`'s create makes on `side` would have, if that create is
/// in flight (what it sent) or was lost unconfirmed (what the link holds for that side): the
/// key of the links [`decide`] and [`releases`] may match (stored, indexed, decisions #86).
/// `None` when neither predicate below can hold.
pub fn create_hash(link: &Link, side: Side) -> Option<ContentHash> {
    let state = link.side(side)?;
    match &state.inflight {
        Some(Inflight {
            op: InflightOp::Create { item },
            ..
        }) if state.id.is_none() => Some(item.content_hash()),
        None if lost_create(link, side) => Some(lost_copy(link, side)),
        _ => None,
    }
}

/// The content the copy a lost create made on `side` holds: what that create sent (kept as the
/// side's known content since decision 79), not the link's content now, which an edit on the
/// other side may have changed since; the link's content only when nothing was kept.
fn lost_copy(link: &Link, side: Side) -> ContentHash {
    link.side(side)
        .and_then(|s| s.known.as_ref())
        .map(Item::content_hash)
        .unwrap_or_else(|| link.target.project_for(side).content_hash())
}

/// Whether `link` has a create of content `read` in flight on `side` (a read with that content
/// may be its echo).
pub fn creates_same(link: &Link, side: Side, read: &ContentHash) -> bool {
    matches!(
        link.side(side).and_then(|s| s.inflight.as_ref()),
        Some(Inflight { op: InflightOp::Create { item }, .. }) if item.content_hash() == *read
    )
}

/// Whether `link`'s create on `side` was sent and its answer lost: the item may exist there.
pub fn lost_create(link: &Link, side: Side) -> bool {
    link.status == LinkStatus::Active
        && link
            .side(side)
            .is_some_and(|s| s.id.is_none() && s.inflight.is_none())
        && link
            .last_error
            .as_ref()
            .is_some_and(|e| e.is(side, &FailureCode::CreateUnconfirmed))
}

#[cfg(test)]
mod tests {
    use sync_model::Contact;
    use uuid::Uuid;

    use super::*;
    use crate::domain::{LinkError, SideState};

    const USER: UserId = UserId(Uuid::nil());

    fn contact(surname: &str) -> Item {
        Item::Contact(Contact {
            surname: Some(surname.into()),
            ..Contact::default()
        })
    }

    /// A link of an Outlook contact whose copy on Zoho is being created (`in_flight`) or whose
    /// create's answer was lost.
    fn creating(n: u128, surname: &str, in_flight: bool) -> Link {
        let item = contact(surname);
        let mut link = Link::new(
            LinkId(Uuid::from_u128(n)),
            USER,
            LinkStatus::Active,
            item.clone(),
        );
        link.outlook = Some(SideState::seen(
            ExternalId(format!("o-{n}")),
            sync_model::Version("1".into()),
            item.clone(),
        ));
        let mut zoho = SideState::missing();
        if in_flight {
            zoho.inflight = Some(Inflight {
                command_id: Uuid::from_u128(n),
                op: InflightOp::Create {
                    item: item.project_for(Side::Zoho),
                },
            });
        } else {
            link.last_error = Some(LinkError::new(
                Side::Zoho,
                FailureCode::CreateUnconfirmed,
                "the answer was lost",
            ));
        }
        link.zoho = Some(zoho);
        link
    }

    #[test]
    fn the_echo_of_a_create_in_flight_waits_for_its_result() {
        let sato = creating(1, "Sato", true);
        let decided = decide(
            USER,
            ItemKind::Contact,
            Side::Zoho,
            &contact("Sato"),
            None,
            [&sato],
        );
        assert_eq!(decided, UnknownRead::Park);
    }

    #[test]
    fn a_lost_creates_item_joins_its_link_and_is_marked_ours() {
        let sato = creating(1, "Sato", false);
        let decided = decide(
            USER,
            ItemKind::Contact,
            Side::Zoho,
            &contact("Sato"),
            None,
            [&sato],
        );
        assert_eq!(decided, UnknownRead::Join(sato.id));
        let mut joined = sato.clone();
        adopt(&mut joined, Side::Zoho, ExternalId("z-1".into()));
        let zoho = joined.zoho.as_ref().unwrap();
        assert_eq!(zoho.id, Some(ExternalId("z-1".into())));
        assert!(
            zoho.created,
            "a copy we made (the collision rule may delete it)"
        );
        assert_eq!(joined.last_error, None);
    }

    #[test]
    fn other_content_is_a_new_item_and_so_is_a_read_on_the_other_side() {
        let sato = creating(1, "Sato", false);
        let suzuki = creating(2, "Suzuki", true);
        let read = contact("Tanaka");
        let both = [&sato, &suzuki];
        assert_eq!(
            decide(USER, ItemKind::Contact, Side::Zoho, &read, None, both),
            UnknownRead::New
        );
        assert_eq!(
            decide(
                USER,
                ItemKind::Contact,
                Side::Outlook,
                &contact("Sato"),
                None,
                both
            ),
            UnknownRead::New,
            "the create was lost on Zoho, not on Outlook"
        );
    }

    #[test]
    fn the_identity_on_the_item_decides_before_its_content() {
        let sato = creating(1, "Sato", false);
        // Edited on Zoho since our create made it: the content no longer matches, the
        // identity still names the link.
        let edited = contact("Sato-Ito");
        assert_eq!(
            decide(
                USER,
                ItemKind::Contact,
                Side::Zoho,
                &edited,
                Some(&sato),
                []
            ),
            UnknownRead::Join(sato.id)
        );
        let in_flight = creating(2, "Sato", true);
        assert_eq!(
            decide(
                USER,
                ItemKind::Contact,
                Side::Zoho,
                &edited,
                Some(&in_flight),
                []
            ),
            UnknownRead::Park
        );
        // An identity of another user's link (a copy a person shared) claims nothing.
        let mut theirs = sato.clone();
        theirs.user_id = UserId(Uuid::from_u128(9));
        assert_eq!(
            decide(
                USER,
                ItemKind::Contact,
                Side::Zoho,
                &edited,
                Some(&theirs),
                []
            ),
            UnknownRead::New
        );
    }

    /// The stored key finds every link `decide` and `releases` could match for a read, and no
    /// link that cannot be one: a read's hash equals a link's key exactly when the link's create
    /// is in flight with that content or was lost with it.
    #[test]
    fn the_create_hash_is_the_content_the_rules_match_on() {
        let read = contact("Sato").project_for(Side::Zoho).content_hash();
        for in_flight in [true, false] {
            let link = creating(1, "Sato", in_flight);
            assert_eq!(create_hash(&link, Side::Zoho), Some(read.clone()));
            assert_ne!(
                decide(
                    USER,
                    ItemKind::Contact,
                    Side::Zoho,
                    &contact("Sato"),
                    None,
                    [&link]
                ),
                UnknownRead::New
            );
            // Nothing is being created on Outlook.
            assert_eq!(create_hash(&link, Side::Outlook), None);
        }
        // Once the create's answer named the item, or with no create at all: no key.
        let mut done = creating(2, "Sato", true);
        adopt(&mut done, Side::Zoho, ExternalId("z-2".into()));
        done.zoho.as_mut().unwrap().inflight = None;
        assert_eq!(create_hash(&done, Side::Zoho), None);
        // Another content, another key: a read of Sato never meets Suzuki's create.
        let other = creating(3, "Suzuki", true);
        assert_ne!(create_hash(&other, Side::Zoho), Some(read));
    }
}
