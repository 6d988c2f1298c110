//! Conformance of the emulators with the services' published descriptions: [`zoho`] validates
//! the Zoho CRM answers against Zoho's OpenAPI description of the records API, [`graph`] the Graph
//! answers against Microsoft's Graph metadata.
//!
//! Zoho:
//!
//! Every operation the sandbox emulates is driven to each answer it can give, successes and
//! errors, and each body is validated (JSON Schema 2020-12, the `jsonschema` crate) against the
//! schema Zoho's OpenAPI 3.1 description (`zoho/crm-oas`, `v8.0/record/record.yaml`, excerpt in
//! `fixtures/specs/zoho-crm-oas-v8.0/`) gives that operation for that HTTP status. Every error
//! code must also be one that Zoho's descriptions name (`record.json`'s `API_Exception`, or
//! record.yaml).
//! Where the sandbox answers something the description does not describe, the case names why
//! ([`Expect::Deviation`]) and the test checks that it still does not validate, so a change on
//! either side is seen.

use std::collections::BTreeSet;

use jsonschema::{Draft, Validator};
use reqwest::StatusCode;
use serde_json::{Value, json};

mod graph;
mod zoho;

const STRICT: &str = "specs/zoho-crm-oas-v8.0/record-strict-excerpt.json";
const JSON_DESCRIPTION: &str = "specs/zoho-crm-oas-v8.0/record.json";

/// Zoho's description of the records API.
pub struct Description {
    strict: Value,
    codes: BTreeSet<String>,
}

impl Description {
    pub fn load() -> Self {
        let strict = test_support::fixtures::json(STRICT);
        let loose = test_support::fixtures::json(JSON_DESCRIPTION);
        let mut codes = BTreeSet::new();
        error_codes(&loose["components"]["schemas"]["API_Exception"], &mut codes);
        assert!(
            codes.len() > 30,
            "record.json's API_Exception codes: {codes:?}"
        );
        error_codes(&strict, &mut codes);
        Description { strict, codes }
    }

    /// The response of `operation` for `status`: `None` when the description has none.
    fn response(&self, operation: &str, status: u16) -> Option<&Value> {
        self.strict["paths"]
            .as_object()?
            .values()
            .flat_map(|methods| methods.as_object().into_iter().flat_map(|m| m.values()))
            .find(|op| op["operationId"] == operation)
            .and_then(|op| op["responses"].get(status.to_string()))
    }

    /// A validator of the body `operation` answers with `status`, its `$ref`s resolved within
    /// the description.
    fn validator(&self, operation: &str, status: u16) -> Option<Validator> {
        let schema = self
            .response(operation, status)?
            .pointer("/content/application~1json/schema")?
            .clone();
        let mut root = self.strict.clone();
        root["x-target"] = schema;
        root["$ref"] = json!("#/x-target");
        Some(
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .expect("the description compiles"),
        )
    }

    /// Why `body` is not what `operation` answers with `status`; empty when it is.
    fn problems(&self, operation: &str, status: u16, body: &Value) -> Vec<String> {
        match self.response(operation, status) {
            None => vec![format!("{operation} documents no {status} answer")],
            Some(response) if response.get("content").is_none() => {
                if body.is_null() {
                    Vec::new()
                } else {
                    vec![format!("{operation} {status} has no body, got {body}")]
                }
            }
            Some(_) => {
                let validator = self.validator(operation, status).expect("a schema");
                validator
                    .iter_errors(body)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect()
            }
        }
    }

    /// The error codes of an answer (top-level or inside `data[]`) that Zoho does not know.
    fn unknown_codes(&self, body: &Value) -> Vec<String> {
        let mut codes: Vec<&Value> = vec![&body["code"]];
        if let Some(data) = body["data"].as_array() {
            codes.extend(data.iter().map(|d| &d["code"]));
        }
        codes
            .into_iter()
            .filter_map(Value::as_str)
            .filter(|c| *c != "SUCCESS" && !self.codes.contains(*c))
            .map(str::to_owned)
            .collect()
    }
}

/// Every `code` enum value under `schema`: the error codes a description names.
fn error_codes(schema: &Value, codes: &mut BTreeSet<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(values) = map
                .get("properties")
                .and_then(|p| p.pointer("/code/enum"))
                .and_then(Value::as_array)
            {
                codes.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            map.values().for_each(|v| error_codes(v, codes));
        }
        Value::Array(items) => items.iter().for_each(|v| error_codes(v, codes)),
        _ => {}
    }
}

/// Request headers of a case.
pub type Headers = Vec<(&'static str, &'static str)>;

/// What a case's answer must be.
pub enum Expect {
    /// Described by the operation's schema for the status.
    Conforms,
    /// Described by another operation's schema for the status (Zoho's description of this one
    /// lacks it; the reason says where Zoho gives it).
    ConformsAs(&'static str, &'static str),
    /// Not described by Zoho's description; the reason says why the sandbox answers so.
    Deviation(&'static str),
}

pub struct Checker {
    pub description: Description,
    pub failures: Vec<String>,
    pub seen: BTreeSet<(String, u16)>,
}

impl Checker {
    pub fn check(
        &mut self,
        case: &str,
        operation: &str,
        status: StatusCode,
        body: &Value,
        expect: Expect,
    ) {
        let status = status.as_u16();
        self.seen.insert((operation.to_owned(), status));
        for code in self.description.unknown_codes(body) {
            self.failures.push(format!(
                "{case}: code {code} is named by neither of Zoho's descriptions"
            ));
        }
        match expect {
            Expect::Conforms => {
                let problems = self.description.problems(operation, status, body);
                if !problems.is_empty() {
                    self.failures.push(format!(
                        "{case}: {operation} {status} does not conform: {problems:?}\n  body: {body}"
                    ));
                }
            }
            Expect::ConformsAs(other, why) => {
                assert!(!why.is_empty());
                let own = self.description.problems(operation, status, body);
                let problems = self.description.problems(other, status, body);
                if own.is_empty() {
                    self.failures.push(format!(
                        "{case}: now described by {operation} itself: drop the exception"
                    ));
                }
                if !problems.is_empty() {
                    self.failures.push(format!(
                        "{case}: {other} {status} does not describe it: {problems:?}\n  body: {body}"
                    ));
                }
            }
            Expect::Deviation(why) => {
                assert!(!why.is_empty());
                if self
                    .description
                    .problems(operation, status, body)
                    .is_empty()
                {
                    self.failures.push(format!(
                        "{case}: now conforms to {operation} {status}: drop the deviation"
                    ));
                }
            }
        }
    }
}
