//! The admin UI over real HTTP (issue 8): sessions, CSRF, the login rate
//! limit, every tab's forms round-tripping through the API, user text
//! escaped everywhere, and the Logs tab showing what arrived.
//!
//! [`Browser`] keeps its own cookies (the test server's public URL is
//! https, so its cookies are `Secure`, which a cookie store would not send
//! over the loopback's http) and reads each form's `_csrf` from the page.

use std::collections::BTreeMap;

use reqwest::redirect::Policy;
use reqwest::Method;
use serde_json::json;

use crate::helpers::fixture::load;
use crate::helpers::{TestApp, ADMIN_TOKEN};

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";
const XSS: &str = "<script>alert(1)</script>";

/// One page as the browser got it.
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The `_csrf` value of the first form on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"_csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field on the page: {}", self.body));
        let rest = &self.body[at + "name=\"_csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

/// A client with cookies, redirects left to the test.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub accept_language: Option<String>,
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            base: app.base.clone(),
            client: gancho::http_client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            accept_language: None,
        }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header("cookie", header.join("; "));
        }
        if let Some(lang) = &self.accept_language {
            req = req.header("accept-language", lang);
        }
        if let Some(fields) = form {
            let body: String = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter())
                .finish();
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let set_cookies: Vec<String> = headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        Answer {
            status,
            location: headers
                .get("location")
                .map(|v| v.to_str().unwrap().to_string()),
            set_cookies,
            headers,
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// Posts a form as is (the caller puts `_csrf` in, or leaves it out).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, path, Some(fields)).await
    }

    /// Opens `page` for its CSRF token, then posts `fields` with it to `to`.
    pub async fn submit(&mut self, page: &str, to: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(to, &all).await
    }

    pub async fn login(&mut self, token: &str) -> Answer {
        self.submit("/ui/login", "/ui/login", &[("token", token)])
            .await
    }

    /// Logs in with the admin token and checks it worked.
    pub async fn signed_in(app: &TestApp) -> Self {
        let mut b = Self::new(app);
        let a = b.login(ADMIN_TOKEN).await;
        assert_eq!(
            (a.status, a.location.as_deref()),
            (303, Some("/ui/entrada")),
            "{}",
            a.body
        );
        b
    }
}

/// Every private page, and one private form target.
const PAGES: [&str; 13] = [
    "/ui/entrada",
    "/ui/entrada/new",
    "/ui/saida",
    "/ui/saida/new",
    "/ui/chaves",
    "/ui/chaves/new",
    "/ui/logs",
    "/ui/logs/queue",
    "/ui/produtos",
    "/ui/produtos/new",
    "/ui/categorias",
    "/ui/categorias/new",
    "/ui/alunos",
];

