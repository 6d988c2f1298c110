//! Security audit (issue 15), the cross-service points, each test named for its point.

use reqwest::Method;
use serde_json::{Value, json};
use system_tests::{System, USER_PASSWORD, spawn_system_with_web};

/// The status of a user call at sync-service, and through `web` at sync-service and at `web`'s
/// own backend (the connectors' lists), with `token`.
async fn statuses(sys: &System, token: &str) -> anyhow::Result<[u16; 3]> {
    let web = sys.web_url.as_deref().expect("web");
    let direct = sys
        .call_as(
            token,
            Method::GET,
            format!("{}/v1/settings", sys.sync_url),
            None,
        )
        .await?
        .0;
    let proxied = sys
        .call_as(
            token,
            Method::GET,
            format!("{web}/api/sync/v1/settings"),
            None,
        )
        .await?
        .0;
    let bff = sys
        .call_as(
            token,
            Method::GET,
            format!("{web}/api/discovery/outlook/contact-folders"),
            None,
        )
        .await?
        .0;
    Ok([direct, proxied, bff])
}

async fn admin_status(sys: &System, token: &str) -> anyhow::Result<u16> {
    Ok(sys
        .call_as(
            token,
            Method::GET,
            format!("{}/v1/admin/held-deletions", sys.sync_url),
            None,
        )
        .await?
        .0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_sign_out_and_session_revoke_are_refused_everywhere_at_once()
-> anyhow::Result<()> {
    let sys = spawn_system_with_web().await?;
    sys.provision_user("leaver@example.com", 3600).await?;

    let signed_out = sys.sign_in("leaver@example.com", USER_PASSWORD).await?;
    assert_eq!(statuses(&sys, &signed_out).await?, [200, 200, 200]);
    let (status, _) = sys
        .call_as(
            &signed_out,
            Method::DELETE,
            format!("{}/v1/sessions/current", sys.auth_url),
            None,
        )
        .await?;
    assert_eq!(status, 204);
    assert_eq!(
        statuses(&sys, &signed_out).await?,
        [401, 401, 401],
        "a signed-out token is refused by sync-service, through web and by web itself"
    );

    // One session revokes another (the "sign out that device" button).
    let kept = sys.sign_in("leaver@example.com", USER_PASSWORD).await?;
    let revoked = sys.sign_in("leaver@example.com", USER_PASSWORD).await?;
    assert_eq!(statuses(&sys, &revoked).await?, [200, 200, 200]);
    let (_, me) = sys
        .call_as(
            &revoked,
            Method::GET,
            format!("{}/v1/me", sys.auth_url),
            None,
        )
        .await?;
    let session = me["session_id"].as_str().expect("session_id").to_owned();
    let (status, _) = sys
        .call_as(
            &kept,
            Method::DELETE,
            format!("{}/v1/sessions/{session}", sys.auth_url),
            None,
        )
        .await?;
    assert_eq!(status, 204);
    assert_eq!(statuses(&sys, &revoked).await?, [401, 401, 401]);
    assert_eq!(
        statuses(&sys, &kept).await?,
        [200, 200, 200],
        "the other session goes on"
    );
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_disabled_account_and_demoted_admin_are_refused_everywhere_at_once()
-> anyhow::Result<()> {
    let sys = spawn_system_with_web().await?;
    let admin = sys.admin_token().await?;
    let user = sys.provision_user("disabled@example.com", 3600).await?;
    let token = sys.sign_in("disabled@example.com", USER_PASSWORD).await?;
    assert_eq!(statuses(&sys, &token).await?, [200, 200, 200]);
    let update = |user_id: String, body: Value| {
        sys.call_as(
            &admin,
            Method::PATCH,
            format!("{}/v1/admin/users/{user_id}", sys.auth_url),
            Some(body),
        )
    };
    assert_eq!(
        update(user.user_id.clone(), json!({"disabled": true}))
            .await?
            .0,
        200
    );
    assert_eq!(statuses(&sys, &token).await?, [401, 401, 401]);

    // A second administrator, demoted by the first, loses sync-service's admin API at once
    // while still being a signed-in user.
    let created = sys
        .post(
            format!("{}/internal/v1/users", sys.auth_url),
            json!({"email": "deputy@example.com", "password": USER_PASSWORD, "is_admin": true}),
        )
        .await?;
    let deputy_id = created["user_id"].as_str().expect("user_id").to_owned();
    let deputy = sys.sign_in("deputy@example.com", USER_PASSWORD).await?;
    assert_eq!(admin_status(&sys, &deputy).await?, 200);
    assert_eq!(update(deputy_id, json!({"is_admin": false})).await?.0, 200);
    assert_eq!(
        admin_status(&sys, &deputy).await?,
        403,
        "the demoted administrator's token no longer opens the admin API"
    );
    assert_eq!(admin_status(&sys, &admin).await?, 200);
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_credentials_each_is_refused_outside_its_scope() -> anyhow::Result<()> {
    use system_tests::{OPERATOR_TOKEN, OUTLOOK_TOKEN, WEB_TOKEN, ZOHO_TOKEN};
    let sys = system_tests::spawn_system().await?;
    let user = sys.provision_user("scoped@example.com", 3600).await?;
    let id = &user.user_id;
    let status = |token: &'static str, method: Method, url: String, body: Option<Value>| {
        let sys = &sys;
        async move { anyhow::Ok(sys.call_as(token, method, url, body).await?.0) }
    };
    let provider_token = |token: &'static str, provider: &'static str| {
        status(
            token,
            Method::POST,
            format!("{}/internal/v1/provider-tokens", sys.auth_url),
            Some(json!({"user_id": id, "provider": provider})),
        )
    };
    let create_admin = |token: &'static str| {
        status(
            token,
            Method::POST,
            format!("{}/internal/v1/users", sys.auth_url),
            Some(json!({"email": format!("{token}@example.com"), "is_admin": true})),
        )
    };
    let discovery = |token: &'static str| {
        status(
            token,
            Method::GET,
            format!(
                "{}/internal/v1/users/{id}/discovery/contact-folders",
                sys.outlook_url
            ),
            None,
        )
    };
    let poll_now = |token: &'static str| {
        status(
            token,
            Method::POST,
            format!("{}/internal/v1/users/{id}/sync-now", sys.outlook_url),
            Some(json!({})),
        )
    };
    let settings = |token: &'static str| {
        status(
            token,
            Method::GET,
            format!("{}/internal/v1/users/{id}/settings", sys.sync_url),
            None,
        )
    };

    let connections = |token: &'static str| {
        status(
            token,
            Method::GET,
            format!("{}/internal/v1/users/{id}/connections", sys.auth_url),
            None,
        )
    };
    let change_settings = |token: &'static str| {
        status(
            token,
            Method::PUT,
            format!("{}/internal/v1/users/{id}/settings", sys.sync_url),
            Some(json!({"contact_folder_id": user.contact_folder_id, "poll_interval_secs": 60})),
        )
    };
    let store_connection = |token: &'static str| {
        status(
            token,
            Method::PUT,
            format!("{}/internal/v1/users/{id}/connections/zoho", sys.auth_url),
            Some(json!({"refresh_token": "attacker", "data_centre": "com"})),
        )
    };

    // web, the published service: the connectors' lists and what the status page reads, and
    // nothing else.
    assert_eq!(discovery(WEB_TOKEN).await?, 200);
    assert_eq!(connections(WEB_TOKEN).await?, 200);
    assert_eq!(settings(WEB_TOKEN).await?, 200);
    assert_eq!(provider_token(WEB_TOKEN, "outlook").await?, 403);
    assert_eq!(provider_token(WEB_TOKEN, "zoho").await?, 403);
    assert_eq!(create_admin(WEB_TOKEN).await?, 403);
    assert_eq!(store_connection(WEB_TOKEN).await?, 403);
    assert_eq!(change_settings(WEB_TOKEN).await?, 403);
    assert_eq!(poll_now(WEB_TOKEN).await?, 403);

    // Each connector: its own provider's tokens, and nothing else.
    assert_eq!(provider_token(OUTLOOK_TOKEN, "outlook").await?, 200);
    assert_eq!(provider_token(OUTLOOK_TOKEN, "zoho").await?, 403);
    assert_eq!(provider_token(ZOHO_TOKEN, "zoho").await?, 200);
    assert_eq!(provider_token(ZOHO_TOKEN, "outlook").await?, 403);
    assert_eq!(create_admin(OUTLOOK_TOKEN).await?, 403);
    assert_eq!(create_admin(ZOHO_TOKEN).await?, 403);
    assert_eq!(discovery(OUTLOOK_TOKEN).await?, 401);
    assert_eq!(settings(ZOHO_TOKEN).await?, 401);

    // The operator provisions, but never reads a user's provider tokens.
    assert_eq!(provider_token(OPERATOR_TOKEN, "outlook").await?, 403);
    assert_eq!(provider_token(OPERATOR_TOKEN, "zoho").await?, 403);
    assert_eq!(settings(OPERATOR_TOKEN).await?, 200);
    assert_eq!(connections(OPERATOR_TOKEN).await?, 200);
    assert_eq!(poll_now(OPERATOR_TOKEN).await?, 200);
    sys.stop().await;
    Ok(())
}

