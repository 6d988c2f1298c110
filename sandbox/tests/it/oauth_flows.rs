use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, read, spawn_app};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "https://app.example/v1/connections/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Follows an authorize URL once; returns the redirect's query parameters.
async fn authorize(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Vec<(String, String)> {
    let response = no_redirects()
        .get(app.url(path))
        .query(query)
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    url::Url::parse(&location)
        .expect("url")
        .query_pairs()
        .into_owned()
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn ms_token(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let mut all = vec![
        ("client_id", "sandbox-graph-client"),
        ("client_secret", "sandbox-graph-secret"),
    ];
    all.extend_from_slice(form);
    read(
        app.http
            .post(app.url("/login/organizations/oauth2/v2.0/token"))
            .form(&all)
            .send()
            .await
            .expect("token"),
    )
    .await
}

#[tokio::test]
async fn microsoft_authorization_code_with_pkce() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let (_, me) = read(
        app.graph(&mailbox, Method::GET, "/me")
            .send()
            .await
            .expect("me"),
    )
    .await;
    let email = me["mail"].as_str().expect("mail").to_owned();
    let scope = "offline_access https://graph.microsoft.com/Contacts.ReadWrite https://graph.microsoft.com/Calendars.ReadWrite";
    let params = [
        ("client_id", "sandbox-graph-client"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("response_mode", "query"),
        ("scope", scope),
        ("state", "s-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("login_hint", email.as_str()),
    ];
    let back = authorize(&app, "/login/organizations/oauth2/v2.0/authorize", &params).await;
    assert_eq!(get(&back, "state"), Some("s-1"));
    let code = get(&back, "code").expect("code").to_owned();

    let redeem = |code: String, verifier: &'static str, redirect: &'static str| {
        let app = &app;
        async move {
            ms_token(
                app,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", redirect),
                    ("code_verifier", verifier),
                    ("scope", scope),
                ],
            )
            .await
        }
    };
    let (status, wrong) = redeem(code.clone(), "not-the-verifier", REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong["error"], "invalid_grant");
    assert_eq!(wrong["error_codes"][0], 501481);

    // A failed redemption does not burn the code; a good one does.
    let (status, granted) = redeem(code.clone(), VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert!(granted["refresh_token"].is_string());
    let token = granted["access_token"].as_str().expect("token");
    let (_, who) = read(
        app.http
            .get(app.url("/graph/v1.0/me"))
            .bearer_auth(token)
            .send()
            .await
            .expect("me"),
    )
    .await;
    assert_eq!(who["id"], mailbox.id.as_str());
    let (status, again) = redeem(code, VERIFIER, REDIRECT).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error_codes"][0], 54005);

    // The refresh token of the code grant refreshes.
    let (status, refreshed) = ms_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                granted["refresh_token"].as_str().expect("rt"),
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    // A redirect URI other than the authorization's, and no verifier, are refused.
    let back = authorize(&app, "/login/organizations/oauth2/v2.0/authorize", &params).await;
    let code = get(&back, "code").expect("code").to_owned();
    let (status, body) = redeem(code.clone(), VERIFIER, "https://elsewhere.example/cb").await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let (status, body) = ms_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    let (status, body) = redeem("0.unknown".to_owned(), VERIFIER, REDIRECT).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );

    // Without offline_access there is no refresh token; without a hint a new mailbox consents.
    let back = authorize(
        &app,
        "/login/common/oauth2/v2.0/authorize",
        &[
            ("client_id", "sandbox-graph-client"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "https://graph.microsoft.com/Tasks.ReadWrite"),
            ("state", "s-2"),
        ],
    )
    .await;
    let code = get(&back, "code").expect("code").to_owned();
    let (status, granted) = ms_token(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert!(granted.get("refresh_token").is_none());
    let (_, who) = read(
        app.http
            .get(app.url("/graph/v1.0/me"))
            .bearer_auth(granted["access_token"].as_str().expect("token"))
            .send()
            .await
            .expect("me"),
    )
    .await;
    assert_ne!(who["id"], mailbox.id.as_str());

    // Errors the authorize endpoint redirects, and those it cannot.
    let back = authorize(
        &app,
        "/login/common/oauth2/v2.0/authorize",
        &[
            ("client_id", "sandbox-graph-client"),
            ("response_type", "token"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "s-3"),
        ],
    )
    .await;
    assert_eq!(get(&back, "error"), Some("unsupported_response_type"));
    assert_eq!(get(&back, "state"), Some("s-3"));
    let back = authorize(
        &app,
        "/login/common/oauth2/v2.0/authorize",
        &[
            ("client_id", "sandbox-graph-client"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", "Mail.Send"),
        ],
    )
    .await;
    assert_eq!(get(&back, "error"), Some("invalid_scope"));
    let response = no_redirects()
        .get(app.url("/login/common/oauth2/v2.0/authorize"))
        .query(&[
            ("client_id", "someone-else"),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
        ])
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn zoho_authorization_code_with_pkce() {
    let app = spawn_app().await;
    let org = app.org("eu").await;
    app.insert(&org, serde_json::json!([{"Last_Name": "Müller"}]))
        .await;
    let params = [
        ("response_type", "code"),
        ("client_id", "sandbox-zoho-client"),
        ("scope", "ZohoCRM.modules.ALL"),
        ("redirect_uri", REDIRECT),
        ("state", "z-1"),
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("login_hint", org.id.as_str()),
    ];
    let back = authorize(&app, "/zoho-accounts/eu/oauth/v2/auth", &params).await;
    assert_eq!(get(&back, "state"), Some("z-1"));
    assert_eq!(get(&back, "location"), Some("eu"));
    assert_eq!(
        get(&back, "accounts-server"),
        Some(org.accounts_url.as_str())
    );
    let code = get(&back, "code").expect("code").to_owned();
    let token_url = format!("{}/oauth/v2/token", org.accounts_url);
    let redeem = |code: String, verifier: &'static str| {
        let app = &app;
        let token_url = token_url.clone();
        async move {
            read(
                app.http
                    .post(token_url)
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("client_id", "sandbox-zoho-client"),
                        ("client_secret", "sandbox-zoho-secret"),
                        ("redirect_uri", REDIRECT),
                        ("code", code.as_str()),
                        ("code_verifier", verifier),
                    ])
                    .send()
                    .await
                    .expect("token"),
            )
            .await
        }
    };
    let (status, wrong) = redeem(code.clone(), "nope").await;
    assert_eq!(
        (status, wrong),
        (StatusCode::OK, serde_json::json!({"error": "invalid_code"}))
    );
    let (status, granted) = redeem(code.clone(), VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(granted["api_domain"], org.api_domain.as_str());
    assert_eq!(granted["token_type"], "Bearer");
    assert_eq!(granted["expires_in"], 3600);
    assert!(granted["refresh_token"].is_string());
    assert_eq!(granted["scope"], "ZohoCRM.modules.ALL");
    let (status, records) = read(
        app.http
            .get(format!(
                "{}/crm/v8/Contacts?fields=Last_Name",
                org.api_domain
            ))
            .header(
                "Authorization",
                format!(
                    "Zoho-oauthtoken {}",
                    granted["access_token"].as_str().expect("token")
                ),
            )
            .send()
            .await
            .expect("records"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(records["data"][0]["Last_Name"], "Müller");
    let (_, reused) = redeem(code, VERIFIER).await;
    assert_eq!(reused["error"], "invalid_code");

    // A code of the EU accounts server is unknown to another data centre's.
    let back = authorize(&app, "/zoho-accounts/eu/oauth/v2/auth", &params).await;
    let code = get(&back, "code").expect("code").to_owned();
    let (_, foreign) = read(
        app.http
            .post(app.url("/zoho-accounts/com/oauth/v2/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "sandbox-zoho-client"),
                ("client_secret", "sandbox-zoho-secret"),
                ("redirect_uri", REDIRECT),
                ("code", code.as_str()),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .expect("token"),
    )
    .await;
    assert_eq!(foreign["error"], "invalid_code");
}

#[tokio::test]
async fn zoho_tokens_are_limited_to_their_scopes() {
    let app = spawn_app().await;
    let org = app.org("com").await;
    let grant = |scope: &'static str| {
        let app = &app;
        let org = &org;
        async move {
            let back = authorize(
                app,
                "/zoho-accounts/com/oauth/v2/auth",
                &[
                    ("response_type", "code"),
                    ("client_id", "sandbox-zoho-client"),
                    ("scope", scope),
                    ("redirect_uri", REDIRECT),
                    ("access_type", "offline"),
                    ("login_hint", org.id.as_str()),
                ],
            )
            .await;
            let code = get(&back, "code").expect("code").to_owned();
            let (_, granted) = read(
                app.http
                    .post(format!("{}/oauth/v2/token", org.accounts_url))
                    .form(&[
                        ("grant_type", "authorization_code"),
                        ("client_id", "sandbox-zoho-client"),
                        ("client_secret", "sandbox-zoho-secret"),
                        ("redirect_uri", REDIRECT),
                        ("code", code.as_str()),
                    ])
                    .send()
                    .await
                    .expect("token"),
            )
            .await;
            granted
        }
    };
    let call = |token: String, method: Method, path: &'static str| {
        let app = &app;
        let org = &org;
        async move {
            read(
                app.http
                    .request(method, format!("{}/crm/v8{path}", org.api_domain))
                    .header("Authorization", format!("Zoho-oauthtoken {token}"))
                    .json(&serde_json::json!({"data": [{"Last_Name": "Scoped", "Subject": "Scoped"}]}))
                    .send()
                    .await
                    .expect("call"),
            )
            .await
        }
    };
    let read_only = grant("ZohoCRM.modules.contacts.READ").await;
    let token = read_only["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, _) = call(token.clone(), Method::GET, "/Contacts?fields=Last_Name").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(token.clone(), Method::POST, "/Contacts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        crate::helpers::payload("zoho_error_oauth_scope_mismatch")
    );
    let (status, _) = call(token, Method::GET, "/Tasks?fields=Subject").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A refresh keeps the scopes of the grant.
    let (_, refreshed) = read(
        app.http
            .post(format!("{}/oauth/v2/token", org.accounts_url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", "sandbox-zoho-client"),
                ("client_secret", "sandbox-zoho-secret"),
                (
                    "refresh_token",
                    read_only["refresh_token"].as_str().expect("rt"),
                ),
            ])
            .send()
            .await
            .expect("refresh"),
    )
    .await;
    let token = refreshed["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (status, _) = call(token, Method::POST, "/Contacts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The connector's scopes cover its three modules.
    let full = grant("ZohoCRM.modules.contacts.ALL,ZohoCRM.modules.tasks.ALL,ZohoCRM.modules.events.ALL,ZohoCRM.settings.fields.READ,ZohoCRM.users.READ").await;
    let token = full["access_token"].as_str().expect("token").to_owned();
    let (status, _) = call(token.clone(), Method::POST, "/Contacts").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(token.clone(), Method::POST, "/Tasks/upsert").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(token.clone(), Method::GET, "/Events?fields=Event_Title").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Field metadata needs `ZohoCRM.settings.fields.READ`; making a field needs `CREATE` (or
    // `ZohoCRM.settings.fields.ALL`, `ZohoCRM.settings.ALL`).
    let (status, _) = call(
        token.clone(),
        Method::GET,
        "/settings/fields?module=Contacts",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(token, Method::POST, "/settings/fields?module=Contacts").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = grant("ZohoCRM.modules.contacts.ALL,ZohoCRM.settings.fields.ALL").await;
    let token = admin["access_token"].as_str().expect("token").to_owned();
    let (status, _) = call(
        token.clone(),
        Method::GET,
        "/settings/fields?module=Contacts",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Allowed through, refused for its body (`fields` missing).
    let (status, body) = call(token, Method::POST, "/settings/fields?module=Contacts").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "REQUIRED_PARAM_MISSING");
}
