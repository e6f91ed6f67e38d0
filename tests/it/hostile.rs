//! Issue 11, build item 6: hostile input to every API route, read from the
//! OpenAPI document so a new route is covered (or fails this test) by
//! itself. Every route gets hostile path parameters; every route with a
//! JSON body gets empty, huge, truncated, 10,000-deep, invalid UTF-8,
//! wrong-typed and duplicate-key bodies, and each of its fields with a NUL,
//! SQL-looking and HTML/script text, and a wrong type. Structurally hostile
//! input and NULs answer a clean 4xx; nothing answers 5xx; and a rejected
//! request leaves the database as it was (row counts and latest
//! `updated_at` of every table, with the clock moved before each request so
//! any write would show). Inbound URLs' hostile bodies are in bad_input.rs.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, ADMIN_TOKEN};

/// What each table looks like: its row count and its latest `updated_at`
/// (one statement, so a snapshot is one round trip).
async fn snapshot(app: &TestApp, tables: &[(String, bool)]) -> Vec<(String, i64, i64)> {
    let pg = app.db_url.starts_with("postgres");
    let parts: Vec<String> = tables
        .iter()
        .map(|(table, has_updated)| {
            let latest = match (has_updated, pg) {
                (false, _) => "0".to_string(),
                (true, false) => "COALESCE(MAX(updated_at), 0)".to_string(),
                (true, true) => {
                    "COALESCE(CAST(EXTRACT(EPOCH FROM MAX(updated_at)) * 1000 AS BIGINT), 0)".into()
                }
            };
            format!("SELECT '{table}' AS t, COUNT(*) AS n, {latest} AS latest FROM {table}")
        })
        .collect();
    app.sql_rows(&parts.join(" UNION ALL "))
        .await
        .iter()
        .map(|r| (r.str("t"), r.int("n"), r.int("latest")))
        .collect()
}

/// Every table of gancho's schema, and whether it has `updated_at`.
async fn tables(app: &TestApp) -> Vec<(String, bool)> {
    let sql = if app.db_url.starts_with("postgres") {
        "SELECT table_name AS t, SUM(CASE WHEN column_name = 'updated_at' THEN 1 ELSE 0 END) AS u
         FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%'
         GROUP BY table_name ORDER BY table_name"
    } else {
        "SELECT m.name AS t, SUM(CASE WHEN p.name = 'updated_at' THEN 1 ELSE 0 END) AS u
         FROM sqlite_master m JOIN pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE '\\_%' ESCAPE '\\' AND m.name NOT LIKE 'sqlite%'
         GROUP BY m.name ORDER BY m.name"
    };
    app.sql_rows(sql)
        .await
        .iter()
        .map(|r| (r.str("t"), r.int("u") > 0))
        .collect()
}

