//! Batches of a partition's deliveries (decisions #81, #115), against the real Postgres: the
//! messages of a batch are decided in one transaction, each user's in their order (the outbox
//! rows share the transaction id that wrote them), and end as they would one message at a
//! time; a batch delivered again after its commit (the acknowledgement lost) decides nothing
//! twice; a message that fails inside a batch is held with its user's later messages, while its
//! user's earlier messages and the other users' commit; batches sharing users in any order
//! neither deadlock nor fall apart.

mod common;

use common::{contact_user, handle_batch as handle, handler, new_outlook_contact, pool};

use std::collections::BTreeMap;

use sqlx::PgPool;
use sync_model::{
    Contact, EmailAddress, ExternalId, Item, ItemKind, LinkId, Side, UserId, Version,
};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope};
use sync_service::handler::ChangeHandler;
use uuid::Uuid;

/// A new Outlook contact named `name`, as a delivery: decided as a create on Zoho.
fn new_contact(user: UserId, name: &str) -> Vec<u8> {
    serde_json::to_vec(&Envelope::new(user, new_outlook_contact(name))).expect("serialisable")
}

/// Each user's creates in the order decided, with the id of the transaction that wrote each.
async fn decisions(pool: &PgPool) -> anyhow::Result<BTreeMap<UserId, Vec<(String, String)>>> {
    let rows: Vec<(sqlx::types::Json<Envelope<CommandMessage>>, String)> =
        sqlx::query_as("SELECT payload, xmin::text FROM outbox ORDER BY id")
            .fetch_all(pool)
            .await?;
    let mut decisions: BTreeMap<UserId, Vec<(String, String)>> = BTreeMap::new();
    for (envelope, xid) in rows {
        if let CommandMessage::Apply {
            op:
                ApplyOp::Create {
                    item: Item::Contact(contact),
                    ..
                },
            ..
        } = &envelope.body
        {
            decisions
                .entry(envelope.user_id)
                .or_default()
                .push((contact.given_name.clone().unwrap_or_default(), xid));
        }
    }
    Ok(decisions)
}

fn names(decided: &[(String, String)]) -> Vec<&str> {
    decided.iter().map(|(name, _)| name.as_str()).collect()
}

fn transactions(decided: &[(String, String)]) -> Vec<&str> {
    let mut xids: Vec<&str> = decided.iter().map(|(_, xid)| xid.as_str()).collect();
    xids.dedup();
    xids
}

#[tokio::test]
async fn a_batchs_users_commit_together_each_in_their_order_and_a_batch_redelivered_counts_once()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (a, b) = (contact_user(&pool).await?, contact_user(&pool).await?);
    let batch = vec![
        new_contact(a, "a1"),
        new_contact(b, "b1"),
        new_contact(a, "a2"),
        new_contact(a, "a3"),
        new_contact(b, "b2"),
    ];
    handle(&handler, &batch).await?;

    let decided = decisions(&pool).await?;
    assert_eq!(
        names(&decided[&a]),
        ["a1", "a2", "a3"],
        "in the user's order"
    );
    assert_eq!(names(&decided[&b]), ["b1", "b2"]);
    let (ta, tb) = (transactions(&decided[&a]), transactions(&decided[&b]));
    assert_eq!(ta.len(), 1, "one transaction: {ta:?}");
    assert_eq!(ta, tb, "the batch's users share one transaction");

    // The acknowledgement was lost: the same deliveries come again, and count once.
    handle(&handler, &batch).await?;
    assert_eq!(decisions(&pool).await?, decided, "nothing decided twice");
    let (links,): (i64,) = sqlx::query_as("SELECT count(*) FROM links")
        .fetch_one(&pool)
        .await?;
    assert_eq!(links, 5);
    pool.close().await;
    Ok(())
}