/// Sends half a request's headers and waits for the server to close: whether it closed, and
/// whether it answered the request anyway.
async fn half_sent_headers(url: String) -> anyhow::Result<(bool, bool)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://").to_owned();
    let mut client = tokio::net::TcpStream::connect(&address).await?;
    client
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await?;
    let mut answer = Vec::new();
    // The default header timeout is 10 s; the guard only keeps a broken server from hanging
    // the test.
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        client.read_to_end(&mut answer),
    )
    .await
    .is_ok();
    Ok((closed, String::from_utf8_lossy(&answer).contains("live")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_every_service_cuts_off_half_sent_headers() -> anyhow::Result<()> {
    let sys = spawn_system_with_web().await?;
    let services = [
        ("web", sys.web_url.clone().expect("web")),
        ("auth-service", sys.auth_url.clone()),
        ("sync-service", sys.sync_url.clone()),
        ("connector-outlook", sys.outlook_url.clone()),
    ];
    let mut checks = tokio::task::JoinSet::new();
    for (name, url) in services {
        checks.spawn(async move { (name, half_sent_headers(url).await) });
    }
    while let Some(done) = checks.join_next().await {
        let (name, outcome) = done?;
        let (closed, served) = outcome?;
        assert!(closed, "{name} kept a half-sent request open");
        assert!(
            !served,
            "{name} answered a request whose headers never ended"
        );
    }
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_sync_service_serves_its_documented_api() -> anyhow::Result<()> {
    let sys = system_tests::spawn_system().await?;
    let answer = sys
        .http
        .get(format!("{}/openapi.json", sys.sync_url))
        .send()
        .await?;
    assert_eq!(answer.status(), 200);
    let document: Value = answer.json().await?;
    assert!(document["openapi"].is_string(), "{document}");
    assert!(
        document["paths"]["/v1/settings"].is_object(),
        "the user API is described"
    );
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_settings_nul_bytes_and_unbounded_category_lists_get_stable_codes()
-> anyhow::Result<()> {
    let sys = system_tests::spawn_system().await?;
    let user = sys.provision_user("nul@example.com", 3600).await?;
    let token = sys.sign_in("nul@example.com", USER_PASSWORD).await?;
    let put = |body: Value| {
        sys.call_as(
            &token,
            Method::PUT,
            format!("{}/v1/settings", sys.sync_url),
            Some(body),
        )
    };
    let (status, body) = put(json!({
        "contact_folder_id": "fol\u{0}der",
        "contacts": {"enabled": true},
        "poll_interval_secs": 60,
    }))
    .await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("nul_character"))
    );
    assert_eq!(body["field"], "contact_folder_id");

    let many: Vec<String> = (0..1000).map(|i| format!("category {i}")).collect();
    let (status, body) = put(json!({
        "contact_folder_id": user.contact_folder_id,
        "contacts": {"enabled": true},
        "events": {"enabled": true},
        "calendar_categories": {"mode": "chosen", "names": many},
        "poll_interval_secs": 60,
    }))
    .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["field"], "calendar_categories");
    sys.stop().await;
    Ok(())
}

/// A deployment's floor on the poll interval (`SYNC_SERVICE_MIN_POLL_INTERVAL_SECS`, 60 by
/// default) refuses a user's 1 s with 422 `invalid_setting` on `poll_interval_secs`; a
/// deployment with a floor of 1 (these tests, run-local) accepts it.
#[tokio::test]
async fn poll_intervals_below_the_deployments_floor_are_refused() -> anyhow::Result<()> {
    let mut sys = system_tests::spawn_system().await?;
    let production = sys
        .add_sync_replica_with(|s| {
            s.min_poll_interval_secs =
                sync_service::domain::settings::DEFAULT_MIN_POLL_INTERVAL_SECS
        })
        .await?;
    let user = sys.provision_user("poll@example.com", 3600).await?;
    let token = sys.sign_in("poll@example.com", USER_PASSWORD).await?;
    let settings = |secs: u32| {
        json!({
            "contact_folder_id": user.contact_folder_id,
            "contacts": {"enabled": true},
            "poll_interval_secs": secs,
        })
    };
    let (status, body) = sys
        .call_as(
            &token,
            Method::PUT,
            format!("{production}/v1/settings"),
            Some(settings(1)),
        )
        .await?;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (422, Some("invalid_setting"), Some("poll_interval_secs")),
        "{body}"
    );
    let (status, body) = sys
        .call_as(
            &token,
            Method::PUT,
            format!("{production}/v1/settings"),
            Some(settings(60)),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = sys
        .call_as(
            &token,
            Method::PUT,
            format!("{}/v1/settings", sys.sync_url),
            Some(settings(1)),
        )
        .await?;
    assert_eq!(status, 200, "a floor of 1 accepts it: {body}");
    sys.stop().await;
    Ok(())
}

/// The status and JSON body of a call with a raw body (or none), with `token` or none.
async fn raw_call(
    method: Method,
    url: String,
    token: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> anyhow::Result<(u16, Value)> {
    // No connection kept: a server that refused a large body without reading it closes the
    // connection, and a pooled client would send the next request into it.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let mut request = http.request(method, &url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some((content_type, bytes)) = body {
        request = request
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
    }
    let answer = request.send().await?;
    let status = answer.status().as_u16();
    let text = answer.text().await?;
    let body = serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{method_url} answered {status} not JSON ({e}): {text}",
            method_url = url
        )
    })?;
    Ok((status, body))
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["code"].as_str().unwrap_or("(none)"))
}

