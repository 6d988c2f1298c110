//! Watches and applied commands in the connector's schema.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use sqlx::PgPool;
use sync_model::{ItemKind, UserId};
use sync_protocol::{ApplyOutcome, PollClaim, WatchScope};
use uuid::Uuid;

/// A claimed watch: what to poll and where the last poll stopped.
#[derive(Debug, Clone)]
pub struct Watch {
    pub user_id: UserId,
    pub kind: ItemKind,
    pub container_id: Option<String>,
    pub poll_interval: Duration,
    pub cursor: Option<serde_json::Value>,
    /// The round in progress started without a cursor: it reads everything.
    pub full_read: bool,
    /// Items the round in progress has read so far.
    pub round_items: i64,
    /// An admin's resync (`poll` with `full`) waits for its full round to begin.
    pub resync_requested: bool,
    /// The resync round in progress, if the round in progress is one (see [`Round::id`]).
    pub round_id: Option<Uuid>,
    /// The watch's scope generation when claimed: a round may only save its cursor while it
    /// has not moved on (a new scope asks for a new full read).
    pub generation: i64,
    /// The re-scope the round in progress reads for (tags its messages), if any.
    pub rescope: Option<Uuid>,
    /// A links rebuild asked for the identities our copies carry: the full read publishes
    /// every item with the identity it carries (see [`Store::poll_kind_now`]).
    pub identify: bool,
    /// Commands of this user and kind answered so far (a counter; see [`Store::record_applied`]).
    pub answered: i64,
    /// The end of this round must be reported even if it reads nothing: a command was answered
    /// since the last reported end, or that report is older than [`QUIET_REPORT_EVERY`].
    pub report_due: bool,
    /// This claim of the watch, put on every message of the round (decisions #112).
    pub claim: PollClaim,
    /// Provider calls made for the user in the last 24 hours when the watch was claimed...
    pub calls_used: u64,
    /// ...and when the oldest hour of those leaves the window.
    pub calls_oldest: Option<DateTime<Utc>>,
}

/// A round that reads nothing is still reported this often (decisions #74): sync-service's
/// "last read" stays this fresh, and anything waiting there for a round end of this side that
/// no answered command announced is served within this time.
pub const QUIET_REPORT_EVERY: Duration = Duration::from_secs(600);

#[derive(sqlx::FromRow)]
struct WatchRow {
    user_id: Uuid,
    kind: String,
    container_id: Option<String>,
    poll_interval_secs: i32,
    cursor: Option<serde_json::Value>,
    full_read: bool,
    round_items: i64,
    resync_requested: bool,
    round_id: Option<Uuid>,
    generation: i64,
    rescope: Option<Uuid>,
    identify: bool,
    answered: i64,
    report_due: bool,
    claim: i64,
    calls_used: i64,
    calls_oldest: Option<DateTime<Utc>>,
}

impl TryFrom<WatchRow> for Watch {
    type Error = anyhow::Error;
    fn try_from(row: WatchRow) -> anyhow::Result<Watch> {
        Ok(Watch {
            user_id: UserId(row.user_id),
            kind: row.kind.parse()?,
            container_id: row.container_id,
            poll_interval: Duration::from_secs(row.poll_interval_secs.max(1) as u64),
            cursor: row.cursor,
            full_read: row.full_read,
            round_items: row.round_items,
            resync_requested: row.resync_requested,
            round_id: row.round_id,
            generation: row.generation,
            rescope: row.rescope,
            identify: row.identify,
            answered: row.answered,
            report_due: row.report_due,
            claim: PollClaim(row.claim),
            calls_used: row.calls_used.max(0) as u64,
            calls_oldest: row.calls_oldest,
        })
    }
}

pub use sync_model::WatchState;

/// A watch as the status page shows it.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct WatchStatus {
    pub kind: String,
    pub active: bool,
    pub container_id: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: WatchState,
    pub last_error: Option<String>,
    pub last_polled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub next_poll_at: chrono::DateTime<chrono::Utc>,
    pub has_cursor: bool,
}

