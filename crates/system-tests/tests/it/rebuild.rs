//! Links rebuilt from both sides (issue 12): a user synced both ways loses their links (the
//! admin command drops them, as a database restored without them would), and the rebuild pairs
//! every item with the same partner as before from what the providers hold — copies by the
//! identity they carry (link and origin), items matched at the first sync by their keys —
//! without creating or deleting anything on either side, for one kind or all. Sync goes on
//! normally afterwards.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sync_protocol::LinkIdentity;
use system_tests::{LinkRow, System, TestUser, USER_PASSWORD, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(120);
const EMAIL: &str = "wiederaufbau@example.de";

async fn sync_status(sys: &System, user: &TestUser) -> anyhow::Result<Value> {
    sys.get(format!(
        "{}/internal/v1/users/{}/status",
        sys.sync_url, user.user_id
    ))
    .await
}

/// Every kind's first sync complete, nothing waiting, no write queued, and every link paired on
/// both sides but `lonely` (an Outlook contact Zoho cannot hold), which is in `lonely_status`
/// and the only failed item: the links then.
async fn settled(
    sys: &System,
    user: &TestUser,
    lonely: Option<(&str, &str)>,
) -> anyhow::Result<Option<Vec<LinkRow>>> {
    let status = sync_status(sys, user).await?;
    let kinds = status["kinds"].as_array().cloned().unwrap_or_default();
    let failed: u64 = kinds.iter().filter_map(|k| k["failed"].as_u64()).sum();
    let quiet = kinds.len() == 3
        && kinds
            .iter()
            .all(|k| k["first_sync"]["complete"] == true && k["pending"] == 0)
        && failed == u64::from(lonely.is_some())
        && status["outbox_pending"] == 0;
    if !quiet {
        return Ok(None);
    }
    let links = sys.links(user).await?;
    let as_expected = links.iter().all(|(_, o, z, _, status)| match lonely {
        Some((id, lonely_status)) if o.as_deref() == Some(id) => {
            z.is_none() && status == lonely_status
        }
        _ => o.is_some() && z.is_some() && status == "active",
    });
    Ok(as_expected.then_some(links))
}

/// How many items each side holds per kind (control API: not counted as calls).
async fn held(sys: &System, user: &TestUser) -> anyhow::Result<Vec<usize>> {
    let control = sys.control();
    Ok(vec![
        sys.outlook_contacts(user).await?.len(),
        sys.zoho_contacts(user).await?.len(),
        control
            .mailbox_items(&user.mailbox_id, "tasks")
            .await?
            .len(),
        sys.zoho_records(user, "Tasks").await?.len(),
        sys.outlook_events(user).await?.len(),
        sys.zoho_records(user, "Events").await?.len(),
    ])
}

/// The link identity each item carries on either side, by its id there.
async fn identities(
    sys: &System,
    user: &TestUser,
) -> anyhow::Result<BTreeMap<String, LinkIdentity>> {
    let mut found = BTreeMap::new();
    let control = sys.control();
    for collection in ["contacts", "tasks"] {
        for item in control.mailbox_items(&user.mailbox_id, collection).await? {
            if let Some(identity) = connector_outlook::identity::identity_of(&item) {
                found.insert(item["id"].as_str().unwrap_or_default().to_owned(), identity);
            }
        }
    }
    for item in sys.outlook_events(user).await? {
        if let Some(identity) = connector_outlook::identity::identity_of(&item) {
            found.insert(item["id"].as_str().unwrap_or_default().to_owned(), identity);
        }
    }
    for module in ["Contacts", "Tasks", "Events"] {
        for record in sys.zoho_records(user, module).await? {
            if let Some(identity) = record["Outlook_Sync_Link"]
                .as_str()
                .and_then(LinkIdentity::parse)
            {
                found.insert(
                    record["id"].as_str().unwrap_or_default().to_owned(),
                    identity,
                );
            }
        }
    }
    Ok(found)
}

/// Calls that create or delete items, per operation (`$batch` counts its requests).
fn writes(stats: &Value, account: &Value) -> BTreeMap<String, u64> {
    let _ = stats;
    account["operations"]
        .as_object()
        .map(|ops| {
            ops.iter()
                .filter(|(op, _)| {
                    (op.starts_with("POST ") || op.starts_with("DELETE "))
                        && !op.contains("$batch")
                        && !op.contains("token")
                        && !op.contains("/settings/")
                })
                .map(|(op, n)| (op.clone(), n.as_u64().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_lost_are_rebuilt_exactly_from_both_sides_without_creating_anything()
-> anyhow::Result<()> {
    let sys = spawn_system().await?;
    // Contacts, tasks and events on each side, a quarter of them on both (matched at the first
    // sync); the rest is created on the other side by the sync (copies).
    let user = sys
        .provision_user_seeded_with(
            EMAIL,
            1,
            json!({"contacts": 8, "tasks": 4, "events": 4, "shared_share": 0.25, "seed": 11}),
        )
        .await?;
    let lists = sys.discover(&user, "outlook", "todo-lists").await?;
    let list = lists["value"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["wellknownListName"] == "defaultList"))
        .and_then(|l| l["id"].as_str())
        .expect("the default To Do list")
        .to_owned();
    sys.put_settings(
        &user,
        json!({
            "contact_folder_id": user.contact_folder_id,
            "contacts": {"enabled": true, "direction": "two_way"},
            "task_list_id": list,
            "tasks": {"enabled": true, "direction": "two_way"},
            "events": {"enabled": true, "direction": "two_way"},
            "calendar_categories": {"mode": "all"},
            "conflict_rule": "zoho_wins",
            "poll_interval_secs": 1,
        }),
    )
    .await?;
    wait_for("the first sync to settle", TIMEOUT, || {
        settled(&sys, &user, None)
    })
    .await?;
    // A contact Zoho cannot hold (no last name): it stays in Outlook only, its create refused.
    let lonely = sys
        .graph_call(
            &user,
            Method::POST,
            &format!("/me/contactFolders/{}/contacts", user.contact_folder_id),
            Some(json!({"givenName": "Nur Vorname"})),
        )
        .await?;
    let lonely = lonely["id"].as_str().expect("an id").to_owned();
    let before = wait_for("Zoho to refuse the contact", TIMEOUT, || {
        settled(&sys, &user, Some((&lonely, "active")))
    })
    .await?;
    let mut counts = held(&sys, &user).await?;
    counts[0] -= 1; // the lonely contact
    for (kind, pair) in ["contact", "task", "event"].iter().zip(counts.chunks(2)) {
        let links = before
            .iter()
            .filter(|l| l.0 == *kind && l.2.is_some())
            .count();
        assert_eq!(pair, [links, links], "{kind}s once on each side");
        assert!(links > 0, "{kind}s synced");
    }
    let identities = identities(&sys, &user).await?;
    let copies = before
        .iter()
        .filter(|(_, o, z, ..)| {
            [o, z]
                .into_iter()
                .flatten()
                .any(|id| identities.contains_key(id))
        })
        .count();
    assert!(
        copies > 0 && copies < before.len(),
        "copies carry identities, items matched at the first sync none: {copies} of {}",
        before.len()
    );

    // Only an administrator may rebuild.
    let rebuild = format!(
        "{}/v1/admin/users/{}/rebuild-links",
        sys.sync_url, user.user_id
    );
    let user_token = sys.sign_in(EMAIL, USER_PASSWORD).await?;
    let (status, body) = sys
        .call_as(&user_token, Method::POST, rebuild.clone(), None)
        .await?;
    assert_eq!(status, 403, "{body}");
    let anonymous = sys.http.post(&rebuild).send().await?.status().as_u16();
    assert_eq!(anonymous, 401);
    let (status, body) = sys
        .call_as(
            &sys.admin_token().await?,
            Method::POST,
            format!("{rebuild}?kind=note"),
            None,
        )
        .await?;
    assert_eq!(status, 422, "an unknown kind: {body}");
    assert_eq!(body["code"], "invalid_query", "{body}");
    assert_eq!(sys.links(&user).await?, before, "nothing was dropped");

    // Calls from here on: neither rebuild below may create or delete anything.
    let stats_before = sys.control().stats().await?;
    // One kind alone: its links come back as they were, the others are not touched.
    let tasks = before.iter().filter(|l| l.0 == "task").count();
    let (status, body) = sys
        .call_as(
            &sys.admin_token().await?,
            Method::POST,
            format!("{rebuild}?kind=task"),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kinds"], json!(["task"]));
    assert_eq!(body["links_dropped"], json!(tasks));
    wait_for("the task rebuild to settle", TIMEOUT, || async {
        let links = sys.links(&user).await?;
        let tasks_back = links.iter().filter(|l| l.0 == "task").count() == tasks;
        Ok(if tasks_back {
            settled(&sys, &user, Some((&lonely, "active"))).await?
        } else {
            None
        })
    })
    .await?;
    let task_status = sync_status(&sys, &user).await?;
    let reasons: BTreeMap<String, String> = task_status["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            (
                k["kind"].as_str().unwrap_or_default().to_owned(),
                k["first_sync"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    assert_eq!(reasons["task"], "links_rebuild", "{task_status}");
    assert_ne!(reasons["contact"], "links_rebuild", "{task_status}");
    let now = sys.links(&user).await?;
    let others = |links: &[LinkRow]| -> Vec<LinkRow> {
        links.iter().filter(|l| l.0 != "task").cloned().collect()
    };
    assert_eq!(others(&now), others(&before), "the other kinds untouched");
    let task_pairs = |links: &[LinkRow]| -> BTreeSet<(Option<String>, Option<String>)> {
        links
            .iter()
            .filter(|l| l.0 == "task")
            .map(|l| (l.1.clone(), l.2.clone()))
            .collect()
    };
    assert_eq!(
        task_pairs(&now),
        task_pairs(&before),
        "the tasks paired as before"
    );

    let (status, body) = sys
        .call_as(&sys.admin_token().await?, Method::POST, rebuild, None)
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["links_dropped"], json!(before.len()), "{body}");
    assert_eq!(body["kinds"], json!(["contact", "task", "event"]));

    let after = wait_for("the rebuild to settle", TIMEOUT, || {
        settled(&sys, &user, Some((&lonely, "unpaired")))
    })
    .await?;
    let pairs = |links: &[LinkRow]| -> BTreeSet<(String, Option<String>, Option<String>)> {
        links
            .iter()
            .map(|(kind, o, z, ..)| (kind.clone(), o.clone(), z.clone()))
            .collect()
    };
    assert_eq!(pairs(&after), pairs(&before), "every pair as before");
    let reported = sync_status(&sys, &user).await?;
    for kind in reported["kinds"].as_array().into_iter().flatten() {
        assert_eq!(kind["first_sync"]["reason"], "links_rebuild", "{reported}");
    }
    assert_eq!(after.len(), before.len());
    // The contact without a partner is reported, and was not created in Zoho.
    let reported = sync_status(&sys, &user).await?;
    let reasons: Vec<&str> = reported["kinds"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|k| k["failed_items"].as_array().into_iter().flatten())
        .filter_map(|f| f["reason"].as_str())
        .collect();
    assert!(
        matches!(&reasons[..], [reason] if reason.contains("links rebuild: no partner")),
        "{reported}"
    );
    // A pair whose copy carries its identity keeps its link id (a create repeated later still
    // finds its copy by it); pairs matched by keys get new ones.
    let old: BTreeMap<_, _> = before
        .iter()
        .map(|(kind, o, z, id, _)| ((kind.clone(), o.clone(), z.clone()), *id))
        .collect();
    for (kind, o, z, id, _) in after.iter().filter(|l| l.2.is_some()) {
        let carried = [o, z].into_iter().flatten().find_map(|x| identities.get(x));
        let was = old[&(kind.clone(), o.clone(), z.clone())];
        match carried {
            Some(identity) => {
                assert_eq!(*id, identity.link.0, "{kind} {o:?} keeps its link");
                assert_eq!(*id, was);
            }
            None => assert_ne!(*id, was, "{kind} {o:?} matched by keys gets a new link"),
        }
    }
    // Nothing was created or deleted on either side, nothing duplicated.
    let stats_after = sys.control().stats().await?;
    for (api, account) in [
        ("graph", ["graph", "mailboxes", user.mailbox_id.as_str()]),
        ("zoho", ["zoho", "orgs", user.org_id.as_str()]),
    ] {
        let at = |stats: &Value| stats[account[0]][account[1]][account[2]].clone();
        assert_eq!(
            writes(&stats_after, &at(&stats_after)),
            writes(&stats_before, &at(&stats_before)),
            "{api}: no create or delete during the rebuilds"
        );
    }
    let mut now = held(&sys, &user).await?;
    now[0] -= 1;
    assert_eq!(now, counts, "nothing duplicated");

    // Sync goes on: an edit in Outlook reaches Zoho.
    let (_, outlook_id, zoho_id, ..) = after
        .iter()
        .find(|l| l.0 == "contact" && l.2.is_some())
        .expect("a contact pair");
    let (outlook_id, zoho_id) = (outlook_id.clone().unwrap(), zoho_id.clone().unwrap());
    sys.graph_call(
        &user,
        Method::PATCH,
        &format!(
            "/me/contactFolders/{}/contacts/{outlook_id}",
            user.contact_folder_id
        ),
        Some(json!({"jobTitle": "Wiederaufbau"})),
    )
    .await?;
    wait_for("the edit in Zoho", TIMEOUT, || async {
        let records = sys.zoho_contacts(&user).await?;
        Ok(records
            .into_iter()
            .find(|r| r["id"] == json!(zoho_id) && r["Title"] == "Wiederaufbau"))
    })
    .await?;
    let mut now = held(&sys, &user).await?;
    now[0] -= 1;
    assert_eq!(now, counts, "still once each");
    Ok(())
}
