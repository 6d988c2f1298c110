//! The security audit's findings (issue 15), each reproduced against the running service:
//! password re-checks, app passwords after a password change, what app-password sessions may
//! do, sign-in under a flood, bad text, session lifetime, refresh-token replay, recovery codes
//! and look-alike e-mail domains.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, checked_and_refused, spawn_app, spawn_app_with};
use crate::second_factor::{code, user_with_totp};

const PASSWORD: &str = "correct horse battery";

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

async fn create_app_password(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let response = app
        .user_request(Method::POST, "/v1/me/app-passwords", token)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_owned(),
        body["password"].as_str().unwrap().to_owned(),
    )
}

async fn api_sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.sign_in(json!({"email": email, "password": password, "client": "api"}))
        .await
}

async fn status_of(app: &TestApp, token: &str) -> StatusCode {
    app.user_request(Method::GET, "/v1/me", token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn sixty_wrong_password_rechecks_are_refused_past_the_limit() {
    let app = spawn_app().await;
    let email = "recheck@example.com";
    let (token, _, _) = user_with_totp(&app, email).await;
    // 60 wrong passwords at once, spread over the three actions that re-check the password.
    let guesses = (0..60).map(|i| {
        let wrong = format!("wrong password {i:03}");
        let request = match i % 3 {
            0 => app
                .user_request(Method::DELETE, "/v1/me/totp", &token)
                .json(&json!({"password": wrong})),
            1 => app
                .user_request(Method::POST, "/v1/me/recovery-codes", &token)
                .json(&json!({"password": wrong})),
            _ => app
                .user_request(Method::PUT, "/v1/me/password", &token)
                .json(&json!({"current_password": wrong, "new_password": "a new long password"})),
        };
        async move { request.send().await.unwrap() }
    });
    let answers = futures_util::future::join_all(guesses).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
    let (checked, refused) = checked_and_refused(&statuses);
    assert_eq!(
        (checked, refused),
        (5, 55),
        "only the limit's worth of guesses is checked: {statuses:?}"
    );
    let throttled = answers
        .into_iter()
        .find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert!(throttled.headers().get("retry-after").is_some());
    assert_error(
        throttled,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    )
    .await;

    // Past the limit even the right password is refused: the oracle is closed...
    let right = app
        .user_request(Method::DELETE, "/v1/me/totp", &token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let me: Value = app
        .user_request(Method::GET, "/v1/me", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["totp_enabled"], true, "two-factor sign-in stayed on");
    // ...and the owner is not locked out of signing in by it.
    let sign_in = app
        .sign_in(json!({"email": email, "password": PASSWORD}))
        .await;
    assert_error(sign_in, StatusCode::UNAUTHORIZED, "second_factor_required").await;
}

#[tokio::test]
async fn a_right_recheck_clears_earlier_misses() {
    let app = spawn_app().await;
    let (token, _, _) = user_with_totp(&app, "mistype@example.com").await;
    for _ in 0..4 {
        let wrong = app
            .user_request(Method::POST, "/v1/me/recovery-codes", &token)
            .json(&json!({"password": "not my password"}))
            .send()
            .await
            .unwrap();
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let right = app
        .user_request(Method::POST, "/v1/me/recovery-codes", &token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    // The count starts again: four more misses are still checked, not refused.
    for _ in 0..4 {
        let wrong = app
            .user_request(Method::POST, "/v1/me/recovery-codes", &token)
            .json(&json!({"password": "not my password"}))
            .send()
            .await
            .unwrap();
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

#[tokio::test]
async fn a_password_change_revokes_app_passwords_and_the_other_sessions() {
    let app = spawn_app().await;
    let email = "change@example.com";
    app.create_user_with_password(email, PASSWORD).await;
    let changer = app.signed_in(email, PASSWORD).await;
    let changer_token = changer["access_token"].as_str().unwrap();
    let other = app.signed_in(email, PASSWORD).await;
    let (_, app_password) = create_app_password(&app, changer_token, "backup script").await;
    let script = api_sign_in(&app, email, &app_password).await;
    assert_eq!(script.status(), StatusCode::CREATED);
    let script: Value = script.json().await.unwrap();

    let changed = app
        .user_request(Method::PUT, "/v1/me/password", changer_token)
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    // The app password signs nothing in any more, and is not listed.
    let again = api_sign_in(&app, email, &app_password).await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let list: Value = app
        .user_request(Method::GET, "/v1/me/app-passwords", changer_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["app_passwords"], json!([]));
    // The script's session and the other browser session are over...
    for ended in [&script, &other] {
        assert_eq!(
            status_of(&app, ended["access_token"].as_str().unwrap()).await,
            StatusCode::UNAUTHORIZED
        );
        let refresh = app.refresh(ended["refresh_token"].as_str().unwrap()).await;
        assert_error(refresh, StatusCode::UNAUTHORIZED, "invalid_session").await;
    }
    // ...the one that made the change goes on.
    assert_eq!(status_of(&app, changer_token).await, StatusCode::OK);
    let refreshed = app
        .refresh(changer["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
}

#[tokio::test]
async fn app_password_sessions_are_refused_the_sensitive_actions() {
    let app = spawn_app().await;
    let email = "script@example.com";
    let (owner_token, totp, _) = user_with_totp(&app, email).await;
    let (app_password_id, app_password) =
        create_app_password(&app, &owner_token, "reporting").await;

    // Not the way into the settings page: a browser sign-in with an app password is refused,
    // so it cannot stand in for the second factor.
    let browser = app
        .sign_in(json!({"email": email, "password": app_password}))
        .await;
    assert_error(browser, StatusCode::FORBIDDEN, "app_password_not_allowed").await;

    let script = api_sign_in(&app, email, &app_password).await;
    assert_eq!(script.status(), StatusCode::CREATED);
    let script: Value = script.json().await.unwrap();
    let token = script["access_token"].as_str().unwrap();
    // The session's kind is in the access token, for the other services to enforce too.
    assert_eq!(claims(token)["amr"], json!(["app_password"]));
    assert_eq!(claims(&owner_token)["amr"], json!(["pwd"]));
    // And in the answer the other services get when they confirm a token's session.
    let current: Value = app
        .user_request(Method::GET, "/v1/sessions/current", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["amr"], json!(["app_password"]), "{current}");
    // What a script is for still works.
    assert_eq!(status_of(&app, token).await, StatusCode::OK);
    let connections = app
        .user_request(Method::GET, "/v1/connections", token)
        .send()
        .await
        .unwrap();
    assert_eq!(connections.status(), StatusCode::OK);

    let refused: Vec<(Method, String, Value)> = vec![
        (
            Method::PUT,
            "/v1/me/password".into(),
            json!({"current_password": PASSWORD, "new_password": "taken over password"}),
        ),
        (
            Method::DELETE,
            "/v1/me/totp".into(),
            json!({"password": PASSWORD}),
        ),
        (Method::POST, "/v1/me/totp".into(), json!({})),
        (
            Method::POST,
            "/v1/me/totp/confirm".into(),
            json!({"code": code(&totp, 1)}),
        ),
        (
            Method::POST,
            "/v1/me/recovery-codes".into(),
            json!({"password": PASSWORD}),
        ),
        (
            Method::POST,
            "/v1/me/app-passwords".into(),
            json!({"name": "another"}),
        ),
        (
            Method::DELETE,
            format!("/v1/me/app-passwords/{app_password_id}"),
            json!({}),
        ),
        (
            Method::POST,
            "/v1/connections/zoho/authorize".into(),
            json!({}),
        ),
        (
            Method::GET,
            "/v1/connections/outlook/authorize".into(),
            json!({}),
        ),
        (Method::DELETE, "/v1/connections/zoho".into(), json!({})),
        (
            Method::DELETE,
            format!("/v1/me/identities/{}", uuid::Uuid::new_v4()),
            json!({}),
        ),
    ];
    for (method, path, body) in refused {
        let response = app
            .user_request(method.clone(), &path, token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} from an app-password session"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "app_password_not_allowed", "{method} {path}");
    }
    // Nothing changed: 2FA is still on, the password is the same, one app password.
    let me: Value = app
        .user_request(Method::GET, "/v1/me", &owner_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["totp_enabled"], true);
    let list: Value = app
        .user_request(Method::GET, "/v1/me/app-passwords", &owner_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["app_passwords"].as_array().unwrap().len(), 1);
    let owner = app
        .sign_in(json!({"email": email, "password": PASSWORD, "totp_code": code(&totp, 1)}))
        .await;
    assert_eq!(owner.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn a_flood_of_sign_ins_is_refused_fast_while_a_right_one_gets_through() {
    let app = spawn_app_with(|s| {
        // One hash at a time and two waiting; hashes slow enough that a burst overlaps.
        s.passwords.parallel_hashes = 1;
        s.passwords.queued_hashes = 2;
        s.passwords.memory_kib = 8 * 1024;
        s.passwords.iterations = 2;
        s.sessions.max_failed_sign_ins_per_address = 1000;
    })
    .await;
    let email = "honest@example.com";
    app.create_user_with_password(email, PASSWORD).await;

    // 40 bogus sign-ins at once, each for another (unknown) account, so that no per-account
    // throttle stops them before hashing; and the honest user among them, who retries when
    // told to.
    let bogus = (0..40).map(|i| {
        app.sign_in(json!({"email": format!("nobody{i}@example.com"), "password": "guess guess"}))
    });
    let honest = async {
        for _ in 0..60 {
            let response = app
                .sign_in(json!({"email": email, "password": PASSWORD}))
                .await;
            if response.status() != StatusCode::SERVICE_UNAVAILABLE {
                return response.status();
            }
            let wait: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
        StatusCode::SERVICE_UNAVAILABLE
    };
    let (answers, honest) = tokio::join!(futures_util::future::join_all(bogus), honest);
    assert_eq!(honest, StatusCode::CREATED, "the right password signs in");

    let mut busy = 0;
    for answer in answers {
        match answer.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert!(answer.headers().get("retry-after").is_some());
                assert_error(answer, StatusCode::SERVICE_UNAVAILABLE, "busy").await;
            }
            other => panic!("a bogus sign-in answered {other}"),
        }
    }
    assert!(
        busy > 0,
        "beyond the queue, sign-ins are refused, not queued"
    );

    // A refusal for being busy is not a failed guess: the account is not throttled by them.
    let flood = (0..20).map(|_| app.sign_in(json!({"email": email, "password": "wrong guess 1"})));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(flood)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let busy = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + busy + throttled, 20, "{statuses:?}");
    assert!(checked <= 5, "{statuses:?}");
    if checked < 5 {
        // Busy refusals left budget: exactly that much is still checked.
        for _ in checked..5 {
            let response = app
                .sign_in(json!({"email": email, "password": "wrong guess 2"}))
                .await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let past = app
        .sign_in(json!({"email": email, "password": "wrong guess 3"}))
        .await;
    assert_error(past, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn nul_characters_are_refused_with_a_stable_code_not_a_500() {
    let app = spawn_app().await;
    let email = "nul@example.com";
    app.create_user_with_password(email, PASSWORD).await;
    let pair = app.signed_in(email, PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();

    let mut answers = vec![
        app.sign_in(json!({"email": "nul\u{0}@example.com", "password": PASSWORD}))
            .await,
        app.sign_in(json!({"email": email, "password": "pass\u{0}word long"}))
            .await,
        app.sign_in(json!({"email": email, "password": PASSWORD, "totp_code": "12\u{0}456"}))
            .await,
        app.post("/internal/v1/users")
            .json(&json!({"email": "new@example.com", "display_name": "Ann\u{0}"}))
            .send()
            .await
            .unwrap(),
        app.refresh("x\u{0}y").await,
    ];
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/me/app-passwords",
            json!({"name": "script\u{0}"}),
        ),
        (
            Method::PUT,
            "/v1/me/password",
            json!({"current_password": PASSWORD, "new_password": "new\u{0}password long"}),
        ),
        (
            Method::POST,
            "/v1/connections/outlook/authorize",
            json!({"tenant": "contoso\u{0}"}),
        ),
        (
            Method::GET,
            "/v1/connections/zoho/authorize?data_centre=eu%00",
            Value::Null,
        ),
    ] {
        let mut request = app.user_request(method, path, token);
        if !body.is_null() {
            request = request.json(&body);
        }
        answers.push(request.send().await.unwrap());
    }
    answers.push(
        app.client
            .get(format!(
                "{}/v1/connections/zoho/callback?code=abc&state=st%00ate",
                app.address
            ))
            .send()
            .await
            .unwrap(),
    );
    for answer in answers {
        let url = answer.url().clone();
        let body = assert_error(answer, StatusCode::BAD_REQUEST, "nul_character").await;
        assert!(body["message"].is_string(), "{url}");
    }
    // Nothing was changed by them: the password is the old one, no app password exists.
    assert_eq!(status_of(&app, token).await, StatusCode::OK);
    app.signed_in(email, PASSWORD).await;
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_cap_however_often_it_is_refreshed() {
    let app = spawn_app_with(|s| {
        s.sessions.max_session_age = chrono::Duration::hours(2);
    })
    .await;
    let email = "cap@example.com";
    app.create_user_with_password(email, PASSWORD).await;
    let pair = app
        .sign_in(json!({"email": email, "password": PASSWORD, "keep_signed_in": true}))
        .await;
    assert_eq!(pair.status(), StatusCode::CREATED);
    let pair: Value = pair.json().await.unwrap();
    let cap = chrono::Utc::now() + chrono::Duration::hours(2);
    let expires: chrono::DateTime<chrono::Utc> = pair["session_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        expires <= cap,
        "a 30-day session is capped at 2 hours: {expires}"
    );
    let refreshed = app.refresh(pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let expires: chrono::DateTime<chrono::Utc> = refreshed["session_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        expires <= cap,
        "refreshing does not move the cap: {expires}"
    );

    // Signed in three hours ago and used all along: over.
    let session: uuid::Uuid = pair["session_id"].as_str().unwrap().parse().unwrap();
    sqlx::query(
        "UPDATE sessions SET created_at = now() - interval '3 hours', \
         expires_at = now() + interval '1 hour' WHERE id = $1",
    )
    .bind(session)
    .execute(&app.db)
    .await
    .unwrap();
    let late = app
        .refresh(refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_error(late, StatusCode::UNAUTHORIZED, "invalid_session").await;
}

#[tokio::test]
async fn replaying_any_old_refresh_token_of_the_family_ends_the_session() {
    let app = spawn_app().await;
    let email = "family@example.com";
    app.create_user_with_password(email, PASSWORD).await;
    let first = app.signed_in(email, PASSWORD).await;
    let mut tokens = vec![first["refresh_token"].as_str().unwrap().to_owned()];
    for _ in 0..3 {
        let next = app.refresh(tokens.last().unwrap()).await;
        assert_eq!(next.status(), StatusCode::OK);
        let next: Value = next.json().await.unwrap();
        tokens.push(next["refresh_token"].as_str().unwrap().to_owned());
    }
    // The first token, three rotations back, comes again (it was copied).
    let replay = app.refresh(&tokens[0]).await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "invalid_session").await;
    // The whole family is over: the current token no longer works either.
    let current = app.refresh(tokens.last().unwrap()).await;
    assert_error(current, StatusCode::UNAUTHORIZED, "invalid_session").await;
    let reused: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE event = 'refresh_token_reused'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(reused, 1);
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

#[tokio::test]
async fn recovery_codes_are_salted_and_codes_from_before_still_work() {
    let app = spawn_app().await;
    let email = "salt@example.com";
    let (_, _, codes) = user_with_totp(&app, email).await;
    let rows: Vec<(Option<Vec<u8>>, Vec<u8>)> =
        sqlx::query_as("SELECT salt, code_hash FROM recovery_codes")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 10);
    let plain: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| sha256(c.replace('-', "").as_bytes()))
        .collect();
    for (salt, hash) in &rows {
        assert_eq!(
            salt.as_ref().map(Vec::len),
            Some(16),
            "every code has a salt"
        );
        assert!(
            !plain.contains(hash),
            "no code is stored as its plain SHA-256"
        );
    }
    let signed_in = app
        .sign_in(json!({"email": email, "password": PASSWORD, "recovery_code": codes[0]}))
        .await;
    assert_eq!(signed_in.status(), StatusCode::CREATED);

    // A code issued before salting (as the migration leaves them: no salt).
    let user: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
        .bind(user)
        .bind(sha256(b"abcdefghjk"))
        .execute(&app.db)
        .await
        .unwrap();
    let legacy = app
        .sign_in(json!({"email": email, "password": PASSWORD, "recovery_code": "ABCDE-FGHJK"}))
        .await;
    assert_eq!(legacy.status(), StatusCode::CREATED);
    let again = app
        .sign_in(json!({"email": email, "password": PASSWORD, "recovery_code": "abcde-fghjk"}))
        .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
}

#[tokio::test]
async fn look_alike_email_domains_are_refused_and_one_domain_is_one_account() {
    let app = spawn_app().await;
    for look_alike in ["ceo@exаmple.com", "ceo@аррӏе.com"] {
        let response = app
            .post("/internal/v1/users")
            .json(&json!({"email": look_alike, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let body = assert_error(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "look_alike_email_domain",
        )
        .await;
        assert_eq!(body["field"], "email");
    }
    app.create_user_with_password("kunde@bücher.de", PASSWORD)
        .await;
    let same = app
        .post("/internal/v1/users")
        .json(&json!({"email": "Kunde@xn--bcher-kva.de", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error(same, StatusCode::CONFLICT, "email_taken").await;
    // Either spelling signs the one account in.
    let a = app.signed_in("kunde@BÜCHER.de", PASSWORD).await;
    let b = app.signed_in("kunde@xn--bcher-kva.de", PASSWORD).await;
    assert_eq!(a["user_id"], b["user_id"]);
}

#[tokio::test]
async fn the_openapi_document_declares_the_statuses_the_service_gives() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = document["paths"].as_object().unwrap();
    let mut secured = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let has = |status: &str| responses.contains_key(status);
            if operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                secured += 1;
                assert!(has("401"), "{method} {path} documents 401");
            }
            let takes_input = operation.get("requestBody").is_some()
                || operation["parameters"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty());
            if takes_input {
                assert!(
                    has("422") && has("400"),
                    "{method} {path} documents 400 and 422"
                );
            }
            if path.contains("{provider}") {
                assert!(has("404"), "{method} {path} documents 404");
            }
        }
    }
    assert!(secured > 20, "{secured} secured operations");
    let sign_in = &document["paths"]["/v1/sessions"]["post"]["responses"];
    for status in ["201", "400", "401", "403", "422", "429", "503"] {
        assert!(sign_in.get(status).is_some(), "sign-in documents {status}");
    }
}

/// Found by `scripts/fuzz-openapi.sh`: a provider name with control characters made the
/// callback's cookie header unbuildable, a 500.
#[tokio::test]
async fn a_single_sign_on_callback_for_a_garbled_provider_is_a_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!(
            "{}/v1/sso/%C2%BD%04x%11%60/callback?code=a&state=b",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::NOT_FOUND, "unknown_identity_provider").await;
}
