//! Two-factor sign-in (TOTP, recovery codes) and application-specific passwords.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{TestApp, assert_error, checked_and_refused, spawn_app};

const PASSWORD: &str = "correct horse battery";

pub(crate) fn authenticator(secret: &str) -> TOTP {
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        0,
        30,
        Secret::Encoded(secret.to_owned()).to_bytes().unwrap(),
        None,
        String::new(),
    )
}

/// A code `steps_ahead` 30-second steps from now (the service accepts one step of drift).
pub(crate) fn code(totp: &TOTP, steps_ahead: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + steps_ahead * 30)
}

/// Signs up, signs in, enrols and confirms TOTP; returns the access token, the authenticator and
/// the recovery codes.
pub(crate) async fn user_with_totp(app: &TestApp, email: &str) -> (String, TOTP, Vec<String>) {
    app.create_user_with_password(email, PASSWORD).await;
    let pair = app.signed_in(email, PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap().to_owned();
    let response = app
        .user_request(Method::POST, "/v1/me/totp", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let enrolment: Value = response.json().await.unwrap();
    let url = enrolment["otpauth_url"].as_str().unwrap();
    assert!(
        url.starts_with("otpauth://totp/Outlook-Zoho%20Sync:"),
        "{url}"
    );
    let totp = authenticator(enrolment["secret"].as_str().unwrap());
    // The QR code is an SVG image of exactly that URI (the same encoding, module for module).
    let svg = enrolment["qr_svg"].as_str().unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    let expected = qrcode::QrCode::new(url.as_bytes())
        .unwrap()
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    assert_eq!(svg, expected);

    let wrong = app
        .user_request(Method::POST, "/v1/me/totp/confirm", &token)
        .json(&json!({"code": "000000"}))
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    let response = app
        .user_request(Method::POST, "/v1/me/totp/confirm", &token)
        .json(&json!({"code": code(&totp, 0)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (token, totp, codes)
}

#[tokio::test]
async fn a_burst_of_parallel_code_guesses_with_the_right_password_is_limited() {
    let app = spawn_app().await;
    let (_, totp, _) = user_with_totp(&app, "burst2fa@example.com").await;
    // 30 guesses at once, each with the right password and a wrong six-digit code.
    let right = code(&totp, 0);
    let guesses = (0..30).map(|i| {
        let mut guess = format!("{:06}", 100_000 + i * 7919);
        if guess == right {
            guess = "000000".into();
        }
        app.sign_in(
            json!({"email": "burst2fa@example.com", "password": PASSWORD, "totp_code": guess}),
        )
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(guesses)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    let (checked, refused) = checked_and_refused(&statuses);
    assert_eq!((checked, refused), (5, 25), "{statuses:?}");
    // The right code is refused too until the window has passed.
    let response = app
        .sign_in(json!({"email": "burst2fa@example.com", "password": PASSWORD, "totp_code": code(&totp, 0)}))
        .await;
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn totp_guards_the_main_password() {
    let app = spawn_app().await;
    let (token, totp, recovery) = user_with_totp(&app, "two@example.com").await;

    let me: Value = app
        .user_request(Method::GET, "/v1/me", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["totp_enabled"], true);

    let no_code = app
        .sign_in(json!({"email": "two@example.com", "password": PASSWORD}))
        .await;
    assert_error(no_code, StatusCode::UNAUTHORIZED, "second_factor_required").await;
    let wrong = app
        .sign_in(json!({"email": "two@example.com", "password": PASSWORD, "totp_code": "123456"}))
        .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;
    // A right code with a wrong password tells nothing about the code.
    let next = code(&totp, 1);
    let bad_password = app
        .sign_in(
            json!({"email": "two@example.com", "password": "wrong password!", "totp_code": next}),
        )
        .await;
    assert_error(
        bad_password,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    let response = app
        .sign_in(json!({"email": "two@example.com", "password": PASSWORD, "totp_code": next}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let pair: Value = response.json().await.unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            pair["access_token"]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["amr"], json!(["pwd", "otp"]));

    // The same code again is a replay.
    let replay = app
        .sign_in(json!({"email": "two@example.com", "password": PASSWORD, "totp_code": next}))
        .await;
    assert_error(replay, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;

    // A recovery code works once, in any case and spacing.
    let rc = recovery[3].to_uppercase().replace('-', " ");
    let response = app
        .sign_in(json!({"email": "two@example.com", "password": PASSWORD, "recovery_code": rc}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let again = app
        .sign_in(
            json!({"email": "two@example.com", "password": PASSWORD, "recovery_code": recovery[3]}),
        )
        .await;
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;

    let twice = app
        .user_request(Method::POST, "/v1/me/totp", &token)
        .send()
        .await
        .unwrap();
    assert_error(twice, StatusCode::CONFLICT, "totp_already_enabled").await;

    // New recovery codes void the old ones.
    let response = app
        .user_request(Method::POST, "/v1/me/recovery-codes", &token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let old = app
        .sign_in(
            json!({"email": "two@example.com", "password": PASSWORD, "recovery_code": recovery[0]}),
        )
        .await;
    assert_error(old, StatusCode::UNAUTHORIZED, "invalid_second_factor").await;

    // The secret is sealed at rest.
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM totp_credentials")
        .fetch_one(&app.db)
        .await
        .unwrap();
    let secret = totp.get_secret_base32();
    assert!(!sealed.windows(8).any(|w| w == &secret.as_bytes()[..8]));

    // Turning it off needs the password.
    let wrong = app
        .user_request(Method::DELETE, "/v1/me/totp", &token)
        .json(&json!({"password": "nope nope nope"}))
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let off = app
        .user_request(Method::DELETE, "/v1/me/totp", &token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    app.signed_in("two@example.com", PASSWORD).await;
}

#[tokio::test]
async fn app_passwords_sign_in_scripts_without_the_main_password() {
    let app = spawn_app().await;
    let (token, totp, _) = user_with_totp(&app, "apps@example.com").await;

    let response = app
        .user_request(Method::POST, "/v1/me/app-passwords", &token)
        .json(&json!({"name": "Backup script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let password = created["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 19);
    let id = created["id"].as_str().unwrap().to_owned();

    let same_name = app
        .user_request(Method::POST, "/v1/me/app-passwords", &token)
        .json(&json!({"name": "backup SCRIPT"}))
        .send()
        .await
        .unwrap();
    assert_error(same_name, StatusCode::CONFLICT, "app_password_name_taken").await;
    let no_name = app
        .user_request(Method::POST, "/v1/me/app-passwords", &token)
        .json(&json!({"name": " "}))
        .send()
        .await
        .unwrap();
    assert_error(no_name, StatusCode::UNPROCESSABLE_ENTITY, "invalid_name").await;

    let list: Value = app
        .user_request(Method::GET, "/v1/me/app-passwords", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["app_passwords"].as_array().unwrap().len(), 1);
    assert_eq!(list["app_passwords"][0]["name"], "Backup script");
    assert!(list["app_passwords"][0].get("password").is_none());

    // The script signs in with the app password (as an API client) and no second factor.
    let response = app
        .sign_in(json!({"email": "apps@example.com", "password": password, "client": "api"}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let script: Value = response.json().await.unwrap();
    // The main password alone still needs the second factor.
    let main = app
        .sign_in(json!({"email": "apps@example.com", "password": PASSWORD}))
        .await;
    assert_error(main, StatusCode::UNAUTHORIZED, "second_factor_required").await;

    // API sign-in: the app password works, the main password is refused (even with a code)
    // with an error that says to use an app password.
    let api = app
        .sign_in(json!({"email": "apps@example.com", "password": password, "client": "api"}))
        .await;
    assert_eq!(api.status(), StatusCode::CREATED);
    let refused = app
        .sign_in(json!({"email": "apps@example.com", "password": PASSWORD, "client": "api"}))
        .await;
    let body = assert_error(refused, StatusCode::UNAUTHORIZED, "app_password_required").await;
    assert!(
        body["message"].as_str().unwrap().contains("app password"),
        "{body}"
    );
    let with_code = app
        .sign_in(
            json!({"email": "apps@example.com", "password": PASSWORD, "client": "api",
            "totp_code": code(&totp, 0)}),
        )
        .await;
    assert_error(with_code, StatusCode::UNAUTHORIZED, "app_password_required").await;
    // A wrong password is still just wrong, for API sign-in too.
    let wrong = app
        .sign_in(json!({"email": "apps@example.com", "password": "not it at all", "client": "api"}))
        .await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown_client = app
        .sign_in(json!({"email": "apps@example.com", "password": password, "client": "robot"}))
        .await;
    assert_eq!(unknown_client.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Without 2FA, API clients may use the main password.
    app.create_user_with_password("plain@example.com", PASSWORD)
        .await;
    let plain = app
        .sign_in(json!({"email": "plain@example.com", "password": PASSWORD, "client": "api"}))
        .await;
    assert_eq!(plain.status(), StatusCode::CREATED);

    let hash: String = sqlx::query_scalar("SELECT password_hash FROM app_passwords")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));

    // Revoking ends it and the sessions it opened.
    let path = format!("/v1/me/app-passwords/{id}");
    let response = app
        .user_request(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_error(
        app.refresh(script["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_session",
    )
    .await;
    let after = app
        .sign_in(json!({"email": "apps@example.com", "password": password, "client": "api"}))
        .await;
    assert_error(after, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let again = app
        .user_request(Method::DELETE, &path, &token)
        .send()
        .await
        .unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "app_password_not_found").await;
}
