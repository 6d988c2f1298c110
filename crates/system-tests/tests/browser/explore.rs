use serde_json::json;
use system_tests::USER_PASSWORD;

use crate::support::{Session, browser_available};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explore() -> anyhow::Result<()> {
    if !browser_available() {
        return Ok(());
    }
    let mut s = Session::start("en-US").await?;
    let email = "sakura@example.com";
    let user_id = s.create_user(email).await?;
    let (mailbox, org) = s.sandbox_accounts(email, 10).await?;
    let auth = &s.system.auth_url;
    s.system.put(format!("{auth}/internal/v1/users/{user_id}/connections/outlook"), json!({"refresh_token": mailbox["refresh_token"]})).await?;
    s.system.put(format!("{auth}/internal/v1/users/{user_id}/connections/zoho"), json!({"refresh_token": org["refresh_token"], "data_centre": "jp"})).await?;
    s.open("").await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    eprintln!("{:?}", s.browser.console().await?);
    eprintln!("{}", s.browser.execute("return document.body.outerHTML", vec![]).await?);
    s.browser.find("#email").await?;
    s.shot("x-sign-in").await?;
    s.sign_in(email, USER_PASSWORD, true).await?;
    s.shot("x-status").await?;
    s.browser.click("#nav-connections").await?;
    s.browser.find("#zoho-card").await?;
    s.shot("x-connections").await?;
    s.browser.click("#nav-settings").await?;
    s.browser.find("#settings-form").await?;
    s.shot("x-settings").await?;
    s.browser.click("#nav-conflicts").await?;
    s.browser.find("#conflict-filters").await?;
    s.shot("x-conflicts").await?;
    s.browser.click("#nav-security").await?;
    s.browser.find("#app-password-form").await?;
    s.shot("x-security").await?;
    s.switch_language("ja").await?;
    s.browser.find("#app-password-form").await?;
    s.shot("x-security").await?;
    s.stop().await;
    Ok(())
}
