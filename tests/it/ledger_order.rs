//! The ledger's outcome does not depend on arrival order (issue 15): a
//! property test posts a sale's events through the real server in random
//! orders, some of them at the same moment, and compares the buyer's access
//! with the rules (README, "The ledger's rules of arrival order"). It runs on
//! whichever backend the suite runs on.

use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::join_all;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use crate::helpers::TestApp;
use crate::instances::{sale_event, HOTTOK};

/// The Hotmart events of one sale a case draws from.
const EVENTS: [&str; 5] = [
    "purchase_approved",
    "purchase_approved", // a gateway's retry of the approval
    "purchase_refunded",
    "purchase_chargeback",
    "purchase_canceled",
];

/// What the rules give: access iff the sale was approved and never
/// refunded, charged back or canceled, whatever the order.
fn has_access_by_the_rules(events: &[&str]) -> bool {
    events.contains(&"purchase_approved")
        && !events.iter().any(|e| {
            matches!(
                *e,
                "purchase_refunded" | "purchase_chargeback" | "purchase_canceled"
            )
        })
}

/// A case: events in arrival order, each with whether it arrives together
/// with the one before it (posted at the same moment).
fn a_sale() -> impl Strategy<Value = Vec<(&'static str, bool)>> {
    prop::collection::vec(
        (prop::sample::select(EVENTS.to_vec()), any::<bool>()),
        1..=4,
    )
}

#[test]
fn any_order_of_a_sales_events_ends_as_the_rules_say() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (app, path) = rt.block_on(async {
        let app = TestApp::spawn().await;
        app.create_key("hotmart", HOTTOK).await;
        let product = app.create_product("Curso", json!([])).await;
        let path = app
            .create_inbound_url(
                json!({"name": "Vendas", "gateway": "hotmart", "product_ids": [product]}),
            )
            .await;
        (app, path)
    });
    let next_sale = AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });

    let result = runner.run(&a_sale(), |events| {
        let i = next_sale.fetch_add(1, Ordering::Relaxed);
        let (statuses, access) = rt.block_on(post_in_groups(&app, &path, &events, i));
        let names: Vec<&str> = events.iter().map(|(e, _)| *e).collect();
        prop_assert!(
            statuses.iter().all(|s| *s == 200),
            "every event is answered 200: {statuses:?}"
        );
        prop_assert_eq!(
            !access.is_empty(),
            has_access_by_the_rules(&names),
            "{:?} left access {:?}",
            events,
            access
        );
        Ok(())
    });

    rt.block_on(app.stop());
    result.unwrap();
}

/// Posts the events of sale `i` group by group (a group's events at once)
/// and returns the answers and the buyer's access afterwards.
async fn post_in_groups(
    app: &TestApp,
    path: &str,
    events: &[(&str, bool)],
    i: usize,
) -> (Vec<u16>, Vec<String>) {
    let i = 100_000 + i; // clear of other tests' sales
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for (event, with_previous) in events {
        match groups.last_mut() {
            Some(group) if *with_previous => group.push(event),
            _ => groups.push(vec![event]),
        }
    }
    let headers = [("x-hotmart-hottok".to_string(), HOTTOK.to_string())];
    let mut statuses = Vec::new();
    for group in groups {
        let posts = group.iter().map(|event| {
            app.post_raw(
                path,
                Some("application/json"),
                &headers,
                sale_event(event, i),
            )
        });
        statuses.extend(join_all(posts).await.into_iter().map(|(s, _)| s));
    }
    let access = app.access(&format!("buyer{i}@example.com")).await;
    (statuses, access)
}
