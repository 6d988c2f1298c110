//! Progress on the terminal: one line rewritten in place on a terminal, a line every few
//! seconds otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    tty: bool,
    started: Instant,
    last_line: Option<Instant>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_line: None,
        }
    }

    /// Shows `what` (with the time since the start).
    pub fn show(&mut self, what: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        if self.tty {
            eprint!("\r\x1b[2K  [{elapsed:6.1} s] {what}");
            let _ = std::io::stderr().flush();
        } else if self
            .last_line
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            eprintln!("  [{elapsed:6.1} s] {what}");
            self.last_line = Some(Instant::now());
        }
    }

    /// Ends the progress line with `what`.
    pub fn done(&mut self, what: &str) {
        let elapsed = self.started.elapsed().as_secs_f64();
        if self.tty {
            eprintln!("\r\x1b[2K  [{elapsed:6.1} s] {what}");
        } else {
            eprintln!("  [{elapsed:6.1} s] {what}");
        }
    }
}

/// A section heading.
pub fn step(what: &str) {
    eprintln!("==> {what}");
}
