//! First-sync matching: items that exist on both sides before the first sync are paired instead
//! of being created twice. Contacts match by e-mail, then phone, then name and company; tasks by
//! subject and due date; events by subject and start. A key shared by more than one item on
//! either side is ambiguous: those items are held for the user, never guessed. A weaker key
//! never pairs two contacts that a stronger level tells apart: both with e-mail addresses and
//! none in common (or, for name and company, both with phones and none in common) are two
//! people, however alike their names (merging two people would overwrite one with the other).

use std::collections::{BTreeMap, BTreeSet};

use sync_model::{Item, LinkId};

#[derive(Debug, Default, PartialEq)]
pub struct Matches {
    /// (Outlook item's link, Zoho item's link).
    pub pairs: Vec<(LinkId, LinkId)>,
    pub ambiguous: Vec<LinkId>,
}

/// Matching keys of an item, strongest level first; each level may give several keys.
fn keys(item: &Item) -> Vec<Vec<String>> {
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
    all: &'a [Vec<Vec<String>>],
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
    let mut matches = Matches::default();
    let mut open_o: BTreeSet<usize> = (0..outlook.len()).collect();
    let mut open_z: BTreeSet<usize> = (0..zoho.len()).collect();
    let o_keys: Vec<_> = outlook.iter().map(|(_, item)| keys(item)).collect();
    let z_keys: Vec<_> = zoho.iter().map(|(_, item)| keys(item)).collect();
    let levels = o_keys
        .iter()
        .chain(&z_keys)
        .map(Vec::len)
        .max()
        .unwrap_or(0);

    for level in 0..levels {
        let (by_o, by_z) = (
            index(&o_keys, &open_o, level),
            index(&z_keys, &open_z, level),
        );
        let candidates = |own: &[Vec<Vec<String>>],
                          i: usize,
                          others: &[Vec<Vec<String>>],
                          other: &BTreeMap<&str, BTreeSet<usize>>| {
            let mut found = BTreeSet::new();
            for key in own[i].get(level).into_iter().flatten() {
                if let Some(hits) = other.get(key.as_str()) {
                    found.extend(
                        hits.iter()
                            .filter(|&&j| !told_apart(&own[i], &others[j], level)),
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

    #[test]
    fn guard_holds_back_large_delete_runs_only() {
        assert!(!holds_back(2, 100, 0.3, 5), "below the minimum");
        assert!(!holds_back(20, 100, 0.3, 5), "below the share");
        assert!(holds_back(40, 100, 0.3, 5));
    }
}
