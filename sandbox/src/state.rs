//! The whole emulated world lives in memory behind one `std::sync::Mutex`. One lock keeps every
//! call atomic (a write and its change sequence number, a delta page and its upper bound) without
//! any reasoning about lock order. Handlers take it, do their (short, synchronous) work and drop
//! it; a `std` guard is not `Send`, so the compiler refuses any handler that would hold it across
//! an `.await` (latency injection, batches and snapshots all release it first).

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;

use crate::faults::Faults;
use crate::graph::concurrency::Concurrency;
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
    pub faults: Faults,
    /// Graph requests in flight per mailbox and app, and the limit on them.
    pub concurrency: Concurrency,
}

/// Handler state: the settings and the world.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    world: Mutex<World>,
    /// The assembled application, so `$batch` can send its requests through the same routes,
    /// gate and handlers as single calls. Set once the router is built.
    router: Mutex<Option<Router>>,
    /// The OpenID Connect provider (sign-in tests), apart from the mailboxes and orgs.
    oidc: Mutex<crate::oidc::Provider>,
}

impl AppState {
    pub fn new(settings: Settings) -> Self {
        let mut world = World::default();
        world.zoho.default_credit_budget = settings.zoho_credit_budget;
        AppState {
            inner: Arc::new(Shared {
                settings,
                world: Mutex::new(world),
                router: Mutex::new(None),
                oidc: Mutex::new(crate::oidc::Provider::default()),
            }),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The world, locked. A handler that panicked while holding the lock left it consistent
    /// enough for a test double (every mutation is a few field writes), so poisoning is ignored.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.inner
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The OpenID Connect provider, locked (poisoning ignored, as for the world).
    pub fn oidc(&self) -> MutexGuard<'_, crate::oidc::Provider> {
        self.inner
            .oidc
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn install_router(&self, router: Router) {
        *self
            .inner
            .router
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(router);
    }

    /// The whole application (a cheap clone), for requests made from inside a handler.
    pub fn router(&self) -> Option<Router> {
        self.inner
            .router
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Drops the router, breaking the state → router → state cycle when the server stops.
    pub fn uninstall_router(&self) {
        self.inner
            .router
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}
