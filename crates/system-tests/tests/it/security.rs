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
