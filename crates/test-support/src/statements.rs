//! Counts the SQL statements sqlx runs, each tagged with the `user` or `owner` field of the
//! innermost span it runs under, so that a test can measure what one piece of work costs the
//! database while other tests of the same binary run beside it.

use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The span fields a statement is tagged with.
const TAG_FIELDS: [&str; 2] = ["user", "owner"];

/// One statement sqlx ran.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The `user` or `owner` of the innermost span that has one.
    pub tag: Option<String>,
    /// sqlx's summary: the statement's first words.
    pub summary: String,
    pub rows_returned: u64,
    pub rows_affected: u64,
}

/// Every statement run since [`Statements::install`], in order.
#[derive(Default)]
pub struct Statements {
    seen: Mutex<Vec<Statement>>,
}

impl Statements {
    /// Installs the recorder as the process's global subscriber (once; later calls answer the
    /// same recorder). A test binary using it must set no other global subscriber.
    pub fn install() -> &'static Statements {
        static GLOBAL: OnceLock<&'static Statements> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let recorder: &'static Statements = Box::leak(Box::default());
            let subscriber = tracing_subscriber::registry().with(Recording(recorder));
            tracing::subscriber::set_global_default(subscriber)
                .expect("the test binary sets no other global subscriber");
            recorder
        })
    }

    /// A mark to count from ([`Statements::since`]).
    pub fn mark(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Every statement run since `mark`, tagged or not.
    pub fn all_since(&self, mark: usize) -> Vec<Statement> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())[mark..].to_vec()
    }

    /// The statements tagged `tag` run since `mark`.
    pub fn since(&self, mark: usize, tag: &str) -> Vec<Statement> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())[mark..]
            .iter()
            .filter(|s| s.tag.as_deref() == Some(tag))
            .cloned()
            .collect()
    }
}

struct Recording(&'static Statements);

/// The tag a span carries, kept in its extensions.
struct Tag(String);

#[derive(Default)]
struct Fields {
    tag: Option<String>,
    summary: String,
    rows_returned: u64,
    rows_affected: u64,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if TAG_FIELDS.contains(&field.name()) {
            self.tag = Some(format!("{value:?}"));
        } else if field.name() == "summary" {
            self.summary = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if TAG_FIELDS.contains(&field.name()) {
            self.tag = Some(value.to_owned());
        } else if field.name() == "summary" {
            self.summary = value.to_owned();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_returned" => self.rows_returned = value,
            "rows_affected" => self.rows_affected = value,
            _ => {}
        }
    }
}

impl<S> Layer<S> for Recording
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(tag), Some(span)) = (fields.tag, ctx.span(id)) {
            span.extensions_mut().insert(Tag(tag));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let tag = ctx.event_scope(event).and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<Tag>().map(|t| t.0.clone()))
        });
        self.0
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Statement {
                tag,
                summary: fields.summary,
                rows_returned: fields.rows_returned,
                rows_affected: fields.rows_affected,
            });
    }
}
