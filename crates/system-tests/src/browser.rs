//! A small W3C WebDriver client for the browser tests: Debian's headless Chromium driven through
//! `chromedriver` over plain HTTP and JSON (the protocol is a handful of calls; this avoids a
//! WebDriver crate and its dependency tree). Every lookup waits for its element, so the tests
//! read as steps a person takes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a lookup waits for its element by default.
const WAIT: Duration = Duration::from_secs(20);

/// WebDriver key codes.
pub mod keys {
    pub const ENTER: &str = "\u{E007}";
    pub const TAB: &str = "\u{E004}";
    pub const SHIFT: &str = "\u{E008}";
}

/// Where the browser and its driver are: `CHROMIUM` / `CHROMEDRIVER`, else Debian's paths.
fn executable(variable: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|dir| candidates.iter().map(move |c| dir.join(c)))
                .find(|p| p.exists())
        })
}

/// Whether Chromium and chromedriver are installed (scripts/test.sh installs them).
pub fn available() -> bool {
    chromium().is_some() && chromedriver().is_some()
}

fn chromium() -> Option<PathBuf> {
    executable("CHROMIUM", &["/usr/bin/chromium", "chromium"])
}

fn chromedriver() -> Option<PathBuf> {
    executable("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"])
}

/// A headless Chromium with its own driver and profile; ends both when dropped.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver_url: String,
    driver: Child,
    profile: PathBuf,
}

/// What the browser is started with.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The browser's language (`en-US`, `ja`): what the page sees in `navigator.languages`.
    pub language: String,
    pub width: u32,
    pub height: u32,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            language: "en-US".into(),
            width: 1280,
            height: 900,
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

impl Browser {
    pub async fn start(options: BrowserOptions) -> anyhow::Result<Browser> {
        let chromium =
            chromium().context("chromium is not installed (apt-get install chromium)")?;
        let driver_path = chromedriver()
            .context("chromedriver is not installed (apt-get install chromium-driver)")?;
        let profile = std::env::temp_dir().join(format!("ozs-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile)?;
        let port = free_port()?;
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot start chromedriver")?;
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let started = Instant::now();
        loop {
            let ready = http
                .get(format!("{driver_url}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not start");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--lang={}", options.language),
            format!("--window-size={},{}", options.width, options.height),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": args,
                        "prefs": {"intl.accept_languages": options.language},
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }
            }
        });
        let answer: Value = http
            .post(format!("{driver_url}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json()
            .await?;
        let session = answer
            .pointer("/value/sessionId")
            .and_then(Value::as_str)
            .with_context(|| format!("no WebDriver session: {answer}"))?
            .to_owned();
        Ok(Browser {
            http,
            session,
            driver_url,
            driver,
            profile,
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.driver_url, self.session);
        let mut request = self.http.request(method.clone(), &url);
        if method == reqwest::Method::POST {
            request = request.json(&body);
        }
        let answer: Value = request.send().await?.json().await?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let message = value.get("message").and_then(Value::as_str).unwrap_or("");
            bail!("WebDriver {path}: {error}: {message}");
        }
        Ok(value)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.command(reqwest::Method::POST, path, body).await
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.command(reqwest::Method::GET, path, Value::Null).await
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.post("/url", json!({"url": url})).await?;
        Ok(())
    }

    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self
            .get("/url")
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .await
    }

    async fn find_now(&self, css: &str) -> anyhow::Result<Option<String>> {
        let found = self
            .post("/elements", json!({"using": "css selector", "value": css}))
            .await?;
        Ok(found
            .as_array()
            .and_then(|a| a.first())
            .and_then(|e| e.get(ELEMENT))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// The first element matching `css` that is displayed, waiting for it.
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        self.find_within(css, WAIT).await
    }

    pub async fn find_within(&self, css: &str, wait: Duration) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            if let Some(id) = self.find_now(css).await?
                && self
                    .get(&format!("/element/{id}/displayed"))
                    .await
                    .ok()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
            {
                return Ok(id);
            }
            if started.elapsed() > wait {
                bail!(
                    "no visible `{css}` after {wait:?} on {}",
                    self.current_url().await?
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether an element matching `css` is displayed now.
    pub async fn visible(&self, css: &str) -> anyhow::Result<bool> {
        Ok(match self.find_now(css).await? {
            // A stale element was just replaced by a re-render: not visible as such.
            Some(id) => self
                .get(&format!("/element/{id}/displayed"))
                .await
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false),
            None => false,
        })
    }

    /// Runs an element command on the element `css` finds, finding it again when a re-render
    /// replaced it in between (a "stale element reference").
    async fn on_element(
        &self,
        css: &str,
        method: reqwest::Method,
        command: &str,
        body: Value,
        scroll: bool,
    ) -> anyhow::Result<Value> {
        let mut attempts = 0;
        loop {
            let id = self.find(css).await?;
            if scroll {
                let _ = self.scroll_to(&id).await;
            }
            match self
                .command(
                    method.clone(),
                    &format!("/element/{id}{command}"),
                    body.clone(),
                )
                .await
            {
                Err(err) if attempts < 5 && err.to_string().contains("stale element") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/click"), json!({}))
            .await?;
        Ok(())
    }

    /// Clears the field and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.find(css).await?;
        self.post(&format!("/element/{id}/clear"), json!({}))
            .await?;
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await?;
        Ok(())
    }

    /// Types into the element (keys included, e.g. [`keys::ENTER`]) without clearing it.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        self.on_element(
            css,
            reqwest::Method::POST,
            "/value",
            json!({"text": text}),
            false,
        )
        .await?;
        Ok(())
    }

    async fn scroll_to(&self, id: &str) -> anyhow::Result<()> {
        self.execute(
            "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});",
            vec![json!({ELEMENT: id})],
        )
        .await?;
        Ok(())
    }

    /// Picks the option with `value` in a `<select>`, as a person would, and fires `change`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let option = format!("{css} option[value=\"{value}\"]");
        self.find(css).await?;
        let id = self
            .find_now(&option)
            .await?
            .with_context(|| format!("no option `{value}` in `{css}`"))?;
        self.post(&format!("/element/{id}/click"), json!({}))
            .await?;
        Ok(())
    }

    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self
            .on_element(css, reqwest::Method::GET, "/text", Value::Null, false)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub async fn attribute(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .on_element(
                css,
                reqwest::Method::GET,
                &format!("/attribute/{name}"),
                Value::Null,
                false,
            )
            .await?
            .as_str()
            .map(str::to_owned))
    }

