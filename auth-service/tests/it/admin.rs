//! The admin API: only administrators; users, sessions, connections, audit.

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app_with};

const ADMIN_PASSWORD: &str = "admin password 1";

async fn app_with_admin() -> (TestApp, String) {
    let app = spawn_app_with(|s| {
        s.admin = Some(auth_service::settings::AdminSettings {
            email: "root@example.com".into(),
            password: SecretString::from(ADMIN_PASSWORD),
        });
    })
    .await;
    let pair = app.signed_in("root@example.com", ADMIN_PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap().to_owned();
    (app, token)
}

#[tokio::test]
async fn admins_manage_users() {
    let (app, admin) = app_with_admin().await;

    let response = app
        .user_request(Method::POST, "/v1/admin/users", &admin)
        .json(&json!({"email": "new@example.com", "password": "a fine password", "display_name": "New"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let user_id = response.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let weak = app
        .user_request(Method::POST, "/v1/admin/users", &admin)
        .json(&json!({"email": "weak@example.com", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;

    let list: Value = app
        .user_request(Method::GET, "/v1/admin/users", &admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["root@example.com", "new@example.com"]);

    // The new user signs in; being disabled ends that at once.
    let user = app.signed_in("new@example.com", "a fine password").await;
    let user_token = user["access_token"].as_str().unwrap();
    let forbidden = app
        .user_request(Method::GET, "/v1/admin/users", user_token)
        .send()
        .await
        .unwrap();
    assert_error(forbidden, StatusCode::FORBIDDEN, "forbidden").await;

    let path = format!("/v1/admin/users/{user_id}");
    let response = app
        .user_request(Method::PATCH, &path, &admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["disabled"], true);
    let me = app
        .user_request(Method::GET, "/v1/me", user_token)
        .send()
        .await
        .unwrap();
    assert_error(me, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    let again = app
        .sign_in(json!({"email": "new@example.com", "password": "a fine password"}))
        .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // Enabled and promoted: now an administrator.
    let response = app
        .user_request(Method::PATCH, &path, &admin)
        .json(&json!({"disabled": false, "is_admin": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["is_admin"], true);
    let promoted = app.signed_in("new@example.com", "a fine password").await;
    let ok = app
        .user_request(
            Method::GET,
            "/v1/admin/users",
            promoted["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    // No demoting oneself.
    let root_id = list["users"][0]["user_id"].as_str().unwrap();
    let selfish = app
        .user_request(Method::PATCH, &format!("/v1/admin/users/{root_id}"), &admin)
        .json(&json!({"is_admin": false}))
        .send()
        .await
        .unwrap();
    assert_error(selfish, StatusCode::CONFLICT, "cannot_change_self").await;

    let missing = app
        .user_request(
            Method::PATCH,
            "/v1/admin/users/0190b0b0-0000-7000-8000-000000000000",
            &admin,
        )
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::NOT_FOUND, "user_not_found").await;
}

#[tokio::test]
async fn admins_see_connections_and_the_audit_log_and_end_sessions() {
    let (app, admin) = app_with_admin().await;
    let user = app
        .create_user_with_password("u@example.com", "a fine password")
        .await;
    let session = app.signed_in("u@example.com", "a fine password").await;
    app.connect(
        user,
        "zoho",
        json!({"refresh_token": "valid-zoho", "data_centre": "eu"}),
    )
    .await;

    let connections: Value = app
        .user_request(
            Method::GET,
            &format!("/v1/admin/users/{user}/connections"),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let zoho = connections["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "zoho")
        .unwrap();
    assert_eq!(zoho["status"], "connected");
    assert_eq!(zoho["data_centre"], "eu");

    let audit: Value = app
        .user_request(
            Method::GET,
            &format!("/v1/admin/audit?user_id={user}"),
            &admin,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["connection_stored", "signed_in", "user_created"]);
    let bad = app
        .user_request(Method::GET, "/v1/admin/audit?limit=many", &admin)
        .send()
        .await
        .unwrap();
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_query").await;

    let response = app
        .user_request(
            Method::DELETE,
            &format!("/v1/admin/users/{user}/sessions"),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 1);
    assert_error(
        app.refresh(session["refresh_token"].as_str().unwrap())
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
}

#[tokio::test]
async fn admins_reset_a_users_two_factor_sign_in() {
    let (app, admin) = app_with_admin().await;
    let user = app
        .create_user_with_password("lost@example.com", "a fine password")
        .await;
    let pair = app.signed_in("lost@example.com", "a fine password").await;
    let token = pair["access_token"].as_str().unwrap();
    let enrolment: Value = app
        .user_request(Method::POST, "/v1/me/totp", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = totp_rs::Secret::Encoded(enrolment["secret"].as_str().unwrap().to_owned())
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new_unchecked(
        totp_rs::Algorithm::SHA1,
        6,
        0,
        30,
        secret,
        None,
        String::new(),
    );
    let response = app
        .user_request(Method::POST, "/v1/me/totp/confirm", token)
        .json(&json!({"code": totp.generate_current().unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let locked = app
        .sign_in(json!({"email": "lost@example.com", "password": "a fine password"}))
        .await;
    assert_error(locked, StatusCode::UNAUTHORIZED, "second_factor_required").await;

    // Only administrators reset it.
    let path = format!("/v1/admin/users/{user}/totp");
    let forbidden = app
        .user_request(Method::DELETE, &path, token)
        .send()
        .await
        .unwrap();
    assert_error(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app
        .user_request(Method::DELETE, &path, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["was_enabled"], true);
    // The password alone signs in again; the secret and the recovery codes are gone.
    app.signed_in("lost@example.com", "a fine password").await;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM totp_credentials) + (SELECT count(*) FROM recovery_codes)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let again = app
        .user_request(Method::DELETE, &path, &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["was_enabled"], false);
    let missing = app
        .user_request(
            Method::DELETE,
            &format!("/v1/admin/users/{}/totp", uuid::Uuid::now_v7()),
            &admin,
        )
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::NOT_FOUND, "user_not_found").await;
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE event = 'totp_disabled' AND user_id = $1",
    )
    .bind(user)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audit, 2);
}

#[tokio::test]
async fn admins_list_every_connection_and_its_health() {
    let (app, admin) = app_with_admin().await;
    let ok = app
        .create_user_with_password("ok@example.com", "a fine password")
        .await;
    let broken = app
        .create_user_with_password("broken@example.com", "a fine password")
        .await;
    for (user, provider, body) in [
        (
            ok,
            "zoho",
            json!({"refresh_token": "valid-zoho", "data_centre": "eu"}),
        ),
        (ok, "outlook", json!({"refresh_token": "valid-outlook"})),
        (broken, "zoho", json!({"refresh_token": "valid-zoho"})),
    ] {
        let response = app.connect(user, provider, body).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    sqlx::query(
        "UPDATE provider_connections SET status = 'reconnect_needed', status_reason = 'invalid_grant' \
         WHERE user_id = $1",
    )
    .bind(broken)
    .execute(&app.db)
    .await
    .unwrap();

    let get = |query: &str| {
        app.user_request(
            Method::GET,
            &format!("/v1/admin/connections{query}"),
            &admin,
        )
        .send()
    };
    let all: Value = get("").await.unwrap().json().await.unwrap();
    let rows = all["connections"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    // Those needing attention come first, with the reason; no token is shown.
    assert_eq!(rows[0]["email"], "broken@example.com");
    assert_eq!(rows[0]["status"], "reconnect_needed");
    assert_eq!(rows[0]["reason"], "invalid_grant");
    assert_eq!(rows[1]["status"], "connected");
    assert!(!all.to_string().contains("valid-zoho"));
    assert!(rows.iter().all(|r| r.get("refresh_token").is_none()));
    let summary = all["summary"].as_array().unwrap();
    assert!(summary.contains(&json!({"provider": "zoho", "status": "connected", "count": 1})));
    assert!(
        summary.contains(&json!({"provider": "zoho", "status": "reconnect_needed", "count": 1}))
    );
    assert!(summary.contains(&json!({"provider": "outlook", "status": "connected", "count": 1})));

    let zoho_broken: Value = get("?status=reconnect_needed&provider=zoho")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(zoho_broken["connections"].as_array().unwrap().len(), 1);
    assert_eq!(zoho_broken["connections"][0]["user_id"], broken.to_string());
    let bad = get("?status=sleeping").await.unwrap();
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_status").await;
    let bad = get("?provider=gmail").await.unwrap();
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "unknown_provider").await;

    let user = app.signed_in("ok@example.com", "a fine password").await;
    let forbidden = app
        .user_request(
            Method::GET,
            "/v1/admin/connections",
            user["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let (app, admin) = app_with_admin().await;
    let user = app
        .create_user_with_password("forgot@example.com", "the old password")
        .await;
    let old_session = app
        .signed_in("forgot@example.com", "the old password")
        .await;

    let link = |admin: String| {
        let app = &app;
        async move {
            let response = app
                .user_request(
                    Method::POST,
                    &format!("/v1/admin/users/{user}/password-reset"),
                    &admin,
                )
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let body: Value = response.json().await.unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let first = link(admin.clone()).await;
    let token = link(admin.clone()).await;
    assert_ne!(first, token);
    let redeem = |token: String, password: &'static str| {
        app.post("/v1/password-resets")
            .json(&json!({"token": token, "new_password": password}))
            .send()
    };

    // A newer link replaces the older one; a weak password leaves the link usable.
    let replaced = redeem(first, "a brand new password").await.unwrap();
    assert_error(
        replaced,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reset_link",
    )
    .await;
    let weak = redeem(token.clone(), "short").await.unwrap();
    assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    let done = redeem(token.clone(), "a brand new password").await.unwrap();
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    // Once only; the old password and the old session are over; the new password works.
    let again = redeem(token, "another new password").await.unwrap();
    assert_error(
        again,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_reset_link",
    )
    .await;
    let old = app
        .sign_in(json!({"email": "forgot@example.com", "password": "the old password"}))
        .await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let refreshed = app
        .refresh(old_session["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), StatusCode::UNAUTHORIZED);
    app.signed_in("forgot@example.com", "a brand new password")
        .await;

    // Only administrators make links.
    let user_token = app
        .signed_in("forgot@example.com", "a brand new password")
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let forbidden = app
        .user_request(
            Method::POST,
            &format!("/v1/admin/users/{user}/password-reset"),
            &user_token,
        )
        .send()
        .await
        .unwrap();
    assert_error(forbidden, StatusCode::FORBIDDEN, "forbidden").await;
}

/// An administrator's app password (a report script) reads the admin API but changes nothing:
/// leaked from a script, it must not make administrators or turn off anyone's second factor.
#[tokio::test]
async fn an_administrators_app_password_reads_but_changes_nothing() {
    let (app, admin) = app_with_admin().await;
    let target = app
        .create_user_with_password("staff@example.com", "a fine password")
        .await;
    let (status, made) = app
        .call(
            Method::POST,
            "/v1/me/app-passwords",
            &admin,
            json!({"name": "report"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let script: Value = app
        .sign_in(
            json!({"email": "root@example.com", "password": made["password"], "client": "api"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let script = script["access_token"].as_str().unwrap();

    for path in [
        "/v1/admin/users",
        "/v1/admin/audit",
        "/v1/admin/sign-in-policy",
    ] {
        let (status, _) = app.call(Method::GET, path, script, Value::Null).await;
        assert_eq!(status, StatusCode::OK, "GET {path}");
    }
    let changes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/v1/admin/users".into(),
            json!({"email": "intruder@example.com", "password": "a fine password", "is_admin": true}),
        ),
        (
            Method::PATCH,
            format!("/v1/admin/users/{target}"),
            json!({"is_admin": true}),
        ),
        (
            Method::DELETE,
            format!("/v1/admin/users/{target}/sessions"),
            json!({}),
        ),
        (
            Method::DELETE,
            format!("/v1/admin/users/{target}/totp"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/v1/admin/users/{target}/password-reset"),
            json!({}),
        ),
        (
            Method::PUT,
            "/v1/admin/sign-in-policy".into(),
            json!({"password_sign_in": false}),
        ),
    ];
    for (method, path, body) in changes {
        let (status, answer) = app.call(method.clone(), &path, script, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(
            answer["code"], "app_password_not_allowed",
            "{method} {path}"
        );
    }
    // Nothing changed; the administrator's own session still does it.
    let (_, users) = app
        .call(Method::GET, "/v1/admin/users", &admin, Value::Null)
        .await;
    let users = users["users"].as_array().unwrap();
    assert!(users.iter().all(|u| u["email"] != "intruder@example.com"));
    assert!(
        users
            .iter()
            .any(|u| u["email"] == "staff@example.com" && u["is_admin"] == false)
    );
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/v1/admin/users/{target}"),
            &admin,
            json!({"is_admin": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
