//! The optional snapshot file (`SANDBOX_SNAPSHOT_FILE`): the mailboxes and orgs with all their
//! data and tokens, as JSON. Loaded at start when the file exists; written on shutdown and on
//! `POST /_sandbox/snapshot`, atomically (a temporary file renamed over the old one).
//!
//! Not kept: call counters, fault settings, concurrency limits, Zoho page tokens and
//! calendar-view sync states
//! (old calendar delta links answer 410 after a restart, as after an Exchange cache flush;
//! contact and task delta links keep working, their tokens are self-describing).

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::graph::store::GraphWorld;
use crate::state::World;
use crate::time;
use crate::zoho::store::ZohoWorld;

const VERSION: u32 = 1;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    saved_at: DateTime<Utc>,
    graph: &'a GraphWorld,
    zoho: &'a ZohoWorld,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    graph: GraphWorld,
    zoho: ZohoWorld,
}

/// The world as snapshot JSON (taken under the lock: it is consistent).
pub fn to_json(world: &World) -> anyhow::Result<Vec<u8>> {
    let snapshot = SnapshotRef {
        version: VERSION,
        saved_at: time::now(),
        graph: &world.graph,
        zoho: &world.zoho,
    };
    Ok(serde_json::to_vec(&snapshot)?)
}

/// Writes `bytes` to `path` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut temporary = PathBuf::from(path);
    temporary.set_extension("tmp");
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Loads `path` into `world` if it exists; `Ok(false)` when there is no file yet. A file that
/// does not parse is an error: starting empty would silently lose it at the next save.
pub fn load(path: &Path, world: &mut World) -> anyhow::Result<bool> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let snapshot: Snapshot = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a sandbox snapshot", path.display()))?;
    anyhow::ensure!(
        snapshot.version == VERSION,
        "{} has snapshot version {}, this sandbox reads {VERSION}",
        path.display(),
        snapshot.version
    );
    let budget = world.zoho.default_credit_budget;
    world.graph = snapshot.graph;
    world.zoho = snapshot.zoho;
    world.zoho.default_credit_budget = budget;
    Ok(true)
}
