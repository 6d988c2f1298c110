//! The newest connector claim seen per kind and side of a user (decisions #112).

use std::collections::HashMap;

use sync_model::{ItemKind, Side, UserId};
use sync_protocol::PollClaim;

use crate::domain::fence::Fence;

use super::Tx;

/// The user's fence as stored.
pub async fn load(tx: &mut Tx<'_>, user: UserId) -> anyhow::Result<Fence> {
    Ok(load_many(tx, &[user])
        .await?
        .remove(&user)
        .unwrap_or_default())
}

/// Stores the claims that moved in `fence`, in one statement.
pub async fn save(tx: &mut Tx<'_>, user: UserId, fence: &Fence) -> sqlx::Result<()> {
    save_many(tx, &[(user, fence)]).await
}

/// The newest claim stored for a kind and side.
type Claimed = ((ItemKind, Side), PollClaim);

/// [`load`] for several users at once (decisions #115): each user's fence, in one statement.
pub async fn load_many(
    tx: &mut Tx<'_>,
    users: &[UserId],
) -> anyhow::Result<HashMap<UserId, Fence>> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(uuid::Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT user_id, kind, side, number FROM poll_claims WHERE user_id = ANY($1)",
    )
    .bind(users.iter().map(|u| u.0).collect::<Vec<_>>())
    .fetch_all(&mut **tx)
    .await?;
    let mut known: HashMap<UserId, Vec<Claimed>> = users.iter().map(|u| (*u, Vec::new())).collect();
    for (user, kind, side, number) in rows {
        known
            .entry(UserId(user))
            .or_default()
            .push(((kind.parse()?, side.parse()?), PollClaim(number)));
    }
    Ok(known
        .into_iter()
        .map(|(user, claims)| (user, Fence::new(claims)))
        .collect())
}

/// [`save`] for several users' fences at once, in one statement.
pub async fn save_many(tx: &mut Tx<'_>, fences: &[(UserId, &Fence)]) -> sqlx::Result<()> {
    let moved: Vec<(UserId, ItemKind, Side, PollClaim)> = fences
        .iter()
        .flat_map(|(user, fence)| fence.moved().map(|(k, s, c)| (*user, k, s, c)))
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO poll_claims (user_id, kind, side, number)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[])
         ON CONFLICT (user_id, kind, side) DO UPDATE SET number = excluded.number",
    )
    .bind(moved.iter().map(|m| m.0.0).collect::<Vec<_>>())
    .bind(moved.iter().map(|m| m.1.as_str()).collect::<Vec<_>>())
    .bind(moved.iter().map(|m| m.2.as_str()).collect::<Vec<_>>())
    .bind(moved.iter().map(|m| m.3.0).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
