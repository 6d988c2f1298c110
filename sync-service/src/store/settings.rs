//! User settings.

use sqlx::PgPool;
use sync_model::UserId;

use crate::domain::UserSettings;

use super::Tx;

pub async fn load(tx: &mut Tx<'_>, user: UserId) -> sqlx::Result<Option<UserSettings>> {
    let row: Option<(sqlx::types::Json<UserSettings>,)> =
        sqlx::query_as("SELECT settings FROM user_settings WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(row.map(|(json,)| json.0))
}

pub async fn get(pool: &PgPool, user: UserId) -> sqlx::Result<Option<UserSettings>> {
    let mut tx = pool.begin().await?;
    let settings = load(&mut tx, user).await?;
    tx.commit().await?;
    Ok(settings)
}

pub async fn save(tx: &mut Tx<'_>, user: UserId, settings: &UserSettings) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO user_settings (user_id, settings) VALUES ($1, $2)
         ON CONFLICT (user_id) DO UPDATE SET settings = excluded.settings, updated_at = now()",
    )
    .bind(user.0)
    .bind(sqlx::types::Json(settings))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
