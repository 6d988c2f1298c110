//! The single door of every emulated API call. Each API's gate middleware authenticates the caller
//! and then calls [`admit`], which counts the call per account and operation. Fault injection
//! (429 with Retry-After, 5xx, latency) and Zoho's 24-hour credit budget hook in here later: they
//! need exactly what `admit` sees (the account, the operation, the world) and can answer instead
//! of the handler.

use std::collections::BTreeMap;

use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use crate::state::World;

/// Who a call is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Account {
    Mailbox(String),
    Org(String),
}

/// Which API refused a call before it had an account (a missing or bad token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Graph,
    Zoho,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Usage {
    pub total: u64,
    pub operations: BTreeMap<String, u64>,
}

impl Usage {
    fn add(&mut self, operation: &str) {
        self.total += 1;
        *self.operations.entry(operation.to_owned()).or_default() += 1;
    }
}

/// Call counts since start (or the last reset).
#[derive(Debug, Default)]
pub struct Meter {
    mailboxes: BTreeMap<String, Usage>,
    orgs: BTreeMap<String, Usage>,
    unauthenticated_graph: u64,
    unauthenticated_zoho: u64,
}

impl Meter {
    /// Counts one call. Token-endpoint calls are counted here too, under their own operation.
    pub fn record(&mut self, account: &Account, operation: &str) {
        let usage = match account {
            Account::Mailbox(id) => self.mailboxes.entry(id.clone()).or_default(),
            Account::Org(id) => self.orgs.entry(id.clone()).or_default(),
        };
        usage.add(operation);
    }

    /// Counts a call refused for want of a valid access token.
    pub fn record_unauthenticated(&mut self, api: Api) {
        match api {
            Api::Graph => self.unauthenticated_graph += 1,
            Api::Zoho => self.unauthenticated_zoho += 1,
        }
    }

    pub fn usage(&self, account: &Account) -> Usage {
        let found = match account {
            Account::Mailbox(id) => self.mailboxes.get(id),
            Account::Org(id) => self.orgs.get(id),
        };
        found.cloned().unwrap_or_default()
    }

    pub fn snapshot(&self) -> Value {
        json!({
            "graph": {
                "mailboxes": self.mailboxes,
                "unauthenticated": self.unauthenticated_graph,
            },
            "zoho": {
                "orgs": self.orgs,
                "unauthenticated": self.unauthenticated_zoho,
            },
        })
    }

    pub fn reset(&mut self) {
        *self = Meter::default();
    }
}

/// Lets an authenticated call through (counting it): `None`, or `Some(answer)` to send instead
/// of calling the handler. Nothing refuses calls yet; faults and credit budgets will.
pub fn admit(world: &mut World, account: &Account, operation: &str) -> Option<Response> {
    world.meter.record(account, operation);
    None
}

/// The operation label of a call: the method and the route template relative to the API's base,
/// with the parameters named in `keep` replaced by their values (Zoho's `{module}`, so Contacts
/// and Tasks calls count apart).
pub fn operation(
    method: &str,
    template: &str,
    path: &str,
    base_segments: usize,
    keep: &[&str],
) -> String {
    let mut label = String::from(method);
    label.push(' ');
    let pairs = template
        .split('/')
        .zip(path.split('/'))
        .skip(base_segments + 1);
    for (template_segment, actual) in pairs {
        label.push('/');
        if keep.contains(&template_segment) {
            label.push_str(actual);
        } else {
            label.push_str(template_segment);
        }
    }
    label
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_keep_only_named_parameters() {
        let label = operation(
            "GET",
            "/zoho-api/{dc}/crm/v8/{module}/{id}",
            "/zoho-api/eu/crm/v8/Contacts/123",
            4,
            &["{module}"],
        );
        assert_eq!(label, "GET /Contacts/{id}");
        let label = operation(
            "PATCH",
            "/graph/v1.0/me/contacts/{contact_id}",
            "/graph/v1.0/me/contacts/AAMk=",
            2,
            &[],
        );
        assert_eq!(label, "PATCH /me/contacts/{contact_id}");
    }
}
