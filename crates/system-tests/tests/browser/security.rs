//! Security, in a browser that prefers Japanese: the page picks Japanese by itself; app passwords
//! (created with a name and shown once, used by a script, listed with their last use, revoked);
//! sessions (listed and ended); two-factor sign-in (enrolment with the QR code, recovery codes)
//! and signing in with it, in Japanese and in English.

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::USER_PASSWORD;
use system_tests::browser::keys;

use crate::support::{Session, authenticator, browser_available, code};

const EMAIL: &str = "kenji@example.com";

async fn api_sign_in(s: &Session, password: &str) -> anyhow::Result<u16> {
    let answer = s
        .system
        .http
        .post(format!("{}/v1/sessions", s.system.auth_url))
        .header("User-Agent", "ReportingScript/2.1")
        .json(&json!({"email": EMAIL, "password": password, "client": "api"}))
        .send()
        .await?;
    Ok(answer.status().as_u16())
}

async fn count(s: &Session, css: &str) -> anyhow::Result<u64> {
    let script = format!("return document.querySelectorAll('{css}').length;");
    Ok(s.browser
        .execute(&script, vec![])
        .await?
        .as_u64()
        .unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_passwords_sessions_and_two_factor_sign_in() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("ja").await?;
    s.create_user(EMAIL).await?;

    // The browser prefers Japanese: so does the page.
    s.open("").await?;
    s.browser.wait_for_text("h1", "サインイン").await?;
    let lang = s
        .browser
        .execute("return document.documentElement.lang;", vec![])
        .await?;
    assert_eq!(lang, json!("ja"));
    s.sign_in(EMAIL, USER_PASSWORD, true).await?;
    s.browser.click("#nav-security").await?;
    s.browser.wait_for_text("h1", "セキュリティ").await?;
    s.browser
        .wait_for_text("#sessions tr.current", "サインインを維持")
        .await?;

    // An app password for a script: shown once, then it signs the script in.
    s.browser.click("#app-password-create").await?;
    s.browser
        .wait_for_text("#app-password-name-error", "名前を入力してください")
        .await?;
    s.browser
        .fill("#app-password-name", "レポート用スクリプト")
        .await?;
    s.browser.click("#app-password-create").await?;
    let app_password = s.browser.text("#new-app-password").await?;
    assert!(app_password.len() >= 16, "{app_password}");
    s.browser
        .find("#app-passwords tr[data-name=\"レポート用スクリプト\"]")
        .await?;
    s.shot("12-app-password").await?;
    assert_eq!(api_sign_in(&s, &app_password).await?, 201);
    s.browser.click("#new-app-password-done").await?;
    s.browser.wait_gone("#new-app-password").await?;

    // Its last use shows; the script's session is listed, and ended from here.
    s.browser.click("#nav-status").await?;
    s.browser.click("#nav-security").await?;
    let row = "#app-passwords tr[data-name=\"レポート用スクリプト\"] .last-used";
    s.browser.find(row).await?;
    assert_ne!(s.browser.text(row).await?, "なし", "the last use is shown");
    s.browser.find("#sessions button[data-session]").await?;
    assert_eq!(count(&s, "#sessions tbody tr").await?, 2);
    s.shot("11-security").await?;
    s.browser.click("#sessions button[data-session]").await?;
    s.browser
        .wait_for_text("#notice", "セッションを終了しました")
        .await?;
    s.browser
        .wait_gone("#sessions button[data-session]")
        .await?;

    // Revoked, it signs nothing in any more.
    s.browser
        .click("#app-passwords button[data-revoke]")
        .await?;
    // It is in use: the question says what stops working.
    s.browser
        .wait_for_text("#app-passwords .in-use", "使用中です")
        .await?;
    s.shot("12-app-password-revoke-in-use").await?;
    s.browser
        .click("#app-passwords button[data-confirm-revoke]")
        .await?;
    s.browser.find("#app-passwords-empty").await?;
    assert_eq!(api_sign_in(&s, &app_password).await?, 401);

    // Two-factor sign-in: the QR code in Japanese, then in English (a new enrolment).
    s.browser.click("#totp-start").await?;
    s.browser.find("#totp-qr").await?;
    assert!(
        s.browser
            .attribute("#totp-qr", "src")
            .await?
            .unwrap_or_default()
            .starts_with("data:image/svg+xml")
    );
    s.shot("13-two-factor-qr").await?;
    s.switch_language("en").await?;
    s.browser.wait_for_text("h1", "Security").await?;
    s.browser.click("#totp-start").await?;
    let secret = s.browser.text("#totp-secret").await?;
    let totp = authenticator(&secret);
    s.shot("13-two-factor-qr").await?;
    s.browser.fill("#totp-confirm-code", "000000").await?;
    s.browser.click("#totp-confirm").await?;
    s.browser
        .wait_for_text("#totp-confirm-code-error", "wrong or was already used")
        .await?;
    s.browser
        .fill("#totp-confirm-code", &code(&totp, 0))
        .await?;
    s.browser
        .type_into("#totp-confirm-code", keys::ENTER)
        .await?;
    s.browser.find("#recovery-codes").await?;
    assert_eq!(count(&s, "#recovery-codes li").await?, 10);
    s.browser.wait_for_text("#two-factor-state", "On").await?;
    s.shot("14-recovery-codes").await?;

    // Signing in now takes a code from the app: asked for next to its field.
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "Sign in").await?;
    s.browser.fill("#email", EMAIL).await?;
    s.browser.fill("#password", USER_PASSWORD).await?;
    s.browser.type_into("#password", keys::ENTER).await?;
    s.browser
        .wait_for_text("#totp-code-error", "two-factor sign-in")
        .await?;
    assert_eq!(s.browser.focused_id().await?, "totp-code");
    s.shot("15-sign-in-two-factor").await?;
    s.browser.fill("#totp-code", &code(&totp, 1)).await?;
    s.browser.type_into("#totp-code", keys::ENTER).await?;
    s.browser.find("#sign-out").await?;
    // The session says how it was signed in.
    s.browser.click("#nav-security").await?;
    s.browser
        .wait_for_text("#sessions tr.current", "authenticator code")
        .await?;
    s.browser.wait_for_text("#two-factor-state", "On").await?;
    s.browser
        .fill("#app-password-name", "Backup script")
        .await?;
    s.browser.click("#app-password-create").await?;
    s.browser.find("#new-app-password").await?;
    s.shot("12-app-password").await?;
    s.browser.click("#new-app-password-done").await?;
    s.shot("11-security").await?;

    // New recovery codes, in Japanese; one of them signs in instead of the app.
    s.switch_language("ja").await?;
    s.browser.wait_for_text("h1", "セキュリティ").await?;
    s.browser
        .fill("#recovery-form-password", USER_PASSWORD)
        .await?;
    s.browser.click("#recovery-form-submit").await?;
    s.browser.find("#recovery-codes").await?;
    let recovery: Value = s
        .browser
        .execute(
            "return document.querySelector('#recovery-codes li code').textContent;",
            vec![],
        )
        .await?;
    s.shot("14-recovery-codes").await?;
    s.browser.click("#sign-out").await?;
    s.browser.wait_for_text("h1", "サインイン").await?;
    s.browser.fill("#email", EMAIL).await?;
    s.browser.fill("#password", USER_PASSWORD).await?;
    s.browser.click("#sign-in").await?;
    s.browser
        .wait_for_text("#totp-code-error", "2 段階認証")
        .await?;
    s.shot("15-sign-in-two-factor").await?;
    s.browser.click("#use-recovery").await?;
    s.browser
        .fill("#recovery-code", recovery.as_str().unwrap_or_default())
        .await?;
    s.browser.type_into("#recovery-code", keys::ENTER).await?;
    s.browser.find("#sign-out").await?;
    s.browser.click("#nav-security").await?;
    s.browser
        .wait_for_text("#sessions tr.current", "リカバリーコード")
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.stop().await;
    Ok(())
}
