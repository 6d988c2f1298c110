//! The services as separate OS processes, started from the built binaries, and what each one
//! costs: peak resident memory (`VmHWM`), current resident memory (`VmRSS`) and CPU seconds
//! (`utime + stime`), read from `/proc/<pid>/`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::process::{Child, Command};

/// Linux reports `utime`/`stime` in clock ticks of `USER_HZ`, which is 100 on every architecture
/// Linux supports today (the kernel fixes it for user space, whatever `CONFIG_HZ` is).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// The binaries the benchmark starts, in start order.
pub const SANDBOX: &str = "sandbox";
pub const AUTH: &str = "auth-service";
pub const SYNC: &str = "sync-service";
pub const OUTLOOK: &str = "connector-outlook";
pub const ZOHO: &str = "connector-zoho";
pub const ALL: [&str; 5] = [SANDBOX, AUTH, SYNC, OUTLOOK, ZOHO];

/// What one process cost so far.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// Peak resident set since the process started, in MiB.
    pub peak_rss_mib: f64,
    /// Resident set now, in MiB.
    pub rss_mib: f64,
    /// User and system CPU time since the process started.
    pub cpu_secs: f64,
}

/// Reads a process's usage from `/proc`; `None` once it has gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis are
    // plain. utime and stime are fields 14 and 15, i.e. the 12th and 13th after it.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let cpu = ticks(11)? + ticks(12)?;
    Some(Usage {
        peak_rss_mib: kib("VmHWM:") / 1024.0,
        rss_mib: kib("VmRSS:") / 1024.0,
        cpu_secs: cpu / CLOCK_TICKS_PER_SEC,
    })
}

/// A running service process. Killed when dropped.
pub struct ServiceProcess {
    pub name: &'static str,
    pub url: String,
    pub pid: u32,
    pub log: PathBuf,
    child: Child,
}

impl ServiceProcess {
    /// Starts `bin_dir/name` with `env`, its output appended to `log` (a restarted process
    /// goes on in the same file, after a line saying so).
    pub fn start(
        bin_dir: &Path,
        name: &'static str,
        port: u16,
        env: &[(String, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        Self::start_as(bin_dir, name, name, port, env, log)
    }

    /// [`ServiceProcess::start`] of `bin_dir/binary`, known as `name` (a second replica of a
    /// service).
    pub fn start_as(
        bin_dir: &Path,
        binary: &str,
        name: &'static str,
        port: u16,
        env: &[(String, String)],
        log: PathBuf,
    ) -> anyhow::Result<Self> {
        let binary = bin_dir.join(binary);
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing: build the services first (`cargo build --release --bins -p sandbox \
             -p auth-service -p sync-service -p connector-outlook -p connector-zoho`, or run the \
             benchmark through `cargo run -p bench`, which builds them)",
            binary.display()
        );
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        if out.metadata().map(|m| m.len() > 0).unwrap_or(false) {
            use std::io::Write as _;
            let _ = writeln!(out, "===== {name} started again by the harness =====");
        }
        let err = out.try_clone()?;
        let child = Command::new(&binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id().context("the process ended at once")?;
        Ok(ServiceProcess {
            name,
            url: format!("http://127.0.0.1:{port}"),
            pid,
            log,
            child,
        })
    }

    /// Waits until `path` answers 2xx, failing early when the process ends.
    pub async fn wait_ready(&mut self, http: &reqwest::Client, path: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} stopped ({status}) while starting; its log: {}\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log)
                );
            }
            if let Ok(resp) = http.get(format!("{}{path}", self.url)).send().await
                && resp.status().is_success()
            {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} is not ready after 90 s; its log: {}",
                self.name,
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn usage(&self) -> Usage {
        usage(self.pid).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process with SIGKILL and waits for it to be gone.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Stops the process (SIGKILL through tokio; nothing of the benchmark needs a graceful stop).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A free TCP port on 127.0.0.1 (bound, then released for the service to take).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
