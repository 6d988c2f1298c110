//! Every Graph entity the sandbox answers with, validated against Microsoft's Graph v1.0
//! metadata (`microsoftgraph/msgraph-metadata`, CSDL, derived to JSON Schema in
//! `fixtures/specs/msgraph-v1.0/`): no property Graph does not declare, every value of the
//! declared type (strings, enums, nested complex types, never a null collection or a null where
//! Graph says non-nullable). And every delta the sandbox serves is one Graph binds `delta` to.
//! Errors are not in the metadata; their shape is checked against the published payloads
//! elsewhere (tests/it/shapes.rs).

use jsonschema::{Draft, Validator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Mailbox, TestApp, read, spawn_app};

const SCHEMA: &str = "specs/msgraph-v1.0/graph-v1.0-schema.json";

struct Metadata {
    schema: Value,
    failures: Vec<String>,
    checked: usize,
}

impl Metadata {
    fn validator(&self, root: Value) -> Validator {
        let mut document = root;
        document["$defs"] = self.schema["$defs"].clone();
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&document)
            .expect("the metadata compiles")
    }

    /// `body` is one `entity`, or (`collection`) a page of them.
    fn check(&mut self, case: &str, entity: &str, collection: bool, body: &Value) {
        assert!(
            self.schema["$defs"].get(entity).is_some(),
            "{entity} is not in the metadata excerpt"
        );
        let one = json!({"$ref": format!("#/$defs/{entity}")});
        let root = if collection {
            json!({"type": "object", "required": ["value"],
                   "properties": {"value": {"type": "array", "items": one}},
                   "patternProperties": {"@": true}, "additionalProperties": false})
        } else {
            one
        };
        let problems: Vec<String> = self
            .validator(root)
            .iter_errors(body)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        self.checked += 1;
        if !problems.is_empty() {
            self.failures.push(format!(
                "{case}: not a {entity} as Graph declares it: {problems:?}"
            ));
        }
    }
}

