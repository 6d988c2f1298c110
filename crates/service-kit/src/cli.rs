//! The subcommands every service binary offers: `serve` (the default), `migrate` (apply the
//! schema and exit, for a deploy step) and `healthcheck` (exit 0 when `/health/ready` answers
//! 200; the container health check, which needs no curl in the image).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Serve,
    Migrate,
    Healthcheck,
}

impl Command {
    pub fn from_args() -> anyhow::Result<Command> {
        match std::env::args().nth(1).as_deref() {
            None | Some("serve") => Ok(Command::Serve),
            Some("migrate") => Ok(Command::Migrate),
            Some("healthcheck") => Ok(Command::Healthcheck),
            Some(other) => {
                anyhow::bail!("unknown command `{other}`; use serve, migrate or healthcheck")
            }
        }
    }
}

/// The common commands plus a binary's own ones (e.g. auth-service's `reencrypt`). A separate
/// type, so binaries that only know [`Command`] (and match on it exhaustively) are unaffected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invocation {
    Common(Command),
    /// One of the names the binary passed to [`Invocation::from_args`].
    Own(&'static str),
}

impl Invocation {
    pub fn from_args(own: &[&'static str]) -> anyhow::Result<Invocation> {
        let arg = std::env::args().nth(1);
        if let Some(name) = own.iter().find(|name| arg.as_deref() == Some(**name)) {
            return Ok(Invocation::Own(name));
        }
        match arg.as_deref() {
            None | Some("serve" | "migrate" | "healthcheck") => {
                Command::from_args().map(Invocation::Common)
            }
            Some(other) => {
                let mut known = vec!["serve", "migrate", "healthcheck"];
                known.extend_from_slice(own);
                anyhow::bail!("unknown command `{other}`; use {}", known.join(", "))
            }
        }
    }
}

/// Asks the local service's readiness endpoint; the port is the service's own.
pub fn healthcheck(port: u16) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /health/ready HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status_line = answer.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        anyhow::bail!("not ready: {status_line}")
    }
}
