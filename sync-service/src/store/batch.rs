//! Runs of item messages decided set-wise (decisions #87, #95, #97, #115): what the runs of a
//! batch's users need is read with two statements, and what their decisions wrote (links and
//! commands) is stored with one. Each statement is a round trip the batch's transaction waits
//! for, whatever the number of its users.

use std::collections::HashSet;

use sync_model::{ContentHash, ExternalId, ItemKind, Side, UserId};
use sync_protocol::{CommandMessage, Envelope};

use crate::domain::Link;
use crate::domain::unknown_read;

use super::Tx;
use super::links::{self, deleted_by, last_error};

/// One message's item: its user, kind, side and id, and for a read its content's hash.
pub struct Key<'a> {
    pub user: UserId,
    pub kind: ItemKind,
    pub side: Side,
    pub item: &'a ExternalId,
    pub read: Option<&'a ContentHash>,
}

/// What [`load`] found, by the keys' indexes.
#[derive(Default)]
pub struct Loaded {
    /// The links knowing any of the items, locked for the transaction.
    pub links: Vec<Link>,
    /// The keys whose item has a parked read.
    pub parked: HashSet<usize>,
    /// For a read's key, the links whose create may have made its item (as
    /// `links::creates_with` answers; not locked: the batch goes on only with a read none of
    /// them made, and hands any other one to the one-by-one path, which looks again, locked).
    pub creates: Vec<(usize, Link)>,
}

/// The links of `keys` (locked), which of them have a parked read, and the creates each read
/// may echo, in two statements. The links come first, by [`links::find_many`] (one index scan
/// per key on the unique indexes of the ids): folded into the statement below, a links table
/// without statistics (never analyzed, as on a machine without autovacuum) was scanned by
/// status instead, 536 of 544 ms for 512 keys in the default initial sync (decision 97). The
/// parked reads and the creates are looked up for every key, also those a link knows (the
/// caller ignores them there), in one statement: the parked changes' index, and the create
/// hashes' and stale hashes' partial indexes. Those lookups name only the columns of the index
/// meant for them; the status and the missing id are checked on what they found, behind
/// `OFFSET 0` so that the planner cannot fold them back in: given `status = 'active'` too,
/// a planner without statistics costed `links_status` (user, kind, status) the same and took
/// it, reading every link of the kind for each key (3.3 s for 512 read-backs on a first
/// sync's 25,200 links, against 3.6 ms by the create hashes' index; decision 98).
pub async fn load(tx: &mut Tx<'_>, keys: &[Key<'_>]) -> sqlx::Result<Loaded> {
    let ids: Vec<(UserId, ItemKind, Side, &ExternalId)> = keys
        .iter()
        .map(|k| (k.user, k.kind, k.side, k.item))
        .collect();
    let mut loaded = Loaded {
        links: links::find_many(tx, &ids).await?,
        ..Loaded::default()
    };
    let rows: Vec<(String, Option<i64>, Option<sqlx::types::Json<Link>>)> = sqlx::query_as(
        "WITH k AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],
                                         $5::text[])
                                  WITH ORDINALITY AS k(user_id, kind, side, item, hash, i)),
              parked AS (
                  SELECT k.i FROM k
                  WHERE EXISTS (SELECT 1 FROM parked_changes p
                                WHERE p.user_id = k.user_id AND p.kind = k.kind
                                  AND p.side = k.side AND p.external_id = k.item)),
              creates AS (
                  SELECT k.i, c.doc FROM k CROSS JOIN LATERAL (
                      SELECT l.doc, l.status, l.outlook_id AS found FROM links l
                      WHERE l.user_id = k.user_id AND l.kind = k.kind AND k.side = 'outlook'
                        AND l.create_hash_outlook = k.hash
                      UNION ALL
                      SELECT l.doc, l.status, l.zoho_id FROM links l
                      WHERE l.user_id = k.user_id AND l.kind = k.kind AND k.side = 'zoho'
                        AND l.create_hash_zoho = k.hash
                      OFFSET 0) c
                  WHERE c.status = 'active' AND c.found IS NULL
                  UNION ALL
                  SELECT k.i, s.doc FROM k JOIN (
                      SELECT l.user_id, l.kind, l.doc, l.status, l.outlook_id, l.zoho_id
                      FROM (SELECT DISTINCT user_id FROM k) u
                      CROSS JOIN LATERAL (SELECT * FROM links l
                                          WHERE l.user_id = u.user_id AND l.hashes_stale
                                          OFFSET 0) l) s
                    ON s.user_id = k.user_id AND s.kind = k.kind
                  WHERE k.hash IS NOT NULL AND s.status = 'active'
                    AND CASE k.side WHEN 'outlook' THEN s.outlook_id ELSE s.zoho_id END IS NULL)
         SELECT 'parked', i, NULL FROM parked
         UNION ALL SELECT 'create', i, doc FROM creates",
    )
    .bind(keys.iter().map(|k| k.user.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.kind.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.side.as_str()).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.item.0.as_str()).collect::<Vec<_>>())
    .bind(
        keys.iter()
            .map(|k| k.read.map(|h| h.0.as_str()))
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut **tx)
    .await?;
    for (part, i, doc) in rows {
        let index = i.map(|i| (i - 1) as usize);
        match (part.as_str(), index, doc) {
            ("parked", Some(i), _) => {
                loaded.parked.insert(i);
            }
            // A link found both by its hash and as stale is one candidate.
            ("create", Some(i), Some(doc)) => {
                if !loaded
                    .creates
                    .iter()
                    .any(|(k, l)| *k == i && l.id == doc.0.id)
                {
                    loaded.creates.push((i, doc.0));
                }
            }
            _ => unreachable!("every part of the statement has its columns"),
        }
    }
    Ok(loaded)
}

