//! Partition ownership: which replica consumes which partition queue (decisions #51). A replica
//! announces itself, renews the leases of its partitions, and takes free or expired ones up to
//! its fair share; what it holds beyond that share it gives back once its consumer has stopped.

use std::time::Duration;

use sqlx::PgPool;
use sync_protocol::topology::{PARTITIONS, Partition};
use uuid::Uuid;

/// What one balancing round decided for a replica.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partitions this replica owns now (renewed or newly taken), its consumers should run.
    pub owned: Vec<Partition>,
    /// Owned partitions beyond its fair share: stop their consumers, then [`release`] them.
    pub surplus: Vec<Partition>,
}

fn partitions(rows: Vec<(i16,)>) -> Vec<Partition> {
    let mut out: Vec<Partition> = rows
        .into_iter()
        .filter_map(|(p,)| Partition::new(p as u16))
        .collect();
    out.sort();
    out
}

/// The fair share of `live` replicas: every partition has an owner when each takes this many.
pub fn fair_share(live: i64) -> usize {
    let live = live.max(1) as usize;
    (PARTITIONS as usize).div_ceil(live)
}

/// Creates the partition rows (idempotent).
pub async fn seed(pool: &PgPool) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO partition_owners (partition)
         SELECT generate_series(0, $1 - 1)::smallint ON CONFLICT DO NOTHING",
    )
    .bind(PARTITIONS as i32)
    .execute(pool)
    .await?;
    Ok(())
}

/// One round for `replica`: announce, renew, take up to the fair share, name the surplus.
pub async fn balance(pool: &PgPool, replica: Uuid, lease: Duration) -> sqlx::Result<Plan> {
    let lease_ms = lease.as_millis() as f64;
    let mut tx = pool.begin().await?;
    let (live,): (i64,) = sqlx::query_as(
        "WITH me AS (
             INSERT INTO replicas (id, seen_at) VALUES ($1, now())
             ON CONFLICT (id) DO UPDATE SET seen_at = now())
         SELECT 1 + count(*) FROM replicas
         WHERE id <> $1 AND seen_at > now() - make_interval(secs => $2 / 1000.0)",
    )
    .bind(replica)
    .bind(lease_ms)
    .fetch_one(&mut *tx)
    .await?;
    let mut owned = partitions(
        sqlx::query_as(
            "UPDATE partition_owners SET expires_at = now() + make_interval(secs => $2 / 1000.0)
             WHERE owner = $1 RETURNING partition",
        )
        .bind(replica)
        .bind(lease_ms)
        .fetch_all(&mut *tx)
        .await?,
    );
    let fair = fair_share(live);
    if owned.len() < fair {
        let taken = partitions(
            sqlx::query_as(
                "UPDATE partition_owners SET owner = $1,
                        expires_at = now() + make_interval(secs => $2 / 1000.0)
                 WHERE partition IN (
                     SELECT partition FROM partition_owners
                     WHERE owner IS NULL OR expires_at < now()
                     ORDER BY partition LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING partition",
            )
            .bind(replica)
            .bind(lease_ms)
            .bind((fair - owned.len()) as i64)
            .fetch_all(&mut *tx)
            .await?,
        );
        owned.extend(taken);
        owned.sort();
    }
    // Long gone replicas are forgotten (ten leases: far beyond any doubt that they are alive).
    sqlx::query("DELETE FROM replicas WHERE seen_at < now() - make_interval(secs => $1 / 100.0)")
        .bind(lease_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let surplus = owned.iter().skip(fair).copied().collect();
    Ok(Plan { owned, surplus })
}

/// Gives `partition` back (its consumer has stopped), for another replica to take at once.
pub async fn release(pool: &PgPool, replica: Uuid, partition: Partition) -> sqlx::Result<()> {
    sqlx::query("UPDATE partition_owners SET owner = NULL WHERE partition = $1 AND owner = $2")
        .bind(partition.index() as i16)
        .bind(replica)
        .execute(pool)
        .await?;
    Ok(())
}

/// A replica stopping: its partitions are free and it no longer counts among the live ones.
pub async fn leave(pool: &PgPool, replica: Uuid) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE partition_owners SET owner = NULL WHERE owner = $1")
        .bind(replica)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM replicas WHERE id = $1")
        .bind(replica)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Who owns which partition under a lease still running (admin API, tests): (partition, owner).
pub async fn owners(pool: &PgPool) -> sqlx::Result<Vec<(i16, Option<Uuid>)>> {
    sqlx::query_as(
        "SELECT partition, CASE WHEN expires_at > now() THEN owner END
         FROM partition_owners ORDER BY partition",
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_shares_of_the_live_replicas_cover_every_partition() {
        for live in 1..=20 {
            let share = fair_share(live);
            assert!(share * live as usize >= PARTITIONS as usize, "{live}");
            assert!(share >= 1);
        }
        assert_eq!(fair_share(1), PARTITIONS as usize);
        assert_eq!(fair_share(2), PARTITIONS as usize / 2);
        assert_eq!(fair_share(0), PARTITIONS as usize);
    }
}
