//! `TestApp`: the real `app::run` on 127.0.0.1:0 with a fresh SQLite file
//! and a manual clock, plus typed helpers to call the API and post fixtures.

pub mod db;
pub mod fixture;
pub mod receiver;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gancho::clock::ManualClock;
use gancho::config::{Config, DatabaseUrl};
use gancho::storage::Store;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub use fixture::Fixture;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A running gancho.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub config: Config,
    /// The database URL (`sqlite://…` or `postgres://…`).
    pub db_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    /// Dropped after the server stops (fields drop in order).
    _pg: Option<db::PgDatabase>,
}

/// The clock tests start at: just after the fixtures' purchases (2025-01-15 12:31 UTC).
/// An HTTP client for the tests: gancho's own builder, which installs the
/// TLS provider reqwest needs before its first client.
pub fn http() -> reqwest::Client {
    gancho::http_client::builder().build().unwrap()
}

pub fn fixture_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 15, 12, 31, 0).unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts gancho with a config the caller may adjust.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("gancho.db");
        let pg = match db::pg_url() {
            Some(admin) => Some(db::PgDatabase::create(&admin).await),
            None => None,
        };
        let mut config = Config::default();
        let db_url = match &pg {
            Some(pg) => {
                config.database_url = DatabaseUrl::Postgres(gancho::config::Secret::new(&pg.url));
                config.database_pool_size = 5;
                pg.url.clone()
            }
            None => {
                config.database_url = DatabaseUrl::Sqlite(db_path.clone());
                format!("sqlite://{}", db_path.display())
            }
        };
        config.admin_token = Some(gancho::config::Secret::new(ADMIN_TOKEN));
        config.max_body = 64 * 1024;
        config.public_url = "https://hooks.example.com".into();
        config.allow_private_targets = true;
        config.retry_schedule = [0, 1, 2].map(Duration::from_secs).to_vec();
        config.delivery_timeout = Duration::from_secs(5);
        adjust(&mut config);
        let clock = ManualClock::new(fixture_time());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(gancho::app::run(
            config.clone(),
            Arc::new(clock.clone()),
            listener,
            async move {
                let _ = rx.await;
            },
        ));
        let app = Self {
            base,
            client: crate::helpers::http(),
            clock,
            config,
            db_url,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
            _pg: pg,
        };
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        for _ in 0..800 {
            let ok = self
                .client
                .get(format!("{}/api/v1/workspace", self.base))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ok {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("gancho did not become ready");
    }

    /// Stops the server and waits for it to finish cleanly.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }

    /// Stops the server like [`Self::stop`], keeping its database to read
    /// afresh (with `db::query` on the returned URL) while the guard lives.
    pub async fn stop_keeping_data(mut self) -> (String, impl Drop) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
        let url = self.db_url.clone();
        (url, self)
    }

    /// Calls the API and asserts the status; returns the JSON body (or Null).
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>, expect: u16) -> Value {
        let mut req = self
            .client
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, expect, "{method} {path} answered {status}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }

    pub async fn get(&self, path: &str) -> Value {
        self.api(Method::GET, path, None, 200).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.api(Method::POST, path, Some(body), 201).await
    }

    pub async fn public_id(&self) -> String {
        self.get("/workspace").await["public_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn create_product(&self, name: &str, external_ids: Value) -> String {
        let p = self
            .post(
                "/products",
                json!({"name": name, "external_ids": external_ids}),
            )
            .await;
        p["id"].as_str().unwrap().to_string()
    }

    pub async fn create_key(&self, gateway: &str, secret: &str) -> Value {
        self.post("/keys", json!({"gateway": gateway, "secret": secret}))
            .await
    }

    /// Creates an inbound URL and returns its path and query (`/in/...?gateway=...`).
    pub async fn create_inbound_url(&self, body: Value) -> String {
        let u = self.post("/inbound-urls", body).await;
        let url = u["url"].as_str().unwrap();
        url.strip_prefix("https://hooks.example.com")
            .unwrap()
            .to_string()
    }

    /// Posts raw bytes to an inbound path; returns status and JSON body.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, Value) {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Posts a fixture to `path` (its query, such as Kiwify's signature, is appended).
    pub async fn post_fixture(&self, path: &str, f: &Fixture) -> (u16, Value) {
        let mut url = path.to_string();
        for (k, v) in &f.query {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{k}={v}"));
        }
        self.post_raw(&url, Some(&f.content_type), &f.headers, f.body.clone())
            .await
    }

    /// The student with this e-mail, with `access`, or `None`.
    pub async fn student(&self, email: &str) -> Option<Value> {
        let list = self
            .get(&format!("/students?email={}", urlencode(email)))
            .await;
        list["items"].as_array().unwrap().first().cloned()
    }

    /// The product ids a student can access now.
    pub async fn access(&self, email: &str) -> Vec<String> {
        let Some(s) = self.student(email).await else {
            return Vec::new();
        };
        let mut ids: Vec<String> = s["access"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["product_ids"].as_array().unwrap().clone())
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// A second handle on the same database, for assertions and background passes.
    pub async fn store(&self) -> Arc<dyn Store> {
        gancho::app::open_store(&self.config, false).await.unwrap()
    }

    /// Runs one pass of the grant-expiry task at the clock's time.
    pub async fn expire_grants(&self) -> usize {
        let store = self.store().await;
        let fanout = gancho::outbound::event::Fanout {
            now: self.clock.now_utc(),
            first_delay: Duration::ZERO,
            only: None,
        };
        gancho::inbound::access::expire_due_grants(store.as_ref(), fanout)
            .await
            .unwrap()
    }

    /// Creates an endpoint pointing at `url`; returns its id and secret.
    pub async fn create_endpoint(&self, url: &str, extra: Value) -> (String, String) {
        let mut body = json!({"name": "Receiver", "url": url});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let e = self.post("/endpoints", body).await;
        (
            e["id"].as_str().unwrap().to_string(),
            e["secret"].as_str().unwrap().to_string(),
        )
    }

    /// Waits (bounded) until `check` holds on the API answer at `path`.
    /// Proves the delivery worker has run a claim pass since this call: a
    /// `webhook.test` to a witness endpoint of its own (filtered to
    /// `webhook.test`, so no other event reaches it) has arrived. A check
    /// that something was *not* sent follows this rather than a fixed
    /// sleep: had it been due, the same pass would have claimed it.
    pub async fn worker_passed(&self) {
        let witness = receiver::Receiver::spawn().await;
        let (endpoint, _) = self
            .create_endpoint(&witness.url, json!({"event_types": ["webhook.test"]}))
            .await;
        self.api(
            Method::POST,
            &format!("/endpoints/{endpoint}/test"),
            None,
            202,
        )
        .await;
        witness.wait_for(1).await;
    }

    pub async fn wait_until(&self, path: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..800 {
            let v = self.get(path).await;
            if check(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{path} never reached the expected state: {}",
            self.get(path).await
        );
    }

    /// Runs a read-only SQL query on the test's database (for what has no API).
    pub async fn sql_rows(&self, sql: &str) -> Vec<db::SqlRow> {
        db::query(&self.db_url, sql).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub trait ClockExt {
    fn now_utc(&self) -> DateTime<Utc>;
}

impl ClockExt for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        gancho::clock::Clock::now(self)
    }
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `request.send_json().await`: sends a request and reads its answer as
/// JSON, for tests that talk to a gancho process over HTTP rather than to
/// a [`TestApp`].
pub trait SendJson {
    async fn send_json(self) -> Value;
}

impl SendJson for reqwest::RequestBuilder {
    async fn send_json(self) -> Value {
        self.send().await.unwrap().json().await.unwrap()
    }
}