/// A watch not polling normally, with its user (for the admin console).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct UnwellWatch {
    pub user_id: uuid::Uuid,
    pub kind: String,
    #[sqlx(try_from = "String")]
    pub state: WatchState,
    pub next_poll_at: chrono::DateTime<chrono::Utc>,
}

/// The state of a poll round, saved with its cursor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub full: bool,
    pub items: i64,
    /// Set for a full round that re-reads a scope already read: the id of its `read_started`
    /// message, cleared when an item could not be read (its absence proves nothing then).
    pub id: Option<Uuid>,
    /// The re-scope this round reads for (a full round that started after the request).
    pub rescope: Option<Uuid>,
}

/// How a round that went well ends ([`Store::finish_round`]).
#[derive(Debug, Clone, Copy)]
pub struct RoundEnd<'a> {
    /// The cursor to go on from; `None`: the next round is a full read.
    pub cursor: Option<&'a serde_json::Value>,
    /// Provider calls of the last page, not counted yet.
    pub calls: u64,
    /// The round was the identify read asked for.
    pub identified: bool,
    /// Its end was published to sync-service.
    pub reported: bool,
}

/// Whether a cursor was saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Kept,
    /// The watch was claimed again since (by another replica, or by this one once the lease
    /// ran out while the round stalled).
    LeaseLost,
    /// The scope changed during the round: it must stop; a full read of the new scope is due.
    Rescoped,
}

