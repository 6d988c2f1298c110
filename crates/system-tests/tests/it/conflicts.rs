//! Conflicts end to end: the same field edited on both sides, and a delete against an edit, are
//! decided by the user's rule, on both sides, and logged.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{System, TestUser, USER_PASSWORD, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(45);
/// Polls happen only when a test asks for them.
const MANUAL: u32 = 3600;

async fn linked_contact(
    sys: &System,
    email: &str,
    rule: &str,
) -> anyhow::Result<(TestUser, String, String)> {
    let user = sys.provision_user(email, MANUAL).await?;
    sys.set_conflict_rule(&user, rule, MANUAL).await?;
    let token = sys.graph_token(&user).await?;
    let created: Value = sys
        .http
        .post(format!(
            "{}/graph/v1.0/me/contactFolders/{}/contacts",
            sys.sandbox_url, user.contact_folder_id
        ))
        .bearer_auth(&token)
        .json(
            &json!({"givenName": "Hanako", "surname": "Suzuki", "jobTitle": "Buyer",
            "emailAddresses": [{"address": format!("hanako.{rule}@example.jp")}]}),
        )
        .send()
        .await?
        .json()
        .await?;
    let outlook_id = created["id"].as_str().expect("an id").to_owned();
    let zoho_id = wait_for("the contact in Zoho", TIMEOUT, || async {
        sys.sync_now(&user).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let records = sys.zoho_contacts(&user).await?;
        Ok(records
            .first()
            .and_then(|r| r["id"].as_str().map(str::to_owned)))
    })
    .await?;
    // Zoho's versions have one-second resolution: let the next edits be in a later second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    Ok((user, outlook_id, zoho_id))
}

async fn edit_outlook(sys: &System, user: &TestUser, id: &str, body: Value) -> anyhow::Result<()> {
    let token = sys.graph_token(user).await?;
    let answer = sys
        .http
        .patch(format!("{}/graph/v1.0/me/contacts/{id}", sys.sandbox_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "Graph answered {}",
        answer.status()
    );
    Ok(())
}

async fn edit_zoho(sys: &System, user: &TestUser, id: &str, fields: Value) -> anyhow::Result<()> {
    let (token, api_domain) = sys.zoho_token(user).await?;
    let mut record = fields;
    record["id"] = json!(id);
    let answer = sys
        .http
        .put(format!("{api_domain}/crm/v8/Contacts"))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .json(&json!({"data": [record]}))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "Zoho answered {}",
        answer.status()
    );
    Ok(())
}

