//! Sign-in with an identity provider (the sandbox's OpenID Connect provider, "Sandbox ID"), in
//! English and in Japanese: the sign-in screen's button, the provider's own page, the way back
//! with a new account for a listed domain, the linked sign-in on the security screen, an existing
//! account that confirms the link with its password, and a refusal (an unverified address)
//! explained on the sign-in screen.

use serde_json::{Value, json};
use system_tests::{SSO_SIGN_UP_DOMAIN, USER_PASSWORD};

use crate::support::{Session, authenticator, browser_available, code};

async fn provider_user(s: &Session, email: &str, verified: bool) -> anyhow::Result<Value> {
    s.system
        .post(
            format!("{}/_sandbox/oidc/users", s.system.sandbox_url),
            json!({"email": email, "email_verified": verified, "name": email.split('@').next()}),
        )
        .await
}

/// From the sign-in screen through the provider's page, choosing `email` there.
async fn through_provider(s: &Session, email: &str, shot: Option<&str>) -> anyhow::Result<()> {
    s.browser.click("#sso-sandbox").await?;
    let choice = format!("button[data-email=\"{email}\"]");
    s.browser.find(&choice).await?;
    assert!(
        s.browser
            .current_url()
            .await?
            .contains("/oidc/sandbox/authorize")
    );
    if let Some(name) = shot {
        s.shot(name).await?;
    }
    s.browser.click(&choice).await
}

/// An account made by the provider has no password: the security screen says so, and the
/// sensitive changes of two-factor sign-in are confirmed with a code instead.
async fn without_a_password(s: &Session) -> anyhow::Result<()> {
    s.browser.find("#no-password").await?;
    assert!(!s.browser.visible("#current-password").await?);
    s.browser.click("#totp-start").await?;
    let totp = authenticator(&s.browser.text("#totp-secret").await?);
    s.browser
        .fill("#totp-confirm-code", &code(&totp, 0))
        .await?;
    s.browser.click("#totp-confirm").await?;
    s.browser.click("#recovery-codes-done").await?;
    // New recovery codes: a wrong code is refused next to its field, the app's code works.
    s.browser.fill("#recovery-form-code", "123456").await?;
    s.browser.click("#recovery-form-submit").await?;
    s.browser.find("#recovery-form-code-error").await?;
    s.shot("sso-03-code-instead-of-password").await?;
    s.browser
        .fill("#recovery-form-code", &code(&totp, 1))
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
    // Turning it off with one of them.
    s.browser
        .fill("#totp-off-form-code", recovery.as_str().unwrap_or_default())
        .await?;
    s.browser.click("#totp-off-form-submit").await?;
    s.browser.find("#totp-start").await?;
    Ok(())
}

