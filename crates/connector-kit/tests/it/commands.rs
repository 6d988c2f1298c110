//! The command consumer against the real RabbitMQ and Postgres: apply commands published one by
//! one reach the connector in batches; a repeated command id is answered from the record, not
//! written again; a refused record fails alone; a transient failure is requeued and written
//! later.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use connector_kit::api::Gates;
use connector_kit::commands::CommandHandler;
use connector_kit::store::Watch;
use connector_kit::tokens::TokenClient;
use connector_kit::{ApiError, ApplyRequest, CallContext, Connector, Page};
use futures_util::StreamExt;
use lapin::options::BasicAckOptions;
use secrecy::SecretString;
use sync_model::{Contact, ExternalId, Item, ItemKind, LinkId, Side, UserId, Version};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, CommandMessage, Envelope, FailureCode};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::poller::{changes, eventually, world};

/// The writers here only write.
fn no_reads() -> Result<Page, ApiError> {
    Err(ApiError::Permanent {
        code: "unused".into(),
        message: "no reads here".into(),
    })
}

/// Records every call's size; refuses surnames starting with "!"; fails "~" ones transiently
/// the first time.
#[derive(Default)]
struct Writer {
    calls: Mutex<Vec<usize>>,
    written: Mutex<BTreeMap<Uuid, usize>>,
    flaky_once: AtomicUsize,
}

#[async_trait]
impl Connector for Writer {
    fn side(&self) -> Side {
        Side::Outlook
    }

    async fn read_page(
        &self,
        _ctx: &CallContext,
        _watch: &Watch,
        _cursor: Option<&serde_json::Value>,
    ) -> Result<Page, ApiError> {
        no_reads()
    }

    async fn apply(&self, _ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        self.calls.lock().unwrap().push(requests.len());
        requests
            .iter()
            .map(|r| {
                let ApplyOp::Create {
                    item: Item::Contact(c),
                    ..
                } = &r.op
                else {
                    panic!("creates only")
                };
                let surname = c.surname.clone().unwrap_or_default();
                if surname.starts_with('!') {
                    return ApplyOutcome::Failed {
                        code: FailureCode::provider("ErrorInvalidRecipients"),
                        message: "refused".into(),
                        retryable: false,
                    };
                }
                if surname.starts_with('~') && self.flaky_once.fetch_add(1, Ordering::SeqCst) == 0 {
                    return ApplyOutcome::Failed {
                        code: FailureCode::Transient,
                        message: "503".into(),
                        retryable: true,
                    };
                }
                *self
                    .written
                    .lock()
                    .unwrap()
                    .entry(r.command_id)
                    .or_default() += 1;
                ApplyOutcome::Applied {
                    external_id: ExternalId(format!("o-{}", r.command_id)),
                    version: Version("1".into()),
                    content_hash: Item::Contact(c.clone()).content_hash(),
                    modified: None,
                }
            })
            .collect()
    }
}

fn create(user: UserId, command_id: Uuid, surname: &str) -> Envelope<CommandMessage> {
    Envelope::new(
        user,
        CommandMessage::Apply {
            command_id,
            link_id: LinkId(Uuid::new_v4()),
            side: Side::Outlook,
            kind: ItemKind::Contact,
            op: ApplyOp::Create {
                item: Item::Contact(Contact {
                    surname: Some(surname.into()),
                    ..Contact::default()
                }),
                origin: None,
                may_exist: false,
            },
        },
    )
}

#[tokio::test]
async fn apply_commands_are_written_in_batches_once_each_with_a_result_each() -> anyhow::Result<()>
{
    let world = world().await?;
    let user = UserId(Uuid::new_v4());
    // Results come back on sync.changes.
    let (channel, mut results) = changes(&world.broker, "results").await?;
    let outcomes: Arc<Mutex<BTreeMap<Uuid, Vec<ApplyOutcome>>>> = Arc::default();
    let sink = outcomes.clone();
    tokio::spawn(async move {
        let _channel = channel;
        while let Some(Ok(d)) = results.next().await {
            let e: Envelope<ChangeMessage> = serde_json::from_slice(&d.data).unwrap();
            if let ChangeMessage::ApplyResult {
                command_id,
                outcome,
                ..
            } = e.body
            {
                sink.lock()
                    .unwrap()
                    .entry(command_id)
                    .or_default()
                    .push(outcome);
            }
            let _ = d.acker.ack(BasicAckOptions::default()).await;
        }
    });

    let writer = Arc::new(Writer::default());
    let handler = CommandHandler {
        connector: writer.clone(),
        store: world.store.clone(),
        tokens: TokenClient::new(
            reqwest::Client::new(),
            world.base.clone(),
            SecretString::from("service"),
            Side::Outlook,
        ),
        publisher: world.broker.publisher().await?,
        gates: Gates::new(4),
        batch_window: Duration::from_millis(300),
        batch_max: 20,
        concurrency: 8,
        mailbox_concurrency: 4,
        prefetch: 100,
    };
    let publisher = world.broker.publisher().await?;
    let mut ids = Vec::new();
    for n in 0..45 {
        let id = Uuid::new_v4();
        let surname = match n {
            7 => "!refused".to_owned(),
            9 => "~flaky".to_owned(),
            _ => format!("Nr. {n}"),
        };
        publisher
            .publish_command(&create(user, id, &surname))
            .await?;
        ids.push(id);
    }
    // A redelivered command (the same id) is not written twice.
    publisher
        .publish_command(&create(user, ids[3], "Nr. 3"))
        .await?;

    let stop = CancellationToken::new();
    let task = tokio::spawn(handler.run(world.broker.clone(), stop.clone()));
    let done = outcomes.clone();
    eventually("every result", || {
        let o = done.lock().unwrap();
        ids.iter().all(|id| o.contains_key(id)) && o.get(&ids[3]).is_some_and(|v| v.len() == 2)
    })
    .await;
    stop.cancel();
    let _ = task.await;

    let calls = writer.calls.lock().unwrap().clone();
    assert!(calls.iter().all(|n| *n <= 20), "{calls:?}");
    assert!(
        calls.iter().filter(|n| **n > 1).count() >= 2,
        "batches formed: {calls:?}"
    );
    let written = writer.written.lock().unwrap();
    assert!(written.values().all(|n| *n == 1), "each written once");
    assert_eq!(written.len(), 44, "all but the refused one");
    let outcomes = outcomes.lock().unwrap();
    assert!(matches!(
        outcomes[&ids[7]][..],
        [ApplyOutcome::Failed { ref code, retryable: false, .. }] if code.as_str() == "ErrorInvalidRecipients"
    ));
    assert!(
        matches!(outcomes[&ids[9]][..], [ApplyOutcome::Applied { .. }]),
        "written on retry"
    );
    assert_eq!(
        outcomes[&ids[3]][0], outcomes[&ids[3]][1],
        "the repeat answered from the record"
    );
    Ok(())
}

