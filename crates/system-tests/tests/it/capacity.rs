//! What one side cannot hold stays where it is (issue 12): Outlook's third e-mail address and
//! second business phone, notes longer than Zoho's 32,000-character `Description`, at the first
//! sync (the measured loss: "Zoho wins" erased the third address) and with edits afterwards on
//! both sides. Zoho is never sent more than it holds, and the conflict log names only what both
//! sides hold.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

use crate::conflicts::conflict_log;

const TIMEOUT: Duration = Duration::from_secs(60);
/// Polls happen only when the test asks for them.
const MANUAL: u32 = 3600;
/// Zoho's `Description` (a text area) holds this many characters.
const ZOHO_DESCRIPTION: usize = 32_000;

const PHONE_1: &str = "+81 3-1111-1111";
const PHONE_2: &str = "+81 3-2222-2222";

fn addresses(contact: &Value) -> Vec<String> {
    contact["emailAddresses"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| e["address"].as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

fn named<'a>(items: &'a [Value], key: &str, name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i[key] == name)
}

/// Notes an Outlook user kept for years: about 60,000 characters.
fn long_notes() -> String {
    (1..=1500)
        .map(|n| format!("Call {n}: talked about the spring order.\n"))
        .collect()
}

fn cut(text: &str) -> String {
    text.chars().take(ZOHO_DESCRIPTION).collect()
}

/// Polls both sides until `done` holds for the two sides' contacts.
async fn sync_until(
    sys: &System,
    user: &TestUser,
    what: &str,
    done: impl Fn(&[Value], &[Value]) -> bool,
) -> anyhow::Result<(Vec<Value>, Vec<Value>)> {
    wait_for(what, TIMEOUT, || async {
        sys.sync_now(user).await?;
        tokio::time::sleep(Duration::from_millis(700)).await;
        let outlook = sys.outlook_contacts(user).await?;
        let zoho = sys.zoho_contacts(user).await?;
        Ok(done(&outlook, &zoho).then_some((outlook, zoho)))
    })
    .await
}

