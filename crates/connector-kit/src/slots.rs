//! The per-user bound on provider requests in flight across replicas: the `api_slots` table in
//! the connector's schema, one row per user and slot (`0..max`), made on first use. A slot is free
//! when its `held_until` has passed; taking one sets the holder and `held_until = now() + lease`,
//! giving it back sets `held_until` to `-infinity`.
//!
//! `k` slots are taken all or none in one statement (`FOR UPDATE SKIP LOCKED`, so acquirers never
//! wait on each other's row locks): when fewer than `k` are free, none is taken, and the
//! acquirer tries again after a short jittered pause. Nobody holds some slots while waiting for
//! more, so two acquirers can never deadlock. Every time is the database's clock, so replicas
//! need not agree on theirs.
//!
//! The lease outlasts any HTTP timeout, so the slots of a replica that died (or of a call that
//! was cancelled or panicked before it could give them back, or whose release failed) free
//! themselves when it ends. Each acquisition has its own holder name, so a late release never
//! frees slots somebody else took over since.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use sqlx::PgPool;
use sync_model::UserId;

/// Shortest and longest pause between two attempts to take slots.
const MIN_PAUSE: Duration = Duration::from_millis(4);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// The slot table of one connector schema, shared by the gates of one replica.
#[derive(Clone)]
pub struct SlotTable {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Names this replica in `holder` (with a fresh id per acquisition).
    replica: String,
    lease: Duration,
    /// Users (and slot counts) whose rows this replica has already made.
    made: Mutex<HashSet<(UserId, i16)>>,
}

impl SlotTable {
    /// `lease` must be longer than the HTTP client's timeout: a call still running when its
    /// lease ends no longer counts against the bound.
    pub fn new(pool: PgPool, replica: impl Into<String>, lease: Duration) -> SlotTable {
        SlotTable {
            inner: Arc::new(Inner {
                pool,
                replica: replica.into(),
                lease,
                made: Mutex::default(),
            }),
        }
    }

    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// Makes the user's slots `0..max` unless this replica already did.
    async fn make_rows(&self, user: UserId, max: i16) -> sqlx::Result<()> {
        let key = (user, max);
        if self.made().contains(&key) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO api_slots (user_id, slot)
             SELECT $1, generate_series(0, $2 - 1)::smallint
             ON CONFLICT DO NOTHING",
        )
        .bind(user.0)
        .bind(max)
        .execute(&self.inner.pool)
        .await?;
        self.made().insert(key);
        Ok(())
    }

    fn made(&self) -> std::sync::MutexGuard<'_, HashSet<(UserId, i16)>> {
        self.inner.made.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `weight` of the user's slots `0..max` (all at once), waiting as long as it takes.
    /// A database error ends the wait; nothing is held then.
    pub async fn acquire(&self, user: UserId, max: usize, weight: usize) -> sqlx::Result<Held> {
        let max = i16::try_from(max.max(1)).unwrap_or(i16::MAX);
        let weight = weight.clamp(1, max as usize) as i64;
        self.make_rows(user, max).await?;
        // Armed before the statement is sent: if this future is dropped while the statement
        // runs, the guard gives back whatever it may have taken.
        let mut held = Held {
            table: self.clone(),
            user,
            holder: format!("{}/{}", self.inner.replica, uuid::Uuid::new_v4().simple()),
            slots: Vec::new(),
            armed: false,
        };
        let mut pause = MIN_PAUSE;
        loop {
            held.armed = true;
            let taken: Vec<i16> = sqlx::query_scalar(
                "WITH free AS MATERIALIZED (
                     SELECT slot FROM api_slots
                     WHERE user_id = $1 AND slot < $2 AND held_until < now()
                     ORDER BY slot
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE api_slots s
                 SET holder = $4, held_until = now() + make_interval(secs => $5)
                 FROM free
                 WHERE s.user_id = $1 AND s.slot = free.slot
                   AND (SELECT count(*) FROM free) = $3
                 RETURNING s.slot",
            )
            .bind(user.0)
            .bind(max)
            .bind(weight)
            .bind(&held.holder)
            .bind(self.inner.lease.as_secs_f64())
            .fetch_all(&self.inner.pool)
            .await?;
            if taken.len() as i64 == weight {
                held.slots = taken;
                return Ok(held);
            }
            // All or none: nothing was taken.
            held.armed = false;
            let millis = rand::rng().random_range(pause.as_millis() / 2..=pause.as_millis());
            tokio::time::sleep(Duration::from_millis(millis as u64)).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    async fn release(&self, user: UserId, holder: &str) {
        let done = sqlx::query(
            "UPDATE api_slots SET holder = NULL, held_until = '-infinity'
             WHERE user_id = $1 AND holder = $2",
        )
        .bind(user.0)
        .bind(holder)
        .execute(&self.inner.pool)
        .await;
        if let Err(err) = done {
            tracing::warn!(error = %err, "cannot give API slots back; their lease frees them");
        }
    }

    /// How many of the user's slots are held right now (for tests and diagnostics).
    pub async fn held(&self, user: UserId) -> sqlx::Result<i64> {
        sqlx::query_scalar(
            "SELECT count(*) FROM api_slots WHERE user_id = $1 AND held_until >= now()",
        )
        .bind(user.0)
        .fetch_one(&self.inner.pool)
        .await
    }
}

/// Slots taken for one call. [`Held::release`] gives them back; dropped without it (a cancelled
/// or panicking call), they are given back in the background, and should that fail too, their
/// lease ends.
pub struct Held {
    table: SlotTable,
    user: UserId,
    holder: String,
    slots: Vec<i16>,
    armed: bool,
}

impl Held {
    pub fn slots(&self) -> &[i16] {
        &self.slots
    }

    pub async fn release(mut self) {
        self.armed = false;
        self.table.release(self.user, &self.holder).await;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (table, user, holder) = (self.table.clone(), self.user, self.holder.clone());
            runtime.spawn(async move { table.release(user, &holder).await });
        }
    }
}