/// Inserts or replaces `links` (each id at most once) and appends `commands` to the outbox
/// (their ids, the relay's order, in the order given), in one statement; the held entries of
/// the conflict log of a link saved without held conflicts are dropped (decision 107).
pub async fn save(
    tx: &mut Tx<'_>,
    links: &[&Link],
    commands: &[Envelope<CommandMessage>],
) -> sqlx::Result<()> {
    if links.is_empty() && commands.is_empty() {
        return Ok(());
    }
    let text = |f: &dyn Fn(&Link) -> Option<String>| -> Vec<Option<String>> {
        links.iter().map(|l| f(l)).collect()
    };
    sqlx::query(
        "WITH saved AS (
             INSERT INTO links (id, user_id, kind, outlook_id, zoho_id, status, deleted_by, doc,
                                last_error, failure_code, create_hash_outlook, create_hash_zoho)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::jsonb[], $9::text[], $10::text[],
                                  $11::text[], $12::text[])
             ON CONFLICT (id) DO UPDATE SET
                outlook_id = excluded.outlook_id, zoho_id = excluded.zoho_id,
                status = excluded.status, deleted_by = excluded.deleted_by, doc = excluded.doc,
                last_error = excluded.last_error, failure_code = excluded.failure_code,
                create_hash_outlook = excluded.create_hash_outlook,
                create_hash_zoho = excluded.create_hash_zoho, hashes_stale = false,
                updated_at = now()),
              pushed AS (
             INSERT INTO outbox (message_id, user_id, payload)
             SELECT message_id, user_id, payload
             FROM unnest($13::uuid[], $14::uuid[], $15::jsonb[]) WITH ORDINALITY
                  AS batch(message_id, user_id, payload, n)
             ORDER BY n),
              dropped AS (
             UPDATE conflicts SET status = 'dropped'
             WHERE status = 'held' AND link_id = ANY($16))
         SELECT 1",
    )
    .bind(links.iter().map(|l| l.id.0).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.user_id.0).collect::<Vec<_>>())
    .bind(links.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>())
    .bind(text(&|l| l.lookup_id(Side::Outlook).map(|i| i.0.clone())))
    .bind(text(&|l| l.lookup_id(Side::Zoho).map(|i| i.0.clone())))
    .bind(links.iter().map(|l| l.status.as_str()).collect::<Vec<_>>())
    .bind(text(&|l| deleted_by(l).map(str::to_owned)))
    .bind(
        links
            .iter()
            .map(|l| sqlx::types::Json(*l))
            .collect::<Vec<_>>(),
    )
    .bind(text(&last_error))
    .bind(text(&|l| {
        l.last_error.as_ref().map(|e| e.code.as_str().to_owned())
    }))
    .bind(text(&|l| {
        unknown_read::create_hash(l, Side::Outlook).map(|h| h.0)
    }))
    .bind(text(&|l| {
        unknown_read::create_hash(l, Side::Zoho).map(|h| h.0)
    }))
    .bind(commands.iter().map(|e| e.message_id).collect::<Vec<_>>())
    .bind(commands.iter().map(|e| e.user_id.0).collect::<Vec<_>>())
    .bind(commands.iter().map(sqlx::types::Json).collect::<Vec<_>>())
    .bind(
        links
            .iter()
            .filter(|l| l.held.is_empty())
            .map(|l| l.id.0)
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
