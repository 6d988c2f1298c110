//! The admin console against the whole system: a sales person's mass deletion in Outlook is held
//! (the user sees it on Status, with what happens next); the administrator creates and disables
//! a user, looks at a user's sync health and every connection, releases part of the held
//! deletions and discards the rest (the items reach Zoho or come back in Outlook), looks at a
//! dead letter and the audit log. Every screen in both languages, at both widths.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use system_tests::USER_PASSWORD;
use test_support::wait_for;

use crate::support::{Session, browser_available};

const EMAIL: &str = "hana@example.com";
const ADMIN: &str = "admin@example.com";
/// Contacts on each side (none shared): 20 in all, on both sides after the first sync.
const CONTACTS: usize = 10;
/// Deleted at once in Outlook: over the guard's 30 %.
const DELETED: usize = 8;
const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_users_and_decides_held_deletions() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("en-US").await?;
    let user = s
        .system
        .provision_seeded_user(EMAIL, 3600, CONTACTS, 0.0)
        .await?;
    let total = CONTACTS * 2;
    wait_for("the first sync", TIMEOUT, || async {
        let outlook = s.system.outlook_contacts(&user).await?.len();
        let zoho = s.system.zoho_contacts(&user).await?.len();
        Ok((outlook == total && zoho == total).then_some(()))
    })
    .await?;
    let admin_token = s.system.admin_token().await?;
    let held = || async {
        let (_, body) = s
            .system
            .call_as(
                &admin_token,
                Method::GET,
                format!("{}/v1/admin/held-deletions", s.system.sync_url),
                None,
            )
            .await?;
        anyhow::Ok(body.as_array().map_or(0, Vec::len))
    };
    wait_for("every link settled", TIMEOUT, || async {
        let links = s.system.links(&user).await?;
        Ok((links.len() == total && links.iter().all(|l| l.4 == "active")).then_some(()))
    })
    .await?;

    // Eight contacts deleted in Outlook while the delta token expired: the full re-read finds
    // them gone all at once, and the guard holds the deletions.
    let outlook = s.system.outlook_contacts(&user).await?;
    for contact in &outlook[..DELETED] {
        let id = contact["id"].as_str().unwrap_or_default();
        s.system
            .graph_call(&user, Method::DELETE, &format!("/me/contacts/{id}"), None)
            .await?;
    }
    s.system
        .post(
            format!(
                "{}/_sandbox/graph/mailboxes/{}/expire-delta-tokens",
                s.system.sandbox_url, user.mailbox_id
            ),
            json!({}),
        )
        .await?;
    s.system.poll_side(&user, "outlook").await?;
    wait_for("the deletions held", TIMEOUT, || async {
        Ok((held().await? == DELETED).then_some(()))
    })
    .await?;

    // The user sees them on Status, with what happens next.
    s.open("").await?;
    s.sign_in(EMAIL, USER_PASSWORD, false).await?;
    s.browser
        .wait_for_text(
            "#held-deletions-contact",
            &format!("Deletions held back for an administrator: {DELETED}"),
        )
        .await?;
    s.shot_both("13-status-held-deletions").await?;
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;

    // The administrator: no Admin link for a sales person, one for an admin.
    s.sign_in(ADMIN, USER_PASSWORD, false).await?;
    s.browser.click("#nav-admin").await?;
    s.browser.find("#admin-users").await?;
    s.browser
        .fill("#new-user-email", "new.hire@example.com")
        .await?;
    s.browser.fill("#new-user-name", "New Hire").await?;
    s.browser
        .fill("#new-user-password", "a long enough password")
        .await?;
    s.browser.click("#new-user-create").await?;
    s.browser
        .wait_for_text("#notice", "new.hire@example.com is created.")
        .await?;
    let row = "#admin-users tr[data-email=\"new.hire@example.com\"]";
    s.browser.find(row).await?;
    // An address taken already is said next to its field.
    s.browser.fill("#new-user-email", EMAIL).await?;
    s.browser.click("#new-user-create").await?;
    s.browser
        .wait_for_text("#new-user-email-error", "exists already")
        .await?;
    s.shot_both("20-admin-users").await?;
    // Disabled: that account can no longer sign in.
    s.browser
        .click(&format!("{row} button[data-action=\"disable\"]"))
        .await?;
    s.browser
        .click(&format!("{row} button[data-confirm=\"disable\"]"))
        .await?;
    s.browser
        .wait_for_text("#notice", "new.hire@example.com is disabled.")
        .await?;
    assert!(
        s.system
            .sign_in("new.hire@example.com", "a long enough password")
            .await
            .is_err(),
        "a disabled user cannot sign in"
    );
    // A user's sync health, per kind and state.
    let hana = "#admin-users tr[data-email=\"hana@example.com\"]";
    s.browser
        .click(&format!("{hana} button[data-action=\"health\"]"))
        .await?;
    s.browser
        .wait_for_text(
            &format!("{hana} .user-health"),
            &format!("deletion held {DELETED}"),
        )
        .await?;
    s.shot("20-admin-users-health").await?;

    // Every connection, filtered.
    s.browser.click("#admin-tab-connections").await?;
    s.browser.find("#admin-connections").await?;
    s.browser.select("#conn-status", "reconnect_needed").await?;
    s.browser.find("#conn-empty").await?;
    s.browser.select("#conn-status", "").await?;
    s.browser.select("#conn-provider", "zoho").await?;
    // The list is drawn again for the filter: only Zoho's connections are left.
    wait_for("Zoho's connections only", TIMEOUT, || async {
        let text = s.browser.text("#admin-connections tbody").await?;
        Ok(
            (text.contains(EMAIL) && text.contains("Zoho CRM") && !text.contains("Outlook"))
                .then_some(()),
        )
    })
    .await?;
    s.shot_both("21-admin-connections").await?;

    // Held deletions, grouped by user and kind, named as people name them, with a preview.
    s.browser.click("#admin-tab-held").await?;
    let group = "section.held-group[data-user=\"hana@example.com\"][data-kind=\"contact\"]";
    let title = s.browser.text(&format!("{group} h2")).await?;
    assert!(
        title.contains(&format!("{DELETED} deleted in Outlook")),
        "{title}"
    );
    let labels = s
        .browser
        .execute(
            "return [...document.querySelectorAll(arguments[0] + ' ul label')].map(l => l.textContent);",
            vec![json!(group)],
        )
        .await?;
    let labels: Vec<String> = serde_json::from_value(labels)?;
    assert_eq!(labels.len(), DELETED);
    assert!(
        labels.iter().all(|l| l.trim().contains(' ')),
        "full names, not surnames alone: {labels:?}"
    );
    s.browser
        .wait_for_text(
            &format!("{group} .preview"),
            &format!("the {DELETED} selected items are deleted in Zoho CRM too"),
        )
        .await?;
    s.shot_both("22-admin-held").await?;
    // Three are kept back from the release: they are discarded next (they come back).
    for i in 0..3 {
        s.browser
            .click(&format!("{group} ul li:nth-child({}) input", i + 1))
            .await?;
    }
    s.browser
        .wait_for_text(
            &format!("{group} .preview"),
            "the 5 selected items are deleted in Zoho CRM too",
        )
        .await?;
    s.browser
        .click(&format!("{group} button[data-action=\"release\"]"))
        .await?;
    s.browser
        .click(&format!("{group} button[data-confirm=\"release\"]"))
        .await?;
    s.browser
        .wait_for_text("#notice", "5 deletions released.")
        .await?;
    s.browser
        .wait_for_text(
            &format!("{group} .preview"),
            "Discard: the 3 selected items come back in Outlook",
        )
        .await?;
    s.browser
        .click(&format!("{group} button[data-action=\"discard\"]"))
        .await?;
    s.browser
        .wait_for_text("#notice", "3 deletions discarded")
        .await?;
    s.browser.find("#held-empty").await?;
    wait_for("the decisions carried out", TIMEOUT, || async {
        let outlook = s.system.outlook_contacts(&user).await?.len();
        let zoho = s.system.zoho_contacts(&user).await?.len();
        Ok((outlook == total - 5 && zoho == total - 5).then_some(()))
    })
    .await?;

    // A message nothing can read lands among the dead letters, said as such.
    s.system
        .publish_raw_change("outlook.contact.changed", b"{not json")
        .await?;
    s.browser.click("#admin-tab-dead-letters").await?;
    wait_for("the dead letter listed", TIMEOUT, || async {
        s.browser.click("#admin-tab-dead-letters").await?;
        Ok(s.browser.visible("#dead-letters").await?.then_some(()))
    })
    .await?;
    s.browser
        .wait_for_text("#dead-letters", "Unreadable message")
        .await?;
    s.browser
        .click("#dead-letters button[data-action=\"replay\"]")
        .await?;
    s.browser
        .wait_for_text("#notice", "cannot be read, so it cannot be sent again")
        .await?;
    s.shot_both("23-admin-dead-letters").await?;

    // The audit log tells who did what.
    s.browser.click("#admin-tab-audit").await?;
    s.browser
        .wait_for_text("#audit-log", "Account changed by an administrator")
        .await?;
    s.shot_both("24-admin-audit").await?;

    // A forgotten password: the administrator makes a one-time link and hands it over.
    s.browser.click("#admin-tab-users").await?;
    s.browser
        .click(&format!("{hana} button[data-action=\"reset-password\"]"))
        .await?;
    s.browser
        .click(&format!("{hana} button[data-confirm=\"reset-password\"]"))
        .await?;
    let link = s.browser.text(&format!("{hana} .reset-url")).await?;
    assert!(link.contains("#/reset/"), "{link}");
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;
    // "Forgot your password?" on the sign-in screen says what to do, in both languages.
    forgot_password(&mut s).await?;
    s.browser.goto(&link).await?;
    s.browser.wait_for_text("h1", "Set a new password").await?;
    s.shot_both("25-reset-password").await?;
    s.browser
        .fill("#reset-password", "a new password for hana")
        .await?;
    s.browser
        .fill("#reset-password-again", "a new password for hana")
        .await?;
    s.browser.click("#reset-submit").await?;
    s.browser
        .wait_for_text("#reset-done", "Your new password is set.")
        .await?;
    s.browser.click("#reset-sign-in").await?;
    s.sign_in(EMAIL, "a new password for hana", false).await?;
    assert!(
        s.system.sign_in(EMAIL, USER_PASSWORD).await.is_err(),
        "the old password no longer works"
    );
    // The link worked once.
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;
    s.browser.goto(&link).await?;
    s.browser.wait_for_text("h1", "Set a new password").await?;
    s.browser
        .fill("#reset-password", "yet another password")
        .await?;
    s.browser
        .fill("#reset-password-again", "yet another password")
        .await?;
    s.browser.click("#reset-submit").await?;
    s.browser
        .wait_for_text("#reset-form-error", "used already or expired")
        .await?;
    s.stop().await;
    Ok(())
}

/// The sign-in screen's "Forgot your password?" opens what to do: ask an administrator for a
/// one-time link, or sign in with the identity provider; in English, then in Japanese.
async fn forgot_password(s: &mut Session) -> anyhow::Result<()> {
    for (lang, link, admin, sso) in [
        (
            "en",
            "Forgot your password?",
            "Ask your administrator for a one-time reset link",
            "If your account signs in with Sandbox ID, use that button above instead",
        ),
        (
            "ja",
            "パスワードを忘れた場合",
            "管理者に 1 回限りのリセット用リンクを依頼してください",
            "Sandbox ID でサインインしているアカウントは、上のボタンからサインインしてください",
        ),
    ] {
        if s.lang != lang {
            s.switch_language(lang).await?;
        }
        s.browser
            .wait_for_text("#forgot-password-link", link)
            .await?;
        assert!(
            !s.browser.visible("#forgot-password-admin").await?,
            "closed until asked"
        );
        s.browser.click("#forgot-password-link").await?;
        s.browser
            .wait_for_text("#forgot-password-admin", admin)
            .await?;
        s.browser.wait_for_text("#forgot-password-sso", sso).await?;
        s.shot("26-forgot-password").await?;
    }
    s.switch_language("en").await
}
