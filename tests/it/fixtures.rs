//! Every fixture of hotmart, kiwify, eduzz and their legacy formats, posted
//! to a real inbound URL, with the answer and the effect on the ledger.

use serde_json::json;

use crate::helpers::fixture::{self, load};
use crate::helpers::TestApp;

/// What a fixture must do to the buyer's access.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Effect {
    /// 200 processed; the buyer gets the product.
    Grants,
    /// 200 processed after `before` granted; the buyer loses the product.
    Revokes(&'static str),
    /// 200 processed after `before` granted; access stays.
    Keeps(&'static str),
    /// 200 processed after `before` granted; access ends at the period's end, not now.
    EndsLater(&'static str),
    /// 200 processed; no access is given.
    NoAccess,
    /// 200 ignored.
    Ignored,
}

const EMAIL: &str = "maria.teste@example.com";

fn expectations(dir: &str) -> Vec<(&'static str, Effect)> {
    use Effect::*;
    match dir {
        "hotmart" => vec![
            ("purchase_approved", Grants),
            ("purchase_approved_renewal", Grants),
            ("purchase_billet_printed", NoAccess),
            ("purchase_canceled", Revokes("purchase_approved")),
            ("purchase_chargeback", Revokes("purchase_approved")),
            ("purchase_complete", Keeps("purchase_approved")),
            ("purchase_delayed", Keeps("purchase_approved")),
            ("purchase_expired", Revokes("purchase_approved")),
            ("purchase_out_of_shopping_cart", NoAccess),
            ("purchase_refunded", Revokes("purchase_approved")),
            ("subscription_cancellation", EndsLater("purchase_approved")),
        ],
        "hotmart_v1" => vec![
            ("approved", Grants),
            ("billet_printed", NoAccess),
            ("refunded", Revokes("approved")),
        ],
        "kiwify" => vec![
            ("abandoned_cart", NoAccess),
            ("billet_created", NoAccess),
            ("chargeback", Revokes("order_approved")),
            ("order_approved", Grants),
            ("order_refunded", Revokes("order_approved")),
            ("pix_created", NoAccess),
            ("subscription_canceled", EndsLater("subscription_renewed")),
            ("subscription_renewed", Grants),
        ],
        "eduzz" => vec![
            ("invoice_paid", Grants),
            ("invoice_refunded", Revokes("invoice_paid")),
            ("invoice_waiting_payment_pix", NoAccess),
            ("ping", Ignored),
        ],
        "eduzz_legacy" => vec![
            ("abandonment", NoAccess),
            ("invoice_expired", Revokes("invoice_paid")),
            ("invoice_open_billet", NoAccess),
            ("invoice_paid", Grants),
            ("invoice_paid_recurrence", Grants),
            ("invoice_refunded", Revokes("invoice_paid")),
        ],
        other => panic!("no expectations for {other}"),
    }
}

fn gateway_of(dir: &str) -> &'static str {
    match dir {
        "hotmart" | "hotmart_v1" => "hotmart",
        "kiwify" => "kiwify",
        "eduzz" | "eduzz_legacy" => "eduzz",
        other => panic!("unknown fixture dir {other}"),
    }
}

/// A fresh gancho with the fixture's key and an inbound URL granting one product.
async fn setup(dir: &str, stem: &str) -> (TestApp, String, String) {
    let app = TestApp::spawn().await;
    let gateway = gateway_of(dir);
    app.create_key(gateway, &load(dir, stem).secret).await;
    let product = app
        .create_product("Curso Completo de Excel", json!([]))
        .await;
    let path = app
        .create_inbound_url(json!({"name": "Vendas", "gateway": gateway, "product_ids": [product]}))
        .await;
    (app, path, product)
}

async fn post_ok(app: &TestApp, path: &str, dir: &str, stem: &str, expect: &str) {
    let (status, body) = app.post_fixture(path, &load(dir, stem)).await;
    assert_eq!(status, 200, "{dir}/{stem}: {body}");
    assert_eq!(body["status"], expect, "{dir}/{stem}: {body}");
    assert!(body["log_id"].as_str().unwrap().starts_with("log_"));
}

async fn check_fixture(dir: &str, stem: &str, effect: Effect) {
    let (app, path, product) = setup(dir, stem).await;
    match effect {
        Effect::Grants => {
            post_ok(&app, &path, dir, stem, "processed").await;
            assert_eq!(
                app.access(EMAIL).await,
                vec![product.clone()],
                "{dir}/{stem}"
            );
        }
        Effect::NoAccess => {
            post_ok(&app, &path, dir, stem, "processed").await;
            assert!(app.access(EMAIL).await.is_empty(), "{dir}/{stem}");
        }
        Effect::Ignored => {
            post_ok(&app, &path, dir, stem, "ignored").await;
            assert!(app.student(EMAIL).await.is_none(), "{dir}/{stem}");
        }
        Effect::Revokes(before) | Effect::Keeps(before) | Effect::EndsLater(before) => {
            post_ok(&app, &path, dir, before, "processed").await;
            assert_eq!(
                app.access(EMAIL).await,
                vec![product.clone()],
                "{dir}/{before}"
            );
            post_ok(&app, &path, dir, stem, "processed").await;
            let after = app.access(EMAIL).await;
            match effect {
                Effect::Revokes(_) => assert!(after.is_empty(), "{dir}/{stem} should revoke"),
                Effect::Keeps(_) => assert_eq!(after, vec![product.clone()], "{dir}/{stem}"),
                _ => {
                    assert_eq!(
                        after,
                        vec![product.clone()],
                        "{dir}/{stem} ends later, not now"
                    );
                    let student = app.student(EMAIL).await.unwrap();
                    assert!(
                        !student["access"][0]["expires_at"].is_null(),
                        "{dir}/{stem}"
                    );
                    app.clock.advance(chrono::Duration::days(120));
                    app.expire_grants().await;
                    assert!(
                        app.access(EMAIL).await.is_empty(),
                        "{dir}/{stem} after the period"
                    );
                }
            }
        }
    }
    // The same bytes again are a duplicate (ping is ignored, not deduplicated).
    if effect != Effect::Ignored {
        post_ok(&app, &path, dir, stem, "duplicate").await;
    }
}

async fn check_dir(dir: &str) {
    let table = expectations(dir);
    let stems = fixture::stems(dir);
    let listed: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    assert_eq!(stems, listed, "every fixture of {dir} has an expectation");
    for (stem, effect) in table {
        check_fixture(dir, stem, effect).await;
    }
}

#[tokio::test]
async fn every_hotmart_v2_fixture_has_its_effect() {
    check_dir("hotmart").await;
}

#[tokio::test]
async fn every_hotmart_v1_fixture_has_its_effect() {
    check_dir("hotmart_v1").await;
}

#[tokio::test]
async fn every_kiwify_fixture_has_its_effect() {
    check_dir("kiwify").await;
}

#[tokio::test]
async fn every_eduzz_hub_fixture_has_its_effect() {
    check_dir("eduzz").await;
}

#[tokio::test]
async fn every_eduzz_legacy_fixture_has_its_effect() {
    check_dir("eduzz_legacy").await;
}

#[tokio::test]
async fn wrong_secrets_are_401_and_create_no_student() {
    for (dir, stem) in [
        ("hotmart", "purchase_approved"),
        ("hotmart_v1", "approved"),
        ("kiwify", "order_approved"),
        ("eduzz", "invoice_paid"),
        ("eduzz_legacy", "invoice_paid"),
    ] {
        let app = TestApp::spawn().await;
        let gateway = gateway_of(dir);
        app.create_key(gateway, "a-different-secret-value").await;
        let product = app.create_product("Curso", json!([])).await;
        let path = app
            .create_inbound_url(json!({"name": "x", "gateway": gateway, "product_ids": [product]}))
            .await;

        let (status, body) = app.post_fixture(&path, &load(dir, stem)).await;

        assert_eq!(status, 401, "{dir}/{stem}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(app.student(EMAIL).await.is_none(), "{dir}/{stem}");
    }
}

#[tokio::test]
async fn a_gateway_without_keys_is_401() {
    let app = TestApp::spawn().await;
    let product = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(json!({"name": "x", "gateway": "hotmart", "product_ids": [product]}))
        .await;

    let (status, body) = app
        .post_fixture(&path, &load("hotmart", "purchase_approved"))
        .await;

    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no hotmart key"));
}