/// A real failure of Postgres for one item: the link of the contact named "poison" cannot be
/// written.
async fn refuse_poison(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'this link is refused by the test'; END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON links FOR EACH ROW
             WHEN (NEW.doc::text LIKE '%poison@example.jp%') EXECUTE FUNCTION refuse_poison();",
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_message_failing_in_a_batch_is_held_with_its_users_later_ones_while_the_rest_commit()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (a, b) = (contact_user(&pool).await?, contact_user(&pool).await?);
    refuse_poison(&pool).await?;
    let batch = vec![
        new_contact(a, "a1"),
        new_contact(a, "poison"),
        new_contact(b, "b1"),
        new_contact(a, "a3"),
        new_contact(b, "b2"),
    ];
    handle(&handler, &batch).await?;

    let decided = decisions(&pool).await?;
    assert_eq!(
        names(&decided[&a]),
        ["a1"],
        "the user's message before the failing one commits"
    );
    assert_eq!(
        names(&decided[&b]),
        ["b1", "b2"],
        "the other user is not held up"
    );
    let held: Vec<(uuid::Uuid, Vec<u8>)> =
        sqlx::query_as("SELECT user_id, payload FROM held_messages ORDER BY id")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        held.iter()
            .map(|(u, p)| (*u, p.clone()))
            .collect::<Vec<_>>(),
        vec![(a.0, batch[1].clone()), (a.0, batch[3].clone())],
        "the failing message is held, its user's later one waits behind it"
    );
    pool.close().await;
    Ok(())
}

/// The same Outlook contact `name` read at `version` with `job`.
fn changed_contact(user: UserId, name: &str, version: &str, job: &str) -> Vec<u8> {
    let envelope = Envelope::new(
        user,
        ChangeMessage::ItemChanged {
            side: Side::Outlook,
            external_id: ExternalId(format!("AAMk-{name}")),
            version: Version(version.into()),
            item: Item::Contact(Contact {
                given_name: Some(name.into()),
                emails: vec![EmailAddress(format!("{name}@example.jp"))],
                job_title: Some(job.into()),
                ..Contact::default()
            }),
            identity: None,
            modified: None,
        },
    );
    serde_json::to_vec(&envelope).expect("serialisable")
}

/// The Outlook contact `name` deleted.
fn deleted_contact(user: UserId, name: &str) -> Vec<u8> {
    let envelope = Envelope::new(
        user,
        ChangeMessage::ItemDeleted {
            side: Side::Outlook,
            kind: sync_model::ItemKind::Contact,
            external_id: ExternalId(format!("AAMk-{name}")),
            left_scope: false,
        },
    );
    serde_json::to_vec(&envelope).expect("serialisable")
}

/// The end of an Outlook delta round of contacts.
fn round_end(user: UserId) -> Vec<u8> {
    let envelope = Envelope::new(
        user,
        ChangeMessage::ReadCompleted {
            side: Side::Outlook,
            kind: sync_model::ItemKind::Contact,
            full: false,
            items_read: 3,
            round: None,
            lists_everything: true,
        },
    );
    serde_json::to_vec(&envelope).expect("serialisable")
}

/// `value` without the ids and times that differ between two users' equal decisions.
fn scrubbed(mut value: serde_json::Value) -> serde_json::Value {
    const VARYING: [&str; 7] = [
        "id",
        "user_id",
        "message_id",
        "command_id",
        "link_id",
        "occurred_at",
        "traceparent",
    ];
    match &mut value {
        serde_json::Value::Object(map) => {
            for key in VARYING {
                map.remove(key);
            }
            for field in map.values_mut() {
                *field = scrubbed(field.take());
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                *item = scrubbed(item.take());
            }
        }
        _ => {}
    }
    value
}

/// A user's links (by Outlook id) and commands (in the relay's order), scrubbed.
async fn outcome(
    pool: &PgPool,
    user: UserId,
) -> anyhow::Result<(Vec<serde_json::Value>, Vec<serde_json::Value>)> {
    let links: Vec<(serde_json::Value,)> =
        sqlx::query_as("SELECT doc FROM links WHERE user_id = $1 ORDER BY outlook_id, zoho_id")
            .bind(user.0)
            .fetch_all(pool)
            .await?;
    let commands: Vec<(serde_json::Value,)> =
        sqlx::query_as("SELECT payload FROM outbox WHERE user_id = $1 ORDER BY id")
            .bind(user.0)
            .fetch_all(pool)
            .await?;
    Ok((
        links.into_iter().map(|(v,)| scrubbed(v)).collect(),
        commands.into_iter().map(|(v,)| scrubbed(v)).collect(),
    ))
}

