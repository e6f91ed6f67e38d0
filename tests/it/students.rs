//! `GET /students`: a page lists each student's current access exactly as
//! `GET /students/{id}` does, and loads it in a number of SQL statements
//! that does not grow with the page.
//!
//! Statements are counted from sqlx's own `sqlx::query` events (one per
//! statement executed, on both backends) by a global `tracing` layer that
//! counts only events inside an `http` request span created on the
//! counting test's thread: `#[tokio::test]` runs the test and its server
//! on one thread, and sqlx's SQLite worker thread enters the span of the
//! call it serves, so other tests running at the same time do not count.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};
use tracing::span;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::helpers::fixture::load;
use crate::helpers::{ClockExt, TestApp};

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";

thread_local! {
    /// Where the statements of requests handled on this thread are counted.
    static WATCH: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
}

/// Marks an `http` span whose statements are counted.
struct Counted(Arc<AtomicUsize>);

struct StatementCounter;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for StatementCounter {
    /// Only what the count needs: request spans and sqlx's statement events.
    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        (meta.is_span() && meta.name() == "http") || meta.target() == "sqlx::query"
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "http" {
            return;
        }
        let Some(counter) = WATCH.with(|w| w.borrow().clone()) else {
            return;
        };
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Counted(counter));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope {
            if let Some(Counted(counter)) = span.extensions().get::<Counted>() {
                counter.fetch_add(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

fn install_counter() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = tracing_subscriber::registry().with(StatementCounter);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global tracing subscriber in the test binary");
    });
}

/// `GET path` and the number of SQL statements the request ran.
async fn counted_get(app: &TestApp, path: &str) -> (usize, Value) {
    install_counter();
    let counter = Arc::new(AtomicUsize::new(0));
    WATCH.with(|w| *w.borrow_mut() = Some(counter.clone()));
    let body = app.get(path).await;
    WATCH.with(|w| *w.borrow_mut() = None);
    (counter.load(Ordering::SeqCst), body)
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().unwrap()
}

/// 50 students with a mix of access: gateway grants of a product and a
/// category, manual product and category grants, grants that expired or
/// were revoked (not listed), and none at all.
async fn school() -> TestApp {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let a = app.create_product("A", json!([])).await;
    let b = app.create_product("B", json!([])).await;
    let c = app.create_product("C", json!([])).await;
    let cat = app
        .post(
            "/categories",
            json!({"name": "Trilha", "product_ids": [b, c]}),
        )
        .await;
    let cat = cat["id"].as_str().unwrap().to_string();
    let path = app
        .create_inbound_url(json!({"name": "Hotmart", "gateway": "hotmart",
            "product_ids": [a], "category_ids": [cat]}))
        .await;
    for i in 0..50_usize {
        let email = format!("s{i:02}@example.com");
        if i.is_multiple_of(5) {
            let f = load("hotmart", "purchase_approved").edit(|v| {
                v["data"]["purchase"]["transaction"] = json!(format!("HP-{i}"));
                v["data"]["buyer"]["email"] = json!(email);
            });
            let (code, body) = app.post_fixture(&path, &f).await;
            assert_eq!((code, body["status"].as_str()), (200, Some("processed")));
            continue;
        }
        let s = app.post("/students", json!({"email": email})).await;
        let grants = format!("/students/{}/grants", s["id"].as_str().unwrap());
        if i.is_multiple_of(2) {
            app.post(&grants, json!({"product_id": a})).await;
        }
        if i.is_multiple_of(3) {
            app.post(&grants, json!({"category_id": cat})).await;
        }
        if i % 4 == 1 {
            let soon = app.clock.now_utc() + Duration::hours(1);
            app.post(&grants, json!({"product_id": c, "expires_at": soon}))
                .await;
        }
        if i % 7 == 1 {
            let later = app.clock.now_utc() + Duration::days(30);
            app.post(&grants, json!({"product_id": b, "expires_at": later}))
                .await;
        }
        if i % 7 == 3 {
            let g = app.post(&grants, json!({"product_id": b})).await;
            let gid = g["id"].as_str().unwrap();
            app.api(Method::DELETE, &format!("{grants}/{gid}"), None, 204)
                .await;
        }
    }
    app.clock.advance(Duration::hours(2));
    app.expire_grants().await;
    app
}

/// How many grants [`school`] left active for student `i`.
fn expected_grants(i: usize) -> usize {
    if i.is_multiple_of(5) {
        return 2;
    }
    usize::from(i.is_multiple_of(2)) + usize::from(i.is_multiple_of(3)) + usize::from(i % 7 == 1)
}

#[tokio::test]
async fn a_page_of_students_shows_what_each_student_shows() {
    let app = school().await;
    let (_, list) = counted_get(&app, "/students?limit=50").await;
    let page = items(&list);
    assert_eq!(page.len(), 50);
    assert_eq!(list["next_cursor"], Value::Null);

    for item in page {
        let one = app
            .get(&format!("/students/{}", item["id"].as_str().unwrap()))
            .await;
        assert_eq!(item, &one);
        let email = item["email"].as_str().unwrap();
        let by_email = app.student(email).await.unwrap();
        assert_eq!(item, &by_email);
    }

    // The mix is there, so the comparison above compared something.
    for item in page {
        let email = item["email"].as_str().unwrap();
        let i: usize = email[1..3].parse().unwrap();
        let access = item["access"].as_array().unwrap();
        assert_eq!(access.len(), expected_grants(i), "{email}: {access:?}");
        if i.is_multiple_of(5) {
            assert_eq!(access[0]["source"]["gateway"], "hotmart", "{email}");
        }
        for g in access.iter().filter(|g| g["category_id"].is_string()) {
            assert_eq!(g["product_ids"].as_array().unwrap().len(), 2, "{email}");
        }
    }
    let granted: usize = (0..50).map(expected_grants).sum();
    assert!(granted > 40, "{granted} grants listed");

    // Smaller pages, cursor to cursor, list the same.
    let mut pages = Vec::new();
    let mut cursor = String::new();
    loop {
        let list = app.get(&format!("/students?limit=7&cursor={cursor}")).await;
        pages.extend(items(&list).iter().cloned());
        match list["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    assert_eq!(&pages, page);
}

#[tokio::test]
async fn a_page_of_students_costs_the_same_statements_whatever_its_size() {
    let app = school().await;
    let (few, small) = counted_get(&app, "/students?limit=5").await;
    let (many, large) = counted_get(&app, "/students?limit=50").await;
    assert_eq!((items(&small).len(), items(&large).len()), (5, 50));
    // The counter sees the request: its API key and the page at least.
    assert!(
        few >= 2,
        "{few} statements counted: is the counter attached?"
    );
    assert_eq!(
        few, many,
        "statements for a page of 5 students, and of 50: one or more per student"
    );
    // Key, students, their grants, the products of their categories.
    assert!(many <= 4, "{many} statements for a page");
}