/// Two more poll rounds: our own writes come back as echoes and must change nothing.
async fn let_echoes_pass(sys: &System, user: &TestUser) -> anyhow::Result<()> {
    for _ in 0..2 {
        sys.sync_now(user).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_side_cannot_hold_stays_at_the_first_sync_and_after() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let email = "capacity@example.jp";
    let notes = long_notes();
    assert!(notes.chars().count() > ZOHO_DESCRIPTION);

    // Both accounts hold Hanako before the user connects them: Outlook with three addresses, two
    // business phones and long notes; Zoho with the first two addresses (the first in another
    // case), the first phone and another title. Jiro is in Outlook only.
    let user = sys
        .provision_user_prepared(email, MANUAL, |user| {
            let (sys, notes) = (&sys, &notes);
            async move {
                let folder = &user.contact_folder_id;
                let path = format!("/me/contactFolders/{folder}/contacts");
                sys.graph_call(
                    &user,
                    Method::POST,
                    &path,
                    Some(json!({
                        "givenName": "Hanako", "surname": "Suzuki", "jobTitle": "Buyer",
                        "emailAddresses": [
                                    {"name": "Hanako Suzuki", "address": "hanako@a.example.jp"},
                                    {"name": "Suzuki (B)", "address": "h.suzuki@b.example.jp"},
                                    {"name": "Hanako (home)", "address": "hanako@home.example.jp"},
                                ],
                        "businessPhones": [PHONE_1, PHONE_2],
                        "personalNotes": notes,
                    })),
                )
                .await?;
                sys.graph_call(
                    &user,
                    Method::POST,
                    &path,
                    Some(json!({
                        "givenName": "Jiro", "surname": "Tanaka",
                        "emailAddresses": [{"address": "jiro@example.jp"}],
                    })),
                )
                .await?;
                sys.zoho_call(
                    &user,
                    Method::POST,
                    "/Contacts",
                    Some(json!({"data": [{
                        "First_Name": "Hanako", "Last_Name": "Suzuki", "Title": "Head buyer",
                        "Email": "Hanako@A.example.jp", "Secondary_Email": "h.suzuki@b.example.jp",
                        "Phone": PHONE_1,
                    }]})),
                )
                .await?;
                Ok(())
            }
        })
        .await?;

    // The first sync (the user's rule: Zoho wins) pairs Hanako and creates Jiro in Zoho; its
    // writes to both sides are done when Outlook has Zoho's title and Zoho has notes.
    let (outlook, zoho) = sync_until(&sys, &user, "the first sync", |outlook, zoho| {
        outlook.len() == 2
            && zoho.len() == 2
            && named(zoho, "First_Name", "Hanako").is_some_and(|r| !r["Description"].is_null())
            && named(outlook, "givenName", "Hanako").is_some_and(|c| c["jobTitle"] == "Head buyer")
    })
    .await?;
    let hanako = named(&outlook, "givenName", "Hanako").expect("Hanako in Outlook");
    assert_eq!(
        addresses(hanako),
        [
            "hanako@a.example.jp",
            "h.suzuki@b.example.jp",
            "hanako@home.example.jp"
        ],
        "Outlook keeps the third address Zoho cannot hold"
    );
    assert_eq!(hanako["businessPhones"], json!([PHONE_1, PHONE_2]));
    assert_eq!(
        hanako["personalNotes"],
        notes.as_str(),
        "Outlook keeps its notes whole"
    );
    let outlook_id = hanako["id"].as_str().expect("an id").to_owned();
    let record = named(&zoho, "First_Name", "Hanako").expect("Hanako in Zoho");
    assert_eq!(record["Email"], "Hanako@A.example.jp");
    assert_eq!(record["Secondary_Email"], "h.suzuki@b.example.jp");
    assert_eq!(record["Phone"], PHONE_1);
    assert_eq!(
        record["Description"],
        cut(&notes).as_str(),
        "Zoho gets what it holds of the notes"
    );
    let zoho_id = record["id"].as_str().expect("an id").to_owned();
    let jiro_zoho_id = named(&zoho, "First_Name", "Jiro")
        .and_then(|r| r["id"].as_str())
        .expect("Jiro in Zoho")
        .to_owned();

    let_echoes_pass(&sys, &user).await?;
    let outlook = sys.outlook_contacts(&user).await?;
    let hanako = named(&outlook, "givenName", "Hanako").expect("Hanako");
    assert_eq!(
        addresses(hanako).len(),
        3,
        "the cut never comes back as an edit"
    );
    assert_eq!(hanako["personalNotes"], notes.as_str());
    let log = conflict_log(&sys, email).await?;
    let fields: Vec<&str> = log.iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["job_title"], "only the title differed: {log:#?}");

    // Zoho edits the first address and the phone: Outlook takes both and keeps the rest.
    sys.zoho_call(
        &user,
        Method::PUT,
        "/Contacts",
        Some(json!({"data": [{
            "id": zoho_id, "Email": "hanako.new@a.example.jp", "Phone": "+81 3-9999-9999",
        }]})),
    )
    .await?;
    let (outlook, _) = sync_until(&sys, &user, "Zoho's edit in Outlook", |outlook, _| {
        named(outlook, "givenName", "Hanako").is_some_and(|c| {
            addresses(c)
                .first()
                .is_some_and(|a| a == "hanako.new@a.example.jp")
        })
    })
    .await?;
    let hanako = named(&outlook, "givenName", "Hanako").expect("Hanako");
    assert_eq!(
        addresses(hanako),
        [
            "hanako.new@a.example.jp",
            "h.suzuki@b.example.jp",
            "hanako@home.example.jp"
        ]
    );
    assert_eq!(
        hanako["businessPhones"],
        json!(["+81 3-9999-9999", PHONE_2]),
        "the second business phone stays"
    );
    assert_eq!(
        hanako["emailAddresses"][1]["name"], "Suzuki (B)",
        "Outlook's display names stay"
    );
    assert_eq!(hanako["emailAddresses"][2]["name"], "Hanako (home)");
    assert_eq!(hanako["personalNotes"], notes.as_str());
    let_echoes_pass(&sys, &user).await?;

    // Outlook edits what only it holds (the third address, the notes beyond 32,000 characters):
    // nothing to write to Zoho, no conflict. Jiro's edit, read in the same round, tells when
    // Hanako's has been handled.
    let before = sys.zoho_contacts(&user).await?;
    let modified = named(&before, "First_Name", "Hanako").expect("Hanako")["Modified_Time"].clone();
    let longer = format!("{notes}Follow up in May.\n");
    sys.graph_call(
        &user,
        Method::PATCH,
        &format!("/me/contacts/{outlook_id}"),
        Some(json!({
            "emailAddresses": [{"address": "hanako.new@a.example.jp"},
                {"address": "h.suzuki@b.example.jp"}, {"address": "hanako@work2.example.jp"}],
            "personalNotes": longer,
        })),
    )
    .await?;
    let jiro_outlook_id = named(&outlook, "givenName", "Jiro")
        .and_then(|c| c["id"].as_str())
        .expect("Jiro in Outlook")
        .to_owned();
    sys.graph_call(
        &user,
        Method::PATCH,
        &format!("/me/contacts/{jiro_outlook_id}"),
        Some(json!({"jobTitle": "Driver"})),
    )
    .await?;
    sync_until(&sys, &user, "Jiro's edit in Zoho", |_, zoho| {
        zoho.iter()
            .any(|r| r["id"] == jiro_zoho_id.as_str() && r["Title"] == "Driver")
    })
    .await?;
    let_echoes_pass(&sys, &user).await?;
    let zoho = sys.zoho_contacts(&user).await?;
    let record = named(&zoho, "First_Name", "Hanako").expect("Hanako");
    assert_eq!(
        record["Modified_Time"], modified,
        "no write to Zoho: {record:#}"
    );
    assert_eq!(record["Description"], cut(&longer).as_str());
    let outlook = sys.outlook_contacts(&user).await?;
    let hanako = named(&outlook, "givenName", "Hanako").expect("Hanako");
    assert_eq!(addresses(hanako)[2], "hanako@work2.example.jp");
    assert_eq!(hanako["personalNotes"], longer.as_str());
    assert_eq!(conflict_log(&sys, email).await?.len(), 1, "no new conflict");

    // A Zoho user rewriting the notes is an edit like any other: Outlook takes it.
    sys.zoho_call(
        &user,
        Method::PUT,
        "/Contacts",
        Some(json!({"data": [{
            "id": zoho_id, "Description": "Prefers e-mail.",
        }]})),
    )
    .await?;
    sync_until(&sys, &user, "Zoho's notes in Outlook", |outlook, _| {
        named(outlook, "givenName", "Hanako")
            .is_some_and(|c| c["personalNotes"] == "Prefers e-mail.")
    })
    .await?;
    let outlook = sys.outlook_contacts(&user).await?;
    let zoho = sys.zoho_contacts(&user).await?;
    assert_eq!((outlook.len(), zoho.len()), (2, 2), "nothing duplicated");
    let hanako = named(&outlook, "givenName", "Hanako").expect("Hanako");
    assert_eq!(addresses(hanako).len(), 3);
    assert_eq!(
        hanako["businessPhones"],
        json!(["+81 3-9999-9999", PHONE_2])
    );
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_to_do_task_longer_than_zoho_holds_is_cut_there_and_kept_whole_in_to_do()
-> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys.provision_user("long-task@example.jp", 1).await?;
    let lists = sys.discover(&user, "outlook", "todo-lists").await?;
    let list = lists["value"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["wellknownListName"] == "defaultList"))
        .and_then(|l| l["id"].as_str())
        .expect("the default To Do list")
        .to_owned();
    sys.put_settings(
        &user,
        json!({
            "contact_folder_id": user.contact_folder_id,
            "contacts": {"enabled": true, "direction": "two_way"},
            "task_list_id": list,
            "tasks": {"enabled": true, "direction": "two_way"},
            "conflict_rule": "zoho_wins",
            "poll_interval_secs": 1,
        }),
    )
    .await?;
    // Zoho's Subject holds 255 characters, its Description 32,000.
    let title: String = "Prepare the spring offer for the Osaka branch. "
        .repeat(7)
        .trim_end()
        .to_owned();
    assert!(title.chars().count() > 255);
    let body = long_notes();
    sys.graph_call(
        &user,
        Method::POST,
        &format!("/me/todo/lists/{list}/tasks"),
        Some(json!({"title": title, "body": {"contentType": "text", "content": body}})),
    )
    .await?;
    let subject: String = title.chars().take(255).collect();
    let task = wait_for("the task in Zoho", TIMEOUT, || async {
        let tasks = sys.zoho_records(&user, "Tasks").await?;
        Ok(tasks.into_iter().find(|t| t["Subject"] == subject.as_str()))
    })
    .await?;
    assert_eq!(task["Description"], cut(&body).as_str());
    let zoho_id = task["id"].as_str().expect("an id").to_owned();

    // A Zoho edit of another field reaches To Do; the cut never comes back as an edit.
    sys.zoho_call(
        &user,
        Method::PUT,
        "/Tasks",
        Some(json!({"data": [{"id": zoho_id, "Priority": "High"}]})),
    )
    .await?;
    let tasks_path = format!("/me/todo/lists/{list}/tasks?$top=100");
    let todo = wait_for("Zoho's edit in To Do", TIMEOUT, || async {
        let answer = sys
            .graph_call(&user, Method::GET, &tasks_path, None)
            .await?;
        Ok(answer["value"]
            .as_array()
            .and_then(|v| v.iter().find(|t| t["importance"] == "high").cloned()))
    })
    .await?;
    assert_eq!(todo["title"], title.as_str(), "To Do keeps its whole title");
    assert_eq!(todo["body"]["content"], body.as_str(), "and its whole body");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let answer = sys
        .graph_call(&user, Method::GET, &tasks_path, None)
        .await?;
    let todos = answer["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(todos.len(), 1, "one task in To Do");
    assert_eq!(todos[0]["title"], title.as_str());
    assert_eq!(todos[0]["body"]["content"], body.as_str());
    assert_eq!(
        sys.zoho_records(&user, "Tasks").await?.len(),
        1,
        "one task in Zoho"
    );
    sys.stop().await;
    Ok(())
}
