//! `X-Request-Id` (issue 12): every answer names its call, a sane id from
//! the client is kept, and an inbound call's log entry records the id.

use serde_json::json;

use crate::helpers::fixture::load;
use crate::helpers::{TestApp, ADMIN_TOKEN};

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";

#[tokio::test]
async fn every_answer_has_a_request_id_and_the_inbound_log_entry_records_it() {
    let app = TestApp::spawn().await;
    let get = |id: Option<&str>| {
        let mut req = app
            .client
            .get(format!("{}/api/v1/workspace", app.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        req.send()
    };
    let made = get(None).await.unwrap();
    let made = made.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(made.len(), 26, "a ULID: {made}");
    let other = get(None).await.unwrap().headers()["x-request-id"].clone();
    assert_ne!(other.to_str().unwrap(), made, "one per call");
    let kept = get(Some("proxy-abc.123")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "proxy-abc.123");
    let long = "x".repeat(65);
    for bad in [long.as_str(), "has space", "semi;colon"] {
        let r = get(Some(bad)).await.unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 26);
    }
    // An unknown route and the UI answer with one too.
    let r = app
        .client
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-request-id"));

    app.create_key("hotmart", HOTTOK).await;
    let pid = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(json!({"name": "H", "gateway": "hotmart", "product_ids": [pid]}))
        .await;
    let f = load("hotmart", "purchase_approved").set_header("X-Request-Id", "gw-call-42");
    let (code, _) = app.post_fixture(&path, &f).await;
    assert_eq!(code, 200);
    let logs = app.get("/logs?direction=in").await;
    let id = logs["items"][0]["id"].as_str().unwrap();
    let entry = app.get(&format!("/logs/{id}")).await;
    assert_eq!(entry["detail"]["request"]["request_id"], "gw-call-42");
    app.stop().await;
}
