//! Several gancho processes on one PostgreSQL database (run when
//! GANCHO_TEST_DATABASE_URL is set): the work is shared, an instance killed
//! mid-stream loses nothing, and a webhook posted to two instances at once is
//! processed once.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use crate::cli::{start_with, stop};
use crate::helpers::db::{pg_required, query, PgDatabase};
use crate::helpers::fixture::load;
use crate::helpers::receiver::Receiver;
use crate::helpers::SendJson;

pub(crate) const TOKEN: &str = "instances-admin-token";
pub(crate) const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";

/// Sets up a key, a product, an inbound URL and (with a receiver) an
/// endpoint through one instance; returns the inbound path.
pub(crate) async fn setup(
    client: &reqwest::Client,
    addr: &str,
    receiver: Option<&Receiver>,
) -> String {
    let api = |p: &str| format!("http://{addr}/api/v1{p}");
    let post = |p: &str, body: serde_json::Value| {
        client.post(api(p)).bearer_auth(TOKEN).json(&body).send()
    };
    post("/keys", json!({"gateway": "hotmart", "secret": HOTTOK}))
        .await
        .unwrap();
    let product: serde_json::Value = post("/products", json!({"name": "Curso"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url: serde_json::Value = post(
        "/inbound-urls",
        json!({"name": "Vendas", "gateway": "hotmart", "product_ids": [product["id"]]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    if let Some(receiver) = receiver {
        post("/endpoints", json!({"name": "r", "url": receiver.url}))
            .await
            .unwrap();
    }
    let full = url["url"].as_str().unwrap();
    full[full.find("/in/").unwrap()..].to_string()
}

pub(crate) fn sale(i: usize) -> Vec<u8> {
    sale_event("purchase_approved", i)
}

/// Hotmart's `stem` fixture about sale `i` (its own transaction and buyer).
pub(crate) fn sale_event(stem: &str, i: usize) -> Vec<u8> {
    load("hotmart", stem)
        .edit(|v| {
            v["id"] = json!(format!("evt-{stem}-{i}"));
            v["data"]["purchase"]["transaction"] = json!(format!("MI-{i}"));
            v["data"]["buyer"]["email"] = json!(format!("buyer{i}@example.com"));
            if v["data"]["subscription"]["subscriber"].is_object() {
                v["data"]["subscription"]["subscriber"]["code"] = json!(format!("SUB-{i}"));
            }
        })
        .body
}

pub(crate) async fn post(
    client: &reqwest::Client,
    addr: &str,
    path: &str,
    body: Vec<u8>,
) -> Result<String, String> {
    let resp = client
        .post(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .header("x-hotmart-hottok", HOTTOK)
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body["status"].as_str().unwrap_or_default().to_string())
    } else {
        Err(format!("{status}: {body}"))
    }
}

async fn scalar(url: &str, sql: &str) -> i64 {
    query(url, sql).await[0].int("n")
}

/// Two `gancho serve` processes on one fresh PostgreSQL database.
pub(crate) struct Pair {
    pub(crate) db: PgDatabase,
    a: std::process::Child,
    pub(crate) addr_a: String,
    b: std::process::Child,
    pub(crate) addr_b: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// Stops both instances (each must exit cleanly on SIGTERM).
pub(crate) async fn stop_pair(pair: Pair) {
    stop(pair.a);
    stop(pair.b);
}

pub(crate) async fn two_instances(admin: &str, extra_env: &[(&str, &str)]) -> Pair {
    let db = PgDatabase::create(admin).await;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut env = vec![
        ("GANCHO_ADMIN_TOKEN", TOKEN),
        ("GANCHO_DATABASE_URL", db.url.as_str()),
        ("GANCHO_LOG", "warn,gancho::app=info"),
    ];
    env.extend_from_slice(extra_env);
    let (a, addr_a, _) = start_with(dirs.0.path(), &env);
    let (b, addr_b, _) = start_with(dirs.1.path(), &env);
    Pair {
        db,
        a,
        addr_a,
        b,
        addr_b,
        _dirs: dirs,
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn two_instances_share_the_work_and_a_killed_one_loses_nothing() {
    let admin = pg_required();
    let extra = [
        ("GANCHO_ALLOW_PRIVATE_TARGETS", "true"),
        ("GANCHO_DELIVERY_TIMEOUT", "2s"),
    ];
    let Pair {
        db,
        a,
        addr_a,
        mut b,
        addr_b,
        _dirs,
    } = two_instances(&admin, &extra).await;
    let receiver = Receiver::spawn().await;
    let client = crate::helpers::http();
    let path = setup(&client, &addr_a, Some(&receiver)).await;
    let total = 1000;

    let send = |i: usize, b_alive: bool| {
        let (client, path) = (client.clone(), path.clone());
        let (addr_a, addr_b) = (addr_a.clone(), addr_b.clone());
        async move {
            // Alternate instances; a load balancer retries a failed call on the other.
            let first = if i % 2 == 1 && b_alive {
                addr_b
            } else {
                addr_a.clone()
            };
            match post(&client, &first, &path, sale(i)).await {
                Ok(s) => s,
                Err(_) => post(&client, &addr_a, &path, sale(i))
                    .await
                    .expect("instance A answers"),
            }
        }
    };
    let first_half: Vec<String> = stream::iter(0..total / 2)
        .map(|i| send(i, true))
        .buffer_unordered(16)
        .collect()
        .await;
    b.kill().unwrap(); // SIGKILL, mid-stream
    b.wait().unwrap();
    let second_half: Vec<String> = stream::iter(total / 2..total)
        .map(|i| send(i, false))
        .buffer_unordered(16)
        .collect()
        .await;

    let answers: Vec<String> = first_half.into_iter().chain(second_half).collect();
    assert!(
        answers.iter().all(|s| s == "processed" || s == "duplicate"),
        "{answers:?}"
    );
    let url = db.url.clone();
    let mut delivered_ids: Vec<String> = Vec::new();
    for _ in 0..600 {
        let pending = scalar(
            &url,
            "SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'success'",
        )
        .await;
        delivered_ids = receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_string())
            .collect();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop(a);

    let processed = scalar(&url, "SELECT COUNT(*) AS n FROM processed_events").await;
    let grants = scalar(&url, "SELECT COUNT(*) AS n FROM grants").await;
    let doubled = scalar(&url, "SELECT COUNT(*) AS n FROM (SELECT transaction_id FROM grants GROUP BY transaction_id HAVING COUNT(*) > 1) d").await;
    let events = scalar(&url, "SELECT COUNT(*) AS n FROM events").await;
    let undelivered = scalar(
        &url,
        "SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'success'",
    )
    .await;
    let mut distinct = delivered_ids.clone();
    distinct.sort();
    distinct.dedup();
    eprintln!(
        "two instances, one killed: {total} sales, {processed} processed, {grants} grants, {events} events, {} deliveries received ({} distinct webhook-ids, {} duplicates)",
        delivered_ids.len(),
        distinct.len(),
        delivered_ids.len() - distinct.len()
    );
    assert_eq!(processed, total as i64, "every sale processed once");
    assert_eq!(grants, total as i64, "one grant per sale");
    assert_eq!(doubled, 0);
    assert_eq!(
        events,
        3 * total as i64,
        "purchase.approved, student.created, access.granted per sale"
    );
    assert_eq!(undelivered, 0, "every delivery finished");
    assert_eq!(
        distinct.len() as i64,
        events,
        "every event reached the receiver at least once"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn the_same_webhook_posted_to_two_instances_at_once_is_processed_once() {
    let admin = pg_required();
    let Pair {
        db,
        a,
        addr_a,
        b,
        addr_b,
        _dirs,
    } = two_instances(&admin, &[("GANCHO_ALLOW_PRIVATE_TARGETS", "true")]).await;
    let receiver = Receiver::spawn().await;
    let client = crate::helpers::http();
    let path = setup(&client, &addr_a, Some(&receiver)).await;

    for i in 0..20 {
        let (x, y) = tokio::join!(
            post(&client, &addr_a, &path, sale(i)),
            post(&client, &addr_b, &path, sale(i))
        );
        let mut answers = vec![x.unwrap(), y.unwrap()];
        answers.sort();
        assert_eq!(answers, vec!["duplicate", "processed"], "sale {i}");
    }
    stop(a);
    stop(b);

    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) AS n FROM grants").await,
        20
    );
    assert_eq!(
        scalar(&db.url, "SELECT COUNT(*) AS n FROM students").await,
        20
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn during_a_database_outage_readyz_fails_inbound_answers_503_and_gancho_recovers() {
    let admin = pg_required();
    let app = crate::helpers::TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let product = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(
            json!({"name": "Vendas", "gateway": "hotmart", "product_ids": [product]}),
        )
        .await;
    let name = app.db_url.rsplit('/').next().unwrap().to_string();
    let admin_sql = |sql: String| {
        let admin = admin.clone();
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    };
    let ready = || async {
        app.client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);

    // The outage: no new connections, and the open ones are cut.
    admin_sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    admin_sql(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .await;
    let during_ready = ready().await;
    let (during_status, _) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;
    let resp = app
        .client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .header("x-hotmart-hottok", HOTTOK)
        .body(load("hotmart", "purchase_approved").body)
        .send()
        .await
        .unwrap();
    let retry_after = resp.headers().get("retry-after").is_some();

    admin_sql(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    let mut recovered = 0;
    for _ in 0..100 {
        recovered = ready().await;
        if recovered == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (after_status, after) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;

    assert_eq!(during_ready, 503, "not ready while the database is away");
    assert_eq!(during_status, 503, "the gateway is told to retry");
    assert!(retry_after);
    assert_eq!(recovered, 200, "ready again without a restart");
    assert_eq!(
        (after_status, after["status"].as_str()),
        (200, Some("processed")),
        "the retried sale is not lost"
    );
    assert_eq!(app.access("maria.teste@example.com").await, vec![product]);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn a_reversal_posted_with_its_approval_to_another_instance_always_wins() {
    let admin = pg_required();
    let Pair {
        db,
        a,
        addr_a,
        b,
        addr_b,
        _dirs,
    } = two_instances(&admin, &[]).await;
    let client = crate::helpers::http();
    let path = setup(&client, &addr_a, None).await;
    let per_kind = 500;
    let kinds = [
        "purchase_refunded",
        "purchase_chargeback",
        "purchase_canceled",
    ];

    // For each sale, the approval and its reversal at the same moment, to
    // different instances (which goes to which alternates).
    let answers: Vec<(Result<String, String>, Result<String, String>)> =
        stream::iter(0..per_kind * kinds.len())
            .map(|i| {
                let (client, path) = (client.clone(), path.clone());
                let (addr_a, addr_b) = (addr_a.clone(), addr_b.clone());
                let reversal = kinds[i / per_kind];
                async move {
                    let (first, second) = if i % 2 == 0 {
                        (addr_a, addr_b)
                    } else {
                        (addr_b, addr_a)
                    };
                    tokio::join!(
                        post(&client, &first, &path, sale(i)),
                        post(&client, &second, &path, sale_event(reversal, i))
                    )
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
    stop(a);
    stop(b);

    let refused: Vec<_> = answers
        .iter()
        .filter(|(x, y)| x.as_deref() != Ok("processed") || y.as_deref() != Ok("processed"))
        .collect();
    assert!(refused.is_empty(), "every call processed: {refused:?}");
    let url = &db.url;
    let with_access = scalar(
        url,
        "SELECT COUNT(DISTINCT student_id) AS n FROM grants WHERE revoked_at IS NULL",
    )
    .await;
    let granted = scalar(url, "SELECT COUNT(*) AS n FROM grants").await;
    let doubled = scalar(
        url,
        "SELECT COUNT(*) AS n FROM (SELECT transaction_id FROM grants GROUP BY transaction_id HAVING COUNT(*) > 1) d",
    )
    .await;
    let sales = per_kind * kinds.len();
    eprintln!(
        "approval and reversal at once on two instances: {sales} sales, {granted} grants made \
         (each revoked by its reversal unless listed), {with_access} reversed buyers still with access"
    );
    assert_eq!(
        with_access, 0,
        "no refunded, charged-back or canceled buyer keeps access"
    );
    assert_eq!(doubled, 0, "at most one grant per sale");
    let processed = scalar(url, "SELECT COUNT(*) AS n FROM processed_events").await;
    assert_eq!(
        processed,
        2 * sales as i64,
        "both events of every sale recorded once"
    );
}

/// Issue 11, replay protection: a Standard-Webhooks-signed call replayed
/// within the tolerance, to the same instance or another, is a duplicate
/// (here the body has no id or transaction, so the webhook-id is the key);
/// outside the tolerance it is refused.
#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn a_replayed_webhook_id_is_a_duplicate_on_every_instance_and_a_stale_one_is_refused() {
    use crate::helpers::fixture::standard_webhooks_headers;
    let admin = pg_required();
    let Pair {
        db: _db,
        a,
        addr_a,
        b,
        addr_b,
        _dirs,
    } = two_instances(&admin, &[]).await;
    let client = crate::helpers::http();
    let key: serde_json::Value = client
        .post(format!("http://{addr_a}/api/v1/keys"))
        .bearer_auth(TOKEN)
        .json(&json!({"gateway": "generic"}))
        .send_json()
        .await;
    let secret = key["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}"))
        .to_string();
    let workspace: serde_json::Value = client
        .get(format!("http://{addr_a}/api/v1/workspace"))
        .bearer_auth(TOKEN)
        .send_json()
        .await;
    let global = format!(
        "/in/{}?gateway=generic",
        workspace["public_id"].as_str().unwrap()
    );
    let send = |addr: String, headers: Vec<(String, String)>, body: Vec<u8>| {
        let client = client.clone();
        let url = format!("http://{addr}{global}");
        async move {
            let mut req = client.post(url).header("content-type", "application/json");
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let resp = req.body(body).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (
                status,
                body["status"].as_str().unwrap_or_default().to_string(),
            )
        }
    };

    for i in 0..10 {
        let body = serde_json::to_vec(&json!({
            "type": "cart.abandoned", "created_at": "2025-01-15T12:30:00Z",
            "data": {"gateway": "generic", "status": "cart_abandoned",
                     "customer": {"email": format!("cart{i}@example.com")},
                     "product": {"id": "EXT-42"}}
        }))
        .unwrap();
        let now = chrono::Utc::now().timestamp();
        let headers = standard_webhooks_headers(&secret, &format!("msg_{i}"), now, &body);
        let (x, y) = tokio::join!(
            send(addr_a.clone(), headers.clone(), body.clone()),
            send(addr_b.clone(), headers.clone(), body.clone())
        );
        let mut answers = vec![x, y];
        answers.sort();
        assert_eq!(
            answers,
            vec![
                (200, "duplicate".to_string()),
                (200, "processed".to_string())
            ],
            "call {i}"
        );
        let again = send(addr_b.clone(), headers, body.clone()).await;
        assert_eq!(again, (200, "duplicate".to_string()), "replay {i}");
        let stale = standard_webhooks_headers(&secret, &format!("msg_old_{i}"), now - 600, &body);
        assert_eq!(send(addr_a.clone(), stale, body).await.0, 401, "stale {i}");
    }
    stop(a);
    stop(b);
}

/// Two sales of one new buyer, posted at once to two instances: whichever
/// creates the student, the other finds it (even when it was created after
/// the other's statement began), so the buyer is one student with both
/// grants and one `student.created` event.
#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn two_sales_of_one_new_buyer_at_once_on_two_instances_make_one_student() {
    let admin = pg_required();
    let pair = two_instances(&admin, &[("GANCHO_ALLOW_PRIVATE_TARGETS", "true")]).await;
    let client = crate::helpers::http();
    let path = setup(&client, &pair.addr_a, None).await;
    // An endpoint that takes them, so the events counted below are stored
    // (an event no endpoint takes is not).
    let receiver = Receiver::spawn().await;
    let endpoint = json!({"name": "r", "url": receiver.url, "event_types": ["student.created"]});
    let created = client
        .post(format!("http://{}/api/v1/endpoints", pair.addr_a))
        .bearer_auth(TOKEN)
        .json(&endpoint)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let buyers = 300;
    let second_sale = |i: usize| {
        load("hotmart", "purchase_approved")
            .edit(|v| {
                v["id"] = json!(format!("evt-second-{i}"));
                v["data"]["purchase"]["transaction"] = json!(format!("MJ-{i}"));
                v["data"]["buyer"]["email"] = json!(format!("buyer{i}@example.com"));
            })
            .body
    };
    let answers: Vec<(Result<String, String>, Result<String, String>)> = stream::iter(0..buyers)
        .map(|i| {
            let (client, path) = (client.clone(), path.clone());
            let (addr_a, addr_b) = (pair.addr_a.clone(), pair.addr_b.clone());
            async move {
                tokio::join!(
                    post(&client, &addr_a, &path, sale(i)),
                    post(&client, &addr_b, &path, second_sale(i))
                )
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let url = pair.db.url.clone();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(x, y)| x.as_deref() != Ok("processed") || y.as_deref() != Ok("processed"))
        .collect();
    assert!(refused.is_empty(), "every call processed: {refused:?}");
    let students = scalar(&url, "SELECT COUNT(*) AS n FROM students").await;
    assert_eq!(students, buyers as i64, "one student per buyer");
    let orphans = scalar(
        &url,
        "SELECT COUNT(*) AS n FROM grants g LEFT JOIN students s ON s.id = g.student_id WHERE s.id IS NULL",
    )
    .await;
    assert_eq!(orphans, 0, "every grant belongs to a stored student");
    let both = scalar(
        &url,
        "SELECT COUNT(*) AS n FROM (SELECT student_id FROM grants GROUP BY student_id HAVING COUNT(*) = 2) s",
    )
    .await;
    assert_eq!(both, buyers as i64, "each buyer holds both sales' grants");
    let created = scalar(
        &url,
        "SELECT COUNT(*) AS n FROM events WHERE type = 'student.created'",
    )
    .await;
    assert_eq!(created, buyers as i64, "one student.created per buyer");
    stop_pair(pair).await;
}
