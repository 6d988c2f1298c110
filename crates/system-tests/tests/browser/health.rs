//! The status tells the truth when a side stops: Zoho throttled (until a time), Outlook failing,
//! Zoho needing a reconnect: each side and kind on its own, a banner saying that nothing (or
//! not everything) syncs and what to do, and the Accounts page drawn at once while Zoho is slow.

use std::time::Duration;

use serde_json::json;
use system_tests::USER_PASSWORD;

use crate::support::{Session, browser_available};

const EMAIL: &str = "kenji@example.com";
/// Long enough that the throttling is still on while the test looks.
const RETRY_AFTER_SECS: u32 = 900;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_says_which_side_stopped_until_when_and_what_to_do() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("en-US").await?;
    let user = s.system.provision_seeded_user(EMAIL, 2, 4, 0.5).await?;
    let sandbox = s.system.sandbox_url.clone();

    s.open("").await?;
    s.sign_in(EMAIL, USER_PASSWORD, false).await?;
    s.browser
        .wait_for_text_within("#state-contact-zoho", "Connected", Duration::from_secs(60))
        .await?;
    s.browser
        .wait_for_text("#state-contact-outlook", "Connected")
        .await?;
    s.browser.find("#first-sync-done-contact").await?;
    assert!(!s.browser.visible("#not-syncing").await?);

    // Zoho answers 429 with a long Retry-After: throttled until a time, Outlook still fine.
    s.system
        .put(
            format!("{sandbox}/_sandbox/zoho/orgs/{}/faults", user.org_id),
            json!({"share_429": 1.0, "retry_after_seconds": RETRY_AFTER_SECS}),
        )
        .await?;
    s.system.sync_now(&user).await?;
    let zoho = s
        .browser
        .wait_for_text_within(
            "#state-contact-zoho",
            "Slowed down by the provider until",
            Duration::from_secs(60),
        )
        .await?;
    assert!(zoho.chars().any(|c| c.is_ascii_digit()), "a time: {zoho}");
    assert_eq!(
        s.browser.text("#state-contact-outlook").await?,
        "Connected",
        "the other side keeps its own state"
    );
    let banner = s
        .browser
        .wait_for_text("#not-syncing", "Zoho CRM asked us to slow down")
        .await?;
    assert!(banner.contains("syncing resumes at"), "{banner}");
    assert!(banner.contains("Nothing to do"), "{banner}");
    s.shot_both("12-status-throttled").await?;

    // The Accounts page draws both cards at once and fills in what Zoho says when it can.
    s.browser.click("#nav-connections").await?;
    s.browser.wait_for_text("#zoho-status", "Connected").await?;
    s.browser.find("#outlook-card").await?;
    s.browser
        .wait_for_text("#outlook-account", "kenji@example.com")
        .await?;
    s.browser
        .wait_for_text("#zoho-health", "Slowed down by the provider until")
        .await?;
    s.browser
        .wait_for_text(
            "#zoho-no-app-password",
            "no longer uses application-specific passwords",
        )
        .await?;
    s.shot_both("05-accounts-throttled").await?;

    // Zoho recovers; Outlook answers 503 to everything: Outlook is the failing side now.
    s.system
        .http
        .delete(format!(
            "{sandbox}/_sandbox/zoho/orgs/{}/faults",
            user.org_id
        ))
        .send()
        .await?;
    s.system
        .put(
            format!(
                "{sandbox}/_sandbox/graph/mailboxes/{}/faults",
                user.mailbox_id
            ),
            json!({"share_503": 1.0, "retry_after_seconds": 1}),
        )
        .await?;
    // The throttled watch waits for its Retry-After: poll it now.
    s.system.poll_side(&user, "zoho").await?;
    s.system.poll_side(&user, "outlook").await?;
    s.browser.click("#nav-status").await?;
    s.browser
        .wait_for_text_within(
            "#state-contact-outlook",
            "The provider is failing",
            Duration::from_secs(90),
        )
        .await?;
    s.browser
        .wait_for_text_within("#state-contact-zoho", "Connected", Duration::from_secs(60))
        .await?;
    s.browser
        .wait_for_text("#not-syncing", "Outlook is answering with errors")
        .await?;
    s.shot("14-status-provider-failing").await?;

    // Outlook recovers; Zoho refuses our access: a reconnect, with the way to it.
    s.system
        .http
        .delete(format!(
            "{sandbox}/_sandbox/graph/mailboxes/{}/faults",
            user.mailbox_id
        ))
        .send()
        .await?;
    s.system
        .put(
            format!(
                "{}/internal/v1/users/{}/connections/zoho",
                s.system.auth_url, user.user_id
            ),
            json!({"refresh_token": "revoked-refresh-token", "data_centre": "jp"}),
        )
        .await?;
    s.system
        .post(
            format!(
                "{sandbox}/_sandbox/zoho/orgs/{}/expire-access-tokens",
                user.org_id
            ),
            json!({}),
        )
        .await?;
    s.system.poll_side(&user, "zoho").await?;
    s.system.poll_side(&user, "outlook").await?;
    s.browser
        .wait_for_text_within(
            "#state-contact-zoho",
            "Reconnect needed",
            Duration::from_secs(90),
        )
        .await?;
    let banner = s
        .browser
        .wait_for_text("#not-syncing", "Nothing is syncing")
        .await?;
    assert!(
        banner.contains("Zoho CRM refuses our access: reconnect it"),
        "{banner}"
    );
    s.browser
        .wait_for_text_within(
            "#state-contact-outlook",
            "Connected",
            Duration::from_secs(60),
        )
        .await?;
    s.shot_both("15-status-reconnect").await?;
    s.browser.click("#stopped-zoho a").await?;
    s.browser
        .wait_for_text("#zoho-status", "Reconnect needed")
        .await?;
    s.stop().await;
    Ok(())
}
