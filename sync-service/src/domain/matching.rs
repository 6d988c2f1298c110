//! First-sync matching: items that exist on both sides before the first sync are paired instead
//! of being created twice. Contacts match by e-mail, then phone, then name and company; tasks by
//! subject and due date; events by subject and start. A key shared by more than one item on
//! either side is ambiguous: those items are held for the user, never guessed. A weaker key
//! never pairs two contacts that a stronger level tells apart: both with e-mail addresses and
//! none in common (or, for name and company, both with phones and none in common) are two
//! people, however alike their names (merging two people would overwrite one with the other).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sync_model::{ExternalId, Item, LinkId, Side};
use sync_protocol::{FailureCode, LinkIdentity};

use super::link::{Link, LinkError, LinkStatus};

#[derive(Debug, Default, PartialEq)]
pub struct Matches {
    /// (Outlook item's link, Zoho item's link).
    pub pairs: Vec<(LinkId, LinkId)>,
    pub ambiguous: Vec<LinkId>,
}

/// An item's matching keys, strongest level first; each level may give several keys. All the
/// matching needs of an item: a first sync's plan holds these, not the items (a few hundred
/// bytes a contact instead of its whole document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys(Vec<Vec<String>>);

/// The matching keys of an item.
pub fn keys(item: &Item) -> Keys {
    Keys(levels(item))
}

fn levels(item: &Item) -> Vec<Vec<String>> {
    match item.normalised() {
        Item::Contact(c) => {
            let emails = c.emails.iter().map(|e| format!("email:{}", e.0)).collect();
            let phones = [&c.business_phone, &c.mobile_phone, &c.home_phone]
                .into_iter()
                .flatten()
                .filter(|p| p.trim_start_matches('+').len() >= 6)
                .map(|p| format!("phone:{p}"))
                .collect();
            // Name alone is too weak (namesakes are common): only with the company.
            let name = match (&c.given_name, &c.surname, &c.company) {
                (None, None, _) | (_, _, None) => Vec::new(),
                (g, s, _) => vec![format!(
                    "name:{}|{}|{}",
                    g.as_deref().unwrap_or_default().to_lowercase(),
                    s.as_deref().unwrap_or_default().to_lowercase(),
                    c.company.as_deref().unwrap_or_default().to_lowercase()
                )],
            };
            vec![emails, phones, name]
        }
        Item::Task(t) => vec![vec![format!(
            "task:{}|{:?}",
            t.subject.to_lowercase(),
            t.due_date
        )]],
        Item::Event(e) => vec![vec![format!(
            "event:{}|{:?}",
            e.subject.to_lowercase(),
            e.start
        )]],
    }
}

/// Key → items having it, among the open ones, at one level.
fn index<'a>(
    all: &[&'a [Vec<String>]],
    open: &BTreeSet<usize>,
    level: usize,
) -> BTreeMap<&'a str, BTreeSet<usize>> {
    let mut map: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    for &i in open {
        for key in all[i].get(level).into_iter().flatten() {
            map.entry(key.as_str()).or_default().insert(i);
        }
    }
    map
}

pub fn match_items(outlook: &[(LinkId, Item)], zoho: &[(LinkId, Item)]) -> Matches {
    let keyed = |items: &[(LinkId, Item)]| -> Vec<(LinkId, Keys)> {
        items.iter().map(|(id, item)| (*id, keys(item))).collect()
    };
    match_keys(&keyed(outlook), &keyed(zoho))
}

