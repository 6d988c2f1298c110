//! The contract between the shared machinery and one side's connector.

use std::time::Duration;

use async_trait::async_trait;
use sync_model::{ItemKind, LinkId, Side, UserId};
use sync_protocol::{ApplyOp, ApplyOutcome, ChangeMessage, FailureCode};
use uuid::Uuid;

use crate::api::Gate;
use crate::store::Watch;
use crate::tokens::AccessToken;

/// Who a call is for, the credentials to make it, and the user's share of the API.
#[derive(Clone)]
pub struct CallContext {
    pub user_id: UserId,
    pub token: AccessToken,
    pub gate: Gate,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("user_id", &self.user_id)
            .field("token", &self.token)
            .finish()
    }
}

/// One page of an incremental read.
#[derive(Debug)]
pub struct Page {
    pub changes: Vec<ChangeMessage>,
    /// Where the next read starts; saved only after `changes` are confirmed by the broker.
    pub cursor: serde_json::Value,
    /// More pages follow in this round.
    pub more: bool,
    /// Items of this page that could not be read and were skipped (not in `changes`).
    pub unreadable: usize,
}

/// One write to carry out.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub command_id: Uuid,
    pub link_id: LinkId,
    pub kind: ItemKind,
    pub op: ApplyOp,
    /// The watched container (Outlook folder or list) new items go into.
    pub container_id: Option<String>,
    /// An earlier attempt of this command began writing and never recorded an outcome (it
    /// crashed, or lost the answer): a create must first look for the copy that attempt may
    /// have made (by the link's identity on the provider's side) instead of making another.
    pub repeated: bool,
}

/// How an API call failed, classified for what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: the access token is not (or no longer) accepted.
    #[error("the provider refused the access token")]
    Unauthorized,
    /// The cursor is no longer valid: read everything again.
    #[error("the provider asks for a full resync")]
    ResyncRequired,
    /// 429: wait before calling again. `daily`: the provider's allowance of calls for the day
    /// is used up (Zoho's API credits), rather than a burst slowed down.
    #[error("throttled by the provider")]
    Throttled {
        retry_after: Option<Duration>,
        daily: bool,
    },
    /// 5xx, timeouts, connection errors: retry later.
    #[error("transient provider failure: {0:#}")]
    Transient(anyhow::Error),
    /// The request can never succeed as sent.
    #[error("provider error {code}: {message}")]
    Permanent { code: String, message: String },
}

impl ApiError {
    /// A failed write as an outcome: the API's own code, and whether trying again could help.
    pub fn into_outcome(self) -> ApplyOutcome {
        self.outcome()
    }

    /// The command's outcome for this error (see [`ApiError::into_outcome`]).
    pub fn outcome(&self) -> ApplyOutcome {
        let (code, retryable) = match self {
            ApiError::Unauthorized => (FailureCode::Unauthorized, false),
            ApiError::Throttled { .. } => (FailureCode::Throttled, true),
            ApiError::Transient(_) => (FailureCode::Transient, true),
            ApiError::ResyncRequired => (FailureCode::ResyncRequired, true),
            ApiError::Permanent { code, .. } => (FailureCode::provider(code.as_str()), false),
        };
        ApplyOutcome::Failed {
            code,
            message: self.to_string(),
            retryable,
        }
    }

    /// Classifies a transport error from reqwest.
    pub fn transport(err: reqwest::Error) -> ApiError {
        ApiError::Transient(anyhow::Error::new(err))
    }
}

#[async_trait]
pub trait Connector: Send + Sync + 'static {
    fn side(&self) -> Side;

    /// Reads the page of changes after `cursor`; `None` starts a full read of the watch's scope.
    async fn read_page(
        &self,
        ctx: &CallContext,
        watch: &Watch,
        cursor: Option<&serde_json::Value>,
    ) -> Result<Page, ApiError>;

    /// Carries out writes; one outcome per request, in the same order. A record the API refuses
    /// is a `Failed` outcome, never an error of the whole batch.
    async fn apply(&self, ctx: &CallContext, requests: &[ApplyRequest]) -> Vec<ApplyOutcome>;

    /// Whether a full read of `kind` lists every item in scope, so that an item it does not
    /// list is gone. Not so for a read that covers a time window only.
    fn full_read_lists_everything(&self, _kind: ItemKind) -> bool {
        true
    }

    /// Makes sure the mailbox has the categories `names` (case-insensitive), creating the ones
    /// it lacks. Only the Outlook side has categories.
    async fn ensure_categories(
        &self,
        _ctx: &CallContext,
        _names: &[String],
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// What [`Connector::discover`] lists for the settings page (`contact-folders`, ...).
    fn discoveries(&self) -> &'static [&'static str] {
        &[]
    }

    /// Lists `what` (one of [`Connector::discoveries`]) for the settings page, as JSON.
    async fn discover(
        &self,
        _ctx: &CallContext,
        what: &str,
    ) -> Result<serde_json::Value, ApiError> {
        Err(ApiError::Permanent {
            code: "unknown_discovery".into(),
            message: format!("`{what}` cannot be listed here"),
        })
    }
}