/// A request (method, URL, token, content type and body) and the status and code expected.
type BadInputCase<'a> = (
    Method,
    String,
    Option<&'a str>,
    Option<(&'a str, Vec<u8>)>,
    u16,
    &'a str,
);

/// Bigger than every service's body limit (axum's 2 MiB).
fn oversized() -> Vec<u8> {
    let mut body = b"{\"name\": \"".to_vec();
    body.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
    body.extend(b"\"}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_json_error_body_with_a_stable_code_at_every_service()
-> anyhow::Result<()> {
    let sys = spawn_system_with_web().await?;
    let web = sys.web_url.clone().expect("web");
    sys.provision_user("input@example.com", 3600).await?;
    let user = sys.sign_in("input@example.com", USER_PASSWORD).await?;
    let admin = sys.admin_token().await?;
    let json = "application/json";
    let not_json = || Some((json, b"{not json".to_vec()));

    // sync-service: path, query, body (unparsable, wrong shape, not sent as JSON), too large.
    let sync = &sys.sync_url;
    let cases: Vec<BadInputCase> = vec![
        (
            Method::POST,
            format!("{sync}/v1/admin/held-deletions/not-a-uuid/release"),
            Some(&admin),
            None,
            422,
            "invalid_path",
        ),
        (
            Method::GET,
            format!("{sync}/v1/admin/users/not-a-uuid/links"),
            Some(&admin),
            None,
            422,
            "invalid_path",
        ),
        (
            Method::GET,
            format!("{sync}/v1/conflicts?limit=abc"),
            Some(&user),
            None,
            422,
            "invalid_query",
        ),
        (
            Method::GET,
            format!("{sync}/v1/conflicts?status=lost"),
            Some(&user),
            None,
            422,
            "invalid_query",
        ),
        (
            Method::PUT,
            format!("{sync}/v1/settings"),
            Some(&user),
            not_json(),
            422,
            "invalid_body",
        ),
        (
            Method::PUT,
            format!("{sync}/v1/settings"),
            Some(&user),
            Some((json, b"{\"contacts\": \"yes\"}".to_vec())),
            422,
            "invalid_body",
        ),
        (
            Method::PUT,
            format!("{sync}/v1/settings"),
            Some(&user),
            Some(("text/plain", b"{}".to_vec())),
            422,
            "invalid_body",
        ),
        (
            Method::PUT,
            format!("{sync}/v1/settings"),
            Some(&user),
            Some((json, oversized())),
            413,
            "body_too_large",
        ),
        (
            Method::GET,
            format!("{sync}/v1/conflicts?kind=a%00b"),
            Some(&user),
            None,
            400,
            "nul_character",
        ),
        // auth-service, through the same shared extractors.
        (
            Method::DELETE,
            format!("{}/v1/me/identities/not-a-uuid", sys.auth_url),
            Some(&user),
            None,
            422,
            "invalid_path",
        ),
        (
            Method::GET,
            format!("{}/v1/admin/audit?limit=many", sys.auth_url),
            Some(&admin),
            None,
            422,
            "invalid_query",
        ),
        (
            Method::POST,
            format!("{}/v1/sessions", sys.auth_url),
            None,
            not_json(),
            422,
            "invalid_body",
        ),
        (
            Method::POST,
            format!("{}/v1/sessions", sys.auth_url),
            None,
            Some((json, oversized())),
            413,
            "body_too_large",
        ),
        // web's own endpoints; and sync-service's answers pass through it unchanged.
        (
            Method::GET,
            format!("{web}/api/discovery/%FF/contact-folders"),
            Some(&user),
            None,
            422,
            "invalid_path",
        ),
        (
            Method::POST,
            format!("{web}/api/session"),
            None,
            not_json(),
            422,
            "invalid_body",
        ),
        (
            Method::POST,
            format!("{web}/api/session"),
            None,
            Some((json, oversized())),
            413,
            "body_too_large",
        ),
        (
            Method::PUT,
            format!("{web}/api/sync/v1/settings"),
            Some(&user),
            Some((json, oversized())),
            413,
            "body_too_large",
        ),
        (
            Method::GET,
            format!("{web}/api/sync/v1/conflicts?limit=abc"),
            Some(&user),
            None,
            422,
            "invalid_query",
        ),
        (
            Method::GET,
            format!("{web}/api/admin/connections?status=bogus"),
            Some(&admin),
            None,
            422,
            "invalid_query",
        ),
    ];
    for (method, url, token, body, status, expected) in cases {
        let what = format!("{method} {url}");
        let answer = raw_call(method, url, token, body).await?;
        assert_eq!(code(&answer), (status, expected), "{what}: {}", answer.1);
        assert!(
            answer.1["message"].is_string(),
            "{what} explains: {}",
            answer.1
        );
    }
    Ok(())
}

/// An app password for the account of `token` and an API session opened with it.
async fn app_password_session(sys: &System, token: &str, email: &str) -> anyhow::Result<String> {
    let (status, created) = sys
        .call_as(
            token,
            Method::POST,
            format!("{}/v1/me/app-passwords", sys.auth_url),
            Some(json!({"name": "nightly script"})),
        )
        .await?;
    assert_eq!(status, 201, "{created}");
    let password = created["password"].as_str().expect("password");
    let signed_in = sys
        .post(
            format!("{}/v1/sessions", sys.auth_url),
            json!({"email": email, "password": password, "client": "api"}),
        )
        .await?;
    Ok(signed_in["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_password_sessions_are_refused_sync_services_admin_actions_but_may_read_and_set_their_own_sync()
-> anyhow::Result<()> {
    let sys = spawn_system_with_web().await?;
    let web = sys.web_url.clone().expect("web");
    let sync = sys.sync_url.clone();
    let member = sys.provision_user("scripted@example.com", 3600).await?;
    let user = member.user_id.clone();

    // A user's script reads its status and settings and changes its own settings.
    let interactive = sys.sign_in("scripted@example.com", USER_PASSWORD).await?;
    let script = app_password_session(&sys, &interactive, "scripted@example.com").await?;
    let (status, settings) = sys
        .call_as(&script, Method::GET, format!("{sync}/v1/settings"), None)
        .await?;
    assert_eq!(status, 200, "{settings}");
    let mut changed = settings.clone();
    changed["poll_interval_secs"] = json!(7200);
    let (status, saved) = sys
        .call_as(
            &script,
            Method::PUT,
            format!("{sync}/v1/settings"),
            Some(changed),
        )
        .await?;
    assert_eq!(
        (status, &saved["poll_interval_secs"]),
        (200, &json!(7200)),
        "{saved}"
    );
    for url in [
        format!("{sync}/v1/status"),
        format!("{web}/api/sync/v1/conflicts"),
    ] {
        let (status, body) = sys.call_as(&script, Method::GET, url.clone(), None).await?;
        assert_eq!(status, 200, "{url}: {body}");
    }

    // An administrator's script: reads the admin lists, is refused every admin action.
    let admin_interactive = sys.admin_token().await?;
    let admin_script = app_password_session(&sys, &admin_interactive, "admin@example.com").await?;
    for path in [
        "/v1/admin/held-deletions".to_owned(),
        "/v1/admin/dead-letters".to_owned(),
        "/v1/admin/held-users".to_owned(),
        format!("/v1/admin/users/{user}/links"),
    ] {
        let (status, body) = sys
            .call_as(&admin_script, Method::GET, format!("{sync}{path}"), None)
            .await?;
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    let some_link = uuid::Uuid::new_v4();
    let actions: Vec<(String, Option<Value>)> = vec![
        (format!("/v1/admin/users/{user}/resync"), None),
        (format!("/v1/admin/users/{user}/rebuild-links"), None),
        (
            format!("/v1/admin/users/{user}/unblock"),
            Some(json!({"action": "retry"})),
        ),
        (
            format!("/v1/admin/held-deletions/{some_link}/release"),
            None,
        ),
        (
            format!("/v1/admin/held-deletions/{some_link}/discard"),
            None,
        ),
        (
            "/v1/admin/held-deletions/release".to_owned(),
            Some(json!({"link_ids": [some_link]})),
        ),
        (
            "/v1/admin/held-deletions/discard".to_owned(),
            Some(json!({"link_ids": [some_link]})),
        ),
        ("/v1/admin/dead-letters/1/replay".to_owned(), None),
    ];
    for (path, body) in &actions {
        for base in [sync.clone(), format!("{web}/api/sync")] {
            let (status, answer) = sys
                .call_as(
                    &admin_script,
                    Method::POST,
                    format!("{base}{path}"),
                    body.clone(),
                )
                .await?;
            assert_eq!(
                (status, answer["code"].as_str()),
                (403, Some("app_password_not_allowed")),
                "POST {base}{path}: {answer}"
            );
        }
    }
    // The same administrator signed in with the password gets past the check (the unknown
    // link and dead letter are 404s: the action itself ran).
    for (path, expected) in [
        (format!("/v1/admin/held-deletions/{some_link}/release"), 404),
        ("/v1/admin/dead-letters/1/replay".to_owned(), 404),
        (format!("/v1/admin/users/{user}/resync"), 200),
    ] {
        let (status, answer) = sys
            .call_as(
                &admin_interactive,
                Method::POST,
                format!("{sync}{path}"),
                None,
            )
            .await?;
        assert_eq!(status, expected, "POST {path} in person: {answer}");
    }
    Ok(())
}

/// A wrong sign-in through `web` with `forwarded` as the `X-Forwarded-For` a proxy in front of
/// `web` sends: the status and code.
async fn wrong_sign_in_through_web(
    sys: &System,
    forwarded: &str,
    email: &str,
) -> anyhow::Result<(u16, String)> {
    let web = sys.web_url.as_deref().expect("web");
    let answer = sys
        .http
        .post(format!("{web}/api/session"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": email, "password": "not the password"}))
        .send()
        .await?;
    let status = answer.status().as_u16();
    let body: Value = answer.json().await?;
    Ok((status, body["code"].as_str().unwrap_or_default().to_owned()))
}

/// The per-address sign-in limit in `system_tests` (auth-service's test settings).
const FAILED_SIGN_INS_PER_ADDRESS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_web_passes_on_each_browsers_address_and_a_spoofed_chain_picks_none()
-> anyhow::Result<()> {
    // The tests' client connects from loopback: it plays the operator's HTTPS proxy.
    let sys = system_tests::spawn_system_with_web_behind("127.0.0.1, ::1").await?;
    // One browser (198.51.100.7 as the proxy saw it) writes a fresh address of its own choice
    // into the header on every try; the proxy appends the real one.
    for i in 0..FAILED_SIGN_INS_PER_ADDRESS {
        let chain = format!("203.0.113.{i}, 198.51.100.7");
        let answer =
            wrong_sign_in_through_web(&sys, &chain, &format!("spoof{i}@example.com")).await?;
        assert_eq!(answer, (401, "invalid_credentials".into()), "try {i}");
    }
    for chain in ["203.0.113.99, 198.51.100.7", "198.51.100.7"] {
        assert_eq!(
            wrong_sign_in_through_web(&sys, chain, "fresh@example.com").await?,
            (429, "too_many_attempts".into()),
            "the browser's own address is throttled whatever it wrote ({chain})"
        );
    }
    // Another browser behind the same proxy has its own budget.
    assert_eq!(
        wrong_sign_in_through_web(&sys, "198.51.100.8", "other@example.com").await?,
        (401, "invalid_credentials".into())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_a_peer_that_is_not_a_trusted_proxy_web_ignores_x_forwarded_for() -> anyhow::Result<()>
{
    // A proxy is configured, but the tests' client (loopback) is not it.
    let sys = system_tests::spawn_system_with_web_behind("10.255.0.1").await?;
    for i in 0..FAILED_SIGN_INS_PER_ADDRESS {
        let answer = wrong_sign_in_through_web(
            &sys,
            &format!("203.0.113.{i}"),
            &format!("direct{i}@example.com"),
        )
        .await?;
        assert_eq!(answer, (401, "invalid_credentials".into()), "try {i}");
    }
    assert_eq!(
        wrong_sign_in_through_web(&sys, "203.0.113.250", "fresh@example.com").await?,
        (429, "too_many_attempts".into()),
        "every try counted against the peer's address, not the ones the client wrote"
    );
    Ok(())
}
