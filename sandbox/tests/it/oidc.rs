//! The OpenID Connect provider against the published specifications: the discovery document's
//! required metadata (Discovery 1.0 §3), a JWKS of RS256 keys (RFC 7517/7518) that verifies the
//! ID token's signature, the code flow with PKCE (RFC 7636) and its refusals (RFC 6749 §5.2), the
//! ID token's claims (Core §2) and userinfo (Core §5.3).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::{Method, StatusCode};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, read, spawn_app};

const CLIENT: &str = "sandbox-oidc-client";
const SECRET: &str = "sandbox-oidc-secret";
const REDIRECT: &str = "http://127.0.0.1:9/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn discovery(app: &TestApp, realm: &str) -> Value {
    let (status, body) = read(
        app.http
            .get(app.url(&format!("/oidc/{realm}/.well-known/openid-configuration")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    body
}

/// A code for `email` with the S256 challenge of `verifier`.
async fn code(app: &TestApp, email: &str, verifier: &str, nonce: &str) -> String {
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = url::Url::parse(&app.url("/oidc/corp/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("state", "s-1")
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("login_hint", email);
    let answer = no_redirects().get(url).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let back = url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    let params: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "s-1");
    params["code"].clone()
}

async fn redeem(app: &TestApp, code: &str, verifier: &str) -> (StatusCode, Value) {
    read(
        app.http
            .post(app.url("/oidc/corp/token"))
            .basic_auth(CLIENT, Some(SECRET))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn segment(token: &str, index: usize) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(index).unwrap()).unwrap()).unwrap()
}

/// Verifies an RS256 compact JWS with the JWK of its `kid`.
fn verifies(token: &str, jwks: &Value) -> bool {
    let kid = segment(token, 0)["kid"].as_str().unwrap().to_owned();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
    else {
        return false;
    };
    let number =
        |field: &str| BigUint::from_bytes_be(&B64.decode(jwk[field].as_str().unwrap()).unwrap());
    let key = RsaPublicKey::new(number("n"), number("e")).unwrap();
    let (input, signature) = token.rsplit_once('.').unwrap();
    let signature = Signature::try_from(B64.decode(signature).unwrap().as_slice()).unwrap();
    VerifyingKey::<Sha256>::new(key)
        .verify(input.as_bytes(), &signature)
        .is_ok()
}

async fn jwks(app: &TestApp) -> Value {
    read(
        app.http
            .get(app.url("/oidc/corp/jwks"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .1
}

#[tokio::test]
async fn discovery_names_every_required_field_and_rs256() {
    let app = spawn_app().await;
    let doc = discovery(&app, "corp").await;
    let issuer = format!("{}/oidc/corp", app.base);
    assert_eq!(doc["issuer"], issuer);
    for field in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        assert!(doc[field].as_str().unwrap().starts_with(&issuer), "{field}");
    }
    for field in [
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(!doc[field].as_array().unwrap().is_empty(), "{field}");
    }
    assert!(
        doc["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("RS256"))
    );
    assert!(
        doc["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("S256"))
    );
    // Entra ID's shape: the shared tenant publishes the issuer template.
    let (_, entra) = read(
        app.http
            .get(app.url("/entra/common/v2.0/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        entra["issuer"],
        format!("{}/entra/{{tenantid}}/v2.0", app.base)
    );
}

#[tokio::test]
async fn the_code_flow_gives_a_signed_id_token_and_userinfo() {
    let app = spawn_app().await;
    let (status, user) = app
        .control(
            Method::POST,
            "/oidc/users",
            json!({"email": "ann@example.com", "name": "Ann", "amr": ["pwd", "mfa"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let code = code(
        &app,
        "ann@example.com",
        "a-verifier-of-enough-length-123456789",
        "n-1",
    )
    .await;
    let (status, tokens) = redeem(&app, &code, "a-verifier-of-enough-length-123456789").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(segment(id_token, 0)["alg"], "RS256");
    let claims = segment(id_token, 1);
    assert_eq!(claims["iss"], format!("{}/oidc/corp", app.base));
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["sub"], user["sub"]);
    assert_eq!(claims["nonce"], "n-1");
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["amr"], json!(["pwd", "mfa"]));
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    assert!(verifies(id_token, &jwks(&app).await));

    let (status, info) = read(
        app.http
            .get(app.url("/oidc/corp/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["sub"], user["sub"]);
    let refused = app
        .http
        .get(app.url("/oidc/corp/userinfo"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_the_verifier_and_the_client() {
    let app = spawn_app().await;
    app.control(
        Method::POST,
        "/oidc/users",
        json!({"email": "bo@example.com"}),
    )
    .await;
    let verifier = "the-right-verifier-0123456789-0123456789";
    let first = code(&app, "bo@example.com", verifier, "n").await;
    let (status, body) = redeem(&app, &first, "a-wrong-verifier-0123456789-0123456789").await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );
    // A failed try used the code up.
    let (status, _) = redeem(&app, &first, verifier).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let second = code(&app, "bo@example.com", verifier, "n").await;
    let (status, _) = redeem(&app, &second, verifier).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = redeem(&app, &second, verifier).await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_grant"))
    );

    let third = code(&app, "bo@example.com", verifier, "n").await;
    let (status, body) = read(
        app.http
            .post(app.url("/oidc/corp/token"))
            .basic_auth(CLIENT, Some("wrong secret"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &third),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_client"))
    );
}

#[tokio::test]
async fn a_rotation_publishes_the_new_key_beside_the_old_until_it_retires() {
    let app = spawn_app().await;
    app.control(
        Method::POST,
        "/oidc/users",
        json!({"email": "cy@example.com"}),
    )
    .await;
    let verifier = "rotation-verifier-0123456789-0123456789";
    let code_before = code(&app, "cy@example.com", verifier, "n").await;
    let (_, before) = redeem(&app, &code_before, verifier).await;
    let old_token = before["id_token"].as_str().unwrap().to_owned();
    let (_, rotated) = app
        .control(Method::POST, "/oidc/keys/rotate", json!({}))
        .await;
    assert_eq!(rotated["published_kids"].as_array().unwrap().len(), 2);
    let code_after = code(&app, "cy@example.com", verifier, "n").await;
    let (_, after) = redeem(&app, &code_after, verifier).await;
    let new_token = after["id_token"].as_str().unwrap();
    assert_eq!(segment(new_token, 0)["kid"], rotated["active_kid"]);
    let set = jwks(&app).await;
    assert!(verifies(new_token, &set) && verifies(&old_token, &set));
    app.control(
        Method::POST,
        "/oidc/keys/rotate",
        json!({"retire_old": true}),
    )
    .await;
    let set = jwks(&app).await;
    assert!(!verifies(new_token, &set) && !verifies(&old_token, &set));
}

#[tokio::test]
async fn without_a_login_hint_the_provider_shows_its_sign_in_page() {
    let app = spawn_app().await;
    app.control(
        Method::POST,
        "/oidc/users",
        json!({"email": "di@example.com"}),
    )
    .await;
    let page = app
        .http
        .get(app.url(&format!(
            "/oidc/corp/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=code&scope=openid&state=x"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-email=\"di@example.com\""), "{html}");
    // Without the openid scope: an error redirected to the client, with its state.
    let refused = no_redirects()
        .get(app.url(&format!(
            "/oidc/corp/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=code&scope=email&state=x"
        )))
        .send()
        .await
        .unwrap();
    let location = refused.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("error=invalid_scope") && location.contains("state=x"),
        "{location}"
    );
}
