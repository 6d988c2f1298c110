//! What the end of a quiet poll round costs sync-service when a connector reports one (after a
//! command it answered, or as its periodic report; decisions #74), against the real Postgres:
//! statements counted as sqlx runs them, tagged by the handler's span.

mod common;

use common::{handler, pool};

use sync_model::{ItemKind, Side, UserId};
use sync_protocol::{ChangeMessage, Envelope};
use test_support::statements::Statements;

#[tokio::test]
async fn a_reported_quiet_round_end_is_one_short_transaction() -> anyhow::Result<()> {
    let statements = Statements::install();
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = UserId(uuid::Uuid::new_v4());
    let quiet = || {
        serde_json::to_vec(&Envelope::new(
            user,
            ChangeMessage::ReadCompleted {
                side: Side::Zoho,
                kind: ItemKind::Contact,
                full: false,
                items_read: 0,
                round: None,
                lists_everything: true,
            },
        ))
    };
    // The first message of a user makes its progress row; the second is the steady state.
    handler
        .handle(&quiet()?)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mark = statements.mark();
    handler
        .handle(&quiet()?)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ran: Vec<String> = statements
        .since(mark, &user.to_string())
        .into_iter()
        .map(|s| s.summary)
        .collect();
    eprintln!(
        "a reported quiet round end: {} statements: {ran:?}",
        ran.len()
    );
    // The inbox record, the round's end on the progress row, the progress and settings, the
    // links waiting for this side's round end (creates to retry, deletes staged), the commit.
    assert_eq!(ran.len(), 6, "{ran:?}");
    assert_eq!(
        ran.last().map(String::as_str),
        Some("COMMIT"),
        "one transaction: {ran:?}"
    );
    pool.close().await;
    Ok(())
}