    /// Waits until the text of `css` contains `needle`; returns the text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> anyhow::Result<String> {
        self.wait_for_text_within(css, needle, WAIT).await
    }

    pub async fn wait_for_text_within(
        &self,
        css: &str,
        needle: &str,
        wait: Duration,
    ) -> anyhow::Result<String> {
        let started = Instant::now();
        let mut last = String::new();
        loop {
            if let Some(id) = self.find_now(css).await? {
                last = self
                    .get(&format!("/element/{id}/text"))
                    .await
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                if last.contains(needle) {
                    return Ok(last);
                }
            }
            if started.elapsed() > wait {
                bail!("`{css}` never read `{needle}` (last: `{last}`)");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until `css` matches nothing displayed.
    pub async fn wait_gone(&self, css: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        while self.visible(css).await? {
            if started.elapsed() > WAIT {
                bail!("`{css}` is still shown");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Presses keys on whatever has the focus (e.g. [`keys::TAB`]).
    pub async fn press(&self, keys: &[&str]) -> anyhow::Result<()> {
        let mut actions = Vec::new();
        for key in keys {
            actions.push(json!({"type": "keyDown", "value": key}));
            actions.push(json!({"type": "keyUp", "value": key}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await?;
        self.command(reqwest::Method::DELETE, "/actions", Value::Null)
            .await?;
        Ok(())
    }

    /// The `id` of the focused element (empty when it has none).
    pub async fn focused_id(&self) -> anyhow::Result<String> {
        Ok(self
            .execute(
                "return document.activeElement ? document.activeElement.id : '';",
                vec![],
            )
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Saves a PNG of the viewport (the whole page's height when `full_page`).
    pub async fn screenshot(&self, path: &Path, full_page: bool) -> anyhow::Result<()> {
        let mut restore = None;
        if full_page {
            let height = self
                .execute(
                    "return Math.ceil(document.documentElement.scrollHeight);",
                    vec![],
                )
                .await?
                .as_u64()
                .unwrap_or(900);
            let rect = self.get("/window/rect").await?;
            restore = Some(rect.clone());
            let width = rect.get("width").and_then(Value::as_u64).unwrap_or(1280);
            self.post(
                "/window/rect",
                json!({"width": width, "height": height.clamp(600, 4000) + 140}),
            )
            .await?;
        }
        let data = self.get("/screenshot").await?;
        if let Some(rect) = restore {
            self.post(
                "/window/rect",
                json!({"width": rect["width"], "height": rect["height"]}),
            )
            .await?;
        }
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .context("screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// The text of the open `window.confirm`/`alert` dialog, waiting for one to open.
    pub async fn dialog_text(&self) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            match self.get("/alert/text").await {
                Ok(text) => return Ok(text.as_str().unwrap_or_default().to_owned()),
                Err(err) if started.elapsed() < WAIT => {
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Answers the open dialog: OK (`accept`) or Cancel.
    pub async fn answer_dialog(&self, accept: bool) -> anyhow::Result<()> {
        let path = if accept {
            "/alert/accept"
        } else {
            "/alert/dismiss"
        };
        self.post(path, json!({})).await?;
        Ok(())
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.post("/goog/cdp/execute", json!({"cmd": cmd, "params": params}))
            .await
    }

    /// Shows the page as a phone of `width` CSS pixels would (a mobile viewport, touch), until
    /// [`Browser::laptop`]; the page reflows as on the phone.
    pub async fn phone(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": true}),
        )
        .await?;
        Ok(())
    }

    /// Back to the window's own size after [`Browser::phone`].
    pub async fn laptop(&self) -> anyhow::Result<()> {
        self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
            .await?;
        Ok(())
    }

    /// Saves a PNG of the whole page at the phone width set by [`Browser::phone`].
    pub async fn phone_screenshot(&self, path: &Path, width: u32) -> anyhow::Result<()> {
        let height = self
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight);",
                vec![],
            )
            .await?
            .as_u64()
            .unwrap_or(844)
            .clamp(600, 6000);
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                }),
            )
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .context("screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Runs axe-core (its source in `axe_source`, injected once per page load) on the page and
    /// returns its serious and critical violations, one line each: rule, help, where.
    pub async fn accessibility_violations(&self, axe_source: &str) -> anyhow::Result<Vec<String>> {
        let loaded = self
            .execute("return typeof window.axe === 'object';", vec![])
            .await?;
        if loaded != Value::Bool(true) {
            self.execute(&format!("{axe_source}\n;return true;"), vec![])
                .await?;
        }
        let found = self
            .execute(
                "return axe.run(document, {resultTypes: ['violations']}).then((r) => r.violations
                    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                    .map((v) => `${v.impact} ${v.id}: ${v.help} at `
                        + v.nodes.slice(0, 5).map((n) => n.target.join(' ')).join(', ')));",
                vec![],
            )
            .await?;
        Ok(strings(&found))
    }

    /// What a phone would have to scroll sideways for, and table cells squeezed below a few
    /// characters (text printed one letter per line).
    pub async fn cramped(&self) -> anyhow::Result<Vec<String>> {
        let found = self
            .execute(
                "const out = [];
                 const root = document.documentElement;
                 if (root.scrollWidth > window.innerWidth + 1) {
                   out.push(`page is ${root.scrollWidth}px wide in a ${window.innerWidth}px screen`);
                 }
                 for (const cell of document.querySelectorAll('main td, main th, main dd')) {
                   const text = cell.textContent.trim();
                   if (cell.offsetParent === null || text.length < 4) continue;
                   const style = getComputedStyle(cell);
                   const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.3;
                   const lines = cell.scrollHeight / lineHeight;
                   if (cell.clientWidth < 48 || (lines > 6 && lines > text.length / 3)) {
                     out.push(`${cell.tagName.toLowerCase()} \"${text.slice(0, 30)}\" is ${cell.clientWidth}px wide`);
                   }
                 }
                 return out;",
                vec![],
            )
            .await?;
        Ok(strings(&found))
    }

    /// Form controls in `<main>` that have neither a `<label>` nor an `aria-label`: a quick
    /// accessibility check of the current screen.
    pub async fn unlabelled_controls(&self) -> anyhow::Result<Vec<String>> {
        let found = self
            .execute(
                "return [...document.querySelectorAll('main input, main select, main textarea')]
                    .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
                    .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')
                        && !e.getAttribute('aria-labelledby'))
                    .map(e => e.outerHTML);",
                vec![],
            )
            .await?;
        Ok(strings(&found))
    }

    /// The page's console messages and errors since the last call (Chromium's log).
    pub async fn console(&self) -> anyhow::Result<Vec<String>> {
        let entries = self.post("/se/log", json!({"type": "browser"})).await?;
        Ok(entries
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        format!(
                            "{} {}",
                            e.get("level").and_then(Value::as_str).unwrap_or(""),
                            e.get("message").and_then(Value::as_str).unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Ends the browser session and the driver.
    pub async fn quit(mut self) {
        let _ = self.command(reqwest::Method::DELETE, "", Value::Null).await;
        self.session.clear();
        let _ = self.driver.kill().await;
    }
}

/// Ends a WebDriver session synchronously (from `Drop`, where nothing can be awaited), so that
/// chromedriver closes its Chromium before it is killed.
fn delete_session_blocking(driver_url: &str, session: &str) {
    use std::io::{Read, Write};
    let Some(authority) = driver_url.strip_prefix("http://") else {
        return;
    };
    let Ok(mut stream) = std::net::TcpStream::connect(authority) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            delete_session_blocking(&self.driver_url, &self.session);
        }
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The strings of a script's answer that is a JSON array of them (anything else: none).
fn strings(found: &Value) -> Vec<String> {
    found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
