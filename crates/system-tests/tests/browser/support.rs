//! What every browser test needs: the whole system with `web`, a headless Chromium, a user, and
//! screenshots saved under `target/screenshots/<lang>/`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use system_tests::browser::{Browser, BrowserOptions, keys};
use system_tests::{System, USER_PASSWORD, spawn_system_with_web};

/// Where the screenshots go: `target/screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

/// Whether the browser tests can run here. Without Chromium they are skipped locally, but fail
/// in CI (`CI` set), where scripts/test.sh installs it.
pub fn browser_available() -> bool {
    if system_tests::browser::available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "Chromium and chromedriver are missing: scripts/test.sh installs them"
    );
    eprintln!("skipped: install chromium and chromium-driver (scripts/test.sh does) to run it");
    false
}

pub struct Session {
    pub system: System,
    pub browser: Browser,
    pub web: String,
    /// `en` or `ja`: the folder of this test's screenshots.
    pub lang: String,
}

impl Session {
    pub async fn start(browser_language: &str) -> anyhow::Result<Session> {
        let system = spawn_system_with_web().await?;
        let web = system.web_url.clone().expect("web runs");
        let browser = Browser::start(BrowserOptions {
            language: browser_language.to_owned(),
            ..BrowserOptions::default()
        })
        .await?;
        let lang = browser_language
            .split('-')
            .next()
            .unwrap_or("en")
            .to_owned();
        Ok(Session {
            system,
            browser,
            web,
            lang,
        })
    }

    /// A user with a password and nothing connected.
    pub async fn create_user(&self, email: &str) -> anyhow::Result<String> {
        let user = self
            .system
            .post(
                format!("{}/internal/v1/users", self.system.auth_url),
                json!({"email": email, "password": USER_PASSWORD, "display_name": "Sakura Tanaka"}),
            )
            .await?;
        Ok(user["user_id"].as_str().unwrap_or_default().to_owned())
    }

    /// A sandbox mailbox and a Zoho organisation (Japan), each with `contacts` demo contacts, a
    /// fifth of them on both sides.
    pub async fn sandbox_accounts(
        &self,
        email: &str,
        contacts: usize,
    ) -> anyhow::Result<(Value, Value)> {
        let sandbox = &self.system.sandbox_url;
        let mailbox = self
            .system
            .post(
                format!("{sandbox}/_sandbox/graph/mailboxes"),
                json!({"display_name": "Sakura Tanaka", "email": email}),
            )
            .await?;
        let org = self
            .system
            .post(
                format!("{sandbox}/_sandbox/zoho/orgs"),
                json!({"dc": "jp", "user_name": "Sakura Tanaka", "user_email": email}),
            )
            .await?;
        if contacts > 0 {
            self.system
                .post(
                    format!("{sandbox}/_sandbox/seed"),
                    json!({
                        "mailbox_id": mailbox["mailbox_id"],
                        "org_id": org["org_id"],
                        "contacts": contacts,
                        "shared_share": 0.2,
                        "seed": 11,
                    }),
                )
                .await?;
        }
        Ok((mailbox, org))
    }

    pub async fn open(&self, hash: &str) -> anyhow::Result<()> {
        self.browser.goto(&format!("{}/{hash}", self.web)).await
    }

    /// Signs in through the page with the keyboard: types, then presses Enter.
    #[allow(dead_code)] // Not every test binary module uses it.
    pub async fn sign_in(&self, email: &str, password: &str, keep: bool) -> anyhow::Result<()> {
        self.browser.fill("#email", email).await?;
        self.browser.fill("#password", password).await?;
        if keep {
            self.browser.click("#keep-signed-in").await?;
        }
        self.browser.type_into("#password", keys::ENTER).await?;
        self.browser.find("#sign-out").await?;
        Ok(())
    }

    /// Saves `target/screenshots/<lang>/<name>.png` of the whole page, after checking that every
    /// visible control of the screen is labelled.
    pub async fn shot(&self, name: &str) -> anyhow::Result<()> {
        // Let fonts and the last render settle.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let unlabelled = self.browser.unlabelled_controls().await?;
        assert!(
            unlabelled.is_empty(),
            "controls without a label on {name}: {unlabelled:?}"
        );
        let path = screenshot_dir()
            .join(&self.lang)
            .join(format!("{name}.png"));
        self.browser.screenshot(&path, true).await
    }

    /// The screen in English, then (through the switch) in Japanese, and back to English.
    pub async fn shot_both(&mut self, name: &str) -> anyhow::Result<()> {
        self.shot(name).await?;
        self.switch_language("ja").await?;
        self.shot(name).await?;
        self.switch_language("en").await
    }

    /// Switches the page's language with the switch in the header.
    pub async fn switch_language(&mut self, code: &str) -> anyhow::Result<()> {
        self.browser.select("#lang", code).await?;
        let lang = self
            .browser
            .execute("return document.documentElement.lang;", vec![])
            .await?;
        assert_eq!(lang, code);
        self.lang = code.to_owned();
        Ok(())
    }

    pub async fn stop(self) {
        self.browser.quit().await;
        self.system.stop().await;
    }
}
