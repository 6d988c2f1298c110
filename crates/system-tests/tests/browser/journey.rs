//! A sales person's first day, in English: sign in, connect Zoho CRM (Japan) and Outlook through
//! the providers' consent pages, choose the settings, watch the first sync finish, and settle a
//! conflict held for review. Then every screen again in Japanese, through the language switch.

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::TestUser;
use system_tests::USER_PASSWORD;
use system_tests::browser::keys;
use test_support::wait_for;

use crate::support::{Session, browser_available};

const EMAIL: &str = "sakura@example.com";
/// Demo contacts on each side; a fifth of them on both.
const CONTACTS: usize = 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_connect_choose_sync_and_settle_a_conflict() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("en-US").await?;
    let user_id = s.create_user(EMAIL).await?;
    let (mailbox, org) = s.sandbox_accounts(EMAIL, CONTACTS).await?;
    let user = TestUser {
        user_id,
        mailbox_id: mailbox["mailbox_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        org_id: org["org_id"].as_str().unwrap_or_default().to_owned(),
        contact_folder_id: mailbox["default_contact_folder_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    // Slow providers, so that the first sync takes long enough to be watched.
    let sandbox = &s.system.sandbox_url;
    let slow = json!({"latency_ms": 150});
    s.system
        .put(
            format!(
                "{sandbox}/_sandbox/graph/mailboxes/{}/faults",
                user.mailbox_id
            ),
            slow.clone(),
        )
        .await?;
    s.system
        .put(
            format!("{sandbox}/_sandbox/zoho/orgs/{}/faults", user.org_id),
            slow,
        )
        .await?;

    // Sign in; a wrong password is reported next to the password field.
    s.open("").await?;
    s.browser.find("#email").await?;
    assert_eq!(s.browser.text("h1").await?, "Sign in");
    s.shot("01-sign-in").await?;
    // Switching the language keeps what was typed.
    s.browser.fill("#email", EMAIL).await?;
    s.switch_language("ja").await?;
    s.browser.wait_for_text("h1", "サインイン").await?;
    let kept = s
        .browser
        .execute("return document.getElementById('email').value;", vec![])
        .await?;
    assert_eq!(kept, EMAIL, "the address survives the language switch");
    s.switch_language("en").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;
    s.browser.fill("#email", EMAIL).await?;
    s.browser.fill("#password", "not my password").await?;
    s.browser.click("#sign-in").await?;
    s.browser
        .wait_for_text("#password-error", "e-mail address or the password is wrong")
        .await?;
    assert_eq!(
        s.browser
            .attribute("#password", "aria-invalid")
            .await?
            .as_deref(),
        Some("true")
    );
    assert_eq!(s.browser.focused_id().await?, "password");
    s.shot("02-sign-in-error").await?;
    // The keyboard alone: Tab order, a visible focus, Enter submits.
    s.browser.click("#email").await?;
    s.browser.press(&[keys::TAB]).await?;
    assert_eq!(s.browser.focused_id().await?, "password");
    let outline = s
        .browser
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle;",
            vec![],
        )
        .await?;
    assert_ne!(outline, "none", "the focused field shows its focus");
    s.browser.fill("#password", USER_PASSWORD).await?;
    s.browser.type_into("#password", keys::ENTER).await?;
    s.browser.find("#sign-out").await?;
    s.browser
        .wait_for_text("#status-empty", "Nothing syncs yet")
        .await?;

    // Nothing connected yet.
    s.browser.click("#nav-connections").await?;
    s.browser
        .wait_for_text("#zoho-status", "Not connected")
        .await?;
    s.browser
        .wait_for_text("#outlook-status", "Not connected")
        .await?;
    s.shot_both("03-accounts-not-connected").await?;

    // Zoho CRM in Japan, through the (emulated) consent page and back.
    s.browser.select("#zoho-dc", "jp").await?;
    s.browser.click("#zoho-connect").await?;
    s.browser
        .wait_for_text("#notice", "Zoho CRM is connected.")
        .await?;
    s.browser.wait_for_text("#zoho-status", "Connected").await?;
    s.browser
        .wait_for_text("#zoho-dc-current", "Japan (zoho.jp)")
        .await?;
    assert!(
        !s.browser.current_url().await?.contains("code="),
        "the callback's query is gone from the address bar"
    );
    s.browser.click("#outlook-connect").await?;
    s.browser
        .wait_for_text("#notice", "Outlook is connected.")
        .await?;
    s.browser
        .wait_for_text("#outlook-status", "Connected")
        .await?;
    s.shot("04-accounts").await?;

    // Settings: a missing list is reported next to its field by the API (422 with `field`).
    s.browser.click("#nav-settings").await?;
    s.browser.find("#settings-form").await?;
    let folder = s
        .browser
        .execute(
            "return document.getElementById('contact-folder').value;",
            vec![],
        )
        .await?;
    assert_eq!(
        folder,
        json!(user.contact_folder_id),
        "the mailbox's folder is offered"
    );
    s.browser.click("#tasks-enabled").await?;
    s.browser.select("#task-list", "").await?;
    s.browser.click("#settings-save").await?;
    s.browser
        .wait_for_text("#task-list-error", "Choose the Microsoft To Do list")
        .await?;
    s.shot("05-settings-error").await?;
    s.browser.click("#tasks-enabled").await?;
    s.browser.click("#conflict-rule-review").await?;
    s.browser.click("#category-mode-chosen").await?;
    s.browser.find("#category-choices input").await?;
    s.browser.click("#category-choices input").await?;
    s.browser.fill("#poll-interval", "2").await?;
    s.browser.click("#settings-save").await?;
    s.browser
        .wait_for_text("#settings-saved", "Settings saved.")
        .await?;
    s.shot("06-settings").await?;
    // An unsaved change is not dropped without asking; "stay" keeps it.
    s.browser.fill("#poll-interval", "30").await?;
    s.browser.click("#nav-status").await?;
    let question = s.browser.dialog_text().await?;
    assert!(question.contains("not saved"), "{question}");
    s.browser.answer_dialog(false).await?;
    assert_eq!(s.browser.text("h1").await?, "Settings");
    let value = s
        .browser
        .execute(
            "return document.getElementById('poll-interval').value;",
            vec![],
        )
        .await?;
    assert_eq!(value, "30");
    s.browser.fill("#poll-interval", "2").await?;
    s.browser.click("#settings-save").await?;
    s.browser
        .wait_for_text("#settings-saved", "Settings saved.")
        .await?;

    // The first sync: a progress bar until both sides agree. In review mode, the contacts found
    // on both sides with different details wait for the user's choice.
    s.browser.click("#nav-status").await?;
    s.browser.find("#status-contact").await?;
    if s.browser.visible("#progress-contact").await? {
        s.shot_both("07-status-first-sync").await?;
    }
    // Held items may come one by one while the matching goes on: settle each as it comes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut shot_held = false;
    while !s.browser.visible("#first-sync-done-contact").await? {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the first sync did not finish: {}",
            s.browser.text("#status-contact").await?
        );
        if s.browser.visible("#held-decisions-contact").await? {
            if !shot_held {
                s.shot_both("07-status-first-sync").await?;
            }
            s.browser.click("#held-decisions-contact a").await?;
            s.browser.find("#conflict-results > *").await?;
            if !shot_held {
                s.shot("09-conflicts-held").await?;
                shot_held = true;
            }
            resolve_all_held(&s).await?;
            s.browser.click("#nav-status").await?;
            s.browser.find("#status-contact").await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every contact is on both sides, each pair linked once.
    let outlook = s.system.outlook_contacts(&user).await?.len();
    let zoho = s.system.zoho_contacts(&user).await?.len();
    assert_eq!(outlook, zoho);
    assert!(outlook > CONTACTS, "{outlook} contacts");
    s.browser
        .wait_for_text("#linked-contact", &outlook.to_string())
        .await?;
    s.shot("08-status").await?;

    // A conflict: the same contact's job title changed on both sides since.
    let (outlook_id, zoho_id) = shared_contact(&s, &user).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    edit_outlook(&s, &user, &outlook_id, json!({"jobTitle": "Head of Sales"})).await?;
    edit_zoho(&s, &user, &zoho_id, json!({"Title": "Sales Director"})).await?;
    s.browser.click("#sync-now").await?;
    s.browser
        .wait_for_text("#notice", "being checked for changes")
        .await?;
    s.browser
        .wait_for_text_within(
            "#held-decisions-contact",
            "waiting for your decision",
            Duration::from_secs(60),
        )
        .await?;
    s.browser.click("#nav-conflicts").await?;
    s.browser
        .find("#conflicts-table tr[data-status=\"held\"]")
        .await?;
    let row = s
        .browser
        .text("#conflicts-table tr[data-status=\"held\"]")
        .await?;
    assert!(
        row.contains("Head of Sales") && row.contains("Sales Director"),
        "{row}"
    );
    s.shot_both("09-conflicts-held").await?;
    s.browser
        .click("#conflicts-table tr[data-status=\"held\"] button[data-keep=\"zoho\"]")
        .await?;
    s.browser.wait_for_text("#notice", "Resolved").await?;
    // Only held ones: none left.
    s.browser.select("#conflict-status", "held").await?;
    s.browser.find("#conflicts-empty").await?;
    s.browser.select("#conflict-status", "").await?;
    s.browser
        .find("#conflicts-table tr[data-status=\"resolved\"]")
        .await?;
    s.shot("10-conflicts").await?;
    // Zoho's value reaches Outlook.
    wait_for(
        "Zoho's title in Outlook",
        Duration::from_secs(60),
        || async {
            let contacts = s.system.outlook_contacts(&user).await?;
            Ok(contacts
                .iter()
                .any(|c| c["id"] == json!(outlook_id) && c["jobTitle"] == "Sales Director")
                .then_some(()))
        },
    )
    .await?;

    // A contact Zoho CRM refuses (an e-mail address it does not take) is listed with the reason.
    let token = s.system.graph_token(&user).await?;
    let answer = s
        .system
        .http
        .post(format!(
            "{}/graph/v1.0/me/contactFolders/{}/contacts",
            s.system.sandbox_url, user.contact_folder_id
        ))
        .bearer_auth(token)
        .json(&json!({"givenName": "Taro", "surname": "Yamada",
            "emailAddresses": [{"address": "taro.yamada(at)example.jp"}]}))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "Graph answered {}",
        answer.status()
    );
    s.browser.click("#nav-status").await?;
    s.browser
        .wait_for_text_within(
            "#failed-items-contact",
            "Taro Yamada",
            Duration::from_secs(60),
        )
        .await?;
    s.browser
        .wait_for_text(
            "#first-sync-attention-contact",
            "items that need your attention: 1",
        )
        .await?;
    // Said in the user's words with what to do, never the provider's code or JSON.
    let failed = s
        .browser
        .wait_for_text("#failed-items-contact", "Correct it on Outlook")
        .await?;
    assert!(
        failed.contains("Zoho CRM does not accept the value of “Email”"),
        "{failed}"
    );
    assert!(
        !failed.contains("INVALID_DATA") && !failed.contains('{'),
        "{failed}"
    );
    // Each side on its own: both connected, each with its own last read and write.
    for side in ["outlook", "zoho"] {
        s.browser
            .wait_for_text(&format!("#state-contact-{side}"), "Connected")
            .await?;
        let read = s
            .browser
            .text(&format!("#last-read-contact-{side}"))
            .await?;
        assert!(!read.contains("not yet"), "{side} was read: {read}");
        let written = s
            .browser
            .text(&format!("#last-write-contact-{side}"))
            .await?;
        assert!(
            !written.contains("not yet"),
            "{side} was written: {written}"
        );
    }
    assert!(!s.browser.visible("#not-syncing").await?);
    s.shot("08-status").await?;

    // The same screens in Japanese, through the switch in the header.
    s.switch_language("ja").await?;
    s.browser.wait_for_text("h1", "同期の状況").await?;
    s.browser
        .wait_for_text(
            "#first-sync-attention-contact",
            "対応が必要なアイテム: 1 件",
        )
        .await?;
    s.browser
        .wait_for_text(
            "#failed-items-contact",
            "「メール」フィールドの値を受け付けません",
        )
        .await?;
    s.shot("08-status").await?;
    s.browser.click("#nav-conflicts").await?;
    s.browser.wait_for_text("h1", "競合").await?;
    s.browser.find("#conflicts-table").await?;
    s.shot("10-conflicts").await?;
    s.browser.click("#nav-connections").await?;
    s.browser.wait_for_text("#zoho-status", "接続済み").await?;
    s.browser.wait_for_text("#zoho-dc-current", "日本").await?;
    s.shot("04-accounts").await?;
    s.browser.click("#nav-settings").await?;
    s.browser.wait_for_text("h1", "設定").await?;
    s.browser.find("#settings-form").await?;
    s.shot("06-settings").await?;
    s.browser.click("#nav-security").await?;
    s.browser.wait_for_text("h1", "セキュリティ").await?;
    s.browser.find("#sessions").await?;
    s.shot("11-security").await?;
    // The choice is remembered over a reload, and the session survives it (the cookie).
    s.open("#/status").await?;
    s.browser.wait_for_text("h1", "同期の状況").await?;
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "サインイン").await?;
    s.browser
        .wait_for_text("#notice", "サインアウトしました")
        .await?;
    s.shot("01-sign-in").await?;
    s.browser.fill("#email", EMAIL).await?;
    s.browser.fill("#password", "not my password").await?;
    s.browser.click("#sign-in").await?;
    s.browser
        .wait_for_text(
            "#password-error",
            "メールアドレスまたはパスワードが正しくありません",
        )
        .await?;
    s.shot("02-sign-in-error").await?;
    // Signed out means signed out: a reload does not bring the session back.
    s.open("#/status").await?;
    s.browser.wait_for_text("h1", "サインイン").await?;
    s.stop().await;
    Ok(())
}

