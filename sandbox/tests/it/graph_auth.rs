use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{keys, payload, read, spawn_app};

#[tokio::test]
async fn refresh_token_grant_returns_a_new_pair_and_the_old_refresh_token_stays_valid() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            read(
                app.http
                    .post(app.url("/login/common/oauth2/v2.0/token"))
                    .form(&[
                        ("client_id", "sandbox-graph-client"),
                        ("client_secret", "sandbox-graph-secret"),
                        ("grant_type", "refresh_token"),
                        ("refresh_token", token.as_str()),
                        (
                            "scope",
                            "offline_access https://graph.microsoft.com/Contacts.ReadWrite",
                        ),
                    ])
                    .send()
                    .await
                    .expect("token call"),
            )
            .await
        }
    };
    let (status, body) = refresh(mailbox.refresh_token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected = keys(&payload("graph_oauth_token_refresh_response"));
    expected.remove("id_token"); // only with the `openid` scope
    expected.insert("ext_expires_in".into());
    assert_eq!(keys(&body), expected);
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"],
        "https://graph.microsoft.com/Contacts.ReadWrite"
    );
    assert_ne!(body["refresh_token"], mailbox.refresh_token.as_str());

    let access = body["access_token"].as_str().expect("token");
    let folders = app
        .http
        .get(app.url("/graph/v1.0/me/contactFolders"))
        .bearer_auth(access)
        .send()
        .await
        .expect("folders");
    assert_eq!(folders.status(), StatusCode::OK);

    let (again, _) = refresh(mailbox.refresh_token.clone()).await;
    assert_eq!(again, StatusCode::OK);
    let rotated = body["refresh_token"].as_str().expect("rt").to_owned();
    let (rotated_status, _) = refresh(rotated).await;
    assert_eq!(rotated_status, StatusCode::OK);
}

#[tokio::test]
async fn bad_refresh_tokens_and_clients_are_refused_in_aad_shape() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let call = |client_secret: &'static str, refresh_token: String| {
        let app = &app;
        async move {
            read(
                app.http
                    .post(app.url("/login/organizations/oauth2/v2.0/token"))
                    .form(&[
                        ("client_id", "sandbox-graph-client"),
                        ("client_secret", client_secret),
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh_token.as_str()),
                    ])
                    .send()
                    .await
                    .expect("token call"),
            )
            .await
        }
    };
    let (status, body) = call("sandbox-graph-secret", "nope".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 70000);
    assert!(
        body["error_description"]
            .as_str()
            .expect("text")
            .starts_with("AADSTS70000: ")
    );
    let expected = keys(&payload("graph_oauth_token_error"));
    assert!(keys(&body).is_superset(&expected), "{body}");

    let (status, body) = call("wrong", mailbox.refresh_token.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");

    let garbage = app
        .http
        .post(app.url("/login/common/oauth2/v2.0/token"))
        .body("%%%")
        .send()
        .await
        .expect("call");
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
}

async fn graph_error(response: reqwest::Response) -> (StatusCode, Value) {
    let (status, body) = read(response).await;
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{body}"
    );
    (status, body)
}

#[tokio::test]
async fn graph_refuses_missing_unknown_and_expired_tokens() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let url = app.url("/graph/v1.0/me/contacts");

    let (status, body) = graph_error(app.http.get(&url).send().await.expect("call")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");

    let (status, _) = graph_error(
        app.http
            .get(&url)
            .bearer_auth("made-up")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let ok = app
        .graph(&mailbox, Method::GET, "/me/contacts")
        .send()
        .await
        .expect("call");
    assert_eq!(ok.status(), StatusCode::OK);
    app.control(Method::POST, "/expire-access-tokens", serde_json::json!({}))
        .await;
    let (status, body) = graph_error(
        app.graph(&mailbox, Method::GET, "/me/contacts")
            .send()
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("expired")
    );
}

/// Microsoft's token endpoint takes the client's id and secret in an `Authorization: Basic`
/// header (RFC 6749 2.3.1) as well as in the form body.
#[tokio::test]
async fn client_credentials_may_come_in_a_basic_header() {
    let app = spawn_app().await;
    let mailbox = app.mailbox().await;
    let url = app.url("/login/common/oauth2/v2.0/token");
    let refresh = |user: &'static str, secret: &'static str, body_id: Option<&'static str>| {
        let (app, url, token) = (&app, url.clone(), mailbox.refresh_token.clone());
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            form.extend(body_id.map(|id| ("client_id", id)));
            read(
                app.http
                    .post(url)
                    .basic_auth(user, Some(secret))
                    .form(&form)
                    .send()
                    .await
                    .expect("token call"),
            )
            .await
        }
    };
    let (status, body) = refresh("sandbox-graph-client", "sandbox-graph-secret", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().expect("token");
    let me = app
        .http
        .get(app.url("/graph/v1.0/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    // The same client named in the body as well is fine.
    let (status, body) = refresh(
        "sandbox-graph-client",
        "sandbox-graph-secret",
        Some("sandbox-graph-client"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = refresh("sandbox-graph-client", "wrong", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = refresh("someone-else", "sandbox-graph-secret", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_codes"][0], 700016, "{body}");
    let (status, body) = refresh(
        "sandbox-graph-client",
        "sandbox-graph-secret",
        Some("someone-else"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_request", "{body}");

    let garbled = app
        .http
        .post(app.url("/login/common/oauth2/v2.0/token"))
        .header("Authorization", "Basic %%%")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("call");
    let (status, body) = read(garbled).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error_codes"][0], 9002313, "{body}");
}
