//! A change that keeps failing for one user (decisions #58): it is retried with backoff, then
//! the user is blocked, shown in their status and the admin API with the reason, while another
//! user's changes keep syncing; an admin's retry, once the cause is gone, syncs the held changes.
//! The failure is a real one of Postgres: a trigger refusing every write of the user's links.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(60);

async fn create_in_outlook(sys: &System, user: &TestUser, email: &str) -> anyhow::Result<()> {
    let token = sys.graph_token(user).await?;
    let answer = sys
        .http
        .post(format!(
            "{}/graph/v1.0/me/contactFolders/{}/contacts",
            sys.sandbox_url, user.contact_folder_id
        ))
        .bearer_auth(token)
        .json(&json!({
            "givenName": "Poison",
            "surname": email,
            "emailAddresses": [{"address": email}],
        }))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "Graph answered {}",
        answer.status()
    );
    Ok(())
}

async fn in_zoho(sys: &System, user: &TestUser, email: &str) -> anyhow::Result<bool> {
    Ok(sys
        .zoho_contacts(user)
        .await?
        .iter()
        .any(|r| r["Email"].as_str() == Some(email)))
}

async fn status(sys: &System, user: &TestUser) -> anyhow::Result<Value> {
    sys.get(format!(
        "{}/internal/v1/users/{}/status",
        sys.sync_url, user.user_id
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_change_blocks_only_its_user_until_an_admin_retries_it() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let alice = sys.provision_user("alice.poison@example.jp", 1).await?;
    let bob = sys.provision_user("bob.poison@example.jp", 1).await?;

    // Every write of Alice's links fails in the database.
    sys.execute_sql(&format!(
        "CREATE FUNCTION sync.poison() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'links of this user refused by the test'; END $$;
         CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON sync.links FOR EACH ROW
             WHEN (NEW.user_id = '{}') EXECUTE FUNCTION sync.poison();",
        alice.user_id
    ))
    .await?;
    create_in_outlook(&sys, &alice, "alice.first@example.jp").await?;
    create_in_outlook(&sys, &bob, "bob.first@example.jp").await?;

    // Alice's change is retried, then she is blocked, with the reason.
    let held = wait_for("Alice to be blocked", TIMEOUT, || async {
        let held = status(&sys, &alice).await?["held"].clone();
        Ok((held["state"] == "blocked").then_some(held))
    })
    .await?;
    assert!(
        held["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused by the test")),
        "{held}"
    );
    assert_eq!(held["attempts"], 3, "three attempts in all: {held}");
    // Bob was never held; his contact arrived, and so does one made while Alice is blocked.
    assert!(in_zoho(&sys, &bob, "bob.first@example.jp").await?);
    create_in_outlook(&sys, &bob, "bob.second@example.jp").await?;
    wait_for("Bob's second contact in Zoho", TIMEOUT, || async {
        Ok(in_zoho(&sys, &bob, "bob.second@example.jp")
            .await?
            .then_some(()))
    })
    .await?;
    assert!(status(&sys, &bob).await?["held"].is_null());
    assert!(!in_zoho(&sys, &alice, "alice.first@example.jp").await?);
    // Her later changes wait behind the failed one instead of overtaking it.
    create_in_outlook(&sys, &alice, "alice.second@example.jp").await?;

    // The admin API lists her; a user cannot see it.
    let admin = sys.admin_token().await?;
    let (code, users) = sys
        .call_as(
            &admin,
            Method::GET,
            format!("{}/v1/admin/held-users", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(code, 200, "{users}");
    let listed = users
        .as_array()
        .and_then(|u| u.iter().find(|u| u["user_id"] == alice.user_id.as_str()))
        .cloned()
        .expect("Alice is listed");
    assert_eq!(listed["state"], "blocked");
    let user_token = sys
        .sign_in("bob.poison@example.jp", system_tests::USER_PASSWORD)
        .await?;
    let (code, _) = sys
        .call_as(
            &user_token,
            Method::GET,
            format!("{}/v1/admin/held-users", sys.sync_url),
            None,
        )
        .await?;
    assert_eq!(code, 403);

    // The cause is fixed; the admin retries: both of her contacts arrive, and she is free.
    sys.execute_sql("DROP TRIGGER poison ON sync.links").await?;
    let unblock = format!("{}/v1/admin/users/{}/unblock", sys.sync_url, alice.user_id);
    let (code, body) = sys
        .call_as(
            &admin,
            Method::POST,
            unblock.clone(),
            Some(json!({"action": "retry"})),
        )
        .await?;
    assert_eq!(code, 200, "{body}");
    wait_for("Alice's contacts in Zoho", TIMEOUT, || async {
        let first = in_zoho(&sys, &alice, "alice.first@example.jp").await?;
        let second = in_zoho(&sys, &alice, "alice.second@example.jp").await?;
        let free = status(&sys, &alice).await?["held"].is_null();
        Ok((first && second && free).then_some(()))
    })
    .await?;
    let (code, _) = sys
        .call_as(
            &admin,
            Method::POST,
            unblock,
            Some(json!({"action": "retry"})),
        )
        .await?;
    assert_eq!(code, 404, "no longer blocked");
    sys.stop().await;
    Ok(())
}
