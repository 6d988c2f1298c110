//! The whole emulated world lives in memory behind one `tokio::sync::Mutex`. One lock keeps every
//! call atomic (a write and its change sequence number, a delta page and its upper bound) without
//! any reasoning about lock order; the sandbox serves tests and a demo, not production load.

use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard};

use crate::graph::store::GraphWorld;
use crate::meter::Meter;
use crate::settings::Settings;
use crate::zoho::store::ZohoWorld;

/// Everything the sandbox knows.
#[derive(Default)]
pub struct World {
    pub graph: GraphWorld,
    pub zoho: ZohoWorld,
    pub meter: Meter,
}

/// Handler state: the settings and the world.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    world: Mutex<World>,
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        AppState {
            inner: Arc::new(Shared {
                settings,
                world: Mutex::new(World::default()),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub async fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().await
    }
}
