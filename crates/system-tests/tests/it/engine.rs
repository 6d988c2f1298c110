//! The sync rules end to end: first-sync matching, the mass-delete guard, replicas.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(60);

fn primary_emails_outlook(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|c| {
            c["emailAddresses"][0]["address"]
                .as_str()
                .map(str::to_lowercase)
        })
        .collect()
}

fn primary_emails_zoho(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(|r| r["Email"].as_str().map(str::to_lowercase))
        .collect()
}

/// Waits until both sides hold `expected` contacts and every one is linked.
async fn converged(
    sys: &System,
    user: &TestUser,
    expected: usize,
) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    wait_for("both sides to converge", TIMEOUT, || async {
        let outlook = sys.outlook_contacts(user).await?;
        let zoho = sys.zoho_contacts(user).await?;
        let status = sys
            .get(format!(
                "{}/internal/v1/users/{}/status",
                sys.sync_url, user.user_id
            ))
            .await?;
        let linked = status["kinds"][0]["linked"].as_u64().unwrap_or(0) as usize;
        Ok(
            (outlook.len() == expected && zoho.len() == expected && linked == expected)
                .then_some((outlook, zoho)),
        )
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_sync_of_two_filled_accounts_matches_instead_of_duplicating() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    // 20 contacts on each side, 6 of them the same people on both.
    let user = sys
        .provision_seeded_user("first-sync@example.jp", 1, 20, 0.3)
        .await?;
    let (outlook, zoho) = converged(&sys, &user, 34).await?;

    let o: BTreeSet<String> = primary_emails_outlook(&outlook).into_iter().collect();
    let z: BTreeSet<String> = primary_emails_zoho(&zoho).into_iter().collect();
    assert_eq!(o.len(), 34, "no duplicate in Outlook");
    assert_eq!(z.len(), 34, "no duplicate in Zoho");
    assert_eq!(o, z, "the same people on both sides");

    // It stays that way: more polls change nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sys.outlook_contacts(&user).await?.len(), 34);
    assert_eq!(sys.zoho_contacts(&user).await?.len(), 34);
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mass_delete_guard_holds_a_large_delete_run_for_an_admin() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys
        .provision_seeded_user("guard@example.jp", 1, 10, 0.0)
        .await?;
    let (outlook, _) = converged(&sys, &user, 20).await?;

    // The user deletes 12 of their 20 contacts in Outlook at once (more than 30 %), reported by
    // one poll round.
    let ids: Vec<&str> = outlook
        .iter()
        .take(12)
        .map(|c| c["id"].as_str().expect("an id"))
        .collect();
    sys.delete_outlook_contacts_in_one_round(&user, &ids)
        .await?;

    let admin = sys.admin_token().await?;
    let held = wait_for("the deletions to be held", TIMEOUT, || async {
        let held = sys.held_deletions(&admin).await?;
        Ok((held.len() == 12).then_some(held))
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sys.zoho_contacts(&user).await?.len(),
        20,
        "nothing deleted in Zoho while held"
    );

    // An admin releases one deletion and discards another.
    let released = held[0]["link_id"].as_str().expect("a link id");
    let discarded = held[1]["link_id"].as_str().expect("a link id");
    let (status, _) = sys
        .call_as(
            &admin,
            Method::POST,
            format!(
                "{}/v1/admin/held-deletions/{released}/release",
                sys.sync_url
            ),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    let (status, _) = sys
        .call_as(
            &admin,
            Method::POST,
            format!(
                "{}/v1/admin/held-deletions/{discarded}/discard",
                sys.sync_url
            ),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    wait_for("the released deletion in Zoho", TIMEOUT, || async {
        Ok((sys.zoho_contacts(&user).await?.len() == 19).then_some(()))
    })
    .await?;
    wait_for(
        "the discarded deletion to bring the contact back in Outlook",
        TIMEOUT,
        || async { Ok((sys.outlook_contacts(&user).await?.len() == 9).then_some(())) },
    )
    .await?;

    // A user is not an admin.
    let user_token = sys
        .sign_in("guard@example.jp", system_tests::USER_PASSWORD)
        .await?;
    let (status, _) = sys
        .call_as(
            &user_token,
            Method::GET,
            format!("{}/v1/admin/held-deletions", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 403);
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sync_service_replicas_give_the_same_result_as_one() -> anyhow::Result<()> {
    let mut sys = spawn_system().await?;
    sys.add_sync_replica().await?;
    let user = sys
        .provision_seeded_user("replicas@example.jp", 1, 15, 0.2)
        .await?;
    let (outlook, zoho) = converged(&sys, &user, 27).await?;
    let o: BTreeSet<String> = primary_emails_outlook(&outlook).into_iter().collect();
    let z: BTreeSet<String> = primary_emails_zoho(&zoho).into_iter().collect();
    assert_eq!(o.len(), 27);
    assert_eq!(o, z);
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_api_needs_a_valid_token_and_shows_status_and_settings() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys.provision_user("api@example.jp", 1).await?;
    let token = sys
        .sign_in("api@example.jp", system_tests::USER_PASSWORD)
        .await?;
    let (status, settings) = sys
        .call_as(
            &token,
            Method::GET,
            format!("{}/v1/settings", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        settings["contact_folder_id"],
        user.contact_folder_id.as_str()
    );

    let (status, body) = sys
        .call_as(
            &token,
            Method::PUT,
            format!("{}/v1/settings", sys.sync_url),
            Some(serde_json::json!({
                "contact_folder_id": user.contact_folder_id,
                "contacts": {"enabled": true, "direction": "outlook_to_zoho"},
                "tasks": {"enabled": true},
                "poll_interval_secs": 60,
            })),
        )
        .await?;
    assert_eq!(status, 422, "tasks need a list: {body}");
    assert_eq!(body["field"], "task_list_id");

    let (status, body) = sys
        .call_as(
            &token,
            Method::GET,
            format!("{}/v1/status", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    assert!(
        body["kinds"].as_array().is_some_and(|k| !k.is_empty()),
        "{body}"
    );
    let (status, body) = sys
        .call_as(
            &token,
            Method::GET,
            format!("{}/v1/conflicts?status=held", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(body["entries"], serde_json::json!([]));

    let (status, _) = sys
        .call_as(
            "not-a-token",
            Method::GET,
            format!("{}/v1/settings", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(status, 401);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let (status, _) = sys
        .call_as(
            &forged,
            Method::GET,
            format!("{}/v1/settings", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(
        status, 401,
        "a token whose signature does not verify is refused"
    );
    sys.stop().await;
    Ok(())
}