pub(crate) async fn conflict_log(sys: &System, email: &str) -> anyhow::Result<Vec<Value>> {
    let token = sys.sign_in(email, USER_PASSWORD).await?;
    let (status, page) = sys
        .call_as(
            &token,
            Method::GET,
            format!("{}/v1/conflicts", sys.sync_url),
            None,
        )
        .await?;
    anyhow::ensure!(status == 200, "conflicts answered {status}");
    Ok(page["entries"].as_array().cloned().unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_field_edited_on_both_sides_is_decided_by_the_rule() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    for (rule, winner) in [
        ("zoho_wins", "Zoho title"),
        ("outlook_wins", "Outlook title"),
    ] {
        let email = format!("{rule}@example.jp");
        let (user, outlook_id, zoho_id) = linked_contact(&sys, &email, rule).await?;
        edit_outlook(
            &sys,
            &user,
            &outlook_id,
            json!({"jobTitle": "Outlook title", "department": "Sales"}),
        )
        .await?;
        edit_zoho(
            &sys,
            &user,
            &zoho_id,
            json!({"Title": "Zoho title", "Mobile": "+81 90-5555-0000"}),
        )
        .await?;
        sys.sync_now(&user).await?;

        let agreed = wait_for(
            "both sides to agree on the rule's value",
            TIMEOUT,
            || async {
                let outlook = sys.outlook_contacts(&user).await?;
                let zoho = sys.zoho_contacts(&user).await?;
                let agreed = outlook.len() == 1
                && zoho.len() == 1
                && outlook[0]["jobTitle"] == winner
                && zoho[0]["Title"] == winner
                // The fields edited on one side only are merged, whatever the rule.
                && outlook[0]["department"] == "Sales"
                && zoho[0]["Department"] == "Sales"
                && outlook[0]["mobilePhone"] == "+81 90-5555-0000";
                if !agreed {
                    sys.sync_now(&user).await?;
                }
                Ok(agreed.then_some(()))
            },
        )
        .await;
        if agreed.is_err() {
            eprintln!(
                "OUTLOOK {:#}",
                serde_json::Value::Array(sys.outlook_contacts(&user).await?)
            );
            eprintln!(
                "ZOHO {:#}",
                serde_json::Value::Array(sys.zoho_contacts(&user).await?)
            );
            eprintln!("LOG {:#?}", conflict_log(&sys, &email).await?);
        }
        agreed?;

        let log = conflict_log(&sys, &email).await?;
        let entry = log
            .iter()
            .find(|e| e["field"] == "job_title")
            .expect("the conflict is logged");
        assert_eq!(entry["base"], "Buyer");
        assert_eq!(entry["outlook"], "Outlook title");
        assert_eq!(entry["zoho"], "Zoho title");
        assert_eq!(
            entry["winner"],
            if rule == "zoho_wins" {
                "zoho"
            } else {
                "outlook"
            }
        );
        assert_eq!(entry["status"], "decided");
    }
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_against_an_edit_is_decided_by_the_rule() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    // The side polled first decides which path the engine takes: the edit read before the
    // delete's round ends, or the delete sent first and refused as stale by the edited side.
    for (rule, first) in [
        ("zoho_wins", "zoho"),
        ("outlook_wins", "zoho"),
        ("zoho_wins", "outlook"),
    ] {
        let email = format!("delete-{rule}-{first}@example.jp");
        let (user, outlook_id, zoho_id) = linked_contact(&sys, &email, rule).await?;
        // Deleted in Outlook, edited in Zoho, before either side is polled again.
        let token = sys.graph_token(&user).await?;
        let answer = sys
            .http
            .delete(format!(
                "{}/graph/v1.0/me/contacts/{outlook_id}",
                sys.sandbox_url
            ))
            .bearer_auth(token)
            .send()
            .await?;
        assert_eq!(answer.status(), 204);
        edit_zoho(&sys, &user, &zoho_id, json!({"Title": "Head buyer"})).await?;
        let second = if first == "zoho" { "outlook" } else { "zoho" };
        sys.poll_side(&user, first).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        sys.poll_side(&user, second).await?;

        if rule == "zoho_wins" {
            // The edit wins: the contact comes back in Outlook, with the edit.
            let back = wait_for("the contact back in Outlook", TIMEOUT, || async {
                let outlook = sys.outlook_contacts(&user).await?;
                Ok(outlook.into_iter().find(|c| c["jobTitle"] == "Head buyer"))
            })
            .await?;
            assert_ne!(back["id"], outlook_id.as_str(), "a new Outlook contact");
            assert_eq!(sys.zoho_contacts(&user).await?.len(), 1);
        } else {
            // The delete wins: gone on both sides.
            wait_for("the delete in Zoho", TIMEOUT, || async {
                Ok(sys.zoho_contacts(&user).await?.is_empty().then_some(()))
            })
            .await?;
            assert!(sys.outlook_contacts(&user).await?.is_empty());
        }
        let log = conflict_log(&sys, &email).await?;
        assert!(
            log.iter().any(|e| e["field"] == "(deleted)"),
            "the delete-versus-edit conflict is logged: {log:?}"
        );
    }
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_mode_holds_a_conflict_until_the_user_picks() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let email = "review@example.jp";
    let (user, outlook_id, zoho_id) = linked_contact(&sys, email, "review").await?;
    edit_outlook(
        &sys,
        &user,
        &outlook_id,
        json!({"jobTitle": "Outlook title"}),
    )
    .await?;
    edit_zoho(&sys, &user, &zoho_id, json!({"Title": "Zoho title"})).await?;
    sys.sync_now(&user).await?;

    let token = sys.sign_in(email, USER_PASSWORD).await?;
    let held = wait_for("the conflict to be held", TIMEOUT, || async {
        let (_, page) = sys
            .call_as(
                &token,
                Method::GET,
                format!("{}/v1/conflicts?status=held", sys.sync_url),
                None,
            )
            .await?;
        Ok(page["entries"].as_array().and_then(|e| e.first().cloned()))
    })
    .await?;
    assert_eq!(held["field"], "job_title");
    assert!(held["winner"].is_null());
    assert!(held["delete_waits_on"].is_null(), "no delete waits");
    // Held: neither side is overwritten meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sys.outlook_contacts(&user).await?[0]["jobTitle"],
        "Outlook title"
    );
    assert_eq!(sys.zoho_contacts(&user).await?[0]["Title"], "Zoho title");

    let link = held["link_id"].as_str().expect("a link id");
    let (status, body) = sys
        .call_as(
            &token,
            Method::POST,
            format!("{}/v1/conflicts/{link}/resolve", sys.sync_url),
            Some(json!({"keep": "outlook"})),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    wait_for("the user's choice on both sides", TIMEOUT, || async {
        let zoho = sys.zoho_contacts(&user).await?;
        Ok((zoho[0]["Title"] == "Outlook title").then_some(()))
    })
    .await?;
    let (_, page) = sys
        .call_as(
            &token,
            Method::GET,
            format!("{}/v1/conflicts?status=resolved", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(page["entries"][0]["winner"], "outlook");

    // Resolving again is refused with a clear error.
    let (status, body) = sys
        .call_as(
            &token,
            Method::POST,
            format!("{}/v1/conflicts/{link}/resolve", sys.sync_url),
            Some(json!({"keep": "zoho"})),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "conflict");
    sys.stop().await;
    Ok(())
}

/// Decision 110: in review mode, a conflict held on a contact whose delete an admin holds (the
/// mass-delete guard) is the user's to resolve meanwhile (it answered 409); nothing is written
/// while the delete waits, and once the admin discards it the contact comes back with the
/// values the user chose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_held_while_an_admin_holds_the_delete_is_resolved_meanwhile()
-> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let email = "geduld@example.jp";
    let user = sys.provision_user(email, MANUAL).await?;
    sys.set_conflict_rule(&user, "review", MANUAL).await?;
    let mut outlook_ids = Vec::new();
    for i in 0..6 {
        let created = sys
            .graph_call(
                &user,
                Method::POST,
                &format!("/me/contactFolders/{}/contacts", user.contact_folder_id),
                Some(
                    json!({"givenName": format!("Person{i}"), "surname": "Geduld",
                    "jobTitle": "Buyer",
                    "emailAddresses": [{"address": format!("person{i}@geduld.example")}]}),
                ),
            )
            .await?;
        outlook_ids.push(created["id"].as_str().expect("an id").to_owned());
    }
    let zoho = wait_for("the contacts in Zoho", TIMEOUT, || async {
        sys.sync_now(&user).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let records = sys.zoho_contacts(&user).await?;
        Ok((records.len() == 6).then_some(records))
    })
    .await?;
    let zoho_id = zoho
        .iter()
        .find(|r| r["Email"] == "person0@geduld.example")
        .and_then(|r| r["id"].as_str())
        .expect("Person0 in Zoho")
        .to_owned();
    // Zoho's versions have one-second resolution: let the next edits be in a later second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    edit_outlook(
        &sys,
        &user,
        &outlook_ids[0],
        json!({"jobTitle": "Outlook title"}),
    )
    .await?;
    edit_zoho(&sys, &user, &zoho_id, json!({"Title": "Zoho title"})).await?;
    let token = sys.sign_in(email, USER_PASSWORD).await?;
    let held = || async {
        let (status, page) = sys
            .call_as(
                &token,
                Method::GET,
                format!("{}/v1/conflicts?status=held", sys.sync_url),
                None,
            )
            .await?;
        anyhow::ensure!(status == 200, "conflicts answered {status}");
        Ok(page["entries"].as_array().cloned().unwrap_or_default())
    };
    let link = wait_for("the conflict to be held", TIMEOUT, || async {
        sys.sync_now(&user).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(held()
            .await?
            .first()
            .and_then(|e| e["link_id"].as_str().map(str::to_owned)))
    })
    .await?;

    // Five of the six deleted in Outlook in one round (not split by a poll asked for above),
    // Person0 among them: held for an admin.
    let ids: Vec<&str> = outlook_ids[..5].iter().map(String::as_str).collect();
    sys.delete_outlook_contacts_in_one_round(&user, &ids)
        .await?;
    let admin = sys.admin_token().await?;
    let held_deletions = || sys.held_deletions(&admin);
    wait_for("the deletions to be held", TIMEOUT, || async {
        sys.sync_now(&user).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok((held_deletions().await?.len() == 5).then_some(()))
    })
    .await?;
    let entries = held().await?;
    assert_eq!(entries.len(), 1, "the conflict is still the user's");
    assert_eq!(entries[0]["delete_waits_on"], "outlook", "{entries:?}");

    let (status, body) = sys
        .call_as(
            &token,
            Method::POST,
            format!("{}/v1/conflicts/{link}/resolve", sys.sync_url),
            Some(json!({"keep": "zoho"})),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert!(held().await?.is_empty());
    sys.sync_now(&user).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sys.zoho_contacts(&user).await?.len(), 6, "nothing deleted");
    assert_eq!(sys.outlook_contacts(&user).await?.len(), 1);
    assert_eq!(
        held_deletions().await?.len(),
        5,
        "the delete is the admin's"
    );

    let (status, body) = sys
        .call_as(
            &admin,
            Method::POST,
            format!("{}/v1/admin/held-deletions/{link}/discard", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let back = wait_for("Person0 back in Outlook", TIMEOUT, || async {
        sys.sync_now(&user).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(sys
            .outlook_contacts(&user)
            .await?
            .into_iter()
            .find(|c| c["givenName"] == "Person0"))
    })
    .await?;
    assert_eq!(
        back["jobTitle"], "Zoho title",
        "with the value the user chose"
    );
    sys.stop().await;
    Ok(())
}

async fn dead_letters(sys: &System, admin: &str) -> anyhow::Result<Value> {
    let (status, body) = sys
        .call_as(
            admin,
            Method::GET,
            format!("{}/v1/admin/dead-letters", sys.sync_url),
            None,
        )
        .await?;
    anyhow::ensure!(status == 200, "dead-letters answered {status}: {body}");
    Ok(body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_reach_the_admin_dead_letter_list_and_can_be_replayed() -> anyhow::Result<()>
{
    let sys = spawn_system().await?;
    sys.publish_raw_change("outlook.contact.changed", b"{not json")
        .await?;
    let admin = sys.admin_token().await?;
    let letters = wait_for("the dead letter", TIMEOUT, || async {
        let body = dead_letters(&sys, &admin).await?;
        Ok(body.as_array().filter(|l| !l.is_empty()).cloned())
    })
    .await?;
    assert_eq!(letters[0]["routing_key"], "outlook.contact.changed");
    assert_eq!(letters[0]["payload"], "{not json");
    let id = letters[0]["id"].as_i64().expect("an id");
    // An unreadable message cannot be replayed: a clear refusal, and it stays listed.
    let (status, body) = sys
        .call_as(
            &admin,
            Method::POST,
            format!("{}/v1/admin/dead-letters/{id}/replay", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    let body = dead_letters(&sys, &admin).await?;
    assert_eq!(body.as_array().map(Vec::len), Some(1));

    // A readable message of a schema this version does not know is dead-lettered too; a replay
    // publishes it again to where it went (here it is refused again and comes back), without
    // the poll claim it carried (decisions #112: the admin wants it decided now, after the
    // rounds that came since).
    let future = json!({"schema_version": 99, "message_id": uuid::Uuid::new_v4(), "user_id": uuid::Uuid::new_v4(),
        "occurred_at": "2026-11-26T00:00:00Z", "claim": 1_700_000_000_000_000i64,
        "body": {"type": "item_deleted", "side": "zoho", "kind": "contact", "external_id": "1", "left_scope": false}});
    let future = serde_json::to_vec(&future)?;
    sys.publish_raw_change("zoho.contact.deleted", &future)
        .await?;
    let letter = wait_for("the second dead letter", TIMEOUT, || async {
        let body = dead_letters(&sys, &admin).await?;
        Ok(body.as_array().and_then(|l| {
            l.iter()
                .find(|d| d["routing_key"] == "zoho.contact.deleted")
                .cloned()
        }))
    })
    .await?;
    let first_id = letter["id"].as_i64().expect("an id");
    let (status, body) = sys
        .call_as(
            &admin,
            Method::POST,
            format!("{}/v1/admin/dead-letters/{first_id}/replay", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let replayed = wait_for("the replayed message to come back", TIMEOUT, || async {
        let body = dead_letters(&sys, &admin).await?;
        Ok(body.as_array().and_then(|l| {
            l.iter()
                .find(|d| {
                    d["routing_key"] == "zoho.contact.deleted" && d["id"].as_i64() != Some(first_id)
                })
                .cloned()
        }))
    })
    .await?;
    let first: serde_json::Value =
        serde_json::from_str(letter["payload"].as_str().expect("the payload as text"))?;
    let again: serde_json::Value =
        serde_json::from_str(replayed["payload"].as_str().expect("the payload as text"))?;
    assert!(first.get("claim").is_some(), "{first}");
    assert_eq!(again.get("claim"), None, "{again}");
    assert_eq!(again["message_id"], first["message_id"]);
    sys.stop().await;
    Ok(())
}