/// Later messages of an item meet what the earlier ones made of it (a change and a delete while
/// its create is in flight, a repeated read), and a round's end splits the user's messages.
fn mixed_script(u: UserId) -> Vec<Vec<u8>> {
    vec![
        new_contact(u, "a"),
        changed_contact(u, "a", "v2", "Chef"),
        new_contact(u, "b"),
        deleted_contact(u, "b"),
        round_end(u),
        new_contact(u, "c"),
        changed_contact(u, "a", "v2", "Chef"),
        changed_contact(u, "c", "v3", "Boss"),
        deleted_contact(u, "gone"),
    ]
}

/// The users' messages taken in turns, as a partition's deliveries interleave them.
fn interleaved(scripts: &[Vec<Vec<u8>>]) -> Vec<Vec<u8>> {
    let longest = scripts.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| {
            scripts
                .iter()
                .filter_map(move |script| script.get(i).cloned())
        })
        .collect()
}

/// How many transactions wrote the commands of `users` (those after the outbox row `after`).
async fn writers(pool: &PgPool, users: &[UserId], after: i64) -> anyhow::Result<i64> {
    let (writers,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT xmin::text) FROM outbox WHERE user_id = ANY($1) AND id > $2",
    )
    .bind(users.iter().map(|u| u.0).collect::<Vec<_>>())
    .bind(after)
    .fetch_one(pool)
    .await?;
    Ok(writers)
}

#[tokio::test]
async fn a_users_batch_decided_set_wise_ends_as_its_messages_decided_one_by_one()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (together, alone) = (contact_user(&pool).await?, contact_user(&pool).await?);
    let script = mixed_script;
    handle(&handler, &script(together)).await?;
    for message in script(alone) {
        handle(&handler, &[message]).await?;
    }

    // Decided together, not by the one-by-one path a failure in the batch falls back to.
    let (writers,): (i64,) =
        sqlx::query_as("SELECT count(DISTINCT xmin::text) FROM outbox WHERE user_id = $1")
            .bind(together.0)
            .fetch_one(&pool)
            .await?;
    assert_eq!(writers, 1, "the batch's commands share one transaction");
    let (links, commands) = outcome(&pool, together).await?;
    assert_eq!(links.len(), 3, "{links:#?}");
    assert!(commands.len() >= 3, "{commands:#?}");
    assert_eq!(
        (links, commands),
        outcome(&pool, alone).await?,
        "the same links and commands as one message at a time"
    );
    pool.close().await;
    Ok(())
}