/// Everything in one language: `texts` are the expected (button, linked sign-ins' heading, link
/// title, refusal, no linked sign-ins) texts.
async fn journey(
    language: &str,
    people: [&str; 3],
    texts: [&str; 5],
    policy_texts: [&str; 3],
) -> anyhow::Result<()> {
    let [new_person, existing, unverified] = people;
    let [button, linked_heading, link_title, refusal, none_linked] = texts;
    let [saved_off, sso_only_lead, password_refused] = policy_texts;
    let s = Session::start(language).await?;
    provider_user(&s, new_person, true).await?;

    // The sign-in screen offers the provider.
    s.open("").await?;
    s.browser.find("#sso-sandbox").await?;
    assert_eq!(s.browser.text("#sso-sandbox").await?, button);
    s.shot("sso-01-sign-in-with-provider").await?;

    // A person of the sign-up domain: the provider's page, back, signed in to a new account.
    through_provider(&s, new_person, Some("sso-02-provider-page")).await?;
    s.browser.find("#sign-out").await?;
    s.browser.wait_for_text("#who", new_person).await?;
    let url = s.browser.current_url().await?;
    assert!(
        !url.contains("ticket"),
        "the ticket is gone from the address bar: {url}"
    );

    // The security screen lists the linked sign-in.
    s.browser.click("#nav-security").await?;
    s.browser
        .wait_for_text("#identities-title", linked_heading)
        .await?;
    s.browser.wait_for_text("#identities", "Sandbox ID").await?;
    s.browser.wait_for_text("#identities", new_person).await?;
    s.shot("sso-03-linked-sign-ins").await?;
    without_a_password(&s).await?;
    s.browser.click("#sign-out").await?;
    s.browser.find("#sso-sandbox").await?;

    // An account that exists already: its password confirms the link, once.
    s.system
        .post(
            format!("{}/internal/v1/users", s.system.auth_url),
            json!({"email": existing, "password": USER_PASSWORD}),
        )
        .await?;
    provider_user(&s, existing, true).await?;
    through_provider(&s, existing, None).await?;
    s.browser.wait_for_text("#signin-title", link_title).await?;
    assert!(
        !s.browser.visible("#email").await?,
        "the ticket names the account"
    );
    s.shot("sso-04-confirm-link").await?;
    s.browser.fill("#password", USER_PASSWORD).await?;
    s.browser.click("#sign-in").await?;
    s.browser.wait_for_text("#who", existing).await?;
    s.browser.click("#sign-out").await?;
    // From now on the provider alone signs this person in, until they unlink it (they have a
    // password, so they may).
    s.browser.find("#sso-sandbox").await?;
    through_provider(&s, existing, None).await?;
    s.browser.wait_for_text("#who", existing).await?;
    s.browser.click("#nav-security").await?;
    s.browser.wait_for_text("#identities", existing).await?;
    s.browser.click("#identities button[data-identity]").await?;
    s.browser
        .wait_for_text("#no-identities", none_linked)
        .await?;
    s.browser.click("#sign-out").await?;

    // An address the provider has not verified: refused, and the screen says why.
    s.browser.find("#sso-sandbox").await?;
    provider_user(&s, unverified, false).await?;
    through_provider(&s, unverified, None).await?;
    s.browser.wait_for_text("#notice", refusal).await?;
    assert!(!s.browser.visible("#sign-out").await?);
    s.shot("sso-05-refused").await?;

    // An administrator makes it single sign-on only in the admin console; the sign-in screen
    // says so, and a password no longer signs an ordinary account in.
    let admin = format!("admin.{language}@example.com").to_lowercase();
    s.system
        .post(
            format!("{}/internal/v1/users", s.system.auth_url),
            json!({"email": admin, "password": USER_PASSWORD, "is_admin": true}),
        )
        .await?;
    s.sign_in(&admin, USER_PASSWORD, false).await?;
    s.open("#/admin/sign-in").await?;
    s.browser
        .wait_for_text("#sso-provider-list", "Sandbox ID")
        .await?;
    s.browser.click("#password-sign-in").await?;
    s.browser.click("#save-sign-in-policy").await?;
    s.browser.wait_for_text("#notice", saved_off).await?;
    s.shot("sso-06-sign-in-policy").await?;
    s.browser.click("#sign-out").await?;
    s.browser
        .wait_for_text("#signin-lead", sso_only_lead)
        .await?;
    s.browser.fill("#email", existing).await?;
    s.browser.fill("#password", USER_PASSWORD).await?;
    s.browser.click("#sign-in").await?;
    s.browser
        .wait_for_text("#signin-form", password_refused)
        .await?;
    s.shot("sso-07-single-sign-on-only").await?;

    s.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_the_identity_provider_in_english() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let new_person = format!("aiko@{SSO_SIGN_UP_DOMAIN}");
    journey(
        "en-US",
        [&new_person, "ken@example.com", "mallory@example.com"],
        [
            "Sign in with Sandbox ID",
            "Linked sign-ins",
            "Link your sign-in",
            "has not verified your e-mail address",
            "No linked sign-ins.",
        ],
        [
            "single sign-on only",
            "Your organisation signs in with its identity provider",
            "use the button above",
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_the_identity_provider_in_japanese() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let new_person = format!("haruto@{SSO_SIGN_UP_DOMAIN}");
    journey(
        "ja-JP",
        [&new_person, "yui@example.com", "eve@example.com"],
        [
            "Sandbox ID でサインイン",
            "連携しているサインイン",
            "サインインの連携",
            "メールアドレスを確認していません",
            "連携しているサインインはありません。",
        ],
        [
            "シングルサインオンのみ",
            "この組織では ID プロバイダーでサインインします",
            "上のボタンを使ってください",
        ],
    )
    .await
}
