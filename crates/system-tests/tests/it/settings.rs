//! The settings API refuses bad input with the field and a stable code.

use serde_json::json;
use system_tests::spawn_system;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_are_refused_with_the_field() -> anyhow::Result<()> {
    let sys = spawn_system().await?;
    let user = uuid::Uuid::new_v4();
    let url = format!("{}/internal/v1/users/{user}/settings", sys.sync_url);
    let put = |body: serde_json::Value| {
        sys.http
            .put(&url)
            .bearer_auth(system_tests::OPERATOR_TOKEN)
            .json(&body)
            .send()
    };

    let answer = put(json!({"contacts": {"enabled": true}, "poll_interval_secs": 60})).await?;
    assert_eq!(answer.status(), 422);
    let body: serde_json::Value = answer.json().await?;
    assert_eq!(body["code"], "invalid_setting");
    assert_eq!(body["field"], "contact_folder_id");

    let answer = put(
        json!({"contact_folder_id": "f", "contacts": {"enabled": true}, "poll_interval_secs": 0}),
    )
    .await?;
    assert_eq!(answer.status(), 422);
    assert_eq!(
        answer.json::<serde_json::Value>().await?["field"],
        "poll_interval_secs"
    );

    let answer = put(json!({"contacts": "yes"})).await?;
    assert_eq!(answer.status(), 422);
    assert_eq!(
        answer.json::<serde_json::Value>().await?["code"],
        "invalid_body"
    );

    let answer = sys
        .http
        .put(&url)
        .bearer_auth("wrong")
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(answer.status(), 401);

    let answer = sys
        .http
        .get(&url)
        .bearer_auth(system_tests::OPERATOR_TOKEN)
        .send()
        .await?;
    assert_eq!(
        answer.status(),
        404,
        "no settings stored by the refused requests"
    );
    sys.stop().await;
    Ok(())
}
