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
