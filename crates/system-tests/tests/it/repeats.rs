//! The first sync of two filled accounts while both providers carry out writes and then lose
//! the answers (the connection drops after the provider did the work). Each lost create is
//! tried again and finds its first copy by the link's identity on the provider's side: every
//! contact arrives exactly once.

use std::time::Duration;

use serde_json::json;
use system_tests::spawn_system;
use test_support::wait_for;

use crate::faults::converged;

const TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_whose_answers_are_lost_are_repeated_without_a_duplicate() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    // 40 contacts on each side, none on both: 80 in all, 40 created on each side.
    let (user, _) = sys
        .provision_seeded_user_with_tokens("verloren@example.de", 1, 40, 0.0)
        .await?;
    let sandbox = sys.sandbox_url.clone();
    sys.put(
        format!(
            "{sandbox}/_sandbox/graph/mailboxes/{}/faults",
            user.mailbox_id
        ),
        json!({"share_drop": 0.5, "seed": 31, "max_faults": 6, "operations": ["POST /$batch"]}),
    )
    .await?;
    sys.put(
        format!("{sandbox}/_sandbox/zoho/orgs/{}/faults", user.org_id),
        json!({"share_drop": 0.5, "seed": 32, "max_faults": 6,
               "operations": ["POST /Contacts*"]}),
    )
    .await?;

    wait_for("both sides to hold all 80 contacts once", TIMEOUT, || {
        converged(&sys, &user, 80)
    })
    .await?;
    let stats = sys.get(format!("{sandbox}/_sandbox/stats")).await?;
    let dropped = |faults: &serde_json::Value| faults["drop"].as_u64().unwrap_or_default();
    assert!(
        dropped(&stats["graph"]["mailboxes"][&user.mailbox_id]["faults"]) > 0,
        "Graph lost answers: {stats}"
    );
    assert!(
        dropped(&stats["zoho"]["orgs"][&user.org_id]["faults"]) > 0,
        "Zoho lost answers: {stats}"
    );
    // Quiet for a while: nothing more appears on either side later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(converged(&sys, &user, 80).await?.is_some(), "still once");
    Ok(())
}
