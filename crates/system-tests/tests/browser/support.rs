//! What every browser test needs: the whole system with `web`, a headless Chromium, a user, and
//! screenshots saved under `target/screenshots/<lang>/`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use system_tests::browser::{Browser, BrowserOptions, keys};
use system_tests::{System, USER_PASSWORD, spawn_system_with_web};
use totp_rs::{Algorithm, Secret, TOTP};

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

/// A phone's width in CSS pixels (a common one).
const PHONE_WIDTH: u32 = 390;

/// axe-core's source, vendored in `fixtures/axe-core/` (read once).
fn axe_source() -> String {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let path = test_support::fixtures::root().join("axe-core/axe.min.js");
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .clone()
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

    /// Saves `target/screenshots/<lang>/<name>.png` of the whole page at the laptop's width and
    /// `target/screenshots/<lang>/phone/<name>.png` at a phone's, after checking the screen at
    /// both widths: every visible control labelled, no serious or critical axe-core violation,
    /// and on the phone nothing wider than the screen nor squeezed to a letter per line.
    pub async fn shot(&self, name: &str) -> anyhow::Result<()> {
        // Let fonts and the last render settle.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let unlabelled = self.browser.unlabelled_controls().await?;
        assert!(
            unlabelled.is_empty(),
            "controls without a label on {name}: {unlabelled:?}"
        );
        let axe = axe_source();
        let violations = self.browser.accessibility_violations(&axe).await?;
        assert!(
            violations.is_empty(),
            "accessibility violations on {name} ({}): {violations:#?}",
            self.lang
        );
        let dir = screenshot_dir().join(&self.lang);
        self.browser
            .screenshot(&dir.join(format!("{name}.png")), true)
            .await?;
        self.browser.phone(PHONE_WIDTH, 844).await?;
        let checked = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let cramped = self.browser.cramped().await?;
            assert!(
                cramped.is_empty(),
                "{name} ({}) on a phone: {cramped:#?}",
                self.lang
            );
            let violations = self.browser.accessibility_violations(&axe).await?;
            assert!(
                violations.is_empty(),
                "accessibility violations on {name} ({}) on a phone: {violations:#?}",
                self.lang
            );
            self.browser
                .phone_screenshot(&dir.join("phone").join(format!("{name}.png")), PHONE_WIDTH)
                .await
        }
        .await;
        self.browser.laptop().await?;
        checked
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

/// The authenticator app: codes for the secret shown on the page.
pub fn authenticator(secret: &str) -> TOTP {
    let secret: String = secret.chars().filter(|c| !c.is_whitespace()).collect();
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        0,
        30,
        Secret::Encoded(secret).to_bytes().expect("a base32 secret"),
        None,
        String::new(),
    )
}

/// The code `steps_ahead` 30-second steps from now (the service accepts one step of drift and
/// never the same step twice).
pub fn code(totp: &TOTP, steps_ahead: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    totp.generate(now + steps_ahead * 30)
}
