//! A contact created or edited on either side arrives, intact and once, on the other.

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::{System, TestUser, spawn_system};
use test_support::wait_for;

const TIMEOUT: Duration = Duration::from_secs(45);

fn email_of_zoho(record: &Value) -> Option<&str> {
    record.get("Email").and_then(Value::as_str)
}

fn emails_of_graph(contact: &Value) -> Vec<String> {
    contact["emailAddresses"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| e["address"].as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

async fn zoho_contact_with_email(
    sys: &System,
    user: &TestUser,
    email: &str,
) -> anyhow::Result<Option<Value>> {
    Ok(sys
        .zoho_contacts(user)
        .await?
        .into_iter()
        .find(|r| email_of_zoho(r) == Some(email)))
}

async fn outlook_contact_with_email(
    sys: &System,
    user: &TestUser,
    email: &str,
) -> anyhow::Result<Option<Value>> {
    Ok(sys
        .outlook_contacts(user)
        .await?
        .into_iter()
        .find(|c| emails_of_graph(c).iter().any(|e| e == email)))
}

async fn graph(
    sys: &System,
    user: &TestUser,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let token = sys.graph_token(user).await?;
    let response = sys
        .http
        .request(method, format!("{}/graph/v1.0{path}", sys.sandbox_url))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "Graph answered {status}: {answer}");
    Ok(answer)
}

async fn zoho(
    sys: &System,
    user: &TestUser,
    method: reqwest::Method,
    body: Value,
) -> anyhow::Result<Value> {
    let (token, api_domain) = sys.zoho_token(user).await?;
    let response = sys
        .http
        .request(method, format!("{api_domain}/crm/v8/Contacts"))
        .header("Authorization", format!("Zoho-oauthtoken {token}"))
        .json(&body)
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "Zoho answered {status}: {answer}");
    anyhow::ensure!(
        answer["data"][0]["status"] == "success",
        "Zoho refused the record: {answer}"
    );
    Ok(answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_and_their_edits_flow_both_ways_exactly_once() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = sys.provision_user("sales@example.jp", 1).await?;

    // Outlook → Zoho: a new contact in the chosen folder, with non-ASCII text everywhere.
    let folder = user.contact_folder_id.clone();
    let created = graph(
        &sys,
        &user,
        reqwest::Method::POST,
        &format!("/me/contactFolders/{folder}/contacts"),
        json!({
            "givenName": "太郎",
            "surname": "山田",
            "emailAddresses": [{"name": "山田 太郎", "address": "taro.yamada@example.jp"}],
            "businessPhones": ["+81 3-1234-5678"],
            "mobilePhone": "+81 90-1111-2222",
            "companyName": "株式会社サンプル",
            "jobTitle": "部長",
            "department": "営業部",
        }),
    )
    .await?;
    let outlook_id = created["id"]
        .as_str()
        .expect("Graph returns the new id")
        .to_owned();

    let record = wait_for("the Outlook contact in Zoho", TIMEOUT, || {
        zoho_contact_with_email(&sys, &user, "taro.yamada@example.jp")
    })
    .await?;
    assert_eq!(record["First_Name"], "太郎");
    assert_eq!(record["Last_Name"], "山田");
    assert_eq!(record["Phone"], "+81 3-1234-5678");
    assert_eq!(record["Mobile"], "+81 90-1111-2222");
    assert_eq!(record["Account_Name"]["name"], "株式会社サンプル");
    assert_eq!(record["Title"], "部長");
    assert_eq!(record["Department"], "営業部");
    let zoho_id = record["id"].as_str().expect("a Zoho id").to_owned();

    // Zoho → Outlook.
    zoho(
        &sys,
        &user,
        reqwest::Method::POST,
        json!({"data": [{
            "First_Name": "José",
            "Last_Name": "Müller",
            "Email": "jose.muller@example.de",
            "Secondary_Email": "jm@example.com",
            "Mobile": "+49 171 1234567",
            "Title": "CTO",
            "Mailing_City": "Zürich",
            "Description": "Met at the Osaka fair",
        }]}),
    )
    .await?;
    let contact = wait_for("the Zoho contact in Outlook", TIMEOUT, || {
        outlook_contact_with_email(&sys, &user, "jose.muller@example.de")
    })
    .await?;
    assert_eq!(contact["givenName"], "José");
    assert_eq!(contact["surname"], "Müller");
    assert_eq!(
        emails_of_graph(&contact),
        vec!["jose.muller@example.de", "jm@example.com"]
    );
    assert_eq!(contact["mobilePhone"], "+49 171 1234567");
    assert_eq!(contact["jobTitle"], "CTO");
    assert_eq!(contact["businessAddress"]["city"], "Zürich");
    assert_eq!(contact["personalNotes"], "Met at the Osaka fair");
    assert_eq!(
        contact["parentFolderId"],
        folder.as_str(),
        "created in the chosen folder"
    );
    let jose_outlook_id = contact["id"].as_str().expect("an id").to_owned();

    // An edit in Outlook follows to Zoho; the fields not edited stay as they were.
    graph(
        &sys,
        &user,
        reqwest::Method::PATCH,
        &format!("/me/contacts/{outlook_id}"),
        json!({"jobTitle": "営業部長"}),
    )
    .await?;
    let record = wait_for("the Outlook edit in Zoho", TIMEOUT, || async {
        let record = zoho_contact_with_email(&sys, &user, "taro.yamada@example.jp").await?;
        Ok(record.filter(|r| r["Title"] == "営業部長"))
    })
    .await?;
    assert_eq!(
        record["id"],
        zoho_id.as_str(),
        "updated in place, not re-created"
    );
    assert_eq!(record["Phone"], "+81 3-1234-5678");
    assert_eq!(record["Account_Name"]["name"], "株式会社サンプル");

    // An edit in Zoho follows to Outlook.
    let jose_zoho_id = zoho_contact_with_email(&sys, &user, "jose.muller@example.de")
        .await?
        .and_then(|r| r["id"].as_str().map(str::to_owned))
        .expect("José in Zoho");
    zoho(
        &sys,
        &user,
        reqwest::Method::PUT,
        json!({"data": [{"id": jose_zoho_id, "Title": "CEO", "Mobile": "+49 171 7654321"}]}),
    )
    .await?;
    let contact = wait_for("the Zoho edit in Outlook", TIMEOUT, || async {
        let contact = outlook_contact_with_email(&sys, &user, "jose.muller@example.de").await?;
        Ok(contact.filter(|c| c["jobTitle"] == "CEO"))
    })
    .await?;
    assert_eq!(
        contact["id"],
        jose_outlook_id.as_str(),
        "updated in place, not re-created"
    );
    assert_eq!(contact["mobilePhone"], "+49 171 7654321");
    assert_eq!(contact["givenName"], "José");

    // Let several more polls pass: echoes of our own writes must not bounce back as new items.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let outlook = sys.outlook_contacts(&user).await?;
    let zoho_records = sys.zoho_contacts(&user).await?;
    assert_eq!(
        outlook.len(),
        2,
        "exactly two contacts in Outlook: {outlook:#?}"
    );
    assert_eq!(
        zoho_records.len(),
        2,
        "exactly two contacts in Zoho: {zoho_records:#?}"
    );

    let status = sys
        .get(format!(
            "{}/internal/v1/users/{}/status",
            sys.sync_url, user.user_id
        ))
        .await?;
    assert_eq!(status["kinds"][0]["kind"], "contact");
    assert_eq!(status["kinds"][0]["linked"], 2);
    assert_eq!(status["kinds"][0]["failed"], 0);
    sys.stop().await;
    Ok(())
}
