//! The REST API: auth, the error shape, catalog CRUD, slugs, keys (masked
//! after creation), students, manual grants and the OpenAPI document.

use gancho::model::GatewayKind;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{TestApp, ADMIN_TOKEN};

#[tokio::test]
async fn every_api_route_needs_the_bearer_token() {
    let app = TestApp::spawn().await;
    let doc = app.get("/openapi.json").await;
    let paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    assert!(paths.len() >= 12, "{paths:?}");

    let mut checked = 0;
    for path in paths.into_iter().filter(|p| p.starts_with("/api/v1")) {
        let concrete = path
            .replace("{id}", "prod_01JAAAAAAAAAAAAAAAAAAAAAAA")
            .replace("{grant_id}", "grt_01JAAAAAAAAAAAAAAAAAAAAAAA");
        // Every method the document lists for the path, so POST-only routes are checked too.
        for method in doc["paths"][&path].as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for token in [None, Some("wrong-token")] {
                let mut req = app
                    .client
                    .request(method.clone(), format!("{}{concrete}", app.base))
                    .header("content-type", "application/json")
                    .body("{}");
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap_or_default();
                assert_eq!(status, 401, "{method} {path} with {token:?}");
                assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
                assert!(body.get("items").is_none());
                checked += 1;
            }
        }
    }
    assert!(checked >= 2 * 40, "only {checked} route checks");
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes() {
    let app = TestApp::spawn().await;

    let doc = app.get("/openapi.json").await;

    for path in [
        "/api/v1/workspace",
        "/api/v1/products",
        "/api/v1/products/{id}",
        "/api/v1/categories",
        "/api/v1/categories/{id}",
        "/api/v1/students",
        "/api/v1/students/{id}",
        "/api/v1/students/{id}/grants",
        "/api/v1/students/{id}/grants/{grant_id}",
        "/api/v1/inbound-urls",
        "/api/v1/inbound-urls/{id}",
        "/api/v1/inbound-urls/{id}/dry-run",
        "/api/v1/keys",
        "/api/v1/keys/{id}",
        "/api/v1/openapi.json",
        "/api/v1/endpoints",
        "/api/v1/endpoints/{id}",
        "/api/v1/endpoints/{id}/secret",
        "/api/v1/endpoints/{id}/rotate-secret",
        "/api/v1/endpoints/{id}/test",
        "/api/v1/endpoints/{id}/deliveries",
        "/api/v1/deliveries/{id}",
        "/api/v1/deliveries/{id}/retry",
        "/api/v1/students/{id}/events",
        "/api/v1/api-keys",
        "/api/v1/api-keys/{id}",
        "/api/v1/logs",
        "/api/v1/logs/{id}",
        "/api/v1/logs/{id}/reprocess",
        "/api/v1/logs.csv",
        "/api/v1/logs/stats",
        "/api/v1/queue",
        "/api/v1/gateways",
        "/healthz",
        "/readyz",
        "/metrics",
        "/in/{public_id}",
        "/in/{public_id}/{slug}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} is missing from openapi.json"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Every /api/v1 operation lists the answers its middleware can give,
    // the errors its path, query and body can cause, and an example of its
    // request body and of each 2xx JSON answer that fits its schema.
    // Exempt, besides `204`s: the answers that are not a JSON schema's.
    let not_json = [("get", "/api/v1/openapi.json"), ("get", "/api/v1/logs.csv")];
    let mut exempted = Vec::new();
    let mut misfits = Vec::new();
    let schemas = &doc["components"]["schemas"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let listed = op["responses"].as_object().unwrap();
            for status in ["401", "408", "503"] {
                assert!(
                    listed.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            if path.contains('{') {
                assert!(listed.contains_key("404"), "{method} {path} lacks 404");
            }
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            if !body.is_null() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        listed.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
                let name = body["$ref"]
                    .as_str()
                    .or_else(|| body["oneOf"][0]["$ref"].as_str())
                    .and_then(|r| r.rsplit('/').next())
                    .unwrap_or_else(|| panic!("{method} {path}: body {body}"));
                assert!(
                    schemas[name]["example"].is_object(),
                    "{name} has no example"
                );
                misfits.extend(misfit(
                    &schemas[name]["example"],
                    &schemas[name],
                    schemas,
                    name,
                ));
            }
            for (status, answer) in listed.iter().filter(|(s, _)| s.starts_with('2')) {
                let schema = &answer["content"]["application/json"]["schema"];
                if status == "204" || not_json.contains(&(method.as_str(), path.as_str())) {
                    assert!(
                        schema.is_null(),
                        "{method} {path}: {status} has a JSON schema"
                    );
                    exempted.push((method.as_str(), path.as_str()));
                    continue;
                }
                let name = ref_name(schema)
                    .unwrap_or_else(|| panic!("{method} {path}: {status} has no $ref: {schema}"));
                // A `ListOut<T>`: the example is on `T`, which utoipa writes
                // inline in the list's schema (or as a `$ref`).
                let mut answered = &schemas[name];
                let item = &answered["properties"]["items"]["items"];
                if item.is_object() {
                    answered = ref_name(item).map_or(item, |n| &schemas[n]);
                }
                let example = &answered["example"];
                assert!(
                    example.is_object(),
                    "{method} {path}: {status} answers {name}, which has no example"
                );
                misfits.extend(misfit(example, answered, schemas, name));
            }
            let limits = op["parameters"].as_array().into_iter().flatten();
            for p in limits.filter(|p| p["name"] == "limit") {
                assert_eq!(
                    (
                        p["schema"]["minimum"].as_i64(),
                        p["schema"]["maximum"].as_i64()
                    ),
                    (Some(1), Some(500)),
                    "{method} {path}: limit"
                );
            }
        }
    }
    for exempt in not_json {
        assert!(exempted.contains(&exempt), "{exempt:?} need not be exempt");
    }
    misfits.sort();
    misfits.dedup();
    assert!(
        misfits.is_empty(),
        "examples that do not fit their schema:\n{}",
        misfits.join("\n")
    );
    // The `?gateway=` parameter of the inbound URLs names every gateway.
    for path in ["/in/{public_id}", "/in/{public_id}/{slug}"] {
        let params = doc["paths"][path]["post"]["parameters"].as_array().unwrap();
        let gateway = params.iter().find(|p| p["name"] == "gateway").unwrap();
        let described = gateway["description"].as_str().unwrap();
        for kind in GatewayKind::ALL {
            assert!(described.contains(kind.as_str()), "{path}: {kind}");
        }
    }
}

/// The component a `{"$ref": "#/components/schemas/X"}` names.
fn ref_name(schema: &Value) -> Option<&str> {
    schema["$ref"].as_str().and_then(|r| r.rsplit('/').next())
}

/// Why `value` does not fit `schema`, one line per problem, for the part of
/// JSON Schema utoipa writes (`$ref`, `oneOf`, `allOf`, `type`, `enum`,
/// `format`, `minimum`, `required`, `properties`, `items`). Stricter than
/// JSON Schema in two ways, to catch a slip in an example: an object may
/// hold only the properties its schema lists (unless it is free-form), and
/// an ID must carry its kind's prefix.
fn misfit(value: &Value, schema: &Value, schemas: &Value, at: &str) -> Vec<String> {
    if let Some(name) = ref_name(schema) {
        let target = &schemas[name];
        if target.is_null() {
            return vec![format!("{at}: no schema {name}")];
        }
        let prefix = target["description"]
            .as_str()
            .and_then(|d| d.strip_prefix("ID with the `"))
            .and_then(|d| d.split('`').next());
        if let (Some(prefix), Some(id)) = (prefix, value.as_str()) {
            if !id.starts_with(prefix) {
                return vec![format!("{at}: {id} is not a {prefix} ID")];
            }
        }
        return misfit(value, target, schemas, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|o| misfit(value, o, schemas, at).is_empty())
            .count();
        if fits == 1 {
            return Vec::new();
        }
        let why = options.iter().flat_map(|o| misfit(value, o, schemas, at));
        return vec![format!(
            "{at}: fits {fits} of oneOf, not 1 ({})",
            why.collect::<Vec<_>>().join("; ")
        )];
    }
    if let Some(parts) = schema["allOf"].as_array() {
        // utoipa writes `allOf` for `#[serde(flatten)]`: one object, the
        // parts' properties together.
        let mut merged = json!({"type": "object", "properties": {}, "required": []});
        for part in parts {
            let part = ref_name(part).map_or(part, |n| &schemas[n]);
            for (k, v) in part["properties"].as_object().into_iter().flatten() {
                merged["properties"][k] = v.clone();
            }
            let required = part["required"].as_array().into_iter().flatten();
            merged["required"]
                .as_array_mut()
                .unwrap()
                .extend(required.cloned());
        }
        return misfit(value, &merged, schemas, at);
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let fits_type = allowed.is_empty()
        || allowed.contains(&kind)
        || (kind == "integer" && allowed.contains(&"number"));
    if !fits_type {
        return vec![format!("{at}: {value} is {kind}, not {allowed:?}")];
    }
    let mut out = Vec::new();
    if let Some(choices) = schema["enum"].as_array() {
        if !choices.contains(value) {
            out.push(format!("{at}: {value} is not one of {choices:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), value.as_f64()) {
        if n < min {
            out.push(format!("{at}: {n} is below {min}"));
        }
    }
    if let Some(text) = value.as_str() {
        let fits_format = match schema["format"].as_str() {
            Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            Some("date") => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            _ => true,
        };
        if !fits_format {
            out.push(format!("{at}: {text} is not a {}", schema["format"]));
        }
    }
    if let Value::Array(items) = value {
        for (i, item) in items.iter().enumerate() {
            out.extend(misfit(
                item,
                &schema["items"],
                schemas,
                &format!("{at}[{i}]"),
            ));
        }
    }
    if let Value::Object(fields) = value {
        for name in schema["required"].as_array().into_iter().flatten() {
            if !fields.contains_key(name.as_str().unwrap_or_default()) {
                out.push(format!("{at}: lacks the required {name}"));
            }
        }
        let properties = &schema["properties"];
        let extra = &schema["additionalProperties"];
        let is_free_form = properties.is_null() && extra.is_null();
        for (name, field) in fields {
            let at = format!("{at}.{name}");
            if !properties[name].is_null() {
                out.extend(misfit(field, &properties[name], schemas, &at));
            } else if extra.is_object() {
                out.extend(misfit(field, extra, schemas, &at));
            } else if !is_free_form && extra != &Value::Bool(true) {
                out.push(format!("{at}: not a property of the schema"));
            }
        }
    }
    out
}

#[tokio::test]
async fn gateways_lists_every_gateway_with_its_proof_and_where_to_paste() {
    let app = TestApp::spawn().await;

    let list = app.get("/gateways").await;
    let anonymous = app
        .client
        .get(format!("{}/api/v1/gateways", app.base))
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status().as_u16(), 401);
    let items = list["items"].as_array().unwrap();
    let listed: Vec<&str> = items
        .iter()
        .map(|g| g["gateway"].as_str().unwrap())
        .collect();
    let all: Vec<&str> = GatewayKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(listed, all);
    assert!(list["next_cursor"].is_null());
    for g in items {
        let proof = g["proof"].as_str().unwrap();
        assert!(
            ["signature", "header_token", "body_token", "query_token"].contains(&proof),
            "{g}"
        );
        assert!(["generated", "from_gateway"].contains(&g["secret"].as_str().unwrap()));
        assert_eq!(g["token_in_url"], proof == "query_token", "{g}");
        assert!(!g["name"].as_str().unwrap().is_empty(), "{g}");
        assert!(!g["formats"].as_str().unwrap().is_empty(), "{g}");
        assert!(!g["proof_detail"].as_str().unwrap().is_empty(), "{g}");
        // pt-BR, and it says where the URL goes.
        assert!(
            g["where_to_paste"]
                .as_str()
                .unwrap()
                .contains("URL do gancho"),
            "{g}"
        );
    }
    let of = |name: &str| items.iter().find(|g| g["gateway"] == name).unwrap();
    assert_eq!(
        (
            of("stripe")["proof"].as_str(),
            of("stripe")["secret"].as_str()
        ),
        (Some("signature"), Some("from_gateway"))
    );
    assert_eq!(of("hotmart")["proof"], "header_token");
    let with_api_key: Vec<&serde_json::Value> = items
        .iter()
        .filter(|g| g["takes_api_key"] == true)
        .collect();
    assert_eq!(with_api_key.len(), 1);
    assert_eq!(with_api_key[0]["gateway"], "asaas");
    assert!(with_api_key[0]["where_to_paste"]
        .as_str()
        .unwrap()
        .contains("chave de API"));
    assert_eq!(of("payt")["proof"], "body_token");
    assert_eq!(
        (
            of("greenn")["token_in_url"].as_bool(),
            of("greenn")["secret"].as_str()
        ),
        (Some(true), Some("generated"))
    );
}

#[tokio::test]
async fn a_key_whose_secret_gancho_generates_is_created_without_one() {
    let app = TestApp::spawn().await;
    let list = app.get("/gateways").await;

    for g in list["items"].as_array().unwrap() {
        if g["secret"] != "generated" {
            continue;
        }
        let gateway = g["gateway"].as_str().unwrap();

        let key = app.post("/keys", json!({"gateway": gateway})).await;

        assert!(
            key["secret"].as_str().unwrap().len() >= 32,
            "{gateway}: {key}"
        );
    }
}

#[tokio::test]
async fn the_workspace_shows_its_global_inbound_url() {
    let app = TestApp::spawn().await;

    let ws = app.get("/workspace").await;

    let public_id = ws["public_id"].as_str().unwrap();
    assert!(public_id.len() >= 20);
    assert_eq!(
        ws["global_inbound_url"],
        format!("https://hooks.example.com/in/{public_id}")
    );
    assert!(ws["id"].as_str().unwrap().starts_with("ws_"));
}

#[tokio::test]
async fn products_can_be_created_listed_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let created = app
        .post(
            "/products",
            json!({"name": " Excel ", "external_ids": [{"gateway": "hotmart", "id": 3456789}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("prod_"));
    assert_eq!(created["name"], "Excel");
    assert_eq!(
        created["external_ids"],
        json!([{"gateway": "hotmart", "id": "3456789"}])
    );

    let changed = app
        .api(
            Method::PATCH,
            &format!("/products/{id}"),
            Some(json!({"name": "Excel Pro"})),
            200,
        )
        .await;
    assert_eq!(changed["name"], "Excel Pro");
    assert_eq!(changed["external_ids"][0]["id"], "3456789");
    assert_eq!(
        app.get(&format!("/products/{id}")).await["name"],
        "Excel Pro"
    );

    app.api(Method::DELETE, &format!("/products/{id}"), None, 204)
        .await;
    app.api(Method::GET, &format!("/products/{id}"), None, 404)
        .await;
    app.api(Method::DELETE, &format!("/products/{id}"), None, 404)
        .await;
}

#[tokio::test]
async fn lists_page_with_a_cursor_without_skipping_or_repeating() {
    let app = TestApp::spawn().await;
    for i in 0..7 {
        app.create_product(&format!("P{i}"), json!([])).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/products?limit=3&cursor={c}"),
            None => "/products?limit=3".to_string(),
        };
        let page = app.get(&path).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }

    assert_eq!(seen, (0..7).map(|i| format!("P{i}")).collect::<Vec<_>>());
    app.api(Method::GET, "/products?limit=0", None, 422).await;
    app.api(Method::GET, "/products?limit=501", None, 422).await;
}

#[tokio::test]
async fn validation_errors_are_422_in_the_contract_shape() {
    let app = TestApp::spawn().await;

    let empty_name = app
        .api(Method::POST, "/products", Some(json!({"name": "  "})), 422)
        .await;
    let bad_gateway = app
        .api(
            Method::POST,
            "/products",
            Some(json!({"name": "x", "external_ids": [{"gateway": "paypal", "id": "1"}]})),
            422,
        )
        .await;
    let unknown_product = app
        .api(
            Method::POST,
            "/categories",
            Some(json!({"name": "c", "product_ids": ["prod_nope"]})),
            422,
        )
        .await;
    let missing_name = app
        .api(Method::POST, "/products", Some(json!({})), 422)
        .await;

    for body in [empty_name, bad_gateway, unknown_product, missing_name] {
        assert_eq!(body["error"]["code"], "validation_failed", "{body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
    let resp = app
        .client
        .post(format!("{}/api/v1/products", app.base))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn slugs_are_generated_validated_and_unique() {
    let app = TestApp::spawn().await;

    let generated = app
        .post(
            "/inbound-urls",
            json!({"name": "Vendas Hotmart Ação", "gateway": "hotmart"}),
        )
        .await;
    let again = app
        .post(
            "/inbound-urls",
            json!({"name": "Vendas Hotmart Ação", "gateway": "hotmart"}),
        )
        .await;
    let explicit = app
        .post(
            "/inbound-urls",
            json!({"name": "K", "gateway": "kiwify", "slug": "kiwi-1"}),
        )
        .await;
    let conflict = app
        .api(
            Method::POST,
            "/inbound-urls",
            Some(json!({"name": "K2", "gateway": "kiwify", "slug": "kiwi-1"})),
            409,
        )
        .await;
    let invalid = app
        .api(
            Method::POST,
            "/inbound-urls",
            Some(json!({"name": "K3", "gateway": "kiwify", "slug": "Kiwi 1"})),
            422,
        )
        .await;

    assert_eq!(generated["slug"], "vendas-hotmart-acao");
    assert_eq!(again["slug"], "vendas-hotmart-acao-2");
    let public_id = app.public_id().await;
    assert_eq!(
        explicit["url"],
        format!("https://hooks.example.com/in/{public_id}/kiwi-1?gateway=kiwify")
    );
    assert_eq!(explicit["enabled"], true);
    assert_eq!(conflict["error"]["code"], "conflict");
    assert_eq!(invalid["error"]["code"], "validation_failed");

    let id = explicit["id"].as_str().unwrap();
    let patched = app
        .api(
            Method::PATCH,
            &format!("/inbound-urls/{id}"),
            Some(json!({"access_days": 30, "enabled": false})),
            200,
        )
        .await;
    assert_eq!(
        (
            patched["access_days"].as_u64(),
            patched["enabled"].as_bool()
        ),
        (Some(30), Some(false))
    );
    let cleared = app
        .api(
            Method::PATCH,
            &format!("/inbound-urls/{id}"),
            Some(json!({"access_days": null})),
            200,
        )
        .await;
    assert!(cleared["access_days"].is_null());
    let taken = app
        .api(
            Method::PATCH,
            &format!("/inbound-urls/{id}"),
            Some(json!({"slug": "vendas-hotmart-acao"})),
            409,
        )
        .await;
    assert_eq!(taken["error"]["code"], "conflict");
    assert_eq!(
        app.get("/inbound-urls").await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn key_secrets_show_in_full_only_when_created() {
    let app = TestApp::spawn().await;

    let given = app
        .post(
            "/keys",
            json!({"gateway": "hotmart", "name": "Conta", "secret": "test-hottok-Xk3p9QmZ2v8T"}),
        )
        .await;
    let generated = app.post("/keys", json!({"gateway": "kiwify"})).await;
    let list = app.get("/keys").await;

    assert_eq!(given["secret"], "test-hottok-Xk3p9QmZ2v8T");
    assert_eq!(generated["secret"].as_str().unwrap().len(), 32);
    let listed = serde_json::to_string(&list).unwrap();
    assert!(!listed.contains("test-hottok-Xk3p9QmZ2v8T"));
    assert!(!listed.contains(generated["secret"].as_str().unwrap()));
    assert_eq!(list["items"][0]["secret"], "test…2v8T");
    let id = given["id"].as_str().unwrap();
    assert!(id.starts_with("key_"));
    app.api(Method::DELETE, &format!("/keys/{id}"), None, 204)
        .await;
    assert_eq!(app.get("/keys").await["items"].as_array().unwrap().len(), 1);
    app.api(
        Method::POST,
        "/keys",
        Some(json!({"gateway": "generic", "secret": "not-whsec"})),
        422,
    )
    .await;
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_when_a_key_is_configured() {
    let app = TestApp::spawn_with(|c| {
        c.encryption_key = Some(gancho::config::Secret::new(
            "an encryption key for tests, long enough to pass",
        ));
    })
    .await;

    app.post(
        "/keys",
        json!({"gateway": "hotmart", "secret": "test-hottok-Xk3p9QmZ2v8T"}),
    )
    .await;

    let rows = app.sql_rows("SELECT secret FROM gateway_keys").await;
    let stored: String = rows[0].str("secret");
    assert!(stored.starts_with("sealed:v2:"), "{stored}");
    assert!(!stored.contains("Xk3p9QmZ2v8T"));
    assert_eq!(app.get("/keys").await["items"][0]["secret"], "test…2v8T");
}

#[tokio::test]
async fn manual_grants_give_and_take_access() {
    let app = TestApp::spawn().await;
    let product = app.create_product("Curso", json!([])).await;
    let student = app
        .post(
            "/students",
            json!({"email": " Bia@Example.com ", "name": "Bia"}),
        )
        .await;
    let sid = student["id"].as_str().unwrap();
    assert_eq!(student["email"], "bia@example.com");
    app.api(
        Method::POST,
        "/students",
        Some(json!({"email": "bia@example.com"})),
        409,
    )
    .await;

    let grant = app
        .post(
            &format!("/students/{sid}/grants"),
            json!({"product_id": product}),
        )
        .await;
    assert_eq!(grant["source"], json!({"manual": true}));
    assert_eq!(app.access("bia@example.com").await, vec![product.clone()]);
    let detail = app.get(&format!("/students/{sid}")).await;
    assert_eq!(detail["access"][0]["id"], grant["id"]);

    let gid = grant["id"].as_str().unwrap();
    app.api(
        Method::DELETE,
        &format!("/students/{sid}/grants/{gid}"),
        None,
        204,
    )
    .await;
    assert!(app.access("bia@example.com").await.is_empty());
    app.api(
        Method::POST,
        &format!("/students/{sid}/grants"),
        Some(json!({})),
        422,
    )
    .await;
    app.api(Method::GET, "/students/stu_nope", None, 404).await;
    app.api(Method::GET, "/students?email=not-an-email", None, 422)
        .await;
    assert!(app.get("/students?email=nobody@example.com").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_server_stops_cleanly_on_shutdown() {
    let app = TestApp::spawn().await;

    app.stop().await;
}

#[tokio::test]
async fn named_api_keys_are_shown_once_work_and_can_be_revoked() {
    let app = TestApp::spawn().await;

    let created = app.post("/api-keys", json!({"name": "CI"})).await;
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    let call = |t: String| {
        let client = app.client.clone();
        let url = format!("{}/api/v1/workspace", app.base);
        async move {
            client
                .get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    assert!(id.starts_with("ak_"));
    assert_eq!(call(token.clone()).await, 200);
    let list = app.get("/api-keys").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&token),
        "the token is never listed"
    );
    let boot = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["bootstrap"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.api(Method::DELETE, &format!("/api-keys/{boot}"), None, 404)
        .await;
    app.api(Method::DELETE, &format!("/api-keys/{id}"), None, 204)
        .await;
    assert_eq!(call(token).await, 401);
    app.api(Method::POST, "/api-keys", Some(json!({"name": " "})), 422)
        .await;
}