/// Keeps Zoho's values for every conflict waiting for a choice, one item at a time.
async fn resolve_all_held(s: &Session) -> anyhow::Result<()> {
    let held = "#conflicts-table tr[data-status=\"held\"] button[data-keep=\"zoho\"]";
    for _ in 0..50 {
        s.browser.find("#conflict-results > *").await?;
        if !s.browser.visible(held).await? {
            return Ok(());
        }
        // The log is drawn anew after each choice: wait for the new one.
        s.browser
            .execute(
                "document.getElementById('conflicts-table').dataset.old = '1';",
                vec![],
            )
            .await?;
        s.browser.click(held).await?;
        s.browser
            .find("#conflicts-table:not([data-old]), #conflicts-empty")
            .await?;
    }
    anyhow::bail!("conflicts keep coming")
}

/// A contact on both sides after the first sync: its Outlook id and Zoho id.
async fn shared_contact(s: &Session, user: &TestUser) -> anyhow::Result<(String, String)> {
    let outlook = s.system.outlook_contacts(user).await?;
    let zoho = s.system.zoho_contacts(user).await?;
    for contact in &outlook {
        let Some(address) = contact
            .pointer("/emailAddresses/0/address")
            .and_then(Value::as_str)
        else {
            continue;
        };
        if let Some(record) = zoho.iter().find(|r| {
            r["Email"]
                .as_str()
                .is_some_and(|e| e.eq_ignore_ascii_case(address))
        }) {
            return Ok((
                contact["id"].as_str().unwrap_or_default().to_owned(),
                record["id"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    anyhow::bail!("no contact is on both sides")
}

async fn edit_outlook(s: &Session, user: &TestUser, id: &str, body: Value) -> anyhow::Result<()> {
    let token = s.system.graph_token(user).await?;
    let answer = s
        .system
        .http
        .patch(format!(
            "{}/graph/v1.0/me/contacts/{id}",
            s.system.sandbox_url
        ))
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

async fn edit_zoho(s: &Session, user: &TestUser, id: &str, fields: Value) -> anyhow::Result<()> {
    let (token, api_domain) = s.system.zoho_token(user).await?;
    let mut record = fields;
    record["id"] = json!(id);
    let answer = s
        .system
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
