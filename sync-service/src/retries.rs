//! Retries held messages (decisions #58): every second, the users whose first held message is
//! due get it tried again, and on success their next ones, in order, until one fails or none is
//! left. Every replica runs it; the user's lock keeps two from replaying the same user at once.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::handler::{ChangeHandler, Replay};
use crate::store::held;

const ROUND: Duration = Duration::from_secs(1);
/// Users looked at per round.
const USERS_PER_ROUND: i64 = 100;

pub async fn run(handler: Arc<ChangeHandler>, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(ROUND) => {}
        }
        let users = match held::due_users(&handler.pool, USERS_PER_ROUND).await {
            Ok(users) => users,
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "cannot look for held messages; will retry");
                continue;
            }
        };
        for user in users {
            while !shutdown.is_cancelled() {
                match handler.replay_next(user).await {
                    Ok(Replay::Handled) => continue,
                    Ok(Replay::Failed { .. } | Replay::Nothing) => break,
                    Err(err) => {
                        tracing::warn!(%user, error = %format!("{err:#}"), "cannot retry held messages now");
                        break;
                    }
                }
            }
        }
    }
}
