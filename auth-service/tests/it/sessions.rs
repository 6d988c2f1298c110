//! Sign-in, access tokens and the JWKS, refresh sessions, sign-out, throttling, passwords.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, checked_and_refused, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

/// Verifies a JWT against the service's JWKS, as another service would, and returns its claims.
async fn verify_with_jwks(app: &TestApp, token: &str) -> Value {
    let jwks: Value = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid published");
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    let x: [u8; 32] = B64
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let signature: [u8; 64] = B64.decode(parts[2]).unwrap().try_into().unwrap();
    key.verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &Signature::from_bytes(&signature),
    )
    .expect("signature verifies");
    serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap()
}

fn hours_until(body: &Value, field: &str) -> i64 {
    let at: DateTime<Utc> = body[field].as_str().unwrap().parse().unwrap();
    (at - Utc::now()).num_hours()
}

#[tokio::test]
async fn sign_in_issues_a_verifiable_access_token_and_a_session() {
    let app = spawn_app().await;
    let user = app
        .create_user_with_password("ann@example.com", PASSWORD)
        .await;
    let pair = app.signed_in("Ann@Example.com", PASSWORD).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["user_id"], user.to_string());
    // Not "keep me signed in": a short session.
    assert!(
        (11..=12).contains(&hours_until(&pair, "session_expires_at")),
        "{pair}"
    );

    let claims = verify_with_jwks(&app, pair["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], user.to_string());
    assert_eq!(claims["sid"], pair["session_id"]);
    assert_eq!(claims["aud"], "outlook-zoho-sync");
    assert_eq!(claims["iss"], "outlook-zoho-sync/auth");
    assert_eq!(claims["admin"], false);
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let me = app
        .user_request(
            Method::GET,
            "/v1/me",
            pair["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["is_admin"], false);
}

#[tokio::test]
async fn keep_me_signed_in_gives_a_thirty_day_session() {
    let app = spawn_app().await;
    app.create_user_with_password("kim@example.com", PASSWORD)
        .await;
    let response = app
        .sign_in(json!({"email": "kim@example.com", "password": PASSWORD, "keep_signed_in": true}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let pair: Value = response.json().await.unwrap();
    assert!(
        (29 * 24..=30 * 24).contains(&hours_until(&pair, "session_expires_at")),
        "{pair}"
    );
    // A refresh keeps it long.
    let refreshed: Value = app
        .refresh(pair["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!((29 * 24..=30 * 24).contains(&hours_until(&refreshed, "session_expires_at")));
}

#[tokio::test]
async fn wrong_credentials_are_refused_alike() {
    let app = spawn_app().await;
    app.create_user_with_password("bob@example.com", PASSWORD)
        .await;
    // A user without a password cannot sign in with any.
    app.create_user("nopass@example.com").await;
    for (email, password) in [
        ("bob@example.com", "wrong password!"),
        ("nobody@example.com", PASSWORD),
        ("nopass@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ] {
        let response = app
            .sign_in(json!({"email": email, "password": password}))
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let missing = app.sign_in(json!({"email": "bob@example.com"})).await;
    assert_error(
        missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "missing_password",
    )
    .await;
    let failures: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE event = 'sign_in_failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(failures, 4);
}

#[tokio::test]
async fn repeated_failures_throttle_the_account() {
    let app = spawn_app().await;
    app.create_user_with_password("eve@example.com", PASSWORD)
        .await;
    for _ in 0..5 {
        let response = app
            .sign_in(json!({"email": "eve@example.com", "password": "guess guess guess"}))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now.
    let response = app
        .sign_in(json!({"email": "EVE@example.com", "password": PASSWORD}))
        .await;
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    // Other accounts are not affected.
    app.create_user_with_password("fay@example.com", PASSWORD)
        .await;
    app.signed_in("fay@example.com", PASSWORD).await;

    // Once the window has passed, the account signs in again.
    sqlx::query("UPDATE sign_in_failures SET failed_at = failed_at - interval '1 hour'")
        .execute(&app.db)
        .await
        .unwrap();
    app.signed_in("eve@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_burst_of_parallel_guesses_gets_no_more_checks_than_the_limit() {
    let app = spawn_app().await;
    app.create_user_with_password("burst@example.com", PASSWORD)
        .await;
    let guesses = (0..40).map(|i| {
        app.sign_in(json!({"email": "burst@example.com", "password": format!("guess number {i}")}))
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let (checked, refused) = checked_and_refused(&statuses);
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sign_in_failures WHERE email_key = 'burst@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(failures, 5, "only the checked guesses count");
}

/// The per-address limit under a burst: one client guesses 40 accounts at once, one guess
/// each (no account reaches its own limit). The address's attempts are claimed before any
/// password is hashed, so only the limit's number are checked; the rest are refused with the
/// throttle's code.
#[tokio::test]
async fn a_burst_of_parallel_guesses_across_accounts_from_one_address_gets_no_more_checks_than_its_limit()
 {
    let app = spawn_app_with(|s| s.sessions.max_failed_sign_ins_per_address = 6).await;
    app.create_user_with_password("spray0@example.com", PASSWORD)
        .await;
    let guesses = (0..40).map(|i| {
        app.sign_in(
            json!({"email": format!("spray{i}@example.com"), "password": format!("guess {i}")}),
        )
    });
    let mut statuses = Vec::new();
    let mut codes = Vec::new();
    for answer in futures_util::future::join_all(guesses).await {
        statuses.push(answer.status());
        let body: Value = answer.json().await.unwrap();
        codes.push(body["code"].as_str().unwrap_or_default().to_owned());
    }
    let (checked, refused) = checked_and_refused(&statuses);
    assert_eq!((checked, refused), (6, 34), "{statuses:?}");
    let count = |code: &str| codes.iter().filter(|c| *c == code).count();
    assert_eq!(
        (count("invalid_credentials"), count("too_many_attempts")),
        (6, 34),
        "{codes:?}"
    );
    let failures: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sign_in_failures WHERE email_key = 'address:127.0.0.1'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        failures, 6,
        "only the checked guesses count against the address"
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_throttle_it_across_accounts() {
    let app = spawn_app_with(|s| s.sessions.max_failed_sign_ins_per_address = 6).await;
    app.create_user_with_password("victim@example.com", PASSWORD)
        .await;
    // Six accounts, one wrong guess each: no account reaches its own limit.
    for i in 0..6 {
        let response = app
            .sign_in(json!({"email": format!("user{i}@example.com"), "password": "guess guess"}))
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // The address is refused now, for any account, even with the right password.
    let response = app
        .sign_in(json!({"email": "victim@example.com", "password": PASSWORD}))
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sign_in_failures WHERE email_key = 'address:127.0.0.1'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(rows, 6);

    // X-Forwarded-For is ignored unless configured: it does not dodge the limit.
    let response = app
        .client
        .post(format!("{}/v1/sessions", app.address))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "victim@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // Once the window has passed, the address signs in again.
    sqlx::query("UPDATE sign_in_failures SET failed_at = failed_at - interval '1 hour'")
        .execute(&app.db)
        .await
        .unwrap();
    app.signed_in("victim@example.com", PASSWORD).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled() {
    let app = spawn_app_with(|s| {
        s.sessions.max_failed_sign_ins_per_address = 3;
        // The test client connects from 127.0.0.1: it is the trusted proxy here.
        s.sessions.trusted_proxies = "127.0.0.1, ::1".parse().unwrap();
    })
    .await;
    app.create_user_with_password("proxied@example.com", PASSWORD)
        .await;
    let sign_in = |forwarded: &'static str, email: String, password: &'static str| {
        app.client
            .post(format!("{}/v1/sessions", app.address))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for i in 0..3 {
        let response = sign_in(
            "198.51.100.1, 203.0.113.7",
            format!("x{i}@example.com"),
            "guess guess",
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The right-most entry (the one our proxy added) counts; the client-supplied part does not.
    let blocked = sign_in(
        "192.0.2.50, 203.0.113.7",
        "proxied@example.com".into(),
        PASSWORD,
    )
    .await
    .unwrap();
    assert_error(blocked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // Another client behind the same proxy is not affected.
    let other = sign_in("203.0.113.8", "proxied@example.com".into(), PASSWORD)
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CREATED);
}

/// A peer that is not a configured proxy cannot pick its address with `X-Forwarded-For`: its
/// guesses all count against its own address, whatever it writes there.
#[tokio::test]
async fn from_a_peer_that_is_not_a_trusted_proxy_the_forwarded_address_is_ignored() {
    let app = spawn_app_with(|s| {
        s.sessions.max_failed_sign_ins_per_address = 3;
        s.sessions.trusted_proxies = "10.0.0.0/8".parse().unwrap();
    })
    .await;
    app.create_user_with_password("direct@example.com", PASSWORD)
        .await;
    let sign_in = |forwarded: String, email: String, password: &'static str| {
        app.client
            .post(format!("{}/v1/sessions", app.address))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": email, "password": password}))
            .send()
    };
    for i in 0..3 {
        let response = sign_in(
            format!("198.51.100.{i}"),
            format!("y{i}@example.com"),
            "guess guess",
        )
        .await
        .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let blocked = sign_in("203.0.113.99".into(), "direct@example.com".into(), PASSWORD)
        .await
        .unwrap();
    assert_error(blocked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn refresh_rotates_and_a_replayed_token_ends_the_session() {
    let app = spawn_app().await;
    app.create_user_with_password("rot@example.com", PASSWORD)
        .await;
    let first = app.signed_in("rot@example.com", PASSWORD).await;
    let first_refresh = first["refresh_token"].as_str().unwrap();

    let response = app.refresh(first_refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["session_id"], first["session_id"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    verify_with_jwks(&app, second["access_token"].as_str().unwrap()).await;

    // The old refresh token again: a replay. The session ends, for the thief and the owner.
    assert_error(
        app.refresh(first_refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_error(
        app.refresh(second_refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
    let me = app
        .user_request(
            Method::GET,
            "/v1/me",
            second["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(me, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    for garbage in ["", "nonsense", "0190b0b0-0000-7000-8000-000000000000.AAAA"] {
        assert_error(
            app.refresh(garbage).await,
            StatusCode::UNAUTHORIZED,
            "invalid_session",
        )
        .await;
    }
}

#[tokio::test]
async fn sign_out_and_session_management() {
    let app = spawn_app().await;
    app.create_user_with_password("multi@example.com", PASSWORD)
        .await;
    let laptop = app.signed_in("multi@example.com", PASSWORD).await;
    let phone = app.signed_in("multi@example.com", PASSWORD).await;
    let laptop_token = laptop["access_token"].as_str().unwrap();

    let list: Value = app
        .user_request(Method::GET, "/v1/sessions", laptop_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["session_id"], laptop["session_id"]);

    // Revoke the phone from the laptop.
    let path = format!("/v1/sessions/{}", phone["session_id"].as_str().unwrap());
    let response = app
        .user_request(Method::DELETE, &path, laptop_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(phone["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
    let again = app
        .user_request(Method::DELETE, &path, laptop_token)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "session_not_found").await;

    // Sign out the laptop: its access token stops working here at once.
    let response = app
        .user_request(Method::DELETE, "/v1/sessions/current", laptop_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let me = app
        .user_request(Method::GET, "/v1/me", laptop_token)
        .send()
        .await
        .unwrap();
    assert_error(me, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    assert_error(
        app.refresh(laptop["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
}

#[tokio::test]
async fn access_tokens_are_checked() {
    let app = spawn_app().await;
    app.create_user_with_password("chk@example.com", PASSWORD)
        .await;
    let pair = app.signed_in("chk@example.com", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();

    let none = app
        .client
        .get(format!("{}/v1/me", app.address))
        .send()
        .await
        .unwrap();
    assert_error(none, StatusCode::UNAUTHORIZED, "unauthenticated").await;

    // A forged payload (admin: true) under the real signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["admin"] = json!(true);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    // `alg: none`.
    let none_alg = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // The service token is not a user token.
    for bad in [
        forged.as_str(),
        none_alg.as_str(),
        "a.b.c",
        "test-service-token",
    ] {
        let response = app
            .user_request(Method::GET, "/v1/me", bad)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
    // And a user token does not open the internal API.
    let internal = app
        .client
        .post(format!("{}/internal/v1/users", app.address))
        .bearer_auth(token)
        .json(&json!({"email": "x@example.com"}))
        .send()
        .await
        .unwrap();
    assert_error(internal, StatusCode::UNAUTHORIZED, "unauthenticated").await;
}

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let app = spawn_app().await;
    app.create_user_with_password("pw@example.com", PASSWORD)
        .await;
    let here = app.signed_in("pw@example.com", PASSWORD).await;
    let elsewhere = app.signed_in("pw@example.com", PASSWORD).await;
    let token = here["access_token"].as_str().unwrap();

    let wrong = app
        .user_request(Method::PUT, "/v1/me/password", token)
        .json(&json!({"current_password": "not it at all", "new_password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let weak = app
        .user_request(Method::PUT, "/v1/me/password", token)
        .json(&json!({"current_password": PASSWORD, "new_password": "short"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, "weak_password").await;
    assert_eq!(body["field"], "new_password");

    let ok = app
        .user_request(Method::PUT, "/v1/me/password", token)
        .json(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(elsewhere["refresh_token"].as_str().unwrap())
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
    assert_eq!(
        app.refresh(here["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    assert_error(
        app.sign_in(json!({"email": "pw@example.com", "password": PASSWORD}))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    app.signed_in("pw@example.com", "a brand new secret").await;

    // The hash is Argon2id; the password itself is nowhere.
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'pw@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn the_first_admin_comes_from_configuration() {
    let app = spawn_app_with(|s| {
        s.admin = Some(auth_service::settings::AdminSettings {
            email: "root@example.com".into(),
            password: SecretString::from("admin password 1"),
        });
    })
    .await;
    let pair = app.signed_in("root@example.com", "admin password 1").await;
    let claims = verify_with_jwks(&app, pair["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["admin"], true);

    // A second replica with the same settings neither fails nor duplicates the admin.
    let mut app = app;
    app.replica().await;
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE is_admin")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn signing_keys_are_sealed_and_the_jwks_is_public() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jwks: Value = response.json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert!(jwks["keys"][0].get("d").is_none(), "no private part");
    let (key_id, sealed): (String, Vec<u8>) =
        sqlx::query_as("SELECT private_key_key_id, private_key_sealed FROM signing_keys")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(key_id, "k1");
    assert_eq!(sealed.len(), 12 + 43 + 16, "nonce + base64 seed + tag");
}

#[tokio::test]
async fn signing_keys_rotate_and_old_tokens_stay_verifiable() {
    let app = spawn_app_with(|s| s.sessions.key_rotation = chrono::Duration::seconds(2)).await;
    app.create_user_with_password("rot8@example.com", PASSWORD)
        .await;
    let before = app.signed_in("rot8@example.com", PASSWORD).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let after = app.signed_in("rot8@example.com", PASSWORD).await;

    let kid = |pair: &Value| -> String {
        let header = pair["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_owned();
        let header: Value = serde_json::from_slice(&B64.decode(header).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    assert_ne!(kid(&before), kid(&after), "a new key signs after rotation");
    let jwks: Value = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        2,
        "the old key is still published"
    );
    // Both tokens verify, with other services' JWKS and at this service.
    for pair in [&before, &after] {
        verify_with_jwks(&app, pair["access_token"].as_str().unwrap()).await;
        let me = app
            .user_request(
                Method::GET,
                "/v1/me",
                pair["access_token"].as_str().unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn self_sign_up_is_off_unless_configured() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/users", app.address))
        .json(&json!({"email": "me@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = assert_error(response, StatusCode::FORBIDDEN, "self_signup_disabled").await;
    assert!(body["message"].as_str().unwrap().contains("administrator"));
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn self_sign_up_creates_an_ordinary_user_with_the_password_policy() {
    let app = spawn_app_with(|s| s.self_signup = true).await;
    let sign_up = |body: Value| {
        app.client
            .post(format!("{}/v1/users", app.address))
            .json(&body)
            .send()
    };
    let response =
        sign_up(json!({"email": "Me@Example.com", "password": PASSWORD, "display_name": "Me"}))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let user_id = response.json::<Value>().await.unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pair = app.signed_in("me@example.com", PASSWORD).await;
    assert_eq!(pair["user_id"], user_id.as_str());
    let me: Value = app
        .user_request(
            Method::GET,
            "/v1/me",
            pair["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_admin"], false);

    // An admin flag in the body is ignored.
    let response =
        sign_up(json!({"email": "boss@example.com", "password": PASSWORD, "is_admin": true}))
            .await
            .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let admins: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE is_admin")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(admins, 0);

    for (body, status, code) in [
        (
            json!({"email": "me@example.com", "password": PASSWORD}),
            StatusCode::CONFLICT,
            "email_taken",
        ),
        (
            json!({"email": "short@example.com", "password": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
        ),
        (
            json!({"email": "nopass@example.com"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_password",
        ),
        (
            json!({"email": "not an address", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
        ),
    ] {
        assert_error(sign_up(body).await.unwrap(), status, code).await;
    }
    let audit: Value = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE event = 'user_created' AND user_id = $1::uuid",
    )
    .bind(&user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(audit["via"], "self_signup");
}

#[tokio::test]
async fn self_sign_up_is_throttled_per_client_address() {
    let app = spawn_app_with(|s| {
        s.self_signup = true;
        s.sessions.max_sign_ups_per_address = 3;
    })
    .await;
    let sign_up = |email: &str| {
        app.client
            .post(format!("{}/v1/users", app.address))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
    };
    // Refused attempts count too (an `email_taken` answer tells an address has an account).
    assert_eq!(
        sign_up("a@example.com").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_error(
        sign_up("a@example.com").await.unwrap(),
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_eq!(
        sign_up("b@example.com").await.unwrap().status(),
        StatusCode::CREATED
    );
    let response = sign_up("c@example.com").await.unwrap();
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry_after > 0);
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(users, 2, "nothing made once throttled");
}