/// One of each resource, so routes with ids reach their body's checks.
async fn resources(app: &TestApp) -> BTreeMap<&'static str, String> {
    let product = app.create_product("Curso", json!([])).await;
    let category = app.post("/categories", json!({"name": "Trilha"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = app
        .post(
            "/inbound-urls",
            json!({"name": "Vendas", "gateway": "hotmart"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = app.create_key("hotmart", "test-hottok-Xk3p9QmZ2v8T").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Disabled, so its delivery waits: the worker writes nothing meanwhile.
    let (endpoint, _) = app
        .create_endpoint("http://127.0.0.1:9/hook", json!({"enabled": false}))
        .await;
    let student = app
        .post("/students", json!({"email": "ana@example.com"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let grant = app
        .post(
            &format!("/students/{student}/grants"),
            json!({"product_id": product}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let delivery = app
        .api(
            Method::POST,
            &format!("/endpoints/{endpoint}/test"),
            None,
            202,
        )
        .await["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    let api_key = app.post("/api-keys", json!({"name": "ci"})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let log = app.get("/logs").await["items"][0]["id"]
        .as_str()
        .unwrap_or("log_none")
        .to_string();
    BTreeMap::from([
        ("products", product),
        ("categories", category),
        ("inbound-urls", url),
        ("keys", key),
        ("endpoints", endpoint),
        ("students", student),
        ("grant_id", grant),
        ("deliveries", delivery),
        ("api-keys", api_key),
        ("logs", log),
    ])
}

/// The path with real ids of `ids` for its parameters.
fn with_ids(path: &str, ids: &BTreeMap<&'static str, String>) -> String {
    let resource = path.split('/').nth(1).unwrap_or_default();
    path.replace("{grant_id}", &ids["grant_id"])
        .replace("{id}", ids.get(resource).map_or("none", String::as_str))
}

/// Hostile values for a path parameter.
const HOSTILE_IDS: [&str; 6] = [
    "' OR '1'='1",
    "<script>alert(1)</script>",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "prod_%E2%80%AE",
    "9999999999999999999999999999",
];

/// Structurally hostile bodies: each must be a 4xx.
fn hostile_bodies(field: &str) -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    vec![
        ("empty", Vec::new()),
        (
            "huge",
            format!("{{\"{field}\":\"{}\"}}", "a".repeat(3 << 20)).into_bytes(),
        ),
        ("truncated", format!("{{\"{field}\":\"ab").into_bytes()),
        ("deeply nested array", deep.into_bytes()),
        ("deeply nested object", deep_object.into_bytes()),
        (
            "invalid UTF-8",
            [b"{\"".as_slice(), field.as_bytes(), b"\":\"\xff\xfe\"}"].concat(),
        ),
        ("an array", b"[]".to_vec()),
        ("a string", b"\"x\"".to_vec()),
        ("null", b"null".to_vec()),
        (
            "duplicate key",
            format!("{{\"{field}\":\"a\",\"{field}\":\"b\"}}").into_bytes(),
        ),
        (
            "NUL in a string",
            format!("{{\"{field}\":\"a\\u0000b\"}}").into_bytes(),
        ),
    ]
}

#[tokio::test]
async fn every_api_route_answers_hostile_input_with_a_clean_4xx_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ids = resources(&app).await;
    let doc = app.get("/openapi.json").await;
    let tables = tables(&app).await;
    assert!(tables.len() > 10, "{tables:?}");
    let client = crate::helpers::http();
    let mut tried = 0;
    let mut failures = Vec::new();
    let mut accepted = Vec::new();

    for (path, ops) in doc["paths"].as_object().unwrap() {
        let Some(api_path) = path.strip_prefix("/api/v1") else {
            continue;
        };
        for (method, op) in ops.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            let mut cases: Vec<(String, String, Option<Vec<u8>>, bool)> = Vec::new();
            if api_path.contains('{') {
                for bad in HOSTILE_IDS {
                    let p = api_path.replace("{grant_id}", bad).replace("{id}", bad);
                    cases.push((format!("id {bad:?}"), p, None, true));
                }
            }
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if !schema.is_null() {
                let name = schema["$ref"].as_str().unwrap_or_default();
                let name = name.rsplit('/').next().unwrap_or_default();
                let props = doc["components"]["schemas"][name]["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let first = props.keys().next().cloned().unwrap_or("name".into());
                let real = with_ids(api_path, &ids);
                let is_required = op["requestBody"]["required"] == true;
                for (what, body) in hostile_bodies(&first) {
                    // An optional body may be left empty: that is a request too.
                    if what == "empty" && !is_required {
                        continue;
                    }
                    cases.push((what.to_string(), real.clone(), Some(body), true));
                }
                for field in props.keys() {
                    for (what, value, must_refuse) in [
                        ("NUL", json!("x\u{0}y"), true),
                        ("wrong type", json!({"nested": [1, 2]}), true),
                        ("SQL-looking", json!("x'); DROP TABLE products; --"), false),
                        ("script", json!("<script>alert(1)</script>"), false),
                    ] {
                        let body = serde_json::to_vec(&json!({ field: value })).unwrap();
                        cases.push((
                            format!("{field}: {what}"),
                            real.clone(),
                            Some(body),
                            must_refuse,
                        ));
                    }
                }
            }
            for (what, p, body, must_refuse) in cases {
                tried += 1;
                app.clock.advance(chrono::Duration::seconds(1));
                let before = snapshot(&app, &tables).await;
                let mut req = client
                    .request(method.clone(), format!("{}/api/v1{p}", app.base))
                    .bearer_auth(ADMIN_TOKEN);
                if let Some(body) = body {
                    req = req.header("content-type", "application/json").body(body);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let label = format!("{method} {path} with {what}: {status}");
                if status >= 500 {
                    failures.push(format!("{label} {text}"));
                    continue;
                }
                if (200..300).contains(&status) {
                    if must_refuse {
                        failures.push(format!("{label}, expected a 4xx: {text}"));
                    } else {
                        accepted.push(label);
                    }
                    continue;
                }
                let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if json["error"]["code"].as_str().is_none() {
                    failures.push(format!("{label} without the error shape: {text:.200}"));
                }
                if snapshot(&app, &tables).await != before {
                    failures.push(format!("{label} changed the database"));
                }
            }
        }
    }

    eprintln!(
        "hostile input: {tried} requests, {} accepted as ordinary text: {accepted:?}",
        accepted.len()
    );
    assert!(tried > 300, "{tried}");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
