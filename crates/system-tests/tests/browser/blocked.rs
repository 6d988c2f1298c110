//! A change sync-service cannot process blocks only its user: the user's Status says so and
//! what happens next; the administrator sees the user among the blocked ones and, once the
//! cause is fixed, retries the change, and the user's changes go on.

use std::time::Duration;

use serde_json::json;
use system_tests::USER_PASSWORD;
use test_support::wait_for;

use crate::support::{Session, browser_available};

const EMAIL: &str = "aiko@example.com";
/// The administrator `System::admin_token` creates.
const ADMIN: &str = "admin@example.com";
const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_user_is_told_and_an_admin_retries_the_change() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("en-US").await?;
    let user = s.system.provision_user(EMAIL, 1).await?;
    let _ = s.system.admin_token().await?;
    // The database refuses this user's links (as a broken row or a bug would).
    s.system
        .execute_sql(&format!(
            "CREATE FUNCTION sync.poison() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'links of this user refused by the test'; END $$;
             CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON sync.links FOR EACH ROW
                 WHEN (NEW.user_id = '{}') EXECUTE FUNCTION sync.poison();",
            user.user_id
        ))
        .await?;
    s.system
        .graph_call(
            &user,
            reqwest::Method::POST,
            &format!("/me/contactFolders/{}/contacts", user.contact_folder_id),
            Some(json!({"givenName": "Aiko", "surname": "Mori",
                "emailAddresses": [{"address": "aiko.mori@example.jp"}]})),
        )
        .await?;
    let status = format!(
        "{}/internal/v1/users/{}/status",
        s.system.sync_url, user.user_id
    );
    wait_for("the user blocked", TIMEOUT, || async {
        let held = s.system.get(status.clone()).await?["held"].clone();
        Ok((held["state"] == "blocked").then_some(()))
    })
    .await?;

    s.open("").await?;
    s.sign_in(EMAIL, USER_PASSWORD, false).await?;
    let banner = s
        .browser
        .wait_for_text("#not-syncing", "stopped behind one that failed")
        .await?;
    assert!(
        banner.contains("An administrator must retry or skip it"),
        "{banner}"
    );
    assert!(
        !banner.contains("refused by the test"),
        "no raw error: {banner}"
    );
    s.shot_both("16-status-blocked").await?;
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;

    s.sign_in(ADMIN, USER_PASSWORD, false).await?;
    s.open("#/admin/dead-letters").await?;
    let card = "section.held-user[data-user=\"aiko@example.com\"][data-state=\"blocked\"]";
    s.browser.find(card).await?;
    s.shot_both("23-admin-blocked").await?;
    // The cause is fixed; the change is tried again and goes through.
    s.system
        .execute_sql("DROP TRIGGER poison ON sync.links; DROP FUNCTION sync.poison();")
        .await?;
    s.browser
        .click(&format!("{card} button[data-action=\"retry\"]"))
        .await?;
    s.browser
        .wait_for_text("#notice", "failed change is tried again")
        .await?;
    wait_for("the contact in Zoho", TIMEOUT, || async {
        let zoho = s.system.zoho_contacts(&user).await?;
        Ok(zoho
            .iter()
            .any(|r| r["Email"] == "aiko.mori@example.jp")
            .then_some(()))
    })
    .await?;
    // No longer listed once its changes went through (the list is read on each visit).
    wait_for("the user no longer blocked", TIMEOUT, || async {
        s.browser.click("#admin-tab-users").await?;
        s.browser.find("#admin-users").await?;
        s.browser.click("#admin-tab-dead-letters").await?;
        s.browser.find("#held-users > *").await?;
        Ok(s.browser.visible("#held-users-empty").await?.then_some(()))
    })
    .await?;
    s.stop().await;
    Ok(())
}
