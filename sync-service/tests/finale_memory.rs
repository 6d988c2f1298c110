//! What planning a first sync's finale holds in memory (decisions #83), against the real
//! Postgres: 20,000 waiting contacts (the benchmark's default size, 10,000 a side), planned from
//! their keys, against what loading their documents (the finale before) held. Measured as the
//! rise of this test process's peak resident memory (the plan first: memory the allocator
//! keeps after it is reused by the documents, which are therefore, if anything, undercounted).

mod common;

use sync_model::{Contact, EmailAddress, ExternalId, Item, ItemKind, Side, UserId, Version};
use sync_service::domain::finale::plan;
use sync_service::domain::{ConflictRule, Direction, Input, RandomIds, Rules, step};
use sync_service::store::{finale, links};

/// A figure of this process's `/proc/self/status`, in bytes.
fn status(field: &str) -> usize {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap_or(0)
        * 1024
}

/// How far this process's peak resident memory rose above where it stood while `f` ran: the
/// peak (`VmHWM`) is reset to the current size first (`/proc/self/clear_refs`, Linux).
async fn peak_of<T, F: Future<Output = T>>(f: F) -> (T, usize) {
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak can be reset");
    let before = status("VmRSS:");
    let out = f.await;
    (out, status("VmHWM:").saturating_sub(before))
}

const PER_SIDE: usize = 10_000;

fn contact(n: usize) -> Item {
    Item::Contact(Contact {
        given_name: Some(format!("Given{n}")),
        surname: Some(format!("Surname{n}")),
        company: Some("Example Trading K.K.".into()),
        job_title: Some("Account manager".into()),
        emails: vec![EmailAddress(format!("person{n}@example.jp"))],
        business_phone: Some(format!("+81 3-{:04}-{:04}", n / 10_000, n % 10_000)),
        notes: Some("Met at the trade fair; prefers e-mail. ".repeat(8)),
        ..Contact::default()
    })
}

#[tokio::test]
async fn planning_twenty_thousand_waiting_contacts_holds_their_keys_not_their_documents()
-> anyhow::Result<()> {
    let pool = common::pool().await?;
    let user = UserId(uuid::Uuid::new_v4());
    let rules = Rules {
        direction: Some(Direction::TwoWay),
        conflict_rule: ConflictRule::ZohoWins,
        first_sync_open: true,
        rebuilding: false,
    };
    // Both full reads: 20 % of the people on both sides, as the benchmark seeds them.
    let mut tx = pool.begin().await?;
    for side in Side::ALL {
        for i in 0..PER_SIDE {
            let n = match side {
                Side::Outlook => i,
                Side::Zoho if i < PER_SIDE / 5 => i,
                Side::Zoho => PER_SIDE + i,
            };
            let read = Input::Changed {
                side,
                external_id: ExternalId(format!("{side}-{n:0>140}")),
                version: Version("v1".into()),
                item: contact(n),
                identity: None,
                modified: None,
            };
            let link = step(None, read, user, rules, &mut RandomIds)
                .link
                .expect("an unmatched link");
            links::save(&mut tx, &link).await?;
        }
    }
    tx.commit().await?;

    let mut tx = pool.begin().await?;
    let (steps, now) = peak_of(async {
        let waiting = finale::waiting(&mut tx, user, ItemKind::Contact, false).await?;
        anyhow::Ok(plan(waiting, false))
    })
    .await;
    let (documents, before) = peak_of(async {
        let mut all = links::with_status(&mut tx, user, ItemKind::Contact, "unmatched").await?;
        all.extend(links::with_status(&mut tx, user, ItemKind::Contact, "out_of_scope").await?);
        anyhow::Ok(all.len())
    })
    .await;
    let steps = steps?;
    tx.rollback().await?;
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    eprintln!(
        "{} waiting contacts: their documents {:.1} MiB at peak; their plan ({} steps) {:.1} MiB",
        documents?,
        mib(before),
        steps.len(),
        mib(now)
    );
    assert_eq!(steps.len(), PER_SIDE * 2 - PER_SIDE / 5);
    assert!(
        now * 3 < before,
        "the plan holds far less than the documents: {now} vs {before} bytes"
    );
    assert!(now < 32 << 20, "the plan fits in a few MiB: {now} bytes");
    pool.close().await;
    Ok(())
}
