//! The whole system with the providers misbehaving: throttling storms, 5xx, dropped connections
//! and garbled bodies on reads, every access token expiring at once; then a connection that
//! needs reconnecting. Every contact still arrives exactly once on the other side, the status
//! shows what happened, and nothing is deleted because of it.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(90);

fn emails_of_graph(contact: &Value) -> Vec<String> {
    contact["emailAddresses"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| e["address"].as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// Both sides hold every contact once: the same set of primary addresses, no duplicates.
pub(crate) async fn converged(
    sys: &System,
    user: &TestUser,
    expected: usize,
) -> anyhow::Result<Option<()>> {
    let outlook = sys.outlook_contacts(user).await?;
    let zoho = sys.zoho_contacts(user).await?;
    let o: BTreeSet<String> = outlook
        .iter()
        .filter_map(|c| emails_of_graph(c).into_iter().next())
        .collect();
    let z: BTreeSet<String> = zoho
        .iter()
        .filter_map(|r| r["Email"].as_str().map(str::to_lowercase))
        .collect();
    if std::env::var("TEST_LOG").is_ok() {
        eprintln!(
            "outlook {} ({} addresses), zoho {} ({}), common {}",
            outlook.len(),
            o.len(),
            zoho.len(),
            z.len(),
            o.intersection(&z).count()
        );
    }
    Ok((outlook.len() == expected && zoho.len() == expected && o == z).then_some(()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_converge_exactly_once_through_faults_token_expiry_and_a_reconnect()
-> anyhow::Result<()> {
    let sys = spawn_system().await?;
    // 40 seeded contacts per side, nobody on both (3 namesakes at one company, each with an
    // address of their own, are different people): 80 in all.
    let (user, tokens) = sys
        .provision_seeded_user_with_tokens("stoerung@example.de", 1, 40, 0.0)
        .await?;
    let sandbox = sys.sandbox_url.clone();
    // Throttling and 5xx on every call (the provider did nothing: safe to retry, writes
    // included); dropped connections and garbled bodies on reads.
    let writes_safe = json!({
        "share_429": 0.2, "share_500": 0.05, "share_503": 0.1,
        "retry_after_seconds": 0.05, "seed": 21,
    });
    sys.put(
        format!(
            "{sandbox}/_sandbox/graph/mailboxes/{}/faults",
            user.mailbox_id
        ),
        writes_safe.clone(),
    )
    .await?;
    sys.put(
        format!("{sandbox}/_sandbox/faults"),
        json!({
            "share_drop": 0.05, "share_malformed": 0.05, "seed": 22,
            "operations": ["GET *"],
        }),
    )
    .await?;
    let mut zoho_faults = writes_safe;
    zoho_faults["seed"] = json!(23);
    sys.put(
        format!("{sandbox}/_sandbox/zoho/orgs/{}/faults", user.org_id),
        zoho_faults,
    )
    .await?;

    // Half-way, every access token expires: each connector gets a 401 and refreshes once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    sys.post(
        format!("{sandbox}/_sandbox/expire-access-tokens"),
        json!({}),
    )
    .await?;

    wait_for("both sides to hold all 80 contacts once", TIMEOUT, || {
        converged(&sys, &user, 80)
    })
    .await?;
    let stats = sys.get(format!("{sandbox}/_sandbox/stats")).await?;
    let graph_faults = &stats["graph"]["mailboxes"][&user.mailbox_id]["faults"];
    let zoho_faults = &stats["zoho"]["orgs"][&user.org_id]["faults"];
    assert!(
        graph_faults["429"].as_u64().unwrap_or_default() > 0,
        "{stats}"
    );
    assert!(
        zoho_faults["429"].as_u64().unwrap_or_default() > 0,
        "{stats}"
    );
    // Retries are visible in the connectors' metrics.
    let metrics = sys
        .http
        .get(format!("{}/metrics", sys.outlook_url))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("connector_api_retries_total"), "{metrics}");
    assert!(metrics.contains("connector_api_calls_total"), "{metrics}");

    // Faults off; the Zoho connection breaks (its refresh token is no longer accepted).
    sys.http
        .delete(format!("{sandbox}/_sandbox/faults"))
        .send()
        .await?;
    sys.put(
        format!(
            "{}/internal/v1/users/{}/connections/zoho",
            sys.auth_url, user.user_id
        ),
        json!({"refresh_token": "revoked-refresh-token", "data_centre": "jp"}),
    )
    .await?;
    sys.post(
        format!(
            "{sandbox}/_sandbox/zoho/orgs/{}/expire-access-tokens",
            user.org_id
        ),
        json!({}),
    )
    .await?;
    let held = wait_for(
        "the Zoho watches to show the reconnect",
        TIMEOUT,
        || async {
            let watches = sys.watches(&user, "zoho").await?;
            Ok(watches
                .iter()
                .all(|w| w["state"] == "reconnect_needed")
                .then_some(watches))
        },
    )
    .await?;
    assert!(
        held.iter().all(|w| w["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("reconnect"))),
        "{held:?}"
    );
    // Outlook goes on; nothing was deleted anywhere because Zoho could not be read.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sys.outlook_contacts(&user).await?.len(), 80);
    assert_eq!(sys.zoho_contacts(&user).await?.len(), 80);
    let outlook_watches = sys.watches(&user, "outlook").await?;
    assert!(
        outlook_watches.iter().all(|w| w["state"] == "ok"),
        "{outlook_watches:?}"
    );

    // The user reconnects: with a sync-now the Zoho side polls again at once.
    sys.put(
        format!(
            "{}/internal/v1/users/{}/connections/zoho",
            sys.auth_url, user.user_id
        ),
        json!({"refresh_token": tokens.zoho, "data_centre": "jp"}),
    )
    .await?;
    sys.poll_side(&user, "zoho").await?;
    wait_for("the Zoho watches to recover", TIMEOUT, || async {
        let watches = sys.watches(&user, "zoho").await?;
        Ok(watches.iter().all(|w| w["state"] == "ok").then_some(()))
    })
    .await?;
    sys.zoho_call(
        &user,
        Method::POST,
        "/Contacts",
        Some(json!({"data": [{"Last_Name": "Nachher", "Email": "nachher@example.de"}]})),
    )
    .await?;
    wait_for("the new Zoho contact in Outlook", TIMEOUT, || {
        converged(&sys, &user, 81)
    })
    .await?;
    sys.stop().await;
    Ok(())
}
