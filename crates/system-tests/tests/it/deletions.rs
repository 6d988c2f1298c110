//! Deletions a full re-read finds (decisions #41): an expired Graph delta token or an admin's
//! resync makes a connector read everything again, which reports no deletion; what it does not
//! find is deleted, behind the mass-delete guard, and never an item created during the read.
//! Polls run only when a test asks (interval one hour), so each read happens where it says.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sync_model::{ItemKind, Side, UserId};
use sync_protocol::{ChangeMessage, Envelope};
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(60);
const NO_POLLS: u32 = 3600;

fn outlook_emails(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|c| c["emailAddresses"][0]["address"].as_str())
        .map(str::to_lowercase)
        .collect()
}

fn zoho_emails(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|r| r["Email"].as_str())
        .map(str::to_lowercase)
        .collect()
}

/// Waits until both sides hold the same `expected` contacts, all linked.
async fn converged(sys: &System, user: &TestUser, expected: usize) -> anyhow::Result<Vec<Value>> {
    wait_for(
        &format!("both sides to hold the same {expected} contacts, linked"),
        TIMEOUT,
        || async {
            let outlook = sys.outlook_contacts(user).await?;
            let zoho = sys.zoho_contacts(user).await?;
            let linked = linked(sys, user).await?;
            Ok((outlook.len() == expected
                && zoho.len() == expected
                && linked == expected
                && outlook_emails(&outlook) == zoho_emails(&zoho))
            .then_some(outlook))
        },
    )
    .await
}

async fn linked(sys: &System, user: &TestUser) -> anyhow::Result<usize> {
    let status = sys
        .get(format!(
            "{}/internal/v1/users/{}/status",
            sys.sync_url, user.user_id
        ))
        .await?;
    Ok(status["kinds"][0]["linked"].as_u64().unwrap_or(0) as usize)
}

/// The user's links by status (admin API).
async fn link_statuses(sys: &System, admin: &str, user: &TestUser) -> anyhow::Result<Value> {
    let (status, body) = sys
        .call_as(
            admin,
            Method::GET,
            format!("{}/v1/admin/users/{}/links", sys.sync_url, user.user_id),
            None,
        )
        .await?;
    anyhow::ensure!(status == 200, "links answered {status}: {body}");
    Ok(body)
}

fn count_of(statuses: &Value, status: &str) -> u64 {
    statuses
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["status"] == status)
        .filter_map(|s| s["count"].as_u64())
        .sum()
}

async fn held_deletions(sys: &System, admin: &str, user: &TestUser) -> anyhow::Result<usize> {
    Ok(sys
        .held_deletions(admin)
        .await?
        .iter()
        .filter(|h| h["user_id"] == user.user_id.as_str())
        .count())
}

async fn delete_in_outlook(
    sys: &System,
    user: &TestUser,
    contacts: &[Value],
) -> anyhow::Result<()> {
    for contact in contacts {
        let id = contact["id"].as_str().expect("an id");
        sys.graph_call(user, Method::DELETE, &format!("/me/contacts/{id}"), None)
            .await?;
    }
    Ok(())
}

