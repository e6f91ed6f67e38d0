//! Stripe invoices name a price and the product behind it: a creator maps
//! either to a gancho product (`external_ids`), in both of Stripe's invoice
//! layouts (before and after API version 2025-03-31).

use serde_json::{json, Value};

use crate::helpers::fixture::load;
use crate::helpers::{ClockExt, Fixture, TestApp};

const SECRET: &str = "whsec_test_gancho_5f3c9a1b2d4e6f708192a3b4";

/// The renewal invoice fixture as another sale (its own invoice, event,
/// buyer and subscription), edited by `change`, signed now.
fn invoice(app: &TestApp, n: u32, change: impl FnOnce(&mut Value)) -> (Fixture, String) {
    let email = format!("comprador{n}@example.com");
    let text = String::from_utf8(load("stripe", "invoice_paid_renewal").body)
        .unwrap()
        .replace("in_1QhGanchoRenew0003", &format!("in_gancho{n}"))
        .replace("pi_3QhGanchoRenew0003", &format!("pi_gancho{n}"))
        .replace("ch_3QhGanchoRenew0003", &format!("ch_gancho{n}"))
        .replace("evt_1QhGanchoInvPaid03", &format!("evt_gancho{n}"))
        .replace("sub_1QhGanchoJoana01", &format!("sub_gancho{n}"))
        .replace("joana.exemplo@example.com", &email);
    let mut body: Value = serde_json::from_str(&text).unwrap();
    change(&mut body);
    let f = load("stripe", "invoice_paid_renewal")
        .with_json(&body)
        .sign_stripe(SECRET, app.clock.now_utc().timestamp());
    (f, email)
}

#[tokio::test]
async fn a_stripe_invoice_grants_the_product_mapped_by_its_price_or_by_its_product() {
    let app = TestApp::spawn().await;
    app.create_key("stripe", SECRET).await;
    let by_product = app
        .create_product(
            "Mentoria",
            json!([{"gateway": "stripe", "id": "prod_RgAnchoMentoria"}]),
        )
        .await;
    let by_price = app
        .create_product(
            "Mentoria Anual",
            json!([{"gateway": "stripe", "id": "price_gancho_anual"}]),
        )
        .await;
    let global = format!("/in/{}?gateway=stripe", app.public_id().await);

    // Before 2025-03-31: lines.data[].price {id, product}. Its price maps to
    // nothing, its product does.
    let (old_layout, old_buyer) = invoice(&app, 1, |_| {});
    // After: lines.data[].pricing.price_details {price, product}, and the
    // subscription under parent.subscription_details. Its price is mapped.
    let (new_layout, new_buyer) = invoice(&app, 2, |b| {
        let inv = &mut b["data"]["object"];
        let sub = inv["subscription"].take();
        inv["parent"] =
            json!({"type": "subscription_details", "subscription_details": {"subscription": sub}});
        let line = &mut inv["lines"]["data"][0];
        line["price"] = Value::Null;
        line["pricing"] = json!({
            "type": "price_details",
            "price_details": {"price": "price_gancho_anual", "product": "prod_RgAnchoMentoria"}
        });
    });
    // A price and a product that map to nothing: ignored, not granted.
    let (unmapped, unmapped_buyer) = invoice(&app, 3, |b| {
        b["data"]["object"]["lines"]["data"][0]["price"] =
            json!({"id": "price_other", "product": "prod_other"});
    });

    let old = app.post_fixture(&global, &old_layout).await;
    let new = app.post_fixture(&global, &new_layout).await;
    let none = app.post_fixture(&global, &unmapped).await;

    assert_eq!((old.0, old.1["status"].as_str()), (200, Some("processed")));
    assert_eq!(app.access(&old_buyer).await, vec![by_product.clone()]);
    assert_eq!((new.0, new.1["status"].as_str()), (200, Some("processed")));
    assert_eq!(
        app.access(&new_buyer).await,
        vec![by_price],
        "the price is tried before the product"
    );
    assert_eq!((none.0, none.1["status"].as_str()), (200, Some("ignored")));
    assert!(app.access(&unmapped_buyer).await.is_empty());
    let student = app.student(&new_buyer).await.unwrap();
    assert_eq!(
        student["access"][0]["source"]["subscription_id"],
        "sub_gancho2"
    );
}
