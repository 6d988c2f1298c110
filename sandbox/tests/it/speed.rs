//! Many requests at once on one thread (a current-thread runtime: the sandbox, the client and
//! the test share it): every one is answered and counted. The rate is printed for a person to
//! read, never asserted (speed is the benchmark's business; a timed assertion fails on a busy
//! machine).

use std::time::Instant;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{read, spawn_app};

#[tokio::test(flavor = "current_thread")]
async fn thousands_of_concurrent_requests_are_all_answered_and_counted() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let org = app.org("com").await;
    // 16 calls at once, most against one mailbox: Outlook's 4-in-flight limit is not what this
    // measures.
    app.control(
        Method::PUT,
        &format!("/graph/mailboxes/{}/concurrency", mailbox.id),
        json!({"enabled": false}),
    )
    .await;
    app.control(
        Method::POST,
        "/seed",
        json!({"mailbox_id": mailbox.id, "org_id": org.id, "contacts": 2000, "seed": 1}),
    )
    .await;
    // The delta link of a finished round: polling it is the connectors' steady state.
    let mut link = format!("/me/contactFolders/{}/contacts/delta", mailbox.folder_id);
    let delta_link = loop {
        let (_, page) = read(
            app.graph(&mailbox, Method::GET, &link)
                .send()
                .await
                .expect("page"),
        )
        .await;
        match page["@odata.nextLink"].as_str() {
            Some(next) => link = next.to_owned(),
            None => {
                break page["@odata.deltaLink"]
                    .as_str()
                    .expect("delta link")
                    .to_owned();
            }
        }
    };

    const CALLS: usize = 4000;
    let started = Instant::now();
    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..CALLS)
        .map(|n| {
            let request = match n % 4 {
                0 => app.graph(&mailbox, Method::GET, "/me/contacts?$top=5"),
                1 => app.zoho(
                    &org,
                    Method::GET,
                    "/Contacts?fields=Last_Name,Email&per_page=5",
                ),
                2 => app.graph(&mailbox, Method::GET, &delta_link),
                _ => app.graph(&mailbox, Method::GET, "/me"),
            };
            async move { request.send().await.map(|r| r.status()) }
        })
        .buffer_unordered(16)
        .map(|r| r.expect("call"))
        .collect()
        .await;
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(StatusCode::is_success));
    let rate = CALLS as f64 / elapsed.as_secs_f64();
    println!("{CALLS} calls in {elapsed:?}: {rate:.0} requests/s on one thread");
    let (_, stats) = app.control(Method::GET, "/stats", Value::Null).await;
    assert_eq!(stats["zoho"]["orgs"][&org.id]["total"], CALLS / 4);
}