/// [`match_items`] on the items' keys.
pub fn match_keys(outlook: &[(LinkId, Keys)], zoho: &[(LinkId, Keys)]) -> Matches {
    let mut matches = Matches::default();
    let mut open_o: BTreeSet<usize> = (0..outlook.len()).collect();
    let mut open_z: BTreeSet<usize> = (0..zoho.len()).collect();
    let o_keys: Vec<&[Vec<String>]> = outlook.iter().map(|(_, k)| k.0.as_slice()).collect();
    let z_keys: Vec<&[Vec<String>]> = zoho.iter().map(|(_, k)| k.0.as_slice()).collect();
    let levels = o_keys
        .iter()
        .chain(&z_keys)
        .map(|k| k.len())
        .max()
        .unwrap_or(0);

    for level in 0..levels {
        let (by_o, by_z) = (
            index(&o_keys, &open_o, level),
            index(&z_keys, &open_z, level),
        );
        let candidates = |own: &[&[Vec<String>]],
                          i: usize,
                          others: &[&[Vec<String>]],
                          other: &BTreeMap<&str, BTreeSet<usize>>| {
            let mut found = BTreeSet::new();
            for key in own[i].get(level).into_iter().flatten() {
                if let Some(hits) = other.get(key.as_str()) {
                    found.extend(
                        hits.iter()
                            .filter(|&&j| !told_apart(own[i], others[j], level)),
                    );
                }
            }
            found
        };
        let (mut paired_o, mut paired_z, mut held_o, mut held_z) = (
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
            BTreeSet::new(),
        );
        for &o in &open_o {
            let zs = candidates(&o_keys, o, &z_keys, &by_z);
            match zs.len() {
                0 => {}
                1 => {
                    let z = *zs.iter().next().expect("one candidate");
                    let os = candidates(&z_keys, z, &o_keys, &by_o);
                    if os.len() == 1 {
                        paired_o.insert(o);
                        paired_z.insert(z);
                        matches.pairs.push((outlook[o].0, zoho[z].0));
                    } else {
                        held_z.insert(z);
                        held_o.extend(os);
                    }
                }
                _ => {
                    held_o.insert(o);
                    held_z.extend(zs);
                }
            }
        }
        for o in held_o.difference(&paired_o) {
            matches.ambiguous.push(outlook[*o].0);
        }
        for z in held_z.difference(&paired_z) {
            matches.ambiguous.push(zoho[*z].0);
        }
        open_o.retain(|i| !paired_o.contains(i) && !held_o.contains(i));
        open_z.retain(|i| !paired_z.contains(i) && !held_z.contains(i));
    }
    matches
}

/// Whether a level stronger than `level` shows two items to be different: both have keys there
/// and share none.
fn told_apart(a: &[Vec<String>], b: &[Vec<String>], level: usize) -> bool {
    (0..level).any(|l| match (a.get(l), b.get(l)) {
        (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() => !x.iter().any(|k| y.contains(k)),
        _ => false,
    })
}

/// An item waiting to be paired at the end of a links rebuild: its (unmatched) link, its id on
/// its side, and the identity it carried when read (it is a copy we made).
#[derive(Debug, Clone, Copy)]
pub struct Found<'a> {
    pub link: LinkId,
    pub external_id: &'a ExternalId,
    pub identity: Option<&'a LinkIdentity>,
}

/// A pair the identities prove, and the link id it had before the loss (kept, so a create
/// repeated later still finds its copy by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityPair {
    pub outlook: LinkId,
    pub zoho: LinkId,
    pub link_id: Option<LinkId>,
}

/// Links rebuild: pairs the items whose identities say they belong together. A copy pairs with
/// the item its identity names as origin, when that item is on the other side; two items
/// carrying the same link id pair too (a copy whose origin could not be stored). An item
/// claimed by more than one pair (two copies of one original: a duplicate) is paired by none
/// of them: the ordinary first-sync matching decides it, holding look-alikes for the user.
pub fn pair_by_identity(outlook: &[Found], zoho: &[Found]) -> Vec<IdentityPair> {
    let o_by_id: BTreeMap<&str, Vec<usize>> = by_id(outlook);
    let z_by_id: BTreeMap<&str, Vec<usize>> = by_id(zoho);
    // (outlook index, zoho index) → the link ids the evidence gives.
    let mut candidates: BTreeMap<(usize, usize), HashSet<LinkId>> = BTreeMap::new();
    for (o, found) in outlook.iter().enumerate() {
        let Some(origin) = origin_of(found) else {
            continue;
        };
        for &z in z_by_id.get(origin).into_iter().flatten() {
            let link = found.identity.map(|i| i.link);
            candidates.entry((o, z)).or_default().extend(link);
        }
    }
    for (z, found) in zoho.iter().enumerate() {
        let Some(origin) = origin_of(found) else {
            continue;
        };
        for &o in o_by_id.get(origin).into_iter().flatten() {
            let link = found.identity.map(|i| i.link);
            candidates.entry((o, z)).or_default().extend(link);
        }
    }
    let mut z_by_link: HashMap<LinkId, Vec<usize>> = HashMap::new();
    for (z, found) in zoho.iter().enumerate() {
        if let Some(identity) = found.identity {
            z_by_link.entry(identity.link).or_default().push(z);
        }
    }
    for (o, found) in outlook.iter().enumerate() {
        let Some(identity) = found.identity else {
            continue;
        };
        for &z in z_by_link.get(&identity.link).into_iter().flatten() {
            candidates.entry((o, z)).or_default().insert(identity.link);
        }
    }

    let mut claims_o: BTreeMap<usize, usize> = BTreeMap::new();
    let mut claims_z: BTreeMap<usize, usize> = BTreeMap::new();
    for &(o, z) in candidates.keys() {
        *claims_o.entry(o).or_default() += 1;
        *claims_z.entry(z).or_default() += 1;
    }
    let kept: Vec<(usize, usize, Option<LinkId>)> = candidates
        .into_iter()
        .filter(|((o, z), _)| claims_o[o] == 1 && claims_z[z] == 1)
        .map(|((o, z), links)| {
            let link = (links.len() == 1).then(|| *links.iter().next().expect("one"));
            (o, z, link)
        })
        .collect();
    // A link id given to two pairs belongs to neither (each gets a new one).
    let mut uses: HashMap<LinkId, usize> = HashMap::new();
    for link in kept.iter().filter_map(|(_, _, l)| *l) {
        *uses.entry(link).or_default() += 1;
    }
    kept.into_iter()
        .map(|(o, z, link)| IdentityPair {
            outlook: outlook[o].link,
            zoho: zoho[z].link,
            link_id: link.filter(|l| uses[l] == 1),
        })
        .collect()
}

