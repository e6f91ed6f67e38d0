//! Every fixture of every gateway (and legacy format), posted to a real
//! inbound URL, with the answer and the effect on the ledger.

use serde_json::json;

use crate::helpers::fixture::{self, load};
use crate::helpers::{fixture_time, TestApp};

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

/// The buyer of the first gateways' fixtures; the newer ones use [`JOANA`].
const EMAIL: &str = "maria.teste@example.com";
const JOANA: &str = "joana.exemplo@example.com";

/// The buyer in a directory's fixtures.
fn email_of(dir: &str) -> &'static str {
    match dir {
        "hotmart" | "hotmart_v1" | "kiwify" | "eduzz" | "eduzz_legacy" | "greenn"
        | "perfectpay" | "ticto" => EMAIL,
        _ => JOANA,
    }
}

/// Every fixture directory of the newer gateways.
const NEW_DIRS: [&str; 19] = [
    "stripe",
    "asaas",
    "pagarme",
    "hubla",
    "cakto",
    "kirvano",
    "greenn",
    "greenn_v2",
    "perfectpay",
    "ticto",
    "monetizze",
    "braip",
    "lastlink",
    "tmb",
    "payt",
    "herospark",
    "dmguru",
    "xgrow",
    "voomp",
];

/// Stripe and Cakto sign with a time: the fixtures' `t` (2025-01-15 15:30 UTC).
fn signed_at(dir: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    matches!(dir, "stripe" | "cakto")
        .then(|| chrono::DateTime::from_timestamp(1_736_955_000, 0).unwrap())
}

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
        "stripe" => vec![
            (
                "charge_dispute_created",
                Revokes("checkout_session_completed"),
            ),
            ("checkout_session_completed", Grants),
            (
                "customer_subscription_deleted",
                Revokes("invoice_paid_renewal"),
            ),
            ("invoice_paid_renewal", Grants),
            ("invoice_payment_failed", Keeps("invoice_paid_renewal")),
        ],
        // The webhook has no e-mail (the lookup through Asaas's API is issue 10's
        // open part): approvals are ignored, revocations need no buyer.
        "asaas" => vec![
            ("payment_chargeback_requested", NoAccess),
            ("payment_confirmed_subscription", Ignored),
            ("payment_overdue", NoAccess),
            ("payment_received", Ignored),
        ],
        "pagarme" => vec![
            ("charge_chargedback", Revokes("order_paid")),
            ("invoice_paid_renewal", Grants),
            ("order_paid", Grants),
            ("subscription_canceled", EndsLater("invoice_paid_renewal")),
        ],
        "hubla" => vec![
            (
                "customer_member_removed",
                Revokes("invoice_payment_succeeded"),
            ),
            ("invoice_payment_succeeded", Grants),
            (
                "invoice_status_updated_chargeback",
                Revokes("invoice_payment_succeeded"),
            ),
            (
                "subscription_deactivated",
                Revokes("invoice_payment_succeeded"),
            ),
        ],
        "cakto" => vec![
            ("chargeback", Revokes("purchase_approved")),
            ("pix_gerado", NoAccess),
            ("purchase_approved", Grants),
            ("refund", Revokes("purchase_approved")),
            // No fixture of the subscription's own sale: nothing to end.
            ("subscription_canceled", NoAccess),
        ],
        "kirvano" => vec![
            ("sale_approved", Grants),
            ("sale_chargeback", Revokes("sale_approved")),
            ("sale_refunded", Revokes("sale_approved")),
            ("subscription_canceled", NoAccess),
        ],
        "greenn" => vec![
            ("sale_paid", Grants),
            ("sale_refunded", Revokes("sale_paid")),
        ],
        "greenn_v2" => vec![
            ("contract_canceled", EndsLater("contract_paid_renewal")),
            ("contract_paid_renewal", Grants),
            ("lead_checkout_abandoned", NoAccess),
            ("sale_paid_with_order_bump", Grants),
        ],
        "perfectpay" => vec![
            ("approved", Grants),
            ("chargeback", Revokes("approved")),
            ("pending_billet", NoAccess),
            ("precheckout_abandoned", NoAccess),
            ("refunded", Revokes("approved")),
            ("subscription_cancelled", NoAccess),
        ],
        "ticto" => vec![
            ("authorized", Grants),
            ("pix_created", NoAccess),
            ("refunded", Revokes("authorized")),
        ],
        "monetizze" => vec![("cancelada", Revokes("finalizada")), ("finalizada", Grants)],
        "braip" => vec![
            ("devolvida", Revokes("pagamento_aprovado")),
            ("pagamento_aprovado", Grants),
        ],
        "lastlink" => vec![
            ("payment_chargeback", Revokes("purchase_order_confirmed")),
            ("purchase_order_confirmed", Grants),
            ("recurrent_payment", Grants),
            ("subscription_canceled", Revokes("purchase_order_confirmed")),
        ],
        "tmb" => vec![
            ("parcela_vencida", Keeps("pedido_pago_entrada")),
            ("pedido_pago_entrada", Grants),
        ],
        "payt" => vec![
            ("cancelled", NoAccess),
            ("chargeback", Revokes("paid")),
            ("lost_cart", NoAccess),
            ("paid", Grants),
            ("refunded", Revokes("paid")),
            ("subscription_canceled", EndsLater("subscription_renewed")),
            ("subscription_renewed", Grants),
        ],
        "herospark" => vec![
            ("payment_confirmed", Grants),
            ("payment_refunded", Revokes("payment_confirmed")),
        ],
        "dmguru" => vec![
            ("subscription_active_renewal", Grants),
            (
                "subscription_canceled",
                EndsLater("subscription_active_renewal"),
            ),
            ("transaction_approved", Grants),
            ("transaction_chargeback", Revokes("transaction_approved")),
            ("transaction_waiting_payment_pix", NoAccess),
        ],
        "xgrow" => vec![
            ("compra_aprovada", Grants),
            ("compra_estornada", Revokes("compra_aprovada")),
        ],
        "voomp" => vec![
            // Its sale is another one than the fixture's venda_paga.
            ("assinatura_cancelada", NoAccess),
            ("venda_paga", Grants),
        ],
        other => panic!("no expectations for {other}"),
    }
}

