//! Bad input on the inbound URLs never yields a 5xx: each case has its own
//! 4xx (or a logged `200 ignored` when the request is authentic but unusable).

use futures_util::stream;
use gancho::model::GatewayKind;
use serde_json::{json, Value};

use crate::helpers::fixture::load;
use crate::helpers::TestApp;

const HOTTOK: &str = "test-hottok-Xk3p9QmZ2v8T";

async fn app_with_url() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.create_key("hotmart", HOTTOK).await;
    let product = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(
            json!({"name": "Hotmart", "gateway": "hotmart", "product_ids": [product]}),
        )
        .await;
    (app, path)
}

fn auth() -> Vec<(String, String)> {
    vec![("x-hotmart-hottok".to_string(), HOTTOK.to_string())]
}

#[tokio::test]
async fn malformed_bodies_are_400_with_a_reason() {
    let (app, path) = app_with_url().await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "empty"),
        ("whitespace", b"  \n ".to_vec(), "empty"),
        ("invalid utf-8", vec![b'{', 0xff, 0xfe, b'}'], "UTF-8"),
        (
            "truncated",
            br#"{"event":"PURCHASE_APPROVED","data":{"buyer":"#.to_vec(),
            "JSON",
        ),
        ("array", b"[1,2,3]".to_vec(), "not an object"),
        ("string", br#""just a string""#.to_vec(), "not an object"),
        ("number", b"42".to_vec(), "not an object"),
    ];
    for (name, body, reason) in cases {
        let (status, resp) = app
            .post_raw(&path, Some("application/json"), &auth(), body)
            .await;

        assert_eq!(status, 400, "{name}: {resp}");
        assert_eq!(resp["error"]["code"], "bad_request", "{name}");
        assert!(
            resp["error"]["message"].as_str().unwrap().contains(reason),
            "{name}: {resp}"
        );
    }
}

#[tokio::test]
async fn an_unsupported_content_type_is_415() {
    let (app, path) = app_with_url().await;
    for ct in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        let (status, resp) = app
            .post_raw(
                &path,
                Some(ct),
                &auth(),
                load("hotmart", "purchase_approved").body,
            )
            .await;

        assert_eq!(status, 415, "{ct}: {resp}");
        assert_eq!(resp["error"]["code"], "unsupported_media_type");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_declared_or_streamed() {
    let (app, path) = app_with_url().await;
    let big = vec![b'a'; 70 * 1024];

    let (declared, _) = app
        .post_raw(&path, Some("application/json"), &auth(), big)
        .await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let streamed = app
        .client
        .post(format!("{}{}", app.base, path))
        .header("content-type", "application/json")
        .header("x-hotmart-hottok", HOTTOK)
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();

    assert_eq!(declared, 413);
    assert_eq!(streamed.status().as_u16(), 413);
    let body: Value = streamed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn authentic_events_missing_what_they_need_are_ignored_not_errors() {
    let (app, path) = app_with_url().await;
    let no_email = load("hotmart", "purchase_approved").edit(|v| {
        v["data"]["buyer"].as_object_mut().unwrap().remove("email");
    });
    let spaced_email = load("hotmart", "purchase_approved")
        .edit(|v| v["data"]["buyer"]["email"] = json!("maria teste@example.com"));
    let no_data = load("hotmart", "purchase_approved").edit(|v| {
        v.as_object_mut().unwrap().remove("data");
    });
    let wrong_types = load("hotmart", "purchase_approved").edit(|v| {
        v["data"]["buyer"] = json!(12);
        v["data"]["purchase"] = json!("not an object");
    });
    let unknown_event =
        load("hotmart", "purchase_approved").edit(|v| v["event"] = json!("CLUB_FIRST_ACCESS"));

    for (name, f) in [
        ("no e-mail", no_email),
        ("e-mail with a space inside", spaced_email),
        ("no data", no_data),
        ("wrong types", wrong_types),
        ("unknown event", unknown_event),
    ] {
        let (status, resp) = app.post_fixture(&path, &f).await;

        assert_eq!(
            (status, resp["status"].as_str()),
            (200, Some("ignored")),
            "{name}: {resp}"
        );
    }
    assert!(app.get("/students").await["items"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn numbers_where_strings_are_expected_are_read_as_text() {
    let (app, path) = app_with_url().await;
    let f = load("hotmart", "purchase_approved").edit(|v| {
        v["data"]["purchase"]["transaction"] = json!(987654321);
        v["data"]["buyer"]["document"] = json!(12345678909u64);
        v["data"]["buyer"]["checkout_phone"] = json!(11987654321u64);
    });

    let (status, resp) = app.post_fixture(&path, &f).await;

    assert_eq!(
        (status, resp["status"].as_str()),
        (200, Some("processed")),
        "{resp}"
    );
    let student = app.student("maria.teste@example.com").await.unwrap();
    assert_eq!(
        student["access"][0]["source"]["transaction_id"],
        "987654321"
    );
}

#[tokio::test]
async fn unknown_workspaces_slugs_and_gateways_are_refused_clearly() {
    let (app, path) = app_with_url().await;
    let public_id = app.public_id().await;
    let body = load("hotmart", "purchase_approved").body;

    let (ws, _) = app
        .post_raw(
            "/in/no-such-workspace",
            Some("application/json"),
            &auth(),
            body.clone(),
        )
        .await;
    let (slug, _) = app
        .post_raw(
            &format!("/in/{public_id}/no-such-slug"),
            Some("application/json"),
            &auth(),
            body.clone(),
        )
        .await;
    let (gw, gw_body) = app
        .post_raw(
            &format!("/in/{public_id}?gateway=paypal"),
            Some("application/json"),
            &auth(),
            body.clone(),
        )
        .await;
    let mismatch_path = path.replace("gateway=hotmart", "gateway=kiwify");
    let (mismatch, _) = app
        .post_raw(&mismatch_path, Some("application/json"), &auth(), body)
        .await;

    assert_eq!((ws, slug, gw, mismatch), (404, 404, 400, 400));
    let message = gw_body["error"]["message"].as_str().unwrap();
    assert!(message.contains("paypal"), "{message}");
    // The message lists the names `?gateway=` takes: every gateway.
    for kind in GatewayKind::ALL {
        assert!(message.contains(kind.as_str()), "{kind}: {message}");
    }
}

#[tokio::test]
async fn form_bodies_with_bad_encoding_or_no_fields_are_400() {
    let (app, path) = app_with_url().await;
    let form = "application/x-www-form-urlencoded";

    let (empty, _) = app.post_raw(&path, Some(form), &[], b"".to_vec()).await;
    let (binary, _) = app
        .post_raw(&path, Some(form), &[], vec![0xff, b'=', 0xfe])
        .await;
    let (no_proof, _) = app
        .post_raw(
            &path,
            Some(form),
            &[],
            b"email=a%40b.com&status=approved".to_vec(),
        )
        .await;

    assert_eq!((empty, binary, no_proof), (400, 400, 401));
}