#[tokio::test]
async fn every_page_needs_a_session_and_the_root_leads_to_the_ui() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let root = b.get("/").await;
    assert_eq!((root.status, root.location.as_deref()), (303, Some("/ui")));
    for page in PAGES {
        let a = b.get(page).await;
        assert_eq!(
            (a.status, a.location.as_deref()),
            (303, Some("/ui/login")),
            "{page}"
        );
    }
    let a = b.post_raw("/ui/produtos", &[("name", "x")]).await;
    assert_eq!((a.status, a.location.as_deref()), (303, Some("/ui/login")));
    let login = b.get("/ui/login").await;
    assert_eq!(login.status, 200);
    assert!(login.body.contains(r#"<form id="login""#));
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let b = Browser::signed_in(&app).await;
    let mut b = b;
    for page in PAGES {
        let a = b.get(page).await;
        assert_eq!(a.status, 200, "{page}: {}", a.body);
        assert!(a.headers.contains_key("content-security-policy"), "{page}");
    }
    assert!(app.get("/products").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_token_sets_no_session_and_logout_ends_it() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let wrong = b.login("not-the-token").await;
    assert_eq!(wrong.status, 401);
    assert!(
        wrong.body.contains(r#"class="flash error""#),
        "{}",
        wrong.body
    );
    assert!(!b.cookies.contains_key("gancho_session"));
    let ok = b.login(ADMIN_TOKEN).await;
    assert_eq!(ok.status, 303);
    let session = ok
        .set_cookies
        .iter()
        .find(|c| c.starts_with("gancho_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/ui"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    let cookie = b.cookies["gancho_session"].clone();
    assert_eq!(b.get("/ui/entrada").await.status, 200);
    // Logging out needs the session's CSRF token.
    let forged = b.post_raw("/ui/logout", &[("_csrf", "guess")]).await;
    assert_eq!(forged.status, 403);
    assert_eq!(b.get("/ui/entrada").await.status, 200);
    let out = b.submit("/ui/entrada", "/ui/logout", &[]).await;
    assert_eq!(
        (out.status, out.location.as_deref()),
        (303, Some("/ui/login"))
    );
    // The old cookie, replayed, opens nothing: the session is gone server-side.
    b.cookies.insert("gancho_session".into(), cookie);
    let after = b.get("/ui/entrada").await;
    assert_eq!(
        (after.status, after.location.as_deref()),
        (303, Some("/ui/login"))
    );
    app.stop().await;
}

#[tokio::test]
async fn deleting_the_api_key_ends_its_sessions() {
    let app = TestApp::spawn().await;
    let key = app.post("/api-keys", json!({"name": "assistente"})).await;
    let token = key["token"].as_str().unwrap().to_string();
    let mut b = Browser::new(&app);
    assert_eq!(b.login(&token).await.status, 303);
    assert_eq!(b.get("/ui/logs").await.status, 200);
    let id = key["id"].as_str().unwrap();
    app.api(Method::DELETE, &format!("/api-keys/{id}"), None, 204)
        .await;
    let a = b.get("/ui/logs").await;
    assert_eq!((a.status, a.location.as_deref()), (303, Some("/ui/login")));
    app.stop().await;
}

#[tokio::test]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut b = Browser::signed_in(&app).await;
    for fields in [
        vec![("name", "Curso")],
        vec![("name", "Curso"), ("_csrf", "forged")],
    ] {
        let a = b.post_raw("/ui/produtos", &fields).await;
        assert_eq!(a.status, 403, "{}", a.body);
    }
    assert!(app.get("/products").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
    // Login itself: without the cookie the login page set, no session.
    let mut other = Browser::new(&app);
    let a = other
        .post_raw("/ui/login", &[("token", ADMIN_TOKEN), ("_csrf", "x")])
        .await;
    assert_eq!(a.status, 403);
    assert!(!other.cookies.contains_key("gancho_session"));
    app.stop().await;
}

#[tokio::test]
async fn login_attempts_are_limited_per_address() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(b.login("wrong").await.status);
    }
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(statuses[10], 429);
    // Even the right token waits out the window.
    assert_eq!(b.login(ADMIN_TOKEN).await.status, 429);
    app.stop().await;
}

#[tokio::test]
async fn catalog_forms_round_trip_through_the_api() {
    let app = TestApp::spawn().await;
    let mut b = Browser::signed_in(&app).await;
    let a = b
        .submit(
            "/ui/produtos/new",
            "/ui/produtos",
            &[
                ("name", "Curso de Excel"),
                ("gateway", "hotmart"),
                ("external_id", "12345"),
                ("gateway", "kiwify"),
                ("external_id", ""),
            ],
        )
        .await;
    assert_eq!(
        (a.status, a.location.as_deref()),
        (303, Some("/ui/produtos")),
        "{}",
        a.body
    );
    let list = b.get("/ui/produtos").await;
    assert!(
        list.body.contains("Criado com sucesso."),
        "the flash shows once"
    );
    assert!(!b
        .get("/ui/produtos")
        .await
        .body
        .contains("Criado com sucesso."));
    let products = app.get("/products").await;
    let p = &products["items"][0];
    assert_eq!(p["name"], "Curso de Excel");
    assert_eq!(
        p["external_ids"],
        json!([{"gateway": "hotmart", "id": "12345"}])
    );
    let pid = p["id"].as_str().unwrap().to_string();
    // An empty name is refused on the form, with what was typed kept.
    let bad = b
        .submit(
            "/ui/produtos/new",
            "/ui/produtos",
            &[
                ("name", " "),
                ("gateway", "hotmart"),
                ("external_id", "777"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains(r#"value="777""#) && bad.body.contains("flash error"));
    let edit = format!("/ui/produtos/{pid}");
    let a = b
        .submit(
            &edit,
            &edit,
            &[
                ("name", "Excel Avançado"),
                ("gateway", "eduzz"),
                ("external_id", "E-9"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let p = app.get(&format!("/products/{pid}")).await;
    assert_eq!(
        (p["name"].as_str(), p["external_ids"][0]["gateway"].as_str()),
        (Some("Excel Avançado"), Some("eduzz"))
    );

    let a = b
        .submit(
            "/ui/categorias/new",
            "/ui/categorias",
            &[("name", "Trilha"), ("product_ids", &pid)],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let c = &app.get("/categories").await["items"][0];
    assert_eq!(c["product_ids"], json!([pid]));
    let cid = c["id"].as_str().unwrap().to_string();
    let del = format!("/ui/categorias/{cid}/excluir");
    assert!(
        b.get(&del).await.body.contains("Trilha"),
        "the confirmation names it"
    );
    assert_eq!(b.submit(&del, &del, &[]).await.status, 303);
    app.api(Method::GET, &format!("/categories/{cid}"), None, 404)
        .await;
    let del = format!("/ui/produtos/{pid}/excluir");
    assert_eq!(b.submit(&del, &del, &[]).await.status, 303);
    app.api(Method::GET, &format!("/products/{pid}"), None, 404)
        .await;
    app.stop().await;
}

#[tokio::test]
async fn inbound_urls_keys_and_endpoints_round_trip_through_the_api() {
    let app = TestApp::spawn().await;
    let pid = app.create_product("Curso", json!([])).await;
    let mut b = Browser::signed_in(&app).await;
    let a = b
        .submit(
            "/ui/entrada/new",
            "/ui/entrada",
            &[
                ("name", "Hotmart Principal"),
                ("gateway", "hotmart"),
                ("slug", ""),
                ("access_days", "365"),
                ("product_ids", &pid),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let u = app.get("/inbound-urls").await["items"][0].clone();
    assert_eq!(
        (u["slug"].as_str(), u["access_days"].as_u64()),
        (Some("hotmart-principal"), Some(365))
    );
    assert_eq!(u["product_ids"], json!([pid]));
    let list = b.get("/ui/entrada").await;
    let url = u["url"].as_str().unwrap();
    assert!(
        list.body.contains(&format!(r#"data-copy="{url}""#)),
        "a copy button with the URL"
    );
    let uid = u["id"].as_str().unwrap().to_string();
    let toggle = format!("/ui/entrada/{uid}/ativar");
    assert_eq!(b.submit("/ui/entrada", &toggle, &[]).await.status, 303);
    assert_eq!(
        app.get(&format!("/inbound-urls/{uid}")).await["enabled"],
        false
    );
    assert!(b.get("/ui/entrada").await.body.contains("Inativo"));
    let edit = format!("/ui/entrada/{uid}");
    let a = b
        .submit(
            &edit,
            &edit,
            &[
                ("name", "Hotmart 2"),
                ("gateway", "hotmart"),
                ("slug", "hotmart-dois"),
                ("access_days", ""),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let edited = app.get(&format!("/inbound-urls/{uid}")).await;
    assert_eq!(
        (edited["name"].as_str(), edited["slug"].as_str()),
        (Some("Hotmart 2"), Some("hotmart-dois"))
    );
    assert!(edited["access_days"].is_null(), "emptied: lifetime access");
    assert_eq!(edited["product_ids"], json!([]), "every box unticked");
    // A taken slug is a conflict shown on the form.
    let dup = b
        .submit(
            "/ui/entrada/new",
            "/ui/entrada",
            &[
                ("name", "Outra"),
                ("gateway", "hotmart"),
                ("slug", "hotmart-dois"),
            ],
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.body);

    let a = b
        .submit(
            "/ui/chaves/new",
            "/ui/chaves",
            &[
                ("gateway", "hotmart"),
                ("name", "Conta"),
                ("secret", HOTTOK),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let keys = app.get("/keys").await;
    assert_eq!(keys["items"][0]["name"], "Conta");
    let chaves = b.get("/ui/chaves").await;
    assert!(
        chaves.body.contains(&format!(r#"data-secret="{HOTTOK}""#)),
        "revealable"
    );
    let kid = keys["items"][0]["id"].as_str().unwrap().to_string();
    let generated = b
        .submit(
            "/ui/chaves/new",
            "/ui/chaves",
            &[("gateway", "kiwify"), ("name", ""), ("secret", "")],
        )
        .await;
    assert_eq!(generated.status, 303, "an empty secret is generated");
    assert_eq!(app.get("/keys").await["items"].as_array().unwrap().len(), 2);
    let del = format!("/ui/chaves/{kid}/excluir");
    assert_eq!(b.submit(&del, &del, &[]).await.status, 303);
    let left = app.get("/keys").await;
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    assert_eq!(left["items"][0]["gateway"], "kiwify");
    let global = app.get("/workspace").await["global_inbound_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(chaves.body.contains(&format!(r#"data-copy="{global}""#)));

    let a = b
        .submit(
            "/ui/saida/new",
            "/ui/saida",
            &[
                ("name", "Área de membros"),
                ("url", "http://127.0.0.1:9/hook"),
                ("events", "access.granted"),
                ("events", "access.revoked"),
                ("header_name", "X-Origem"),
                ("header_value", "gancho"),
                ("header_name", ""),
                ("header_value", ""),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let e = app.get("/endpoints").await["items"][0].clone();
    assert_eq!(
        e["event_types"],
        json!(["access.granted", "access.revoked"])
    );
    assert_eq!(
        e["headers"]["X-Origem"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    let eid = e["id"].as_str().unwrap().to_string();
    let detail = format!("/ui/saida/{eid}");
    let before = app.get(&format!("/endpoints/{eid}/secret")).await["secret"].clone();
    assert_eq!(
        b.submit(&detail, &format!("{detail}/segredo"), &[])
            .await
            .status,
        303
    );
    let after = app.get(&format!("/endpoints/{eid}/secret")).await["secret"].clone();
    assert_ne!(before, after, "rotated");
    assert_eq!(
        b.submit(&detail, &format!("{detail}/teste"), &[])
            .await
            .status,
        303
    );
    let deliveries = app.get(&format!("/endpoints/{eid}/deliveries")).await;
    assert_eq!(deliveries["items"][0]["event_type"], "webhook.test");
    let edit = format!("/ui/saida/{eid}/editar");
    let form = b.get(&edit).await;
    assert!(
        form.body.contains(r#"value="gancho""#),
        "the header's value, to edit"
    );
    let a = b
        .submit(
            &edit,
            &edit,
            &[
                ("name", "CRM"),
                ("url", "http://127.0.0.1:9/crm"),
                ("events", "student.created"),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "{}", a.body);
    let e = app.get(&format!("/endpoints/{eid}")).await;
    assert_eq!(
        (e["name"].as_str(), e["url"].as_str()),
        (Some("CRM"), Some("http://127.0.0.1:9/crm"))
    );
    assert_eq!(e["event_types"], json!(["student.created"]));
    assert_eq!(e["headers"], json!({}), "the header row removed");
    let delivery = deliveries["items"][0]["id"].as_str().unwrap();
    let resend = b
        .submit(&detail, &format!("/ui/entregas/{delivery}/reenviar"), &[])
        .await;
    assert_eq!(
        (resend.status, resend.location.as_deref()),
        (303, Some(detail.as_str()))
    );
    let del = format!("/ui/saida/{eid}/excluir");
    let deleted = b.submit(&del, &del, &[]).await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    app.api(Method::GET, &format!("/endpoints/{eid}"), None, 404)
        .await;
    app.stop().await;
}

#[tokio::test]
async fn user_text_is_escaped_on_every_page() {
    let app = TestApp::spawn().await;
    let pid = app
        .create_product(XSS, json!([{"gateway": "hotmart", "id": XSS}]))
        .await;
    app.post("/categories", json!({"name": XSS, "product_ids": [pid]}))
        .await;
    let u = app
        .post(
            "/inbound-urls",
            json!({"name": XSS, "gateway": "hotmart", "product_ids": [pid]}),
        )
        .await;
    app.post(
        "/keys",
        json!({"gateway": "hotmart", "name": XSS, "secret": "abc\"><script>x</script>"}),
    )
    .await;
    let e = app
        .post(
            "/endpoints",
            json!({"name": XSS, "url": "http://127.0.0.1:9/h", "headers": {"X-A": XSS}}),
        )
        .await;
    let s = app
        .post("/students", json!({"email": "x@example.com", "name": XSS}))
        .await;
    let mut b = Browser::signed_in(&app).await;
    let pages = [
        "/ui/produtos".to_string(),
        format!("/ui/produtos/{pid}"),
        "/ui/categorias".into(),
        "/ui/categorias/new".into(),
        "/ui/entrada".into(),
        format!("/ui/entrada/{}", u["id"].as_str().unwrap()),
        "/ui/chaves".into(),
        "/ui/saida".into(),
        format!("/ui/saida/{}", e["id"].as_str().unwrap()),
        format!("/ui/saida/{}/editar", e["id"].as_str().unwrap()),
        "/ui/alunos".into(),
        format!("/ui/alunos/{}", s["id"].as_str().unwrap()),
    ];
    for page in &pages {
        let a = b.get(page).await;
        assert_eq!(a.status, 200, "{page}");
        assert!(
            !a.body.contains("<script>alert") && !a.body.contains("<script>x"),
            "{page} shows raw script"
        );
        assert!(
            a.body.contains("&lt;script&gt;"),
            "{page} does not show the text at all"
        );
    }
    // Typed into a form that fails, it comes back escaped too.
    let bad = b
        .submit(
            "/ui/entrada/new",
            "/ui/entrada",
            &[("name", XSS), ("gateway", "hotmart"), ("slug", "Not Valid")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(!bad.body.contains("<script>alert") && bad.body.contains("&lt;script&gt;"));
    app.stop().await;
}

#[tokio::test]
async fn a_sale_shows_in_logs_with_todays_success_in_the_chart() {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let pid = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(json!({"name": "Hotmart", "gateway": "hotmart", "product_ids": [pid]}))
        .await;
    let (code, _) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;
    assert_eq!(code, 200);
    let mut b = Browser::signed_in(&app).await;
    let logs = b.get("/ui/logs").await;
    assert_eq!(logs.status, 200);
    let today = gancho::clock::Clock::now(&app.clock)
        .with_timezone(&app.config.timezone)
        .date_naive();
    assert!(
        logs.body.contains(&format!(
            r#"data-date="{today}" data-success="1" data-failure="0""#
        )),
        "{}",
        logs.body
    );
    assert!(
        logs.body.contains("Compra Aprovada"),
        "the event, labelled in pt-BR"
    );
    let id_at = logs.body.find("<tr data-id=\"").unwrap() + "<tr data-id=\"".len();
    let log_id = logs.body[id_at..id_at + 40]
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let detail = b.get(&format!("/ui/logs/{log_id}")).await;
    assert_eq!(detail.status, 200);
    assert!(
        detail.body.contains(r#"<pre class="payload""#)
            && detail.body.contains("PURCHASE_APPROVED")
    );
    // Filters: a failure filter hides it, an e-mail filter finds it.
    let email = load("hotmart", "purchase_approved")
        .sale("hotmart")
        .email
        .unwrap();
    let none = b.get("/ui/logs?status=failure").await;
    assert!(!none.body.contains(&log_id));
    let found = b.get(&format!("/ui/logs?email={email}")).await;
    assert!(found.body.contains(&log_id));
    let csv = b.get("/ui/logs.csv?days=7").await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body.lines().count() >= 2 && csv.body.contains(&log_id),
        "{}",
        csv.body
    );
    // Reprocess makes a new entry and leads to it.
    let again = b
        .submit(
            &format!("/ui/logs/{log_id}"),
            &format!("/ui/logs/{log_id}/reprocessar"),
            &[],
        )
        .await;
    assert_eq!(again.status, 303);
    let to = again.location.unwrap();
    assert!(
        to.starts_with("/ui/logs/") && !to.ends_with(&log_id),
        "{to}"
    );
    // Periods: 30 days draws 30 points per line.
    let month = b.get("/ui/logs?days=30").await;
    assert_eq!(
        month
            .body
            .matches("<circle class=\"point success\"")
            .count(),
        30
    );
    app.stop().await;
}

#[tokio::test]
async fn english_on_request_and_remembered() {
    let app = TestApp::spawn().await;
    let mut b = Browser::signed_in(&app).await;
    let pt = b.get("/ui/entrada").await;
    assert!(
        pt.body.contains(r#"<html lang="pt-BR">"#)
            && pt.body.contains("Crie sua primeira URL de entrada.")
    );
    let en = b.get("/ui/entrada?lang=en").await;
    assert!(
        en.body.contains(r#"<html lang="en">"#)
            && en.body.contains("Create your first inbound URL.")
    );
    assert_eq!(b.cookies.get("gancho_lang").map(String::as_str), Some("en"));
    assert!(
        b.get("/ui/saida").await.body.contains("Outbound webhooks"),
        "remembered"
    );
    let mut c = Browser::signed_in(&app).await;
    c.accept_language = Some("en-US,en;q=0.9,pt;q=0.5".into());
    assert!(c.get("/ui/logs").await.body.contains("Delivery queue"));
    app.stop().await;
}

#[tokio::test]
async fn students_get_and_lose_access_by_hand() {
    let app = TestApp::spawn().await;
    let pid = app.create_product("Curso", json!([])).await;
    let s = app
        .post("/students", json!({"email": "ana@example.com"}))
        .await;
    let sid = s["id"].as_str().unwrap().to_string();
    let mut b = Browser::signed_in(&app).await;
    let found = b.get("/ui/alunos?email=ANA@example.com").await;
    assert!(found.body.contains(&format!("/ui/alunos/{sid}")));
    let page = format!("/ui/alunos/{sid}");
    let target = format!("product:{pid}");
    let a = b
        .submit(
            &page,
            &format!("{page}/acessos"),
            &[("target", &target), ("days", "")],
        )
        .await;
    assert_eq!(a.status, 303);
    assert_eq!(app.access("ana@example.com").await, vec![pid.clone()]);
    let detail = b.get(&page).await;
    let gid = app.student("ana@example.com").await.unwrap()["access"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(detail.body.contains(&gid));
    let a = b
        .submit(&page, &format!("{page}/acessos/{gid}/revogar"), &[])
        .await;
    assert_eq!(a.status, 303);
    assert!(app.access("ana@example.com").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_test_panel_shows_what_a_sale_would_do_and_stores_nothing() {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let pid = app.create_product("Curso de Excel", json!([])).await;
    let u = app
        .post(
            "/inbound-urls",
            json!({"name": "Hotmart", "gateway": "hotmart", "product_ids": [pid]}),
        )
        .await;
    let uid = u["id"].as_str().unwrap().to_string();
    let mut b = Browser::signed_in(&app).await;
    assert!(b
        .get("/ui/entrada")
        .await
        .body
        .contains(&format!("/ui/entrada/{uid}/testar")));
    let page = format!("/ui/entrada/{uid}/testar");
    let form = b.get(&page).await;
    assert!(form
        .body
        .contains(r#"<textarea id="payload" name="payload""#));
    assert!(
        form.body.contains("purchase_approved"),
        "a Hotmart sample to pick"
    );
    let f = load("hotmart", "purchase_approved");
    let body = String::from_utf8(f.body.clone()).unwrap();
    let headers = format!("X-Hotmart-Hottok: {HOTTOK}");
    let before = counts(&app).await;
    let a = b
        .submit(
            &page,
            &page,
            &[
                ("sample", ""),
                ("payload", &body),
                ("headers", &headers),
                ("query", ""),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains(r#"<section id="dry-run-result""#)
            && a.body.contains(r#"data-outcome="would_apply""#),
        "{}",
        a.body
    );
    assert!(a.body.contains("Seria aplicado") && a.body.contains("Confirmada"));
    assert!(
        a.body
            .contains(r#"<li data-action="grant"><strong>Liberar</strong> Curso de Excel"#),
        "{}",
        a.body
    );
    // A sample carries the fixture's test secret, which here is the key: it passes too.
    let at = form.body.find(">purchase_approved</option>").unwrap();
    let value = form.body[..at]
        .rsplit("value=\"")
        .next()
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let samples = b
        .submit(
            &page,
            &page,
            &[
                ("sample", &value),
                ("payload", ""),
                ("headers", ""),
                ("query", ""),
            ],
        )
        .await;
    assert!(
        samples.body.contains(r#"data-outcome="would_apply""#),
        "{}",
        samples.body
    );
    // A wrong token is a result, not an error.
    let wrong = b
        .submit(
            &page,
            &page,
            &[
                ("sample", ""),
                ("payload", &body),
                ("headers", "X-Hotmart-Hottok: wrong"),
                ("query", ""),
            ],
        )
        .await;
    assert!(
        wrong.body.contains(r#"data-outcome="proof_failed""#) && wrong.body.contains("Recusada")
    );
    let bad = b
        .submit(
            &page,
            &page,
            &[("payload", &body), ("headers", "no colon here")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(counts(&app).await, before, "the dry run stored nothing");

    // On a failed entry: what reprocessing would do now.
    let unmapped = app
        .create_inbound_url(
            json!({"name": "Sem produto", "gateway": "hotmart", "slug": "sem-produto"}),
        )
        .await;
    let (code, _) = app.post_fixture(&unmapped, &f).await;
    assert_eq!(code, 200);
    let logs = app.get("/logs?direction=in").await;
    let log_id = logs["items"][0]["id"].as_str().unwrap().to_string();
    let detail = b.get(&format!("/ui/logs/{log_id}")).await;
    assert!(detail
        .body
        .contains(&format!(r#"href="/ui/logs/{log_id}/testar""#)));
    let what_if = b.get(&format!("/ui/logs/{log_id}/testar")).await;
    assert_eq!(what_if.status, 200, "{}", what_if.body);
    assert!(
        what_if.body.contains(r#"<section id="dry-run-result""#),
        "{}",
        what_if.body
    );
    app.stop().await;
}

/// Log entries and students, as the API lists them.
async fn counts(app: &TestApp) -> (usize, usize) {
    let logs = app.get("/logs").await["items"].as_array().unwrap().len();
    let students = app.get("/students").await["items"]
        .as_array()
        .unwrap()
        .len();
    (logs, students)
}