fn gateway_of(dir: &str) -> &'static str {
    match dir {
        "hotmart" | "hotmart_v1" => "hotmart",
        "kiwify" => "kiwify",
        "eduzz" | "eduzz_legacy" => "eduzz",
        "greenn" | "greenn_v2" => "greenn",
        // The newer directories are named after their gateway.
        other => NEW_DIRS
            .into_iter()
            .find(|d| *d == other)
            .unwrap_or_else(|| panic!("unknown fixture dir {other}")),
    }
}

/// A fresh gancho with the fixture's key and an inbound URL granting one
/// product, its clock at the fixture's signing time.
async fn setup(dir: &str, stem: &str) -> (TestApp, String, String) {
    let (app, path, product) = setup_at_fixture_time(dir, stem).await;
    if let Some(t) = signed_at(dir) {
        app.clock.advance(t - fixture_time());
    }
    (app, path, product)
}

/// [`setup`] with the clock left at [`fixture_time`].
async fn setup_at_fixture_time(dir: &str, stem: &str) -> (TestApp, String, String) {
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
    let email = email_of(dir);
    match effect {
        Effect::Grants => {
            post_ok(&app, &path, dir, stem, "processed").await;
            assert_eq!(
                app.access(email).await,
                vec![product.clone()],
                "{dir}/{stem}"
            );
        }
        Effect::NoAccess => {
            post_ok(&app, &path, dir, stem, "processed").await;
            assert!(app.access(email).await.is_empty(), "{dir}/{stem}");
        }
        Effect::Ignored => {
            post_ok(&app, &path, dir, stem, "ignored").await;
            assert!(app.student(email).await.is_none(), "{dir}/{stem}");
        }
        Effect::Revokes(before) | Effect::Keeps(before) | Effect::EndsLater(before) => {
            post_ok(&app, &path, dir, before, "processed").await;
            assert_eq!(
                app.access(email).await,
                vec![product.clone()],
                "{dir}/{before}"
            );
            post_ok(&app, &path, dir, stem, "processed").await;
            let after = app.access(email).await;
            match effect {
                Effect::Revokes(_) => assert!(after.is_empty(), "{dir}/{stem} should revoke"),
                Effect::Keeps(_) => assert_eq!(after, vec![product.clone()], "{dir}/{stem}"),
                _ => {
                    assert_eq!(
                        after,
                        vec![product.clone()],
                        "{dir}/{stem} ends later, not now"
                    );
                    let student = app.student(email).await.unwrap();
                    assert!(
                        !student["access"][0]["expires_at"].is_null(),
                        "{dir}/{stem}"
                    );
                    app.clock.advance(chrono::Duration::days(120));
                    app.expire_grants().await;
                    assert!(
                        app.access(email).await.is_empty(),
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
async fn every_stripe_fixture_has_its_effect() {
    check_dir("stripe").await;
}

#[tokio::test]
async fn every_asaas_fixture_has_its_effect() {
    check_dir("asaas").await;
}

#[tokio::test]
async fn every_pagarme_fixture_has_its_effect() {
    check_dir("pagarme").await;
}

#[tokio::test]
async fn every_hubla_fixture_has_its_effect() {
    check_dir("hubla").await;
}

#[tokio::test]
async fn every_cakto_fixture_has_its_effect() {
    check_dir("cakto").await;
}

#[tokio::test]
async fn every_kirvano_fixture_has_its_effect() {
    check_dir("kirvano").await;
}

#[tokio::test]
async fn every_greenn_fixture_has_its_effect() {
    check_dir("greenn").await;
}

#[tokio::test]
async fn every_greenn_v2_fixture_has_its_effect() {
    check_dir("greenn_v2").await;
}

#[tokio::test]
async fn every_perfectpay_fixture_has_its_effect() {
    check_dir("perfectpay").await;
}

#[tokio::test]
async fn every_ticto_fixture_has_its_effect() {
    check_dir("ticto").await;
}

#[tokio::test]
async fn every_monetizze_fixture_has_its_effect() {
    check_dir("monetizze").await;
}

#[tokio::test]
async fn every_braip_fixture_has_its_effect() {
    check_dir("braip").await;
}

#[tokio::test]
async fn every_lastlink_fixture_has_its_effect() {
    check_dir("lastlink").await;
}

#[tokio::test]
async fn every_tmb_fixture_has_its_effect() {
    check_dir("tmb").await;
}

#[tokio::test]
async fn every_payt_fixture_has_its_effect() {
    check_dir("payt").await;
}

#[tokio::test]
async fn every_herospark_fixture_has_its_effect() {
    check_dir("herospark").await;
}

#[tokio::test]
async fn every_dmguru_fixture_has_its_effect() {
    check_dir("dmguru").await;
}

#[tokio::test]
async fn every_xgrow_fixture_has_its_effect() {
    check_dir("xgrow").await;
}

#[tokio::test]
async fn every_voomp_fixture_has_its_effect() {
    check_dir("voomp").await;
}

#[tokio::test]
async fn wrong_secrets_are_401_and_create_no_student() {
    for (dir, stem) in [
        ("hotmart", "purchase_approved"),
        ("hotmart_v1", "approved"),
        ("kiwify", "order_approved"),
        ("eduzz", "invoice_paid"),
        ("eduzz_legacy", "invoice_paid"),
        ("stripe", "checkout_session_completed"),
        ("asaas", "payment_received"),
        ("pagarme", "order_paid"),
        ("hubla", "invoice_payment_succeeded"),
        ("cakto", "purchase_approved"),
        ("kirvano", "sale_approved"),
        ("greenn_v2", "sale_paid_with_order_bump"),
        ("perfectpay", "approved"),
        ("ticto", "authorized"),
        ("monetizze", "finalizada"),
        ("braip", "pagamento_aprovado"),
        ("lastlink", "purchase_order_confirmed"),
        ("tmb", "pedido_pago_entrada"),
        ("payt", "paid"),
        ("herospark", "payment_confirmed"),
        ("dmguru", "transaction_approved"),
        ("xgrow", "compra_aprovada"),
        ("voomp", "venda_paga"),
    ] {
        let app = TestApp::spawn().await;
        if let Some(t) = signed_at(dir) {
            app.clock.advance(t - fixture_time());
        }
        let gateway = gateway_of(dir);
        let wrong = match gateway {
            "stripe" => "whsec_a-different-secret-value",
            "pagarme" => "gancho:a-different-secret-value",
            _ => "a-different-secret-value",
        };
        app.create_key(gateway, wrong).await;
        let product = app.create_product("Curso", json!([])).await;
        let path = app
            .create_inbound_url(json!({"name": "x", "gateway": gateway, "product_ids": [product]}))
            .await;

        let (status, body) = app.post_fixture(&path, &load(dir, stem)).await;

        assert_eq!(status, 401, "{dir}/{stem}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        assert!(app.student(email_of(dir)).await.is_none(), "{dir}/{stem}");
    }
}

#[tokio::test]
async fn an_unsigned_eduzz_hub_call_is_401_even_when_its_origin_secret_is_a_key() {
    let app = TestApp::spawn().await;
    // The producer's origin key rides in every hub body (data.producer.originSecret).
    app.create_key("eduzz", "test-eduzz-origin-key-4b21").await;
    let product = app.create_product("Curso", json!([])).await;
    let path = app
        .create_inbound_url(json!({"name": "x", "gateway": "eduzz", "product_ids": [product]}))
        .await;
    let mut unsigned = load("eduzz", "invoice_paid");
    unsigned
        .headers
        .retain(|(k, _)| !k.eq_ignore_ascii_case("x-signature"));

    let (status, body) = app.post_fixture(&path, &unsigned).await;

    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-signature"),
        "{body}"
    );
    assert!(app.student(EMAIL).await.is_none());
}

#[tokio::test]
async fn a_stale_stripe_or_cakto_signature_is_401() {
    for (dir, stem) in [
        ("stripe", "checkout_session_completed"),
        ("cakto", "purchase_approved"),
    ] {
        // The clock stays at fixture_time(), three hours before the fixtures' `t`.
        let (app, path, _) = setup_at_fixture_time(dir, stem).await;

        let (status, body) = app.post_fixture(&path, &load(dir, stem)).await;

        assert_eq!(status, 401, "{dir}/{stem}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("5-minute"),
            "{body}"
        );
        assert!(app.student(JOANA).await.is_none(), "{dir}/{stem}");
    }
}

#[tokio::test]
async fn the_global_url_detects_every_new_gateway() {
    for dir in NEW_DIRS {
        let stem = expectations(dir)
            .into_iter()
            .find(|(_, e)| *e == Effect::Grants)
            .map(|(s, _)| s);
        let Some(stem) = stem else { continue };
        let app = TestApp::spawn().await;
        if let Some(t) = signed_at(dir) {
            app.clock.advance(t - fixture_time());
        }
        let gateway = gateway_of(dir);
        app.create_key(gateway, &load(dir, stem).secret).await;
        let ws = app.public_id().await;

        let (status, body) = app
            .post_fixture(&format!("/in/{ws}"), &load(dir, stem))
            .await;

        // Detected and verified; the global URL has no product mapped yet.
        assert_eq!(status, 200, "{dir}/{stem}: {body}");
        assert_eq!(body["status"], "ignored", "{dir}/{stem}: {body}");
        assert!(app.access(email_of(dir)).await.is_empty(), "{dir}");
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

#[tokio::test]
async fn an_ambiguous_request_on_the_global_url_is_400_naming_the_candidates() {
    let app = TestApp::spawn().await;
    let paid = load("payt", "paid");
    app.create_key("payt", &paid.secret).await;
    let product = app
        .create_product("Curso", json!([{"gateway": "payt", "id": "PRGANCHO1"}]))
        .await;
    let ws = app.public_id().await;
    // A Payt postback that also has Perfect Pay's shape (`sale_status_enum` and `code`).
    let both = paid.edit(|v| {
        v["sale_status_enum"] = json!(2);
        v["code"] = json!("PPCPMTB5H3745O");
    });

    let (guessed, refusal) = app.post_fixture(&format!("/in/{ws}"), &both).await;
    let (named, answer) = app
        .post_fixture(&format!("/in/{ws}?gateway=payt"), &both)
        .await;

    assert_eq!(guessed, 400, "{refusal}");
    assert_eq!(refusal["error"]["code"], "bad_request");
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(message.contains("perfectpay, payt"), "{message}");
    assert!(message.contains("?gateway=NAME"), "{message}");
    // Named, the same body goes through as the gateway that was named.
    assert_eq!(named, 200, "{answer}");
    assert_eq!(answer["status"], "processed", "{answer}");
    assert_eq!(app.access(JOANA).await, vec![product]);
}