/// Statement-level triggers that count, in a table `statements`, each statement writing one of
/// `writes` (a table and `INSERT`, `UPDATE` or `DELETE`).
async fn count_statements(pool: &PgPool, writes: &[(&str, &str)]) -> anyhow::Result<()> {
    let mut sql = String::from(
        "CREATE TABLE statements (tbl text NOT NULL);
         CREATE FUNCTION count_statement() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN INSERT INTO statements VALUES (TG_TABLE_NAME); RETURN NULL; END $$;",
    );
    for (table, write) in writes {
        sql.push_str(&format!(
            "CREATE TRIGGER count_{table} AFTER {write} ON {table}
                 FOR EACH STATEMENT EXECUTE FUNCTION count_statement();"
        ));
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_users_batch_writes_its_inbox_records_links_and_commands_in_one_statement_each()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    count_statements(
        &pool,
        &[
            ("links", "INSERT"),
            ("outbox", "INSERT"),
            ("processed_messages", "INSERT"),
        ],
    )
    .await?;
    let batch: Vec<Vec<u8>> = (0..20)
        .map(|i| new_contact(user, &format!("n{i}")))
        .collect();
    handle(&handler, &batch).await?;

    assert_eq!(names(&decisions(&pool).await?[&user]).len(), 20);
    let counted: Vec<(String, i64)> =
        sqlx::query_as("SELECT tbl, count(*) FROM statements GROUP BY tbl ORDER BY tbl")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        counted,
        [
            ("links".to_owned(), 1),
            ("outbox".to_owned(), 1),
            ("processed_messages".to_owned(), 1)
        ],
        "20 messages of one user: one statement per table"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_users_batch_writes_its_links_and_commands_with_one_statement() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    // Statement-level triggers note the statement (by its start time) writing each table.
    sqlx::raw_sql(
        "CREATE TABLE statements (tbl text NOT NULL, started timestamptz NOT NULL);
         CREATE FUNCTION note_statement() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN INSERT INTO statements VALUES (TG_TABLE_NAME, statement_timestamp());
                RETURN NULL; END $$;
         CREATE TRIGGER note_links AFTER INSERT ON links
             FOR EACH STATEMENT EXECUTE FUNCTION note_statement();
         CREATE TRIGGER note_outbox AFTER INSERT ON outbox
             FOR EACH STATEMENT EXECUTE FUNCTION note_statement();
         CREATE TRIGGER note_inbox AFTER INSERT ON processed_messages
             FOR EACH STATEMENT EXECUTE FUNCTION note_statement();",
    )
    .execute(&pool)
    .await?;
    let batch: Vec<Vec<u8>> = (0..20)
        .map(|i| new_contact(user, &format!("n{i}")))
        .collect();
    handle(&handler, &batch).await?;

    assert_eq!(names(&decisions(&pool).await?[&user]).len(), 20);
    let statements: Vec<(i64, String)> = sqlx::query_as(
        "SELECT count(*), string_agg(tbl, ',' ORDER BY tbl) FROM statements
         GROUP BY started ORDER BY min(started)",
    )
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        statements,
        [
            (1, "processed_messages".to_owned()),
            (2, "links,outbox".to_owned())
        ],
        "the inbox's admission, then one statement for the links and the commands"
    );
    pool.close().await;
    Ok(())
}

/// A Zoho read of the record `id` holding `item`.
fn zoho_read(user: UserId, id: &str, item: Item) -> Vec<u8> {
    let envelope = Envelope::new(
        user,
        ChangeMessage::ItemChanged {
            side: Side::Zoho,
            external_id: ExternalId(id.into()),
            version: Version("z1".into()),
            item,
            identity: None,
            modified: None,
        },
    );
    serde_json::to_vec(&envelope).expect("serialisable")
}

/// Zoho's answer to the command `command` of `link`.
fn zoho_result(user: UserId, command: (Uuid, LinkId), outcome: ApplyOutcome) -> Vec<u8> {
    let envelope = Envelope::new(
        user,
        ChangeMessage::ApplyResult {
            command_id: command.0,
            link_id: command.1,
            side: Side::Zoho,
            kind: ItemKind::Contact,
            outcome,
        },
    );
    serde_json::to_vec(&envelope).expect("serialisable")
}

/// The user's creates on Zoho so far by the contact's given name: (command, link) and the item.
async fn zoho_creates(
    pool: &PgPool,
    user: UserId,
) -> anyhow::Result<BTreeMap<String, ((Uuid, LinkId), Item)>> {
    let rows: Vec<(sqlx::types::Json<Envelope<CommandMessage>>,)> =
        sqlx::query_as("SELECT payload FROM outbox WHERE user_id = $1 ORDER BY id")
            .bind(user.0)
            .fetch_all(pool)
            .await?;
    let mut creates = BTreeMap::new();
    for (envelope,) in rows {
        if let CommandMessage::Apply {
            command_id,
            link_id,
            side: Side::Zoho,
            op: ApplyOp::Create { item, .. },
            ..
        } = envelope.0.body
            && let Item::Contact(contact) = &item
        {
            let name = contact.given_name.clone().unwrap_or_default();
            creates.insert(name, ((command_id, link_id), item));
        }
    }
    Ok(creates)
}