fn origin_of<'a>(found: &Found<'a>) -> Option<&'a str> {
    found
        .identity
        .and_then(|i| i.origin.as_ref())
        .map(|o| o.0.as_str())
}

fn by_id<'a>(found: &[Found<'a>]) -> BTreeMap<&'a str, Vec<usize>> {
    let mut map: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        map.entry(f.external_id.0.as_str()).or_default().push(i);
    }
    map
}

/// Why an item a rebuild could not pair stays on its side only.
pub const UNPAIRED_REASON: &str = "links rebuild: no partner found on the other side; not created there (a rebuild creates nothing)";

/// Links rebuild: an item without a partner stays where it is, unlinked and reported; it is
/// never created on the other side.
pub fn leave_unpaired(link: &mut Link) {
    let side = if link.outlook.is_some() {
        Side::Outlook
    } else {
        Side::Zoho
    };
    link.status = LinkStatus::Unpaired;
    link.found_identity = None;
    link.last_error = Some(LinkError::new(
        side,
        FailureCode::LinksRebuildUnpaired,
        UNPAIRED_REASON,
    ));
}

/// The mass-delete guard: a poll round deleting more than `share` of a user's items (and at
/// least `minimum` of them) is held back for an admin.
pub fn holds_back(staged: usize, total: usize, share: f64, minimum: usize) -> bool {
    staged >= minimum && (staged as f64) > share * (total.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_model::{Contact, EmailAddress};
    use uuid::Uuid;

    fn id(n: u128) -> LinkId {
        LinkId(Uuid::from_u128(n))
    }

    fn contact(
        given: &str,
        email: Option<&str>,
        phone: Option<&str>,
        company: Option<&str>,
    ) -> Item {
        Item::Contact(Contact {
            given_name: Some(given.into()),
            surname: Some("Tanaka".into()),
            emails: email.map(|e| EmailAddress(e.into())).into_iter().collect(),
            mobile_phone: phone.map(Into::into),
            company: company.map(Into::into),
            ..Contact::default()
        })
    }

    #[test]
    fn contacts_match_by_email_case_insensitively() {
        let o = vec![(id(1), contact("Ken", Some("Ken@Example.jp"), None, None))];
        let z = vec![(id(2), contact("Kenji", Some("ken@example.jp"), None, None))];
        assert_eq!(
            match_items(&o, &z),
            Matches {
                pairs: vec![(id(1), id(2))],
                ambiguous: vec![]
            }
        );
    }

    #[test]
    fn then_by_phone_then_by_name_and_company() {
        let o = vec![
            (id(1), contact("Ken", None, Some("+81 90-1234-5678"), None)),
            (id(3), contact("Yui", None, None, Some("ACME"))),
        ];
        let z = vec![
            (id(2), contact("Ken", None, Some("+819012345678"), None)),
            (id(4), contact("yui", None, None, Some("acme"))),
        ];
        let m = match_items(&o, &z);
        assert_eq!(m.pairs, vec![(id(1), id(2)), (id(3), id(4))]);
    }

    #[test]
    fn ambiguous_matches_are_held_not_guessed() {
        let o = vec![(id(1), contact("Ken", Some("shared@example.jp"), None, None))];
        let z = vec![
            (
                id(2),
                contact("Ken A", Some("shared@example.jp"), None, None),
            ),
            (
                id(3),
                contact("Ken B", Some("shared@example.jp"), None, None),
            ),
        ];
        let m = match_items(&o, &z);
        assert!(m.pairs.is_empty());
        let mut held = m.ambiguous.clone();
        held.sort_by_key(|l| l.0);
        assert_eq!(held, vec![id(1), id(2), id(3)]);
    }

    #[test]
    fn namesakes_without_a_company_are_not_matched() {
        let o = vec![(id(1), contact("Taro", None, None, None))];
        let z = vec![(id(2), contact("Taro", None, None, None))];
        assert_eq!(match_items(&o, &z), Matches::default());
    }

    #[test]
    fn different_emails_tell_namesakes_at_one_company_apart() {
        // Two people with the same name at the same company, one on each side.
        let o = vec![(
            id(1),
            contact("Ken", Some("ken1@acme.jp"), None, Some("ACME")),
        )];
        let z = vec![(
            id(2),
            contact("Ken", Some("ken2@acme.jp"), None, Some("ACME")),
        )];
        assert_eq!(match_items(&o, &z), Matches::default());
        // Nor does a shared phone (a switchboard) pair two people with different addresses.
        let o = vec![(
            id(1),
            contact("Ken", Some("a@acme.jp"), Some("+81 3-1111-2222"), None),
        )];
        let z = vec![(
            id(2),
            contact("Yui", Some("b@acme.jp"), Some("+81 3-1111-2222"), None),
        )];
        assert_eq!(match_items(&o, &z), Matches::default());
        // Different phones tell namesakes apart when there are no addresses.
        let o = vec![(
            id(1),
            contact("Ken", None, Some("+81 3-1111-2222"), Some("ACME")),
        )];
        let z = vec![(
            id(2),
            contact("Ken", None, Some("+81 3-3333-4444"), Some("ACME")),
        )];
        assert_eq!(match_items(&o, &z), Matches::default());
        // An address on one side only decides nothing: name and company still pair them.
        let o = vec![(
            id(1),
            contact("Ken", Some("ken@acme.jp"), None, Some("ACME")),
        )];
        let z = vec![(id(2), contact("Ken", None, None, Some("ACME")))];
        assert_eq!(match_items(&o, &z).pairs, vec![(id(1), id(2))]);
    }

    #[test]
    fn many_namesakes_with_their_own_addresses_are_neither_paired_nor_held() {
        // A large address book: the same few names at the same few companies, every person
        // with an address of their own; only the people on both sides pair, nobody is held.
        let names = ["Ken", "Yui", "Taro"];
        let person = |n: u128, shared: bool, side: &str| {
            let given = names[(n % 3) as usize];
            let email = if shared {
                format!("p{n}@acme.jp")
            } else {
                format!("{side}{n}@acme.jp")
            };
            contact(given, Some(&email), None, Some("ACME"))
        };
        let o: Vec<_> = (0..60).map(|n| (id(n), person(n, n < 10, "o"))).collect();
        let z: Vec<_> = (0..60)
            .map(|n| (id(1000 + n), person(n, n < 10, "z")))
            .collect();
        let m = match_items(&o, &z);
        assert_eq!(m.pairs.len(), 10);
        assert!(m.ambiguous.is_empty(), "{} held", m.ambiguous.len());
    }

    #[test]
    fn unrelated_items_stay_unmatched() {
        let o = vec![(id(1), contact("Ken", Some("a@x.jp"), None, None))];
        let z = vec![(id(2), contact("Yui", Some("b@x.jp"), None, None))];
        assert_eq!(match_items(&o, &z), Matches::default());
    }

    fn found<'a>(
        link: u128,
        external_id: &'a ExternalId,
        identity: Option<&'a LinkIdentity>,
    ) -> Found<'a> {
        Found {
            link: id(link),
            external_id,
            identity,
        }
    }

    fn ext(s: &str) -> ExternalId {
        ExternalId(s.into())
    }

    fn copy_of(link: u128, origin: Option<&str>) -> LinkIdentity {
        LinkIdentity {
            link: id(link),
            origin: origin.map(ext),
        }
    }

    #[test]
    fn a_copy_pairs_with_its_origin_and_keeps_its_old_link_id() {
        // Outlook "AAMk1" copies Zoho "1001" (link 900); Zoho "1002" copies Outlook "AAMk2"
        // (link 901); "AAMk3" and "1003" carry nothing.
        let (o1, o2, o3) = (ext("AAMk1"), ext("AAMk2"), ext("AAMk3"));
        let (z1, z2, z3) = (ext("1001"), ext("1002"), ext("1003"));
        let c1 = copy_of(900, Some("1001"));
        let c2 = copy_of(901, Some("AAMk2"));
        let outlook = [
            found(1, &o1, Some(&c1)),
            found(2, &o2, None),
            found(3, &o3, None),
        ];
        let zoho = [
            found(11, &z1, None),
            found(12, &z2, Some(&c2)),
            found(13, &z3, None),
        ];
        assert_eq!(
            pair_by_identity(&outlook, &zoho),
            vec![
                IdentityPair {
                    outlook: id(1),
                    zoho: id(11),
                    link_id: Some(id(900))
                },
                IdentityPair {
                    outlook: id(2),
                    zoho: id(12),
                    link_id: Some(id(901))
                },
            ]
        );
    }

    #[test]
    fn two_items_with_one_link_id_pair_without_an_origin() {
        let (o1, z1) = (ext("AAMk1"), ext("1001"));
        let (a, b) = (copy_of(900, None), copy_of(900, None));
        let pairs = pair_by_identity(&[found(1, &o1, Some(&a))], &[found(11, &z1, Some(&b))]);
        assert_eq!(
            pairs,
            vec![IdentityPair {
                outlook: id(1),
                zoho: id(11),
                link_id: Some(id(900))
            }]
        );
    }

    #[test]
    fn two_copies_of_one_original_are_left_to_the_matching() {
        // A duplicate from before the fix: two Outlook copies name the same Zoho original.
        let (o1, o2, z1) = (ext("AAMk1"), ext("AAMk2"), ext("1001"));
        let (a, b) = (copy_of(900, Some("1001")), copy_of(901, Some("1001")));
        let outlook = [found(1, &o1, Some(&a)), found(2, &o2, Some(&b))];
        assert!(pair_by_identity(&outlook, &[found(11, &z1, None)]).is_empty());
    }

    #[test]
    fn an_origin_not_among_the_unmatched_pairs_nothing() {
        // The original was deleted during the loss, or is on the copy's own side (an id the
        // other side never had): nothing is guessed.
        let (o1, o2, z1) = (ext("AAMk1"), ext("AAMk2"), ext("1001"));
        let a = copy_of(900, Some("AAMk2"));
        let outlook = [found(1, &o1, Some(&a)), found(2, &o2, None)];
        assert!(pair_by_identity(&outlook, &[found(11, &z1, None)]).is_empty());
        assert!(pair_by_identity(&[], &[]).is_empty());
    }

    #[test]
    fn a_link_id_claimed_by_two_pairs_is_not_kept() {
        // Two copies carrying the same link id (a user copied an item with its property):
        // both pairs hold by their origins, but neither keeps the id.
        let (o1, o2, z1, z2) = (ext("AAMk1"), ext("AAMk2"), ext("1001"), ext("1002"));
        let (a, b) = (copy_of(900, Some("1001")), copy_of(900, Some("1002")));
        let outlook = [found(1, &o1, Some(&a)), found(2, &o2, Some(&b))];
        let zoho = [found(11, &z1, None), found(12, &z2, None)];
        let pairs = pair_by_identity(&outlook, &zoho);
        assert_eq!(pairs.len(), 2);
        assert!(pairs.iter().all(|p| p.link_id.is_none()), "{pairs:?}");
    }

    #[test]
    fn an_item_left_unpaired_is_reported_and_never_created() {
        let mut link = Link::new(
            id(1),
            sync_model::UserId(Uuid::nil()),
            LinkStatus::Unmatched,
            contact("Ken", None, None, None),
        );
        link.zoho = Some(crate::domain::SideState::seen(
            ext("1001"),
            sync_model::Version("v".into()),
            contact("Ken", None, None, None),
        ));
        link.found_identity = Some(copy_of(900, Some("AAMk9")));
        leave_unpaired(&mut link);
        assert_eq!(link.status, LinkStatus::Unpaired);
        assert_eq!(link.found_identity, None);
        assert_eq!(link.last_error.as_ref().map(|e| e.side), Some(Side::Zoho));
        assert!(link.outlook.is_none(), "nothing is made for the other side");
    }

    #[test]
    fn guard_holds_back_large_delete_runs_only() {
        assert!(!holds_back(2, 100, 0.3, 5), "below the minimum");
        assert!(!holds_back(20, 100, 0.3, 5), "below the share");
        assert!(holds_back(40, 100, 0.3, 5));
    }
}
