//! `gancho token reset` against a running gancho: the old token and the UI
//! sessions opened with it stop working at once, without a restart.

use super::{failed_in_one_line, run, text};
use crate::helpers::{TestApp, ADMIN_TOKEN};
use crate::ui::Browser;

async fn workspace_status(app: &TestApp, token: &str) -> u16 {
    app.client
        .get(format!("{}/api/v1/workspace", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_token_reset_ends_the_old_token_and_its_ui_sessions_at_once() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let mut browser = Browser::signed_in(&app).await;
    assert_eq!(browser.get("/ui/entrada").await.status, 200);

    let out = run(
        dir.path(),
        &["token", "reset"],
        &[("GANCHO_DATABASE_URL", &app.db_url)],
    );

    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {stdout}");
    let token = lines[0];
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_alphanumeric()),
        "{token}"
    );
    assert_eq!(workspace_status(&app, ADMIN_TOKEN).await, 401);
    assert_eq!(workspace_status(&app, token).await, 200);
    let page = browser.get("/ui/entrada").await;
    assert_eq!(
        (page.status, page.location.as_deref()),
        (303, Some("/ui/login")),
        "the old session ended"
    );
    let mut fresh = Browser::new(&app);
    let login = fresh.login(token).await;
    assert_eq!(
        (login.status, login.location.as_deref()),
        (303, Some("/ui/entrada"))
    );
    let again = run(
        dir.path(),
        &["token", "reset"],
        &[("GANCHO_DATABASE_URL", &app.db_url)],
    );
    let (second, _) = text(&again);
    assert_ne!(second.trim(), token, "each reset makes a new token");
    assert_eq!(workspace_status(&app, token).await, 401);
    app.stop().await;
}

/// `serve` writes GANCHO_ADMIN_TOKEN's hash at every start, so a reset
/// under it would last until the next restart: refused, and nothing changes.
#[tokio::test]
async fn a_token_reset_is_refused_while_gancho_admin_token_is_set() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();

    let out = run(
        dir.path(),
        &["token", "reset"],
        &[
            ("GANCHO_DATABASE_URL", &app.db_url),
            ("GANCHO_ADMIN_TOKEN", ADMIN_TOKEN),
        ],
    );

    let line = failed_in_one_line(&out);
    assert!(line.contains("GANCHO_ADMIN_TOKEN is set"), "{line}");
    assert!(text(&out).0.is_empty());
    assert_eq!(workspace_status(&app, ADMIN_TOKEN).await, 200);
    app.stop().await;
}
