//! Issue 11: an inbound URL's allowed sources. A call from elsewhere is 403
//! and logged; behind a reverse proxy the client address comes from
//! `X-Forwarded-For` only when `GANCHO_TRUSTED_PROXIES` lists the proxy.

use reqwest::Method;
use serde_json::json;

use crate::helpers::fixture::load;
use crate::helpers::TestApp;

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";

/// A Hotmart URL granting one product, accepting calls from `sources`.
async fn shop(app: &TestApp, sources: serde_json::Value) -> (String, serde_json::Value) {
    app.create_key("hotmart", HOTTOK).await;
    let product = app.create_product("Curso", json!([])).await;
    let created = app
        .post(
            "/inbound-urls",
            json!({"name": "Vendas", "gateway": "hotmart", "product_ids": [product],
                   "allowed_sources": sources}),
        )
        .await;
    let url = created["url"].as_str().unwrap();
    let path = url
        .strip_prefix("https://hooks.example.com")
        .unwrap()
        .to_string();
    (path, created)
}

#[tokio::test]
async fn a_call_from_outside_the_allowed_sources_is_403_logged_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (path, created) = shop(&app, json!(["203.0.113.9", "10.1.2.3/8"])).await;
    assert_eq!(
        created["allowed_sources"],
        json!(["10.0.0.0/8", "203.0.113.9/32"])
    );

    let (status, body) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;

    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1"));
    assert!(app.student("maria.teste@example.com").await.is_none());
    let logged = app.get("/logs?status=failure").await;
    assert_eq!(logged["items"][0]["http_status"], 403);
    let detail = app
        .get(&format!(
            "/logs/{}",
            logged["items"][0]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(detail["detail"]["request"]["client_ip"], "127.0.0.1");

    // Allowing loopback lets it through; an empty list allows anyone.
    let id = created["id"].as_str().unwrap();
    app.api(
        Method::PATCH,
        &format!("/inbound-urls/{id}"),
        Some(json!({"allowed_sources": ["127.0.0.0/8"]})),
        200,
    )
    .await;
    let (status, _) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;
    assert_eq!(status, 200);
    app.api(
        Method::PATCH,
        &format!("/inbound-urls/{id}"),
        Some(json!({"allowed_sources": ["not-an-address"]})),
        422,
    )
    .await;
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let direct = TestApp::spawn().await;
    let proxied = TestApp::spawn_with(|c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let sale = |xff: &str| load("hotmart", "purchase_approved").set_header("X-Forwarded-For", xff);

    let (path, _) = shop(&direct, json!(["203.0.113.0/24"])).await;
    let (claimed, _) = direct.post_fixture(&path, &sale("203.0.113.5")).await;
    let (path, _) = shop(&proxied, json!(["203.0.113.0/24"])).await;
    let (outsider, _) = proxied.post_fixture(&path, &sale("198.51.100.1")).await;
    let (spoofed, _) = proxied
        .post_fixture(&path, &sale("203.0.113.5, 198.51.100.1"))
        .await;
    let (through_proxy, body) = proxied.post_fixture(&path, &sale("203.0.113.5")).await;

    assert_eq!(
        claimed, 403,
        "a client's own X-Forwarded-For is not believed"
    );
    assert_eq!(outsider, 403);
    assert_eq!(spoofed, 403, "only the hop the proxy saw counts");
    assert_eq!(
        (through_proxy, body["status"].as_str()),
        (200, Some("processed"))
    );
}
