//! Every fixture of every gateway (and legacy format), posted to a real
//! inbound URL, with the answer and the effect on the ledger: as shipped,
//! and again as another sale (new buyer, transaction id and key secret).

use rand::distr::{Alphanumeric, SampleString};
use serde_json::json;

use crate::helpers::fixture::{self, another_transaction, load, Fixture};
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
            ("charge_refunded", Revokes("checkout_session_completed")),
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
            ("payment_refunded", NoAccess),
        ],
        "pagarme" => vec![
            ("charge_chargedback", Revokes("order_paid")),
            ("charge_refunded", Revokes("order_paid")),
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
            ("invoice_refunded", Revokes("invoice_payment_succeeded")),
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
            ("subscription_canceled", EndsLater("subscription_renewed")),
            ("subscription_renewed", Grants),
        ],
        "kirvano" => vec![
            ("sale_approved", Grants),
            ("sale_chargeback", Revokes("sale_approved")),
            ("sale_refunded", Revokes("sale_approved")),
            ("subscription_canceled", EndsLater("subscription_renewed")),
            ("subscription_renewed", Grants),
        ],
        "greenn" => vec![
            ("sale_paid", Grants),
            ("sale_refunded", Revokes("sale_paid")),
        ],
        "greenn_v2" => vec![
            ("contract_canceled", EndsLater("contract_paid_renewal")),
            ("contract_paid_renewal", Grants),
            ("lead_checkout_abandoned", NoAccess),
            ("sale_chargedback", Revokes("sale_paid_with_order_bump")),
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
        "monetizze" => vec![
            ("cancelada", Revokes("finalizada")),
            ("devolvida", Revokes("finalizada")),
            ("finalizada", Grants),
        ],
        "braip" => vec![
            ("chargeback", Revokes("pagamento_aprovado")),
            ("devolvida", Revokes("pagamento_aprovado")),
            ("pagamento_aprovado", Grants),
        ],
        "lastlink" => vec![
            ("payment_chargeback", Revokes("purchase_order_confirmed")),
            ("payment_refund", Revokes("purchase_order_confirmed")),
            ("purchase_order_confirmed", Grants),
            ("recurrent_payment", Grants),
            ("subscription_canceled", Revokes("purchase_order_confirmed")),
        ],
        "tmb" => vec![
            ("parcela_vencida", Keeps("pedido_pago_entrada")),
            ("pedido_cancelado", Revokes("pedido_pago_entrada")),
            ("pedido_pago_entrada", Grants),
        ],
        "payt" => vec![
            ("cancelled", NoAccess),
            ("chargeback", Revokes("paid")),
            ("lost_cart", NoAccess),
            ("paid", Grants),
            ("refunded", Revokes("paid")),
            ("subscription_canceled", EndsLater("subscription_renewed")),
            ("subscription_overdue", Keeps("subscription_renewed")),
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
            ("transaction_refunded", Revokes("transaction_approved")),
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
/// product, its clock left at [`fixture_time`] (not at a signing time).
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

/// How a fixture is posted.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Posting {
    /// Byte for byte, proven with its own secret.
    AsShipped,
    /// As another sale ([`Fixture::into_another_sale`]): the buyer is
    /// [`NEW_BUYER`], the transaction id another one, and the key a fresh
    /// one, the request signed or tokened again with it.
    AsAnotherSale,
}

/// The buyer of every fixture posted as another sale.
const NEW_BUYER: &str = "pedro.novo+gancho@example.org";

/// One gancho with the key and inbound URL to post a directory's fixtures.
struct Case {
    app: TestApp,
    path: String,
    product: String,
    dir: &'static str,
    posting: Posting,
    /// The key's secret.
    secret: String,
    /// The buyer as posted.
    email: &'static str,
}

impl Case {
    /// A fresh gancho, its clock at the fixtures' signing time, with a key
    /// (the fixtures' own, or a fresh one) and an inbound URL granting one product.
    async fn new(dir: &'static str, stem: &str, posting: Posting) -> Self {
        let app = TestApp::spawn().await;
        if let Some(t) = signed_at(dir) {
            app.clock.advance(t - fixture_time());
        }
        let gateway = gateway_of(dir);
        let (secret, email) = match posting {
            Posting::AsShipped => {
                let secret = load(dir, stem).secret;
                app.create_key(gateway, &secret).await;
                (secret, email_of(dir))
            }
            Posting::AsAnotherSale => (fresh_key(&app, gateway).await, NEW_BUYER),
        };
        let product = app
            .create_product("Curso Completo de Excel", json!([]))
            .await;
        let path = app
            .create_inbound_url(
                json!({"name": "Vendas", "gateway": gateway, "product_ids": [product]}),
            )
            .await;
        Self {
            app,
            path,
            product,
            dir,
            posting,
            secret,
            email,
        }
    }

    fn fixture(&self, stem: &str) -> Fixture {
        let f = load(self.dir, stem);
        match self.posting {
            Posting::AsShipped => f,
            Posting::AsAnotherSale => {
                f.into_another_sale(gateway_of(self.dir), NEW_BUYER, &self.secret)
            }
        }
    }

    async fn post_ok(&self, stem: &str, expect: &str) {
        let dir = self.dir;
        let (status, body) = self.app.post_fixture(&self.path, &self.fixture(stem)).await;
        assert_eq!(status, 200, "{dir}/{stem} {:?}: {body}", self.posting);
        assert_eq!(
            body["status"], expect,
            "{dir}/{stem} {:?}: {body}",
            self.posting
        );
        assert!(body["log_id"].as_str().unwrap().starts_with("log_"));
    }

    /// Posts `stem`, then the same bytes again, a duplicate (before the
    /// clock moves on, while a signature's time is still fresh).
    async fn post_twice(&self, stem: &str) {
        self.post_ok(stem, "processed").await;
        self.post_ok(stem, "duplicate").await;
    }

    async fn access(&self) -> Vec<String> {
        self.app.access(self.email).await
    }

    /// The grants of the buyer came from `stem`'s transaction (as posted).
    async fn assert_granted_by(&self, stem: &str) {
        let original = load(self.dir, stem).sale(gateway_of(self.dir));
        let expected = match (self.posting, original.transaction_id) {
            (Posting::AsShipped, id) => id,
            // HeroSpark's template has no payment id: the e-mail stands in.
            (Posting::AsAnotherSale, Some(id)) if Some(&id) == original.email.as_ref() => {
                Some(NEW_BUYER.to_string())
            }
            (Posting::AsAnotherSale, id) => id.map(|t| another_transaction(&t)),
        };
        let student = self.app.student(self.email).await.unwrap();
        for grant in student["access"].as_array().unwrap() {
            assert_eq!(
                grant["source"]["transaction_id"].as_str(),
                expected.as_deref(),
                "{}/{stem} {:?}: {grant}",
                self.dir,
                self.posting
            );
        }
    }
}

/// A key of `gateway` with a fresh secret: gancho makes one, except for
/// Stripe, whose secret only Stripe makes (so any new `whsec_` value).
async fn fresh_key(app: &TestApp, gateway: &str) -> String {
    let key = if gateway == "stripe" {
        let random = Alphanumeric.sample_string(&mut rand::rng(), 32);
        app.create_key(gateway, &format!("whsec_{random}")).await
    } else {
        app.post("/keys", json!({"gateway": gateway})).await
    };
    key["secret"].as_str().unwrap().to_string()
}

async fn check_fixture(dir: &'static str, stem: &str, effect: Effect, posting: Posting) {
    let case = Case::new(dir, stem, posting).await;
    let product = vec![case.product.clone()];
    match effect {
        Effect::Grants => {
            case.post_twice(stem).await;
            assert_eq!(case.access().await, product, "{dir}/{stem}");
            case.assert_granted_by(stem).await;
        }
        Effect::NoAccess => {
            case.post_twice(stem).await;
            assert!(case.access().await.is_empty(), "{dir}/{stem}");
        }
        Effect::Ignored => {
            // Ignored calls are not deduplicated (Eduzz's ping comes again and again).
            case.post_ok(stem, "ignored").await;
            assert!(case.app.student(case.email).await.is_none(), "{dir}/{stem}");
        }
        Effect::Revokes(before) | Effect::Keeps(before) | Effect::EndsLater(before) => {
            case.post_ok(before, "processed").await;
            assert_eq!(case.access().await, product, "{dir}/{before}");
            case.assert_granted_by(before).await;
            case.post_twice(stem).await;
            let after = case.access().await;
            match effect {
                Effect::Revokes(_) => assert!(after.is_empty(), "{dir}/{stem} should revoke"),
                Effect::Keeps(_) => assert_eq!(after, product, "{dir}/{stem}"),
                _ => {
                    assert_eq!(after, product, "{dir}/{stem} ends later, not now");
                    let student = case.app.student(case.email).await.unwrap();
                    assert!(
                        !student["access"][0]["expires_at"].is_null(),
                        "{dir}/{stem}"
                    );
                    case.app.clock.advance(chrono::Duration::days(120));
                    case.app.expire_grants().await;
                    assert!(
                        case.access().await.is_empty(),
                        "{dir}/{stem} after the period"
                    );
                }
            }
        }
    }
    if posting == Posting::AsAnotherSale {
        let original = email_of(dir);
        assert!(
            case.app.student(original).await.is_none(),
            "{dir}/{stem}: nothing reached the fixture's own buyer"
        );
    }
}

async fn check_dir(dir: &'static str, posting: Posting) {
    let table = expectations(dir);
    let stems = fixture::stems(dir);
    let listed: Vec<&str> = table.iter().map(|(s, _)| *s).collect();
    assert_eq!(stems, listed, "every fixture of {dir} has an expectation");
    for (stem, effect) in table {
        check_fixture(dir, stem, effect, posting).await;
    }
}

#[tokio::test]
async fn every_hotmart_v2_fixture_has_its_effect() {
    check_dir("hotmart", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_hotmart_v2_fixture_as_another_sale_has_its_effect() {
    check_dir("hotmart", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_hotmart_v1_fixture_has_its_effect() {
    check_dir("hotmart_v1", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_hotmart_v1_fixture_as_another_sale_has_its_effect() {
    check_dir("hotmart_v1", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_kiwify_fixture_has_its_effect() {
    check_dir("kiwify", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_kiwify_fixture_as_another_sale_has_its_effect() {
    check_dir("kiwify", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_eduzz_hub_fixture_has_its_effect() {
    check_dir("eduzz", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_eduzz_hub_fixture_as_another_sale_has_its_effect() {
    check_dir("eduzz", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_eduzz_legacy_fixture_has_its_effect() {
    check_dir("eduzz_legacy", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_eduzz_legacy_fixture_as_another_sale_has_its_effect() {
    check_dir("eduzz_legacy", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_stripe_fixture_has_its_effect() {
    check_dir("stripe", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_stripe_fixture_as_another_sale_has_its_effect() {
    check_dir("stripe", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_asaas_fixture_has_its_effect() {
    check_dir("asaas", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_asaas_fixture_as_another_sale_has_its_effect() {
    check_dir("asaas", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_pagarme_fixture_has_its_effect() {
    check_dir("pagarme", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_pagarme_fixture_as_another_sale_has_its_effect() {
    check_dir("pagarme", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_hubla_fixture_has_its_effect() {
    check_dir("hubla", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_hubla_fixture_as_another_sale_has_its_effect() {
    check_dir("hubla", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_cakto_fixture_has_its_effect() {
    check_dir("cakto", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_cakto_fixture_as_another_sale_has_its_effect() {
    check_dir("cakto", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_kirvano_fixture_has_its_effect() {
    check_dir("kirvano", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_kirvano_fixture_as_another_sale_has_its_effect() {
    check_dir("kirvano", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_greenn_fixture_has_its_effect() {
    check_dir("greenn", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_greenn_fixture_as_another_sale_has_its_effect() {
    check_dir("greenn", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_greenn_v2_fixture_has_its_effect() {
    check_dir("greenn_v2", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_greenn_v2_fixture_as_another_sale_has_its_effect() {
    check_dir("greenn_v2", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_perfectpay_fixture_has_its_effect() {
    check_dir("perfectpay", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_perfectpay_fixture_as_another_sale_has_its_effect() {
    check_dir("perfectpay", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_ticto_fixture_has_its_effect() {
    check_dir("ticto", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_ticto_fixture_as_another_sale_has_its_effect() {
    check_dir("ticto", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_monetizze_fixture_has_its_effect() {
    check_dir("monetizze", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_monetizze_fixture_as_another_sale_has_its_effect() {
    check_dir("monetizze", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_braip_fixture_has_its_effect() {
    check_dir("braip", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_braip_fixture_as_another_sale_has_its_effect() {
    check_dir("braip", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_lastlink_fixture_has_its_effect() {
    check_dir("lastlink", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_lastlink_fixture_as_another_sale_has_its_effect() {
    check_dir("lastlink", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_tmb_fixture_has_its_effect() {
    check_dir("tmb", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_tmb_fixture_as_another_sale_has_its_effect() {
    check_dir("tmb", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_payt_fixture_has_its_effect() {
    check_dir("payt", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_payt_fixture_as_another_sale_has_its_effect() {
    check_dir("payt", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_herospark_fixture_has_its_effect() {
    check_dir("herospark", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_herospark_fixture_as_another_sale_has_its_effect() {
    check_dir("herospark", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_dmguru_fixture_has_its_effect() {
    check_dir("dmguru", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_dmguru_fixture_as_another_sale_has_its_effect() {
    check_dir("dmguru", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_xgrow_fixture_has_its_effect() {
    check_dir("xgrow", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_xgrow_fixture_as_another_sale_has_its_effect() {
    check_dir("xgrow", Posting::AsAnotherSale).await;
}

#[tokio::test]
async fn every_voomp_fixture_has_its_effect() {
    check_dir("voomp", Posting::AsShipped).await;
}

#[tokio::test]
async fn every_voomp_fixture_as_another_sale_has_its_effect() {
    check_dir("voomp", Posting::AsAnotherSale).await;
}

/// One approval of each fixture directory.
const ONE_SALE_PER_DIR: [(&str, &str); 24] = [
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
    ("greenn", "sale_paid"),
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
];

#[tokio::test]
async fn wrong_secrets_are_401_and_create_no_student() {
    for (dir, stem) in ONE_SALE_PER_DIR {
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
async fn a_missing_proof_is_401_and_creates_no_student() {
    for (dir, stem) in ONE_SALE_PER_DIR {
        let app = TestApp::spawn().await;
        if let Some(t) = signed_at(dir) {
            app.clock.advance(t - fixture_time());
        }
        let gateway = gateway_of(dir);
        let f = load(dir, stem);
        app.create_key(gateway, &f.secret).await;
        let product = app.create_product("Curso", json!([])).await;
        let path = app
            .create_inbound_url(json!({"name": "x", "gateway": gateway, "product_ids": [product]}))
            .await;
        let unproven = f.without_proof();

        let (status, body) = app.post_fixture(&path, &unproven).await;

        assert_eq!(status, 401, "{dir}/{stem}: {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{dir}/{stem}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("missing proof"),
            "{dir}/{stem}: {message}"
        );
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
