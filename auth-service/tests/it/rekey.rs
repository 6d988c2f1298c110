//! Key rotation of the token vault (`auth-service reencrypt`): every secret at rest is re-sealed
//! under the active key, and the old key can go.

use std::sync::Arc;

use auth_service::crypto::Vault;
use auth_service::rekey::{Reencrypted, reencrypt_all};
use auth_service::settings::EncryptionSettings;
use reqwest::{Method, StatusCode};
use secrecy::SecretBox;
use serde_json::{Value, json};

use crate::helpers::{request_token, spawn_app};

const PASSWORD: &str = "a fine password";

fn new_key() -> Arc<SecretBox<[u8; 32]>> {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    Arc::new(SecretBox::new(Box::new(key)))
}

async fn key_ids(db: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT refresh_token_key_id FROM provider_connections \
         UNION ALL SELECT access_token_key_id FROM provider_connections \
         UNION ALL SELECT secret_key_id FROM totp_credentials \
         UNION ALL SELECT private_key_key_id FROM signing_keys \
         UNION ALL SELECT verifier_key_id FROM oauth_states",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn reencrypt_moves_every_secret_to_the_active_key() {
    let mut app = spawn_app().await;
    // A connection with a cached access token, a user with 2FA, a signing key: all under k1.
    let user = app
        .connected_user("zoho", json!({"refresh_token": "valid-zoho"}))
        .await;
    let first = app.token(user, "zoho").await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();

    app.create_user_with_password("two@example.com", PASSWORD)
        .await;
    let pair = app.signed_in("two@example.com", PASSWORD).await;
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
    // An OAuth flow in progress: its PKCE verifier is sealed too.
    let response = app
        .user_request(Method::POST, "/v1/connections/zoho/authorize", token)
        .json(&json!({"data_centre": "eu"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let before = key_ids(&app.db).await;
    assert!(before.len() >= 5);
    assert!(before.iter().all(|k| k == "k1"), "{before:?}");

    // Without the old key nothing opens: the command fails and changes nothing.
    let k2 = new_key();
    let mut only_new = EncryptionSettings {
        keys: Default::default(),
        active_key_id: "k2".into(),
    };
    only_new.keys.insert("k2".into(), k2.clone());
    assert!(
        reencrypt_all(&app.db, &Vault::new(&only_new))
            .await
            .is_err()
    );
    assert!(key_ids(&app.db).await.iter().all(|k| k == "k1"));

    // Both keys, k2 active: everything moves to k2.
    let mut both = app.settings.encryption.clone();
    both.keys.insert("k2".into(), k2.clone());
    both.active_key_id = "k2".into();
    let vault = Vault::new(&both);
    let done = reencrypt_all(&app.db, &vault).await.unwrap();
    let signing_keys: i64 = sqlx::query_scalar("SELECT count(*) FROM signing_keys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        done,
        Reencrypted {
            refresh_tokens: 1,
            access_tokens: 1,
            totp_secrets: 1,
            signing_keys: signing_keys as u64,
            oauth_verifiers: 1,
        }
    );
    let after = key_ids(&app.db).await;
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|k| k == "k2"), "{after:?}");
    // Nothing left to do the second time.
    assert_eq!(reencrypt_all(&app.db, &vault).await.unwrap().total(), 0);

    // An instance that knows only k2 opens everything: the cached access token, the TOTP
    // secret, the signing key.
    app.settings.encryption = only_new;
    let replica = app.replica().await;
    let response = request_token(&app.client, &replica, user, "zoho").await;
    assert_eq!(response.status(), StatusCode::OK);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["access_token"], first["access_token"]);
    let response = app
        .client
        .post(format!("{replica}/v1/sessions"))
        .json(&json!({"email": "two@example.com", "password": PASSWORD,
            "totp_code": totp.generate(totp_rs_now() + 30)}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Seconds since the epoch (the confirmation used the current step; the next one is fresh).
fn totp_rs_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