/// Every delta link of the mailbox answers 410 `SyncStateNotFound` from now on.
async fn expire_delta_tokens(sys: &System, user: &TestUser) -> anyhow::Result<()> {
    sys.post(
        format!(
            "{}/_sandbox/graph/mailboxes/{}/expire-delta-tokens",
            sys.sandbox_url, user.mailbox_id
        ),
        json!({}),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletions_while_the_graph_delta_token_expired_reach_zoho_and_a_mass_deletion_is_held()
-> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys
        .provision_seeded_user("gap@example.jp", NO_POLLS, 20, 0.0)
        .await?;
    let outlook = converged(&sys, &user, 40).await?;
    let admin = sys.admin_token().await?;

    // Three contacts are deleted in Outlook; the delta token expires before the next poll, so
    // Graph will never report these deletions: the connector reads the folder again in full.
    let (gone, kept) = outlook.split_at(3);
    delete_in_outlook(&sys, &user, gone).await?;
    expire_delta_tokens(&sys, &user).await?;
    sys.poll_side(&user, "outlook").await?;
    let survivors = converged(&sys, &user, 37).await?;
    assert_eq!(
        outlook_emails(&survivors),
        outlook_emails(kept),
        "exactly the deleted contacts are gone in Zoho"
    );
    assert_eq!(held_deletions(&sys, &admin, &user).await?, 0);

    // Again, with 15 of the 37 deleted in the gap (over 30 %): the guard holds them all.
    delete_in_outlook(&sys, &user, &survivors[..15]).await?;
    expire_delta_tokens(&sys, &user).await?;
    sys.poll_side(&user, "outlook").await?;
    wait_for("the 15 deletions to be held", TIMEOUT, || async {
        Ok((held_deletions(&sys, &admin, &user).await? == 15).then_some(()))
    })
    .await?;
    // Held in the same transaction that found them: nothing was deleted in Zoho.
    assert_eq!(sys.zoho_contacts(&user).await?.len(), 37);
    assert_eq!(sys.outlook_contacts(&user).await?.len(), 22);
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_created_during_a_full_re_read_is_not_taken_for_deleted() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys.provision_user("round@example.jp", NO_POLLS).await?;
    let folder = user.contact_folder_id.clone();
    sys.graph_call(
        &user,
        Method::POST,
        &format!("/me/contactFolders/{folder}/contacts"),
        Some(json!({"surname": "Alt", "emailAddresses": [{"address": "alt@example.jp"}]})),
    )
    .await?;
    sys.poll_side(&user, "outlook").await?;
    let before = converged(&sys, &user, 1).await?;

    // A full re-read of Outlook begins (told the way the connector tells it), while the user
    // deletes the old contact in Outlook and creates a new one in Zoho, which sync-service then
    // creates in Outlook: after the read's snapshot was taken, so the read does not list it.
    let round = uuid::Uuid::now_v7();
    let user_id = UserId(user.user_id.parse()?);
    let publish = |body: ChangeMessage| {
        let key = format!("outlook.contact.{}", body.verb());
        let payload = serde_json::to_vec(&Envelope::new(user_id, body));
        let sys = &sys;
        async move { sys.publish_raw_change(&key, &payload?).await }
    };
    publish(ChangeMessage::ReadStarted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        round,
        lists_everything: true,
    })
    .await?;
    delete_in_outlook(&sys, &user, &before).await?;
    sys.zoho_call(
        &user,
        Method::POST,
        "/Contacts",
        Some(json!({"data": [{"Last_Name": "Neu", "Email": "neu@example.jp"}]})),
    )
    .await?;
    sys.poll_side(&user, "zoho").await?;
    wait_for("the new contact linked in Outlook", TIMEOUT, || async {
        let outlook = outlook_emails(&sys.outlook_contacts(&user).await?);
        Ok((outlook.contains("neu@example.jp") && linked(&sys, &user).await? == 2).then_some(()))
    })
    .await?;

    // The read ends having listed nothing: the old contact is gone, the new one stays.
    publish(ChangeMessage::ReadCompleted {
        side: Side::Outlook,
        kind: ItemKind::Contact,
        full: true,
        items_read: 0,
        round: Some(round),
        lists_everything: true,
    })
    .await?;
    wait_for("the old contact deleted in Zoho", TIMEOUT, || async {
        let zoho = zoho_emails(&sys.zoho_contacts(&user).await?);
        Ok((!zoho.contains("alt@example.jp")).then_some(zoho))
    })
    .await?;
    // Decided in the same transaction as the old contact's delete: the new one is not staged.
    let admin = sys.admin_token().await?;
    let statuses = link_statuses(&sys, &admin, &user).await?;
    assert_eq!(count_of(&statuses, "staged_delete"), 0, "{statuses}");
    assert_eq!(count_of(&statuses, "held_delete"), 0, "{statuses}");
    assert_eq!(count_of(&statuses, "active"), 1, "{statuses}");
    let expected: BTreeSet<String> = ["neu@example.jp".to_owned()].into();
    assert_eq!(zoho_emails(&sys.zoho_contacts(&user).await?), expected);
    assert_eq!(
        outlook_emails(&sys.outlook_contacts(&user).await?),
        expected
    );
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_resync_finds_the_deletions_zoho_no_longer_reports() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys
        .provision_seeded_user("resync@example.jp", NO_POLLS, 10, 0.0)
        .await?;
    converged(&sys, &user, 20).await?;
    let zoho = sys.zoho_contacts(&user).await?;

    // Two records are deleted in Zoho; the resync reads everything again from scratch (its
    // deleted-records watermark starts anew, so Zoho's list of deletions does not tell them).
    let (gone, kept) = zoho.split_at(2);
    for record in gone {
        let id = record["id"].as_str().expect("an id");
        sys.zoho_call(&user, Method::DELETE, &format!("/Contacts/{id}"), None)
            .await?;
    }
    // The resync comes a while later (Zoho's deletion times have one-second resolution and the
    // connector re-reads one second of them: a resync right away would still be told).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let admin = sys.admin_token().await?;
    let (status, body) = sys
        .call_as(
            &admin,
            Method::POST,
            format!("{}/v1/admin/users/{}/resync", sys.sync_url, user.user_id),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let survivors = converged(&sys, &user, 18).await?;
    assert_eq!(outlook_emails(&survivors), zoho_emails(kept));
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_folder_read_in_full_is_no_deletion_of_the_old_one() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys
        .provision_seeded_user("folder@example.jp", NO_POLLS, 2, 0.0)
        .await?;
    let before = converged(&sys, &user, 4).await?;
    let old_emails = outlook_emails(&before);

    // The user picks another folder (holding one contact) and an admin asks for a resync right
    // after: the new folder's first read comes with a resync request, and the old folder's
    // contacts are not in it. They left the scope; nothing may be deleted in Zoho for that.
    let folder = sys
        .graph_call(
            &user,
            Method::POST,
            "/me/contactFolders",
            Some(json!({"displayName": "Kunden 2027"})),
        )
        .await?;
    let folder = folder["id"].as_str().expect("a folder id").to_owned();
    sys.graph_call(
        &user,
        Method::POST,
        &format!("/me/contactFolders/{folder}/contacts"),
        Some(json!({"surname": "Neu", "emailAddresses": [{"address": "neu@example.jp"}]})),
    )
    .await?;
    sys.put_settings(
        &user,
        json!({
            "contact_folder_id": folder,
            "contacts": {"enabled": true, "direction": "two_way"},
            "conflict_rule": "zoho_wins",
            "poll_interval_secs": NO_POLLS,
        }),
    )
    .await?;
    let admin = sys.admin_token().await?;
    let (status, body) = sys
        .call_as(
            &admin,
            Method::POST,
            format!("{}/v1/admin/users/{}/resync", sys.sync_url, user.user_id),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");

    // The new folder's contact arrives in Zoho once both full reads are in (so the Outlook
    // read's end has been handled); the old folder's contacts are all still there.
    let zoho = wait_for("the new folder's contact in Zoho", TIMEOUT, || async {
        let zoho = zoho_emails(&sys.zoho_contacts(&user).await?);
        Ok(zoho.contains("neu@example.jp").then_some(zoho))
    })
    .await?;
    assert!(
        zoho.is_superset(&old_emails),
        "{zoho:?} lacks some of {old_emails:?}"
    );
    let statuses = link_statuses(&sys, &admin, &user).await?;
    for status in ["staged_delete", "held_delete", "deleted"] {
        assert_eq!(count_of(&statuses, status), 0, "{status}: {statuses}");
    }
    sys.stop().await;
    Ok(())
}

/// The subjects of the events each side holds.
async fn event_subjects(
    sys: &System,
    user: &TestUser,
) -> anyhow::Result<(BTreeSet<String>, BTreeSet<String>)> {
    let outlook = sys
        .outlook_events(user)
        .await?
        .iter()
        .filter_map(|e| e["subject"].as_str().map(str::to_owned))
        .collect();
    let zoho = sys
        .zoho_records(user, "Events")
        .await?
        .iter()
        .filter_map(|e| e["Event_Title"].as_str().map(str::to_owned))
        .collect();
    Ok((outlook, zoho))
}

/// Outlook's calendar is read in full over a window only (30 days back, a year ahead): after an
/// expired delta token, an event the re-read did not list may be deleted or lie outside the
/// window. Each is asked for by id: the deleted ones are deleted in Zoho, the one far ahead stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_deleted_while_the_graph_delta_token_expired_reach_zoho_and_one_outside_the_window_stays()
-> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys
        .provision_user("calendar-gap@example.jp", NO_POLLS)
        .await?;
    sys.put_settings(
        &user,
        json!({
            "contact_folder_id": user.contact_folder_id,
            "contacts": {"enabled": false},
            "tasks": {"enabled": false},
            "events": {"enabled": true, "direction": "two_way"},
            "calendar_categories": {"mode": "all"},
            "conflict_rule": "zoho_wins",
            "poll_interval_secs": NO_POLLS,
        }),
    )
    .await?;
    let day = |offset: i64| (chrono::Utc::now() + chrono::Duration::days(offset)).date_naive();
    for (n, subject) in ["Kickoff", "Review", "Retro"].iter().enumerate() {
        let date = day(10 + n as i64);
        sys.graph_call(
            &user,
            Method::POST,
            "/me/events",
            Some(json!({
                "subject": subject,
                "start": {"dateTime": format!("{date}T09:00:00"), "timeZone": "UTC"},
                "end": {"dateTime": format!("{date}T10:00:00"), "timeZone": "UTC"},
            })),
        )
        .await?;
    }
    // Three years ahead: outside every window the connector reads.
    let far = day(3 * 365);
    sys.zoho_call(
        &user,
        Method::POST,
        "/Events",
        Some(json!({"data": [{
            "Event_Title": "Jubiläum",
            "Start_DateTime": format!("{far}T09:00:00+00:00"),
            "End_DateTime": format!("{far}T10:00:00+00:00"),
        }]})),
    )
    .await?;
    let all: BTreeSet<String> = ["Kickoff", "Review", "Retro", "Jubiläum"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    wait_for("the four events on both sides", TIMEOUT, || async {
        sys.poll_side(&user, "outlook").await?;
        sys.poll_side(&user, "zoho").await?;
        let (outlook, zoho) = event_subjects(&sys, &user).await?;
        Ok((outlook == all && zoho == all).then_some(()))
    })
    .await?;

    // Two events are deleted in Outlook; the delta token expires before the next poll.
    for event in sys.outlook_events(&user).await? {
        if matches!(event["subject"].as_str(), Some("Kickoff" | "Review")) {
            let id = event["id"].as_str().expect("an id");
            sys.graph_call(&user, Method::DELETE, &format!("/me/events/{id}"), None)
                .await?;
        }
    }
    expire_delta_tokens(&sys, &user).await?;
    let kept: BTreeSet<String> = ["Retro", "Jubiläum"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    wait_for("the deleted events gone in Zoho", TIMEOUT, || async {
        // A round to re-read the window, then rounds to let the staged deletes through.
        sys.poll_side(&user, "outlook").await?;
        let (outlook, zoho) = event_subjects(&sys, &user).await?;
        Ok((zoho == kept).then_some(outlook))
    })
    .await?;
    // The event outside the window was never taken for deleted, on either side.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sys.poll_side(&user, "outlook").await?;
    let (outlook, zoho) = event_subjects(&sys, &user).await?;
    assert_eq!(outlook, kept);
    assert_eq!(zoho, kept);
    sys.stop().await;
    Ok(())
}