/// A provider that "writes" every create it is given, and on its first call never answers:
/// the process is killed there, between the write and the record of its outcome.
#[derive(Default)]
struct DiesAfterWriting {
    calls: AtomicUsize,
    /// Per command: how many times it was written, and whether each call said it was repeated.
    seen: Mutex<BTreeMap<Uuid, Vec<bool>>>,
}

#[async_trait]
impl Connector for DiesAfterWriting {
    fn side(&self) -> Side {
        Side::Outlook
    }

    async fn read_page(
        &self,
        _ctx: &CallContext,
        _watch: &Watch,
        _cursor: Option<&serde_json::Value>,
    ) -> Result<Page, ApiError> {
        no_reads()
    }

    async fn apply(&self, _ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome> {
        {
            let mut seen = self.seen.lock().unwrap();
            for r in requests {
                seen.entry(r.command_id).or_default().push(r.repeated);
            }
        }
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        requests
            .iter()
            .map(|r| ApplyOutcome::Applied {
                external_id: ExternalId(format!("o-{}", r.link_id)),
                version: Version("1".into()),
                content_hash: sync_model::ContentHash("h".into()),
                modified: None,
            })
            .collect()
    }
}

fn handler_for(
    world: &crate::poller::World,
    connector: Arc<DiesAfterWriting>,
    publisher: service_kit::broker::Publisher,
) -> CommandHandler<DiesAfterWriting> {
    CommandHandler {
        connector,
        store: world.store.clone(),
        tokens: TokenClient::new(
            reqwest::Client::new(),
            world.base.clone(),
            SecretString::from("service"),
            Side::Outlook,
        ),
        publisher,
        gates: Gates::new(4),
        batch_window: Duration::from_millis(200),
        batch_max: 20,
        concurrency: 8,
        mailbox_concurrency: 4,
        prefetch: 100,
    }
}

#[tokio::test]
async fn a_command_whose_writer_died_after_writing_comes_again_marked_repeated()
-> anyhow::Result<()> {
    let world = world().await?;
    let user = UserId(Uuid::new_v4());
    let provider = Arc::new(DiesAfterWriting::default());
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let publisher = world.broker.publisher().await?;
    for (n, id) in ids.iter().enumerate() {
        publisher
            .publish_command(&create(user, *id, &format!("Nr. {n}")))
            .await?;
    }

    // The first replica takes the batch, writes it, and is killed before recording anything:
    // its connection goes, so the broker hands the unacknowledged commands out again.
    let doomed = service_kit::broker::Broker::connect(world.broker.settings(), "doomed").await?;
    let first = tokio::spawn(
        handler_for(&world, provider.clone(), doomed.publisher().await?)
            .run(doomed.clone(), CancellationToken::new()),
    );
    let seen = provider.clone();
    eventually("the first write", || seen.calls.load(Ordering::SeqCst) == 1).await;
    first.abort();
    doomed.close().await;

    let stop = CancellationToken::new();
    let second = tokio::spawn(
        handler_for(&world, provider.clone(), world.broker.publisher().await?)
            .run(world.broker.clone(), stop.clone()),
    );
    let seen = provider.clone();
    let all = ids.clone();
    eventually("the commands again", || {
        let s = seen.seen.lock().unwrap();
        all.iter().all(|id| s.get(id).is_some_and(|v| v.len() == 2))
    })
    .await;
    // A fresh command after that is not repeated.
    let fresh = Uuid::new_v4();
    publisher
        .publish_command(&create(user, fresh, "Fresh"))
        .await?;
    let seen = provider.clone();
    eventually("the fresh command", || {
        seen.seen.lock().unwrap().contains_key(&fresh)
    })
    .await;
    stop.cancel();
    let _ = second.await;

    let seen = provider.seen.lock().unwrap();
    for id in &ids {
        assert_eq!(
            seen[id],
            vec![false, true],
            "first attempt fresh, the one after the crash marked repeated"
        );
    }
    assert_eq!(seen[&fresh], vec![false]);
    Ok(())
}
