//! Sample notifications for the "Testar" panel: an approval and a refund
//! of each gateway, the same files the test suite verifies
//! (`tests/fixtures/gateways`), compiled in. Their proofs carry the
//! fixtures' test secrets, so against a real key the dry run says the
//! proof would fail: which is what such a call would meet.
//!
//! Generated from the fixtures' `.meta.json` files; regenerate when a
//! fixture is added rather than editing by hand.

use crate::model::GatewayKind;

pub struct Sample {
    pub gateway: GatewayKind,
    pub name: &'static str,
    pub content_type: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub query: &'static [(&'static str, &'static str)],
    pub body: &'static str,
}

pub const SAMPLES: &[Sample] = &[
    Sample {
        gateway: GatewayKind::Asaas,
        name: "payment_received",
        content_type: "application/json",
        headers: &[("asaas-access-token", "test-asaas-access-token-3e7d")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/asaas/payment_received.json"),
    },
    Sample {
        gateway: GatewayKind::Asaas,
        name: "payment_refunded",
        content_type: "application/json",
        headers: &[("asaas-access-token", "test-asaas-access-token-3e7d")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/asaas/payment_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Braip,
        name: "pagamento_aprovado",
        content_type: "application/x-www-form-urlencoded",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/braip/pagamento_aprovado.txt"),
    },
    Sample {
        gateway: GatewayKind::Braip,
        name: "devolvida",
        content_type: "application/x-www-form-urlencoded",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/braip/devolvida.txt"),
    },
    Sample {
        gateway: GatewayKind::Cakto,
        name: "purchase_approved",
        content_type: "application/json",
        headers: &[
            ("User-Agent", "CaktoBot/1.0"),
            ("X-Cakto-Timestamp", "1736955000"),
            (
                "X-Cakto-Signature",
                "v1=cfdadd8d618bdb76f4051955a8a98d6cdc57b0461aa75d22e1e0c3014b879486",
            ),
        ],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/cakto/purchase_approved.json"),
    },
    Sample {
        gateway: GatewayKind::Cakto,
        name: "refund",
        content_type: "application/json",
        headers: &[
            ("User-Agent", "CaktoBot/1.0"),
            ("X-Cakto-Timestamp", "1736955000"),
            (
                "X-Cakto-Signature",
                "v1=532485e118ec902ef96acaa7eaf5e1f629082e37513375a165db35aade45d583",
            ),
        ],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/cakto/refund.json"),
    },
    Sample {
        gateway: GatewayKind::DmGuru,
        name: "transaction_approved",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/dmguru/transaction_approved.json"),
    },
    Sample {
        gateway: GatewayKind::DmGuru,
        name: "transaction_refunded",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/dmguru/transaction_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Eduzz,
        name: "invoice_paid",
        content_type: "application/json",
        headers: &[(
            "x-signature",
            "1c2cec5572f93a625a8abca5d60fbc358466c2d4aff3ec504bf5b4ca77634d70",
        )],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/eduzz/invoice_paid.json"),
    },
    Sample {
        gateway: GatewayKind::Eduzz,
        name: "invoice_refunded",
        content_type: "application/json",
        headers: &[(
            "x-signature",
            "af43c6380e05a9c57e5d632262196a36007816395f1546c86c8e4d635390a710",
        )],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/eduzz/invoice_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Greenn,
        name: "sale_paid",
        content_type: "application/json",
        headers: &[],
        query: &[("token", "test-greenn-url-token-8a8a")],
        body: include_str!("../../tests/fixtures/gateways/greenn/sale_paid.json"),
    },
    Sample {
        gateway: GatewayKind::Greenn,
        name: "sale_refunded",
        content_type: "application/json",
        headers: &[],
        query: &[("token", "test-greenn-url-token-8a8a")],
        body: include_str!("../../tests/fixtures/gateways/greenn/sale_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::HeroSpark,
        name: "payment_confirmed",
        content_type: "application/json",
        headers: &[("X-Gancho-Token", "test-herospark-header-token-21aa")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/herospark/payment_confirmed.json"),
    },
    Sample {
        gateway: GatewayKind::HeroSpark,
        name: "payment_refunded",
        content_type: "application/json",
        headers: &[("X-Gancho-Token", "test-herospark-header-token-21aa")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/herospark/payment_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Hotmart,
        name: "purchase_approved",
        content_type: "application/json",
        headers: &[("X-HOTMART-HOTTOK", "test-hottok-Xk3p9QmZ2v8T")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/hotmart/purchase_approved.json"),
    },
    Sample {
        gateway: GatewayKind::Hotmart,
        name: "purchase_refunded",
        content_type: "application/json",
        headers: &[("X-HOTMART-HOTTOK", "test-hottok-Xk3p9QmZ2v8T")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/hotmart/purchase_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Hubla,
        name: "invoice_payment_succeeded",
        content_type: "application/json",
        headers: &[
            ("x-hubla-token", "test-hubla-token-b8f2a6"),
            ("x-hubla-idempotency", "e5f6a7b8-gancho-idem-0001"),
            ("x-hubla-sandbox", "false"),
        ],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/hubla/invoice_payment_succeeded.json"),
    },
    Sample {
        gateway: GatewayKind::Hubla,
        name: "invoice_refunded",
        content_type: "application/json",
        headers: &[
            ("x-hubla-token", "test-hubla-token-b8f2a6"),
            ("x-hubla-idempotency", "e5f6a7b8-gancho-idem-0002"),
            ("x-hubla-sandbox", "false"),
        ],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/hubla/invoice_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Kirvano,
        name: "sale_approved",
        content_type: "application/json",
        headers: &[("security-token", "test-kirvano-security-token-44d1")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/kirvano/sale_approved.json"),
    },
    Sample {
        gateway: GatewayKind::Kirvano,
        name: "sale_refunded",
        content_type: "application/json",
        headers: &[("security-token", "test-kirvano-security-token-44d1")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/kirvano/sale_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Kiwify,
        name: "order_approved",
        content_type: "application/json",
        headers: &[],
        query: &[("signature", "eec915732a8d54ac6cefe529f4706598a7460601")],
        body: include_str!("../../tests/fixtures/gateways/kiwify/order_approved.json"),
    },
    Sample {
        gateway: GatewayKind::Kiwify,
        name: "order_refunded",
        content_type: "application/json",
        headers: &[],
        query: &[("signature", "8579db5dcd2921ef5f331d5ac97a34ee0c09efd2")],
        body: include_str!("../../tests/fixtures/gateways/kiwify/order_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::LastLink,
        name: "purchase_order_confirmed",
        content_type: "application/json",
        headers: &[],
        query: &[("token", "test-lastlink-url-token-3c3c")],
        body: include_str!("../../tests/fixtures/gateways/lastlink/purchase_order_confirmed.json"),
    },
    Sample {
        gateway: GatewayKind::LastLink,
        name: "payment_refund",
        content_type: "application/json",
        headers: &[],
        query: &[("token", "test-lastlink-url-token-3c3c")],
        body: include_str!("../../tests/fixtures/gateways/lastlink/payment_refund.json"),
    },
    Sample {
        gateway: GatewayKind::Monetizze,
        name: "finalizada",
        content_type: "application/x-www-form-urlencoded",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/monetizze/finalizada.txt"),
    },
    Sample {
        gateway: GatewayKind::Monetizze,
        name: "devolvida",
        content_type: "application/x-www-form-urlencoded",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/monetizze/devolvida.txt"),
    },
    Sample {
        gateway: GatewayKind::Pagarme,
        name: "order_paid",
        content_type: "application/json",
        headers: &[(
            "Authorization",
            "Basic Z2FuY2hvOnRlc3QtcGFnYXJtZS1iYXNpYy1wYXNzLTkxYzI=",
        )],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/pagarme/order_paid.json"),
    },
    Sample {
        gateway: GatewayKind::Pagarme,
        name: "charge_refunded",
        content_type: "application/json",
        headers: &[(
            "Authorization",
            "Basic Z2FuY2hvOnRlc3QtcGFnYXJtZS1iYXNpYy1wYXNzLTkxYzI=",
        )],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/pagarme/charge_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Payt,
        name: "paid",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/payt/paid.json"),
    },
    Sample {
        gateway: GatewayKind::Payt,
        name: "refunded",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/payt/refunded.json"),
    },
    Sample {
        gateway: GatewayKind::PerfectPay,
        name: "approved",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/perfectpay/approved.json"),
    },
    Sample {
        gateway: GatewayKind::PerfectPay,
        name: "refunded",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/perfectpay/refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Stripe,
        name: "checkout_session_completed",
        content_type: "application/json; charset=utf-8",
        headers: &[(
            "Stripe-Signature",
            "t=1736955000,v1=2c0820248ae35c66cb0c2cf65c992e2994fed6768e43611973c995527abe5cdb",
        )],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/stripe/checkout_session_completed.json"),
    },
    Sample {
        gateway: GatewayKind::Stripe,
        name: "charge_refunded",
        content_type: "application/json; charset=utf-8",
        headers: &[(
            "Stripe-Signature",
            "t=1736955000,v1=679365a9e49c178939da65ea780779bdf49c09184f7cab909ad1c836677fab26",
        )],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/stripe/charge_refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Ticto,
        name: "authorized",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/ticto/authorized.json"),
    },
    Sample {
        gateway: GatewayKind::Ticto,
        name: "refunded",
        content_type: "application/json",
        headers: &[],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/ticto/refunded.json"),
    },
    Sample {
        gateway: GatewayKind::Tmb,
        name: "pedido_pago_entrada",
        content_type: "application/json",
        headers: &[("X-Gancho-Token", "test-tmb-header-token-6e6e")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/tmb/pedido_pago_entrada.json"),
    },
    Sample {
        gateway: GatewayKind::Tmb,
        name: "pedido_cancelado",
        content_type: "application/json",
        headers: &[("X-Gancho-Token", "test-tmb-header-token-6e6e")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/tmb/pedido_cancelado.json"),
    },
    Sample {
        gateway: GatewayKind::Voomp,
        name: "venda_paga",
        content_type: "application/json",
        headers: &[],
        query: &[("token", "test-voomp-url-token-0c0c")],
        body: include_str!("../../tests/fixtures/gateways/voomp/venda_paga.json"),
    },
    Sample {
        gateway: GatewayKind::Voomp,
        name: "assinatura_cancelada",
        content_type: "application/json",
        headers: &[],
        query: &[("token", "test-voomp-url-token-0c0c")],
        body: include_str!("../../tests/fixtures/gateways/voomp/assinatura_cancelada.json"),
    },
    Sample {
        gateway: GatewayKind::Xgrow,
        name: "compra_aprovada",
        content_type: "application/json",
        headers: &[("Authorization", "Bearer test-xgrow-key-5d5d")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/xgrow/compra_aprovada.json"),
    },
    Sample {
        gateway: GatewayKind::Xgrow,
        name: "compra_estornada",
        content_type: "application/json",
        headers: &[("Authorization", "Bearer test-xgrow-key-5d5d")],
        query: &[],
        body: include_str!("../../tests/fixtures/gateways/xgrow/compra_estornada.json"),
    },
];

/// The samples of one gateway.
pub fn of(gateway: GatewayKind) -> impl Iterator<Item = (usize, &'static Sample)> {
    SAMPLES
        .iter()
        .enumerate()
        .filter(move |(_, s)| s.gateway == gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_gateways_have_samples() {
        let with = GatewayKind::ALL
            .into_iter()
            .filter(|g| of(*g).next().is_some())
            .count();
        assert!(with >= 20, "{with}");
    }
}
