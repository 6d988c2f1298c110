//! Zoho's daily API allowance used up (the sandbox refuses an org's calls past its credits for
//! the 24 hours, as Zoho does): the Status page says "allowance used up until" a time, not
//! "slowed down", in English and Japanese; "first sync complete" is no longer said a day after
//! it completed; and the admin console lists every connection's real state (a user out of
//! allowance, a throttled one, connected ones) with the filter offering those states.

use std::time::Duration;

use serde_json::json;
use system_tests::{TestUser, USER_PASSWORD};
use test_support::wait_for;

use crate::support::{Session, browser_available};

const SPENT: &str = "aiko@example.com";
const THROTTLED: &str = "daichi@example.com";
const ADMIN: &str = "admin@example.com";
const TIMEOUT: Duration = Duration::from_secs(90);

/// Spends the org's Zoho credits for the 24 hours: its next call is refused for about a day.
async fn spend_allowance(s: &Session, user: &TestUser) -> anyhow::Result<()> {
    s.system
        .put(
            format!(
                "{}/_sandbox/zoho/orgs/{}/credits",
                s.system.sandbox_url, user.org_id
            ),
            json!({"budget": 200, "used": 200}),
        )
        .await?;
    s.system.poll_side(user, "zoho").await
}

/// The first sync's news as sync-service serves it.
async fn first_sync(s: &Session, user: &TestUser) -> anyhow::Result<serde_json::Value> {
    let status = s
        .system
        .get(format!(
            "{}/internal/v1/users/{}/status",
            s.system.sync_url, user.user_id
        ))
        .await?;
    Ok(status["kinds"][0]["first_sync"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zohos_daily_allowance_is_told_until_when_on_status_and_in_the_admin_console()
-> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("en-US").await?;
    let user = s.system.provision_seeded_user(SPENT, 2, 4, 0.5).await?;

    s.open("").await?;
    s.sign_in(SPENT, USER_PASSWORD, false).await?;
    s.browser
        .wait_for_text_within("#state-contact-zoho", "Connected", TIMEOUT)
        .await?;
    s.browser.find("#first-sync-done-contact").await?;
    assert_eq!(first_sync(&s, &user).await?["just_completed"], true);

    // A day later the first sync is history: sync-service stops calling it news, and the card
    // stops saying it.
    s.system
        .execute_sql(&format!(
            "UPDATE sync.kind_progress SET first_sync_done_at = now() - interval '25 hours'
             WHERE user_id = '{}'",
            user.user_id
        ))
        .await?;
    let news = first_sync(&s, &user).await?;
    assert_eq!(news["complete"], true, "{news}");
    assert_eq!(news["just_completed"], false, "{news}");
    wait_for("the news gone from the card", TIMEOUT, || async {
        Ok((!s.browser.visible("#first-sync-done-contact").await?).then_some(()))
    })
    .await?;

    // Zoho's credits for the 24 hours are spent: allowance used up until a time, not "slowed
    // down"; Outlook keeps its own state.
    spend_allowance(&s, &user).await?;
    let zoho = s
        .browser
        .wait_for_text_within(
            "#state-contact-zoho",
            "Daily API allowance used up until",
            TIMEOUT,
        )
        .await?;
    assert!(zoho.chars().any(|c| c.is_ascii_digit()), "a time: {zoho}");
    assert!(!zoho.contains("Slowed down"), "{zoho}");
    assert_eq!(s.browser.text("#state-contact-outlook").await?, "Connected");
    let banner = s
        .browser
        .wait_for_text("#not-syncing", "daily API allowance is used up")
        .await?;
    assert!(banner.contains("syncing resumes at"), "{banner}");
    assert!(banner.contains("Nothing to do"), "{banner}");
    s.shot("16-status-allowance-used-up").await?;
    s.switch_language("ja").await?;
    s.browser
        .wait_for_text("#state-contact-zoho", "1 日の API 利用枠を使い切りました")
        .await?;
    s.browser
        .wait_for_text("#not-syncing", "同期を再開します")
        .await?;
    // Japanese breaks lines between phrases, in table cells too.
    let word_break = s
        .browser
        .execute(
            "return getComputedStyle(document.querySelector('#side-contact-zoho td')).wordBreak;",
            vec![],
        )
        .await?;
    assert_eq!(word_break, "auto-phrase");
    s.shot("16-status-allowance-used-up").await?;
    s.switch_language("en").await?;

    // A second user whom Zoho slows down (429 with a long Retry-After).
    let throttled = s.system.provision_seeded_user(THROTTLED, 2, 4, 0.5).await?;
    wait_for("the second user's first sync", TIMEOUT, || async {
        Ok((first_sync(&s, &throttled).await?["complete"] == true).then_some(()))
    })
    .await?;
    s.system
        .put(
            format!(
                "{}/_sandbox/zoho/orgs/{}/faults",
                s.system.sandbox_url, throttled.org_id
            ),
            json!({"share_429": 1.0, "retry_after_seconds": 900}),
        )
        .await?;
    s.system.poll_side(&throttled, "zoho").await?;
    wait_for("Zoho's connector to say throttled", TIMEOUT, || async {
        let watches = s
            .system
            .get(format!(
                "{}/internal/v1/users/{}/watches",
                s.system.zoho_url, throttled.user_id
            ))
            .await?;
        Ok((watches["watches"][0]["state"] == "throttled").then_some(()))
    })
    .await?;

    // The administrator sees each connection's real state and filters by it.
    s.system.admin_token().await?;
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;
    s.sign_in(ADMIN, USER_PASSWORD, false).await?;
    s.browser.click("#nav-admin").await?;
    s.browser.click("#admin-tab-connections").await?;
    let row = |email: &str, provider: &str| {
        format!("#admin-connections tr[data-email=\"{email}\"][data-provider=\"{provider}\"]")
    };
    s.browser
        .wait_for_text(&row(THROTTLED, "zoho"), "Slowed down by the provider until")
        .await?;
    let spent = s.browser.text(&row(SPENT, "zoho")).await?;
    assert!(
        spent.contains("Daily API allowance used up until"),
        "{spent}"
    );
    for email in [SPENT, THROTTLED] {
        let outlook = s.browser.text(&row(email, "outlook")).await?;
        assert!(outlook.contains("Connected"), "{email}: {outlook}");
    }
    let summary = s.browser.text("#conn-summary").await?;
    assert!(summary.contains("Zoho CRM · Throttled: 1"), "{summary}");
    assert!(
        summary.contains("Zoho CRM · Daily allowance used up: 1"),
        "{summary}"
    );
    let offered = s
        .browser
        .execute(
            "return [...document.querySelectorAll('#conn-status option')].map(o => o.value);",
            vec![],
        )
        .await?;
    for state in [
        "connected",
        "reconnect_needed",
        "throttled",
        "allowance_used_up",
        "provider_failing",
    ] {
        assert!(
            offered
                .as_array()
                .is_some_and(|o| o.iter().any(|v| v == state)),
            "{state} offered: {offered}"
        );
    }
    for (state, listed, left_out) in [
        ("throttled", THROTTLED, SPENT),
        ("allowance_used_up", SPENT, THROTTLED),
    ] {
        s.browser.select("#conn-status", state).await?;
        wait_for("the filtered list", TIMEOUT, || async {
            let text = s.browser.text("#admin-connections tbody").await?;
            Ok(
                (text.contains(listed) && !text.contains(left_out) && !text.contains("Connected"))
                    .then_some(()),
            )
        })
        .await?;
    }
    s.browser.select("#conn-status", "").await?;
    s.browser.find(&row(SPENT, "outlook")).await?;
    s.shot("21-admin-connections-states").await?;
    s.switch_language("ja").await?;
    s.browser.click("#admin-tab-connections").await?;
    s.browser
        .wait_for_text(&row(THROTTLED, "zoho"), "サービス側の速度制限中")
        .await?;
    s.browser
        .wait_for_text(&row(SPENT, "zoho"), "1 日の API 利用枠を使い切りました")
        .await?;
    s.browser
        .wait_for_text("#conn-summary", "速度制限中: 1")
        .await?;
    s.shot("21-admin-connections-states").await?;
    s.stop().await;
    Ok(())
}