async fn call(
    app: &TestApp,
    mailbox: &Mailbox,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut request = app.graph(mailbox, method.clone(), path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, answer) = read(request.send().await.expect("call")).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

/// Every page of a round from `start`.
async fn pages(app: &TestApp, mailbox: &Mailbox, start: &str) -> Vec<Value> {
    let mut url = start.to_owned();
    let mut all = Vec::new();
    loop {
        let page = call(app, mailbox, Method::GET, &url, None).await;
        let next = page["@odata.nextLink"].as_str().map(str::to_owned);
        all.push(page);
        match next {
            Some(next) => url = next,
            None => return all,
        }
    }
}

#[tokio::test]
async fn every_graph_entity_conforms_to_microsofts_metadata() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let mut m = Metadata {
        schema: test_support::fixtures::json(SCHEMA),
        failures: Vec::new(),
        checked: 0,
    };
    let get = Method::GET;
    let property = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name SyncLink";

    m.check(
        "me",
        "user",
        false,
        &call(&app, &mailbox, get.clone(), "/me", None).await,
    );

    // Contact folders and contacts.
    let folders = call(&app, &mailbox, get.clone(), "/me/contactFolders", None).await;
    m.check("folders", "contactFolder", true, &folders);
    let folder = &mailbox.folder_id;
    let one = call(
        &app,
        &mailbox,
        get.clone(),
        &format!("/me/contactFolders/{folder}"),
        None,
    )
    .await;
    m.check("folder", "contactFolder", false, &one);
    let child = call(
        &app,
        &mailbox,
        Method::POST,
        &format!("/me/contactFolders/{folder}/childFolders"),
        Some(json!({"displayName": "Customers"})),
    )
    .await;
    m.check("child folder", "contactFolder", false, &child);
    m.check(
        "child folders",
        "contactFolder",
        true,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/contactFolders/{folder}/childFolders"),
            None,
        )
        .await,
    );
    let contact = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/contacts",
        Some(json!({
        "givenName": "Pavel", "surname": "Bansky", "middleName": "J", "nickName": "Pav",
        "title": "Dr", "jobTitle": "Engineer", "companyName": "Contoso", "department": "R&D",
        "emailAddresses": [{"address": "pavelb@contoso.onmicrosoft.com", "name": "Pavel Bansky"}],
        "businessPhones": ["+1 732 555 0102"], "homePhones": ["+1 732 555 0103"],
        "mobilePhone": "+1 732 555 0104",
        "homeAddress": {"street": "1 Main St", "city": "Redmond", "state": "WA",
                        "countryOrRegion": "USA", "postalCode": "98052"},
        "birthday": "1974-07-22T00:00:00Z", "personalNotes": "Met at the fair",
        "categories": ["Customers"],
        "singleValueExtendedProperties": [{"id": property, "value": "zoho:1"}]})),
    )
    .await;
    m.check("contact created", "contact", false, &contact);
    let id = contact["id"].as_str().expect("id").to_owned();
    m.check(
        "contact",
        "contact",
        false,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/contacts/{id}"),
            None,
        )
        .await,
    );
    m.check("contact with its link", "contact", false, &call(&app, &mailbox, get.clone(),
        &format!("/me/contacts/{id}?$expand=singleValueExtendedProperties($filter=id eq '{property}')"), None).await);
    m.check(
        "contact in folder",
        "contact",
        false,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/contactFolders/{folder}/contacts/{id}"),
            None,
        )
        .await,
    );
    m.check(
        "contact updated",
        "contact",
        false,
        &call(
            &app,
            &mailbox,
            Method::PATCH,
            &format!("/me/contacts/{id}"),
            Some(json!({"jobTitle": "Lead engineer", "categories": []})),
        )
        .await,
    );
    m.check(
        "contacts",
        "contact",
        true,
        &call(&app, &mailbox, get.clone(), "/me/contacts", None).await,
    );
    m.check(
        "contacts in folder",
        "contact",
        true,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/contactFolders/{folder}/contacts"),
            None,
        )
        .await,
    );
    let gone = app
        .create_contact(&mailbox, json!({"givenName": "Gone"}))
        .await;
    let gone_id = gone["id"].as_str().expect("id");
    let start = format!("/me/contactFolders/{folder}/contacts/delta");
    let round = pages(&app, &mailbox, &start).await;
    let delta_link = round
        .last()
        .and_then(|p| p["@odata.deltaLink"].as_str())
        .expect("link")
        .to_owned();
    for page in &round {
        m.check("contact delta", "contact", true, page);
    }
    app.graph(&mailbox, Method::DELETE, &format!("/me/contacts/{gone_id}"))
        .send()
        .await
        .expect("delete");
    for page in pages(&app, &mailbox, &delta_link).await {
        m.check("contact delta with a removal", "contact", true, &page);
    }

    // To Do.
    let lists = call(&app, &mailbox, get.clone(), "/me/todo/lists", None).await;
    m.check("lists", "todoTaskList", true, &lists);
    let list = lists["value"][0]["id"].as_str().expect("list").to_owned();
    m.check(
        "list",
        "todoTaskList",
        false,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/todo/lists/{list}"),
            None,
        )
        .await,
    );
    m.check(
        "list created",
        "todoTaskList",
        false,
        &call(
            &app,
            &mailbox,
            Method::POST,
            "/me/todo/lists",
            Some(json!({"displayName": "Errands"})),
        )
        .await,
    );
    for page in pages(&app, &mailbox, "/me/todo/lists/delta").await {
        m.check("list delta", "todoTaskList", true, &page);
    }
    let task = call(
        &app,
        &mailbox,
        Method::POST,
        &format!("/me/todo/lists/{list}/tasks"),
        Some(json!({
        "title": "Call Pavel", "importance": "high", "status": "inProgress",
        "body": {"content": "About the contract", "contentType": "text"},
        "dueDateTime": {"dateTime": "2024-03-01T00:00:00", "timeZone": "UTC"},
        "reminderDateTime": {"dateTime": "2024-02-29T09:00:00", "timeZone": "UTC"},
        "isReminderOn": true, "categories": ["Customers"],
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]},
                       "range": {"type": "noEnd", "startDate": "2024-03-01"}},
        "singleValueExtendedProperties": [{"id": property, "value": "zoho:2"}]})),
    )
    .await;
    m.check("task created", "todoTask", false, &task);
    let task_id = task["id"].as_str().expect("id").to_owned();
    let task_path = format!("/me/todo/lists/{list}/tasks/{task_id}");
    m.check(
        "task",
        "todoTask",
        false,
        &call(&app, &mailbox, get.clone(), &task_path, None).await,
    );
    m.check(
        "task updated",
        "todoTask",
        false,
        &call(
            &app,
            &mailbox,
            Method::PATCH,
            &task_path,
            Some(json!({"status": "completed"})),
        )
        .await,
    );
    m.check(
        "tasks",
        "todoTask",
        true,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/todo/lists/{list}/tasks"),
            None,
        )
        .await,
    );
    for page in pages(
        &app,
        &mailbox,
        &format!("/me/todo/lists/{list}/tasks/delta"),
    )
    .await
    {
        m.check("task delta", "todoTask", true, &page);
    }

    // Calendars, events, categories.
    m.check(
        "calendars",
        "calendar",
        true,
        &call(&app, &mailbox, get.clone(), "/me/calendars", None).await,
    );
    let calendar = call(&app, &mailbox, get.clone(), "/me/calendar", None).await;
    m.check("calendar", "calendar", false, &calendar);
    let event = call(&app, &mailbox, Method::POST, "/me/events", Some(json!({
        "subject": "Let's go for lunch",
        "body": {"contentType": "HTML", "content": "Does late morning work for you?"},
        "start": {"dateTime": "2017-09-04T12:00:00", "timeZone": "Pacific Standard Time"},
        "end": {"dateTime": "2017-09-04T14:00:00", "timeZone": "Pacific Standard Time"},
        "location": {"displayName": "Harry's Bar"},
        "attendees": [{"emailAddress": {"address": "AdeleV@contoso.onmicrosoft.com", "name": "Adele Vance"}, "type": "required"}],
        "categories": ["Customers"], "showAs": "busy", "sensitivity": "normal", "importance": "normal",
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Monday"]},
                       "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31"}},
        "singleValueExtendedProperties": [{"id": property, "value": "zoho:3"}]}))).await;
    m.check("series created", "event", false, &event);
    let series = event["id"].as_str().expect("id").to_owned();
    let single = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/events",
        Some(json!({
        "subject": "Review", "isAllDay": true,
        "start": {"dateTime": "2017-09-06T00:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2017-09-07T00:00:00", "timeZone": "UTC"}})),
    )
    .await;
    m.check("all-day event created", "event", false, &single);
    let single_id = single["id"].as_str().expect("id").to_owned();
    m.check(
        "event",
        "event",
        false,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/events/{series}"),
            None,
        )
        .await,
    );
    m.check(
        "event updated",
        "event",
        false,
        &call(
            &app,
            &mailbox,
            Method::PATCH,
            &format!("/me/events/{single_id}"),
            Some(json!({"subject": "Review, moved"})),
        )
        .await,
    );
    m.check(
        "events",
        "event",
        true,
        &call(&app, &mailbox, get.clone(), "/me/events", None).await,
    );
    let window = "startDateTime=2017-09-01T00:00:00Z&endDateTime=2017-10-01T00:00:00Z";
    m.check(
        "instances",
        "event",
        true,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/events/{series}/instances?{window}"),
            None,
        )
        .await,
    );
    m.check(
        "calendar view",
        "event",
        true,
        &call(
            &app,
            &mailbox,
            get.clone(),
            &format!("/me/calendarView?{window}"),
            None,
        )
        .await,
    );
    let view = pages(&app, &mailbox, &format!("/me/calendarView/delta?{window}")).await;
    let view_link = view
        .last()
        .and_then(|p| p["@odata.deltaLink"].as_str())
        .expect("link")
        .to_owned();
    for page in &view {
        m.check("calendar view delta", "event", true, page);
    }
    app.graph(&mailbox, Method::DELETE, &format!("/me/events/{single_id}"))
        .send()
        .await
        .expect("delete");
    for page in pages(&app, &mailbox, &view_link).await {
        m.check("calendar view delta with a removal", "event", true, &page);
    }
    let category = call(
        &app,
        &mailbox,
        Method::POST,
        "/me/outlook/masterCategories",
        Some(json!({"displayName": "Customers", "color": "preset9"})),
    )
    .await;
    m.check("category created", "outlookCategory", false, &category);
    m.check(
        "categories",
        "outlookCategory",
        true,
        &call(
            &app,
            &mailbox,
            get.clone(),
            "/me/outlook/masterCategories",
            None,
        )
        .await,
    );

    // Every delta the sandbox serves is bound to its type in Graph's metadata.
    let bound: Vec<&str> = m.schema["x-delta-bound-to"]
        .as_array()
        .expect("delta bindings")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for (delta, entity) in [
        ("contactFolders/{id}/contacts/delta", "contact"),
        ("todo/lists/delta", "todoTaskList"),
        ("todo/lists/{id}/tasks/delta", "todoTask"),
        ("calendarView/delta", "event"),
    ] {
        assert!(
            bound.contains(&entity),
            "{delta}: Graph binds no delta to {entity}"
        );
    }
    let (status, _) = read(
        app.graph(
            &mailbox,
            get.clone(),
            "/me/outlook/masterCategories/delta()",
        )
        .send()
        .await
        .expect("call"),
    )
    .await;
    assert_ne!(
        status,
        StatusCode::OK,
        "Graph binds no delta to outlookCategory"
    );

    assert!(m.checked >= 35, "{} answers checked", m.checked);
    // The check can fail: what Graph does not declare, or declares otherwise, is refused.
    for (wrong, why) in [
        (
            json!({"id": "x", "nickname": "Pav"}),
            "an undeclared property (nickName is)",
        ),
        (
            json!({"id": "x", "emailAddresses": null}),
            "a null collection",
        ),
        (
            json!({"id": "x", "homeAddress": {"street": 1}}),
            "a number for a string",
        ),
        (
            json!({"id": "x", "emailAddresses": [{"address": "a@b.c", "type": "work"}]}),
            "an undeclared nested property",
        ),
    ] {
        let before = m.failures.len();
        m.check(why, "contact", false, &wrong);
        assert_eq!(m.failures.len(), before + 1, "{why} passed the check");
        m.failures.pop();
    }
    let before = m.failures.len();
    m.check("bad enum", "event", false, &json!({"showAs": "asleep"}));
    assert_eq!(
        m.failures.len(),
        before + 1,
        "an enum value Graph does not declare passed"
    );
    m.failures.pop();
    assert!(
        m.failures.is_empty(),
        "{} problems:\n{}",
        m.failures.len(),
        m.failures.join("\n")
    );
}
