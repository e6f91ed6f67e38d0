//! Asaas sends only a customer id: a sale waits, durably, until gancho has
//! fetched its buyer from Asaas's API (a stand-in server on loopback here),
//! and is granted then; a refund that comes meanwhile still wins.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::db::SqlRow;
use crate::helpers::fixture::load;
use crate::helpers::TestApp;

const TOKEN: &str = "test-asaas-access-token-3e7d";
const API_KEY: &str = "$aact_test_gancho_0123456789abcdef";
const CUSTOMER: &str = "cus_000006123456";

/// One request the stand-in saw: the customer id and the `access_token` header.
type Seen = (String, String);

#[derive(Default)]
struct StandIn {
    seen: Vec<Seen>,
    /// Statuses to answer before answering with the customer.
    failures: VecDeque<u16>,
}

/// Asaas's `GET /v3/customers/{id}`, answering the queued failures first.
struct AsaasApi {
    base: String,
    inner: Arc<Mutex<StandIn>>,
}

async fn customer(
    State(inner): State<Arc<Mutex<StandIn>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("access_token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let failure = {
        let mut s = inner.lock().unwrap();
        s.seen.push((id.clone(), token.clone()));
        s.failures.pop_front()
    };
    if let Some(status) = failure {
        return StatusCode::from_u16(status).unwrap().into_response();
    }
    if token != API_KEY {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    Json(json!({
        "object": "customer",
        "id": id,
        "name": "Júlia Pereira",
        "email": " Julia.Pereira@Example.com ",
        "mobilePhone": "11987654321",
        "cpfCnpj": "24971563792"
    }))
    .into_response()
}

impl AsaasApi {
    async fn spawn(failures: &[u16]) -> Self {
        let inner = Arc::new(Mutex::new(StandIn {
            failures: failures.iter().copied().collect(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/v3/customers/{id}", get(customer))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, inner }
    }

    fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Seen> {
        for _ in 0..400 {
            if self.seen().len() >= n {
                return self.seen();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "the Asaas stand-in got {} requests, expected {n}",
            self.seen().len()
        );
    }
}

/// gancho pointed at the stand-in, with an Asaas key (and its API key) and
/// an inbound URL granting one product.
async fn shop(api: &AsaasApi, with_api_key: bool) -> (TestApp, String, String) {
    let base = api.base.clone();
    let app = TestApp::spawn_with(|c| c.asaas_api_url = base).await;
    let product = app.create_product("Mentoria", json!([])).await;
    let mut key = json!({"gateway": "asaas", "name": "Conta Asaas", "secret": TOKEN});
    if with_api_key {
        key["api_key"] = json!(API_KEY);
    }
    let created = app.post("/keys", key).await;
    if with_api_key {
        assert_eq!(created["api_key"], API_KEY, "shown in full once");
    }
    let path = app
        .create_inbound_url(
            json!({"name": "Vendas Asaas", "gateway": "asaas", "product_ids": [product]}),
        )
        .await;
    (app, path, product)
}

async fn lookups(app: &TestApp) -> u64 {
    app.store().await.count_lookups().await.unwrap()
}

async fn wait_until_resolved(app: &TestApp) {
    for _ in 0..400 {
        if lookups(app).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("a customer lookup was never resolved");
}

/// The lookup row of a pending call once it has `attempts` failed tries.
async fn wait_for_attempts(app: &TestApp, log_id: &str, attempts: i64) -> SqlRow {
    for _ in 0..400 {
        let rows = app
            .sql_rows(&format!(
                "SELECT attempts, last_error FROM customer_lookups WHERE log_id = '{log_id}'"
            ))
            .await;
        if let Some(row) = rows.into_iter().find(|r| r.int("attempts") >= attempts) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the lookup of {log_id} never reached {attempts} attempts");
}

async fn wait_for_student(app: &TestApp, email: &str) -> Value {
    for _ in 0..400 {
        if let Some(s) = app.student(email).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{email} never became a student");
}

#[tokio::test]
async fn an_asaas_sale_waits_for_its_buyer_and_is_granted_once_asaas_answers() {
    let api = AsaasApi::spawn(&[500]).await;
    let (app, path, product) = shop(&api, true).await;

    let (status, body) = app
        .post_fixture(&path, &load("asaas", "payment_received"))
        .await;

    assert_eq!((status, body["status"].as_str()), (200, Some("pending")));
    assert_eq!(lookups(&app).await, 1, "stored before the 200");
    // The first lookup fails: nothing is granted, the call still waits.
    let seen = api.wait_for(1).await;
    assert_eq!(seen[0], (CUSTOMER.to_string(), API_KEY.to_string()));
    assert!(app.get("/students").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    let pending = app
        .get(&format!("/logs/{}", body["log_id"].as_str().unwrap()))
        .await;
    assert_eq!(pending["detail"]["outcome"], "pending");
    assert_eq!(pending["status"], "success");

    // The failure is recorded, and the retry waits for the first delay.
    let log_id = body["log_id"].as_str().unwrap().to_string();
    let lookup = wait_for_attempts(&app, &log_id, 1).await;
    let error = lookup.str("last_error");
    assert!(error.contains("500"), "{error}");
    assert_eq!(api.seen().len(), 1, "no retry before its time");
    app.clock.advance(chrono::Duration::seconds(5));
    let student = wait_for_student(&app, "julia.pereira@example.com").await;

    assert_eq!(student["name"], "Júlia Pereira");
    assert_eq!(app.access("julia.pereira@example.com").await, vec![product]);
    assert_eq!(
        student["access"][0]["source"]["transaction_id"],
        "pay_gancho8f3k2j1q"
    );
    wait_until_resolved(&app).await;
    let applied = app.get("/logs?email=julia.pereira@example.com").await;
    let entry = &applied["items"][0];
    assert_eq!(entry["reprocess_of"], body["log_id"]);
    // The key's API key is masked in lists, as its token is.
    let keys = app.get("/keys").await;
    let masked = keys["items"][0]["api_key"].as_str().unwrap();
    assert!(!masked.contains("0123456789"), "{masked}");
}

#[tokio::test]
async fn a_refund_that_comes_while_the_sale_waits_for_its_buyer_wins() {
    let api = AsaasApi::spawn(&[503]).await;
    let (app, path, _) = shop(&api, true).await;
    let sale = load("asaas", "payment_received");
    let refund = load("asaas", "payment_received").edit(|b| b["event"] = json!("PAYMENT_REFUNDED"));

    let (_, first) = app.post_fixture(&path, &sale).await;
    api.wait_for(1).await;
    let (status, second) = app.post_fixture(&path, &refund).await;
    app.clock.advance(chrono::Duration::seconds(5));
    wait_until_resolved(&app).await;

    assert_eq!(api.seen().len(), 2);
    assert_eq!(first["status"], "pending");
    assert_eq!(
        (status, second["status"].as_str()),
        (200, Some("processed"))
    );
    assert!(
        app.access("julia.pereira@example.com").await.is_empty(),
        "a sale refunded before its buyer was known grants nothing"
    );
}

#[tokio::test]
async fn without_an_api_key_an_asaas_sale_is_ignored_and_says_why() {
    let api = AsaasApi::spawn(&[]).await;
    let (app, path, _) = shop(&api, false).await;

    let (status, body) = app
        .post_fixture(&path, &load("asaas", "payment_received"))
        .await;

    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(lookups(&app).await, 0);
    assert!(api.seen().is_empty());
    // Only Asaas keys take an API key.
    app.api(
        Method::POST,
        "/keys",
        Some(json!({"gateway": "hotmart", "secret": "abc", "api_key": "x"})),
        422,
    )
    .await;
}