fn applied(id: &str, item: &Item) -> ApplyOutcome {
    ApplyOutcome::Applied {
        external_id: ExternalId(id.into()),
        version: Version("z1".into()),
        content_hash: item.content_hash(),
        modified: None,
    }
}

/// Reads our creates made (two parked behind them), and a person's contact whose Zoho id a
/// create's answer will name; then a batch of results: applied, stale, failed, gone, an
/// answer repeated, an answer to a link that is gone, answers that release parked reads (one
/// as our copy, one as a person's contact), an answer colliding with a read's link (one by
/// one inside the batch), and an edit between them.
async fn results_script(
    pool: &PgPool,
    handler: &ChangeHandler,
    user: UserId,
) -> anyhow::Result<Vec<Vec<u8>>> {
    for name in ["a", "b", "c", "d", "p", "q", "x"] {
        handle(handler, &[new_contact(user, name)]).await?;
    }
    let creates = zoho_creates(pool, user).await?;
    let create = |name: &str| creates[name].clone();
    // Our create of p read before its answer, and a person's contact with q's content: parked.
    handle(handler, &[zoho_read(user, "Z-p", create("p").1)]).await?;
    handle(handler, &[zoho_read(user, "Z-q2", create("q").1)]).await?;
    // A person's contact on Zoho linked by a read, whose id c's answer names later.
    let other = Item::Contact(Contact {
        given_name: Some("other".into()),
        emails: vec![EmailAddress("other@example.jp".into())],
        ..Contact::default()
    });
    handle(handler, &[zoho_read(user, "Z-c", other)]).await?;
    let (parked,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM parked_changes WHERE user_id = $1")
            .bind(user.0)
            .fetch_one(pool)
            .await?;
    anyhow::ensure!(parked == 2, "two reads parked behind our creates: {parked}");

    let stale_b = Item::Contact(Contact {
        given_name: Some("b".into()),
        emails: vec![EmailAddress("b@example.jp".into())],
        job_title: Some("Edited on Zoho".into()),
        ..Contact::default()
    });
    Ok(vec![
        zoho_result(user, create("a").0, applied("Z-a", &create("a").1)),
        zoho_result(
            user,
            create("b").0,
            ApplyOutcome::Stale {
                external_id: ExternalId("Z-b".into()),
                version: Version("z2".into()),
                item: stale_b,
                modified: None,
            },
        ),
        zoho_result(
            user,
            create("d").0,
            ApplyOutcome::Failed {
                code: sync_protocol::FailureCode::UnsupportedValue,
                message: "refused".into(),
                retryable: false,
            },
        ),
        changed_contact(user, "a", "v2", "Chef"),
        zoho_result(user, create("p").0, applied("Z-p", &create("p").1)),
        zoho_result(user, create("q").0, applied("Z-q", &create("q").1)),
        zoho_result(
            user,
            (Uuid::new_v4(), LinkId(Uuid::new_v4())),
            applied("Z-none", &create("a").1),
        ),
        zoho_result(user, create("a").0, applied("Z-a", &create("a").1)),
        zoho_result(user, create("c").0, applied("Z-c", &create("c").1)),
        zoho_result(
            user,
            create("x").0,
            ApplyOutcome::Gone { external_id: None },
        ),
        changed_contact(user, "b", "v2", "Boss"),
    ])
}

/// The user's parked reads (item ids) and when each side was last written to.
async fn side_state(pool: &PgPool, user: UserId) -> anyhow::Result<(Vec<String>, bool, bool)> {
    let parked: Vec<(String,)> = sqlx::query_as(
        "SELECT external_id FROM parked_changes WHERE user_id = $1 ORDER BY external_id",
    )
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    let (zoho, outlook): (bool, bool) = sqlx::query_as(
        "SELECT zoho_written_at IS NOT NULL, outlook_written_at IS NOT NULL
         FROM kind_progress WHERE user_id = $1 AND kind = 'contact'",
    )
    .bind(user.0)
    .fetch_one(pool)
    .await?;
    Ok((parked.into_iter().map(|(id,)| id).collect(), zoho, outlook))
}

#[tokio::test]
async fn a_users_results_decided_set_wise_end_as_decided_one_by_one() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (together, alone) = (contact_user(&pool).await?, contact_user(&pool).await?);
    let batch = results_script(&pool, &handler, together).await?;
    let (before,): (i64,) = sqlx::query_as("SELECT coalesce(max(id), 0) FROM outbox")
        .fetch_one(&pool)
        .await?;
    handle(&handler, &batch).await?;
    for message in results_script(&pool, &handler, alone).await? {
        handle(&handler, &[message]).await?;
    }

    // Decided together, not by the one-by-one path a failure in the batch falls back to.
    let (writers,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT xmin::text) FROM outbox WHERE user_id = $1 AND id > $2",
    )
    .bind(together.0)
    .bind(before)
    .fetch_one(&pool)
    .await?;
    assert_eq!(writers, 1, "the batch's commands share one transaction");
    let (links, commands) = outcome(&pool, together).await?;
    assert_eq!(links.len(), 9, "{links:#?}");
    let state = side_state(&pool, together).await?;
    assert_eq!(state, (vec![], true, false), "both parked reads released");
    assert_eq!(
        (links, commands, state),
        {
            let (links, commands) = outcome(&pool, alone).await?;
            (links, commands, side_state(&pool, alone).await?)
        },
        "the same links, commands, parked reads and progress as one message at a time"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_users_results_write_their_links_and_progress_in_one_statement_each() -> anyhow::Result<()>
{
    let pool = pool().await?;
    let handler = handler(&pool);
    let user = contact_user(&pool).await?;
    let batch: Vec<Vec<u8>> = (0..20)
        .map(|i| new_contact(user, &format!("n{i}")))
        .collect();
    handle(&handler, &batch).await?;
    let results: Vec<Vec<u8>> = zoho_creates(&pool, user)
        .await?
        .into_iter()
        .map(|(name, (command, item))| {
            zoho_result(user, command, applied(&format!("Z-{name}"), &item))
        })
        .collect();
    assert_eq!(results.len(), 20);
    count_statements(
        &pool,
        &[
            ("links", "INSERT"),
            ("kind_progress", "UPDATE"),
            ("parked_changes", "DELETE"),
        ],
    )
    .await?;
    handle(&handler, &results).await?;

    let (linked,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM links WHERE user_id = $1 AND zoho_id LIKE 'Z-%'")
            .bind(user.0)
            .fetch_one(&pool)
            .await?;
    assert_eq!(linked, 20, "every answer linked its item");
    let counted: Vec<(String, i64)> =
        sqlx::query_as("SELECT tbl, count(*) FROM statements GROUP BY tbl ORDER BY tbl")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        counted,
        [("kind_progress".to_owned(), 1), ("links".to_owned(), 1)],
        "20 results of one user: one statement per table"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_batch_of_several_users_ends_as_each_users_messages_decided_one_by_one()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (mut together, mut alone) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        together.push(contact_user(&pool).await?);
        alone.push(contact_user(&pool).await?);
    }
    let scripts: Vec<Vec<Vec<u8>>> = together.iter().map(|u| mixed_script(*u)).collect();
    handle(&handler, &interleaved(&scripts)).await?;
    for user in &alone {
        for message in mixed_script(*user) {
            handle(&handler, &[message]).await?;
        }
    }

    assert_eq!(
        writers(&pool, &together, 0).await?,
        1,
        "the users' commands share one transaction"
    );
    for (t, a) in together.iter().zip(&alone) {
        let (links, commands) = outcome(&pool, *t).await?;
        assert_eq!(links.len(), 3, "{links:#?}");
        assert_eq!(
            (links, commands),
            outcome(&pool, *a).await?,
            "each user's links and commands as one message at a time"
        );
    }
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn several_users_results_in_one_batch_end_as_decided_one_by_one() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (mut together, mut alone) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        together.push(contact_user(&pool).await?);
        alone.push(contact_user(&pool).await?);
    }
    // The second pair's script starts three results later: its message that needs the
    // one-by-one path (a result colliding with a read's link) comes at another place than the
    // first user's, so one user's run goes on while the other's is loaded again.
    let script = |n: usize, script: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        script
            .into_iter()
            .skip(if n == 1 { 3 } else { 0 })
            .collect()
    };
    let mut scripts = Vec::new();
    for (n, user) in together.iter().enumerate() {
        scripts.push(script(n, results_script(&pool, &handler, *user).await?));
    }
    let (before,): (i64,) = sqlx::query_as("SELECT coalesce(max(id), 0) FROM outbox")
        .fetch_one(&pool)
        .await?;
    handle(&handler, &interleaved(&scripts)).await?;
    for (n, user) in alone.iter().enumerate() {
        for message in script(n, results_script(&pool, &handler, *user).await?) {
            handle(&handler, &[message]).await?;
        }
    }

    assert_eq!(
        writers(&pool, &together, before).await?,
        1,
        "the users' commands share one transaction"
    );
    let (writing,): (i64,) = sqlx::query_as(
        "SELECT count(DISTINCT user_id) FROM outbox WHERE user_id = ANY($1) AND id > $2",
    )
    .bind(together.iter().map(|u| u.0).collect::<Vec<_>>())
    .bind(before)
    .fetch_one(&pool)
    .await?;
    assert_eq!(writing, 2, "both users' results wrote commands");
    let (links, _) = outcome(&pool, together[0]).await?;
    assert_eq!(links.len(), 9, "{links:#?}");
    assert_eq!(
        side_state(&pool, together[0]).await?,
        (vec![], true, false),
        "both parked reads released"
    );
    for (t, a) in together.iter().zip(&alone) {
        let (links, commands) = outcome(&pool, *t).await?;
        let state = side_state(&pool, *t).await?;
        assert_eq!(
            (links, commands, state),
            {
                let (links, commands) = outcome(&pool, *a).await?;
                (links, commands, side_state(&pool, *a).await?)
            },
            "each user's links, commands, parked reads and progress as one message at a time"
        );
    }
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_batch_of_several_users_writes_each_table_with_one_statement() -> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(contact_user(&pool).await?);
    }
    count_statements(
        &pool,
        &[
            ("links", "INSERT"),
            ("outbox", "INSERT"),
            ("processed_messages", "INSERT"),
            ("kind_progress", "UPDATE"),
        ],
    )
    .await?;
    let counted = || async {
        let counted: Vec<(String, i64)> = sqlx::query_as(
            "WITH c AS (DELETE FROM statements RETURNING tbl)
             SELECT tbl, count(*) FROM c GROUP BY tbl ORDER BY tbl",
        )
        .fetch_all(&pool)
        .await?;
        anyhow::Ok(counted)
    };
    let scripts: Vec<Vec<Vec<u8>>> = users
        .iter()
        .map(|u| (0..5).map(|i| new_contact(*u, &format!("n{i}"))).collect())
        .collect();
    handle(&handler, &interleaved(&scripts)).await?;
    for user in &users {
        assert_eq!(names(&decisions(&pool).await?[user]).len(), 5);
    }
    assert_eq!(
        counted().await?,
        [
            ("links".to_owned(), 1),
            ("outbox".to_owned(), 1),
            ("processed_messages".to_owned(), 1)
        ],
        "4 users' 20 messages: one statement per table"
    );

    let mut results = Vec::new();
    for user in &users {
        results.push(
            zoho_creates(&pool, *user)
                .await?
                .into_iter()
                .map(|(name, (command, item))| {
                    zoho_result(*user, command, applied(&format!("Z-{name}"), &item))
                })
                .collect::<Vec<_>>(),
        );
    }
    handle(&handler, &interleaved(&results)).await?;
    let (linked,): (i64,) = sqlx::query_as("SELECT count(*) FROM links WHERE zoho_id LIKE 'Z-%'")
        .fetch_one(&pool)
        .await?;
    assert_eq!(linked, 20, "every answer linked its item");
    assert_eq!(
        counted().await?,
        [
            ("kind_progress".to_owned(), 1),
            ("links".to_owned(), 1),
            ("outbox".to_owned(), 1),
            ("processed_messages".to_owned(), 1)
        ],
        "4 users' 20 results: one statement per table (the links' writes the outbox's too)"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn a_held_users_messages_wait_behind_its_hold_while_the_batchs_other_users_commit()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let handler = handler(&pool);
    let (a, b) = (contact_user(&pool).await?, contact_user(&pool).await?);
    refuse_poison(&pool).await?;
    let poison = new_contact(a, "poison");
    handle(&handler, std::slice::from_ref(&poison)).await?;

    let batch = vec![
        new_contact(b, "b1"),
        new_contact(a, "a1"),
        new_contact(b, "b2"),
        new_contact(a, "a2"),
    ];
    handle(&handler, &batch).await?;
    let decided = decisions(&pool).await?;
    assert_eq!(names(&decided[&b]), ["b1", "b2"], "the other user goes on");
    assert_eq!(transactions(&decided[&b]).len(), 1);
    assert!(
        !decided.contains_key(&a),
        "nothing of the held user decided"
    );
    let held: Vec<(Vec<u8>, String)> = sqlx::query_as(
        "SELECT payload, xmin::text FROM held_messages WHERE user_id = $1 ORDER BY id",
    )
    .bind(a.0)
    .fetch_all(&pool)
    .await?;
    assert_eq!(
        held.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        vec![poison, batch[1].clone(), batch[3].clone()],
        "the held user's messages wait behind its hold, in order"
    );
    assert_eq!(
        [held[1].1.as_str(), held[2].1.as_str()],
        [transactions(&decided[&b])[0]; 2],
        "appended to the hold by the batch's one transaction, with the other user's decisions"
    );
    pool.close().await;
    Ok(())
}