#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Store { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Starts, changes or stops a watch. A new container means a new full read.
    pub async fn set_watch(
        &self,
        user: UserId,
        kind: ItemKind,
        scope: Option<&WatchScope>,
    ) -> sqlx::Result<()> {
        self.set_watch_rescoped(user, kind, scope, None).await
    }

    /// [`Store::set_watch`]; with `rescope`, also a full read tagged with it, from a round that
    /// starts now (a round under way stops at its next page, see [`Store::save_cursor`]).
    pub async fn set_watch_rescoped(
        &self,
        user: UserId,
        kind: ItemKind,
        scope: Option<&WatchScope>,
        rescope: Option<Uuid>,
    ) -> sqlx::Result<()> {
        match scope {
            Some(scope) => {
                sqlx::query(
                    "INSERT INTO watches (user_id, kind, container_id, poll_interval_secs, rescope)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (user_id, kind) DO UPDATE SET
                        active = true,
                        cursor = CASE WHEN watches.container_id IS DISTINCT FROM excluded.container_id
                                        OR excluded.rescope IS NOT NULL
                                      THEN NULL ELSE watches.cursor END,
                        -- Another folder or list is a first read, never a resync of the old one;
                        -- a re-scope of the same one re-reads it (what it misses was deleted).
                        resync_requested = (watches.resync_requested OR excluded.rescope IS NOT NULL)
                            AND watches.container_id IS NOT DISTINCT FROM excluded.container_id,
                        round_id = CASE WHEN watches.container_id IS DISTINCT FROM excluded.container_id
                                        THEN NULL ELSE watches.round_id END,
                        generation = CASE WHEN watches.container_id IS DISTINCT FROM excluded.container_id
                                            OR excluded.rescope IS NOT NULL
                                          THEN watches.generation + 1 ELSE watches.generation END,
                        rescope = coalesce(excluded.rescope, watches.rescope),
                        container_id = excluded.container_id,
                        poll_interval_secs = excluded.poll_interval_secs,
                        next_poll_at = now()",
                )
                .bind(user.0)
                .bind(kind.as_str())
                .bind(&scope.container_id)
                .bind(scope.poll_interval_secs.max(1) as i32)
                .bind(rescope)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("UPDATE watches SET active = false WHERE user_id = $1 AND kind = $2")
                    .bind(user.0)
                    .bind(kind.as_str())
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Claims up to `limit` due watches for `owner` for the lease's duration, each with what
    /// its round needs to know first (whether its end is due to be reported, the user's calls
    /// of the last day), so that a round that reads nothing needs no other look-up.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> anyhow::Result<Vec<Watch>> {
        let rows: Vec<WatchRow> = sqlx::query_as(
            "UPDATE watches w SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),
                    claim = greatest(coalesce(w.claim, 0) + 1,
                                     (extract(epoch FROM now()) * 1000000)::bigint),
                    claim_report_due = w.claim_report_due OR due.taken_over
             FROM (SELECT user_id, kind, lease_until IS NOT NULL AS taken_over FROM watches
                   WHERE active AND next_poll_at <= now()
                     AND (lease_until IS NULL OR lease_until < now())
                   ORDER BY next_poll_at
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED) due
             WHERE w.user_id = due.user_id AND w.kind = due.kind
             RETURNING w.user_id, w.kind, w.container_id, w.poll_interval_secs, w.cursor,
                       w.full_read, w.round_items, w.resync_requested, w.round_id, w.generation,
                       CASE WHEN w.cursor IS NULL THEN w.rescope ELSE w.round_rescope END
                           AS rescope, w.identify, w.answered,
                       w.answered > w.reported OR w.reported_at IS NULL
                           OR w.reported_at < now() - make_interval(secs => $4)
                           OR w.claim_report_due AS report_due,
                       w.claim,
                       (SELECT coalesce(sum(c.calls), 0)::bigint FROM api_calls c
                        WHERE c.user_id = w.user_id AND c.hour > now() - interval '24 hours')
                           AS calls_used,
                       (SELECT min(c.hour) + interval '24 hours' FROM api_calls c
                        WHERE c.user_id = w.user_id AND c.hour > now() - interval '24 hours')
                           AS calls_oldest",
        )
        .bind(owner)
        .bind(lease.as_secs_f64())
        .bind(limit)
        .bind(QUIET_REPORT_EVERY.as_secs_f64())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Watch::try_from).collect()
    }

    /// Saves the cursor and renews the lease. `false` when the lease was lost (another replica
    /// took over) or the scope changed: the caller must stop polling this watch.
    pub async fn save_cursor(
        &self,
        watch: &Watch,
        owner: &str,
        lease: Duration,
        cursor: Option<&serde_json::Value>,
        round: Round,
    ) -> sqlx::Result<bool> {
        Ok(self.save_round(watch, owner, lease, cursor, round).await? == Saved::Kept)
    }

    /// [`Store::save_cursor`], saying why a cursor was not saved.
    pub async fn save_round(
        &self,
        watch: &Watch,
        owner: &str,
        lease: Duration,
        cursor: Option<&serde_json::Value>,
        round: Round,
    ) -> sqlx::Result<Saved> {
        let done = sqlx::query(
            "UPDATE watches SET cursor = $4, lease_until = now() + make_interval(secs => $5),
                    full_read = $6, round_items = $7, round_id = $8, round_rescope = $10,
                    -- a resync round has begun (and is remembered): the request is served
                    resync_requested = resync_requested AND $8::uuid IS NULL
             WHERE user_id = $1 AND kind = $2 AND lease_owner = $3 AND generation = $9
               AND claim = $11",
        )
        .bind(watch.user_id.0)
        .bind(watch.kind.as_str())
        .bind(owner)
        .bind(cursor)
        .bind(lease.as_secs_f64())
        .bind(round.full)
        .bind(round.items)
        .bind(round.id)
        .bind(watch.generation)
        .bind(round.rescope)
        .bind(watch.claim.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Saved::Kept);
        }
        self.why_not_saved(watch, owner).await
    }

    /// Ends a round that went well, in one statement: saves its last cursor, counts the calls
    /// its last page made, marks an identify read done, notes a reported end (`reported`: the
    /// round's end was published) and releases the watch until the next poll is due.
    /// [`Saved::Kept`] when all of that happened; otherwise nothing but the calls was written
    /// and the caller releases the watch as after a failed poll.
    pub async fn finish_round(
        &self,
        watch: &Watch,
        owner: &str,
        end: RoundEnd<'_>,
    ) -> sqlx::Result<Saved> {
        let done = sqlx::query(
            "WITH calls AS (
                 INSERT INTO api_calls (user_id, hour, calls)
                 SELECT $1, date_trunc('hour', now()), $6 WHERE $6 > 0
                 ON CONFLICT (user_id, hour) DO UPDATE SET calls = api_calls.calls + excluded.calls)
             UPDATE watches SET cursor = $4, full_read = false, round_items = 0, round_id = NULL,
                    round_rescope = NULL, identify = identify AND NOT $7,
                    reported = CASE WHEN $8 THEN $9 ELSE reported END,
                    reported_at = CASE WHEN $8 THEN now() ELSE reported_at END,
                    claim_report_due = claim_report_due AND NOT $8,
                    lease_owner = NULL, lease_until = NULL, last_polled_at = now(),
                    next_poll_at = now() + make_interval(secs => $10), last_error = NULL,
                    state = $11
             WHERE user_id = $1 AND kind = $2 AND lease_owner = $3 AND generation = $5
               AND claim = $12",
        )
        .bind(watch.user_id.0)
        .bind(watch.kind.as_str())
        .bind(owner)
        .bind(end.cursor)
        .bind(watch.generation)
        .bind(end.calls as i64)
        .bind(end.identified)
        .bind(end.reported)
        .bind(watch.answered)
        .bind(watch.poll_interval.as_secs_f64())
        .bind(WatchState::Ok.as_str())
        .bind(watch.claim.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(Saved::Kept);
        }
        self.why_not_saved(watch, owner).await
    }

    async fn why_not_saved(&self, watch: &Watch, owner: &str) -> sqlx::Result<Saved> {
        let moved: Option<(bool,)> = sqlx::query_as(
            "SELECT generation <> $4 FROM watches
             WHERE user_id = $1 AND kind = $2 AND lease_owner = $3 AND claim = $5",
        )
        .bind(watch.user_id.0)
        .bind(watch.kind.as_str())
        .bind(owner)
        .bind(watch.generation)
        .bind(watch.claim.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match moved {
            Some((true,)) => Saved::Rescoped,
            _ => Saved::LeaseLost,
        })
    }

    /// Ends a poll: frees the lease and schedules the next one.
    pub async fn release(
        &self,
        watch: &Watch,
        owner: &str,
        delay: Duration,
        error: Option<&str>,
    ) -> sqlx::Result<()> {
        self.release_with_state(
            watch,
            owner,
            delay,
            error,
            if error.is_some() {
                WatchState::Error
            } else {
                WatchState::Ok
            },
        )
        .await
    }

    /// [`Store::release`] with the state the status page shows.
    pub async fn release_with_state(
        &self,
        watch: &Watch,
        owner: &str,
        delay: Duration,
        error: Option<&str>,
        state: WatchState,
    ) -> sqlx::Result<()> {
        // A scope changed during the poll: the new scope's full read is due at once.
        sqlx::query(
            "UPDATE watches SET lease_owner = NULL, lease_until = NULL, last_polled_at = now(),
                    next_poll_at = CASE WHEN generation = $7 THEN now() + make_interval(secs => $4)
                                        ELSE now() END,
                    last_error = $5, state = $6
             WHERE user_id = $1 AND kind = $2 AND lease_owner = $3 AND claim = $8",
        )
        .bind(watch.user_id.0)
        .bind(watch.kind.as_str())
        .bind(owner)
        .bind(delay.as_secs_f64())
        .bind(error)
        .bind(state.as_str())
        .bind(watch.generation)
        .bind(watch.claim.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Holds every watch of `user` (the connection needs reconnecting): none is polled before
    /// `delay`, and each shows `state` and `error`. Nothing is read, so nothing is deleted.
    pub async fn hold_user(
        &self,
        user: UserId,
        delay: Duration,
        error: &str,
        state: WatchState,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE watches SET next_poll_at = greatest(next_poll_at, now() + make_interval(secs => $2)),
                    last_error = $3, state = $4
             WHERE user_id = $1 AND active",
        )
        .bind(user.0)
        .bind(delay.as_secs_f64())
        .bind(error)
        .bind(state.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Counts `calls` provider API calls for `user` in the current hour.
    pub async fn record_calls(&self, user: UserId, calls: u64) -> sqlx::Result<()> {
        if calls == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO api_calls (user_id, hour, calls) VALUES ($1, date_trunc('hour', now()), $2)
             ON CONFLICT (user_id, hour) DO UPDATE SET calls = api_calls.calls + excluded.calls",
        )
        .bind(user.0)
        .bind(calls as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Calls made for `user` in the last 24 hours (by whole hours), and when the oldest of those
    /// hours leaves the window.
    pub async fn calls_last_day(
        &self,
        user: UserId,
    ) -> sqlx::Result<(u64, Option<chrono::DateTime<chrono::Utc>>)> {
        let (calls, oldest): (Option<i64>, Option<chrono::DateTime<chrono::Utc>>) = sqlx::query_as(
            "SELECT sum(calls)::bigint, min(hour) + interval '24 hours' FROM api_calls
             WHERE user_id = $1 AND hour > now() - interval '24 hours'",
        )
        .bind(user.0)
        .fetch_one(&self.pool)
        .await?;
        Ok((calls.unwrap_or(0).max(0) as u64, oldest))
    }

    /// Forgets call counts older than two days.
    pub async fn prune_calls(&self) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM api_calls WHERE hour < now() - interval '48 hours'")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every watch of `user`, for the status page.
    pub async fn watch_statuses(&self, user: UserId) -> sqlx::Result<Vec<WatchStatus>> {
        sqlx::query_as(
            "SELECT kind, active, container_id, state, last_error, last_polled_at, next_poll_at,
                    cursor IS NOT NULL AS has_cursor
             FROM watches WHERE user_id = $1 ORDER BY kind",
        )
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
    }

    /// Every active watch that is not polling normally, of every user (the admin console's
    /// connections at a glance): at most `limit`, the soonest to poll again first.
    pub async fn unwell_watches(&self, limit: i64) -> sqlx::Result<Vec<UnwellWatch>> {
        sqlx::query_as(
            "SELECT user_id, kind, state, next_poll_at FROM watches
             WHERE active AND state <> 'ok' ORDER BY next_poll_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    /// Makes one watch due now; `full` also discards its cursor (a resync); `identities` makes
    /// the next full read an identify read (a links rebuild).
    pub async fn poll_kind_now(
        &self,
        user: UserId,
        kind: ItemKind,
        full: bool,
        identities: bool,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE watches SET next_poll_at = now(),
                    cursor = CASE WHEN $3 THEN NULL ELSE cursor END,
                    resync_requested = resync_requested OR $3,
                    generation = CASE WHEN $3 THEN generation + 1 ELSE generation END,
                    identify = identify OR $4
             WHERE user_id = $1 AND kind = $2 AND active",
        )
        .bind(user.0)
        .bind(kind.as_str())
        .bind(full)
        .bind(identities)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Makes every watch of `user` due now ("sync now").
    pub async fn poll_now(&self, user: UserId) -> sqlx::Result<u64> {
        let done =
            sqlx::query("UPDATE watches SET next_poll_at = now() WHERE user_id = $1 AND active")
                .bind(user.0)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// The container `kind` is watched in for `user` (where new items are created).
    pub async fn container(&self, user: UserId, kind: ItemKind) -> sqlx::Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT container_id FROM watches WHERE user_id = $1 AND kind = $2")
                .bind(user.0)
                .bind(kind.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|(c,)| c))
    }

    pub async fn applied_outcome(&self, command_id: Uuid) -> sqlx::Result<Option<ApplyOutcome>> {
        let row: Option<(sqlx::types::Json<ApplyOutcome>,)> =
            sqlx::query_as("SELECT outcome FROM applied_commands WHERE command_id = $1")
                .bind(command_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(json,)| json.0))
    }

    /// The recorded outcomes of those of `command_ids` already carried out, in one query.
    pub async fn applied_outcomes(
        &self,
        command_ids: &[Uuid],
    ) -> sqlx::Result<HashMap<Uuid, ApplyOutcome>> {
        let rows: Vec<(Uuid, sqlx::types::Json<ApplyOutcome>)> = sqlx::query_as(
            "SELECT command_id, outcome FROM applied_commands WHERE command_id = ANY($1)",
        )
        .bind(command_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(id, json)| (id, json.0)).collect())
    }

    /// Records that these commands are about to be written, before any provider call. Returns
    /// the ones an earlier attempt had already begun: their write may have happened (the
    /// attempt crashed, or lost the answer, before recording an outcome).
    pub async fn begin_writes(&self, command_ids: &[Uuid]) -> sqlx::Result<HashSet<Uuid>> {
        let rows: Vec<(Uuid, i32)> = sqlx::query_as(
            "INSERT INTO command_intents (command_id) SELECT unnest($1::uuid[])
             ON CONFLICT (command_id) DO UPDATE SET attempts = command_intents.attempts + 1
             RETURNING command_id, attempts",
        )
        .bind(command_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter(|(_, attempts)| *attempts > 1)
            .map(|(id, _)| id)
            .collect())
    }

    /// Forgets the intent of commands that certainly wrote nothing (the provider refused the
    /// call before doing anything, e.g. 429), so their next attempt needs no look-up.
    pub async fn abandon_writes(&self, command_ids: &[Uuid]) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM command_intents WHERE command_id = ANY($1)")
            .bind(command_ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a command's final outcome (and drops its intent) in one statement. It also
    /// counts the answer on the user's watch of `kind`: sync-service may wait for the end of
    /// this side's next round because of it (a create whose answer was lost, a delete staged
    /// by a `gone`), so that round's end is reported even if it reads nothing.
    pub async fn record_applied(
        &self,
        user: UserId,
        kind: ItemKind,
        command_id: Uuid,
        outcome: &ApplyOutcome,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "WITH done AS (DELETE FROM command_intents WHERE command_id = $1),
                  answered AS (UPDATE watches SET answered = answered + 1
                               WHERE user_id = $3 AND kind = $4)
             INSERT INTO applied_commands (command_id, outcome) VALUES ($1, $2)
             ON CONFLICT (command_id) DO NOTHING",
        )
        .bind(command_id)
        .bind(sqlx::types::Json(outcome))
        .bind(user.0)
        .bind(kind.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// [`Store::record_applied`] for several commands of one user and kind, in one statement.
    pub async fn record_applied_many(
        &self,
        user: UserId,
        kind: ItemKind,
        outcomes: &[(Uuid, &ApplyOutcome)],
    ) -> sqlx::Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = outcomes.iter().map(|(id, _)| *id).collect();
        let json: Vec<sqlx::types::Json<&ApplyOutcome>> = outcomes
            .iter()
            .map(|(_, outcome)| sqlx::types::Json(*outcome))
            .collect();
        sqlx::query(
            "WITH done AS (DELETE FROM command_intents WHERE command_id = ANY($1)),
                  answered AS (UPDATE watches SET answered = answered + $5
                               WHERE user_id = $3 AND kind = $4)
             INSERT INTO applied_commands (command_id, outcome)
             SELECT * FROM unnest($1::uuid[], $2::jsonb[])
             ON CONFLICT (command_id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&json)
        .bind(user.0)
        .bind(kind.as_str())
        .bind(ids.len() as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets the outcomes of commands applied longer than `age` ago (decisions #74): a
    /// command is delivered again only while the broker still holds it or the relay repeats a
    /// batch it lacked confirms for, never days later. Answers how many went.
    pub async fn prune_applied(&self, age: Duration) -> sqlx::Result<u64> {
        let done = sqlx::query(
            "DELETE FROM applied_commands WHERE applied_at < now() - make_interval(secs => $1)",
        )
        .bind(age.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