#[tokio::test]
async fn the_inbox_locks_a_batchs_users_in_one_order_whatever_the_order_of_their_messages()
-> anyhow::Result<()> {
    let pool = pool().await?;
    let users: Vec<UserId> = (0..6).map(|_| UserId(Uuid::new_v4())).collect();
    // Two batches' admissions of the same users, their messages in opposite orders (two
    // replicas may hold batches sharing users for a moment during a handover), both stalled on
    // a user whose lock another transaction holds. Taken in the order of their keys, the locks
    // cannot deadlock; taken in the messages' order (a mutation, tried), each would hold other
    // users' locks when it stalls (the held user is in the middle of both orders) and Postgres
    // aborts one of the two for a deadlock.
    let held = users[3];
    let mut holder = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(held.0)
        .execute(&mut *holder)
        .await?;
    let mut tasks = Vec::new();
    for reversed in [false, true] {
        let mut order = users.clone();
        if reversed {
            order.reverse();
        }
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await?;
            let messages: Vec<(UserId, Uuid)> =
                order.iter().map(|u| (*u, Uuid::new_v4())).collect();
            let admitted = sync_service::store::inbox::admit_many(&mut tx, &messages).await?;
            tx.commit().await?;
            anyhow::Ok(admitted)
        }));
    }
    // Both wait for the held lock before it is let go.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (waiting,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM pg_locks
             WHERE locktype = 'advisory' AND NOT granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&pool)
        .await?;
        if waiting == 2 {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "both admissions wait: {waiting}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    holder.commit().await?;
    for task in tasks {
        let admitted = task.await??;
        assert_eq!(
            admitted,
            vec![sync_service::store::inbox::Admission::New; 6],
            "every message let in, no batch aborted"
        );
    }
    pool.close().await;
    Ok(())
}
