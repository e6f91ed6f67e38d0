//! One slow endpoint must not hold up everyone else's webhooks (issue 14):
//! with one endpoint that reads requests and never answers and one that
//! answers at once, the healthy one's deliveries arrive promptly, and once
//! the hung one answers again it gets every delivery it missed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;

use crate::cli::{database, start_with, stop};
use crate::helpers::receiver::Receiver;
use crate::instances::{post, sale, setup, TOKEN};

const SALES: usize = 200;
/// The send timeout the tests set, and gancho's default per-endpoint cap.
const TIMEOUT: Duration = Duration::from_secs(3);
const MAX_IN_FLIGHT: usize = 16;

/// The settings both tests run with: a short send timeout and retry
/// schedule, and a breaker that probes again after a second.
fn settings(db_url: &Option<String>) -> Vec<(&str, &str)> {
    let mut env = vec![
        ("GANCHO_ADMIN_TOKEN", TOKEN),
        ("GANCHO_ALLOW_PRIVATE_TARGETS", "true"),
        ("GANCHO_DELIVERY_TIMEOUT", "3s"), // TIMEOUT
        ("GANCHO_RETRY_SCHEDULE", "0s,1s,1s,1s,1s,1s,1s,1s,1s,1s"),
        ("GANCHO_BREAKER_COOLDOWN", "1s"),
        ("GANCHO_LOG", "warn,gancho::app=info"),
    ];
    if let Some(url) = db_url {
        env.push(("GANCHO_DATABASE_URL", url.as_str()));
    }
    env
}

async fn add_endpoint(client: &reqwest::Client, addr: &str, name: &str, url: &str) {
    let resp = client
        .post(format!("http://{addr}/api/v1/endpoints"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": name, "url": url, "event_types": ["access.granted"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
}

/// Posts the sales round-robin over `addrs`; returns when each was acknowledged.
async fn post_sales(
    client: &reqwest::Client,
    addrs: &[String],
    path: &str,
) -> HashMap<String, Instant> {
    let acked: Vec<(String, Instant)> = stream::iter(0..SALES)
        .map(|i| {
            let (client, addr, path) = (
                client.clone(),
                addrs[i % addrs.len()].clone(),
                path.to_string(),
            );
            async move {
                let answer = post(&client, &addr, &path, sale(i)).await;
                assert_eq!(answer.as_deref(), Ok("processed"), "sale {i}");
                (format!("MI-{i}"), Instant::now())
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    acked.into_iter().collect()
}

/// Event-to-delivery latencies at `receiver`: from the sale's `200` to the
/// arrival of its `access.granted`.
fn latencies(receiver: &Receiver, acked: &HashMap<String, Instant>) -> Vec<Duration> {
    let mut seen = std::collections::HashSet::new();
    let mut all: Vec<Duration> = receiver
        .received()
        .iter()
        .filter(|r| seen.insert(r.header("webhook-id").to_string()))
        .map(|r| {
            let tx = r.json()["data"]["source"]["transaction_id"]
                .as_str()
                .unwrap()
                .to_string();
            r.at.saturating_duration_since(acked[&tx])
        })
        .collect();
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// The most requests `receiver` was holding unanswered at one moment (each
/// hung request is held until the sender gives up after `timeout`).
fn most_at_once(receiver: &Receiver, timeout: Duration) -> usize {
    let hung: Vec<Instant> = receiver
        .received()
        .iter()
        .filter(|r| r.is_hung)
        .map(|r| r.at)
        .collect();
    // A little under the timeout: the sender's clock started before arrival.
    let window = timeout.saturating_sub(Duration::from_millis(200));
    hung.iter()
        .map(|start| {
            hung.iter()
                .filter(|t| **t >= *start && **t < *start + window)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Waits (bounded) until `receiver` answered `n` distinct deliveries.
async fn wait_answered(receiver: &Receiver, n: usize, within: Duration) -> usize {
    let started = Instant::now();
    loop {
        let mut ids: Vec<String> = receiver
            .received()
            .iter()
            .filter(|r| !r.is_hung)
            .map(|r| r.header("webhook-id").to_string())
            .collect();
        ids.sort();
        ids.dedup();
        if ids.len() >= n || started.elapsed() > within {
            return ids.len();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the scenario against `addrs` (one or more instances on one
/// database); without `is_hanging` the second endpoint answers too (the
/// baseline).
async fn hung_and_healthy(addrs: &[String], label: &str, is_hanging: bool) {
    let client = crate::helpers::http();
    let path = setup(&client, &addrs[0], None).await;
    let (healthy, hung) = (Receiver::spawn().await, Receiver::spawn().await);
    hung.hang(is_hanging);
    add_endpoint(&client, &addrs[0], "CRM travado", &hung.url).await;
    add_endpoint(&client, &addrs[0], "Planilha", &healthy.url).await;

    let acked = post_sales(&client, addrs, &path).await;
    let healthy_got = wait_answered(&healthy, SALES, Duration::from_secs(120)).await;
    let lat = latencies(&healthy, &acked);
    let most_held = most_at_once(&hung, TIMEOUT);
    hung.hang(false);
    let hung_got = wait_answered(&hung, SALES, Duration::from_secs(90)).await;

    eprintln!(
        "{label}: healthy endpoint's event-to-delivery p50 {:?}, p90 {:?}, max {:?} ({} deliveries); \
         the hung one got {hung_got} of {SALES} once it answered",
        percentile(&lat, 50),
        percentile(&lat, 90),
        lat.last().copied().unwrap_or_default(),
        lat.len(),
    );
    assert_eq!(
        healthy_got, SALES,
        "every delivery reached the healthy endpoint"
    );
    assert!(
        percentile(&lat, 90) < Duration::from_secs(2),
        "the healthy endpoint's p90 stays under 2 s with a hung neighbour"
    );
    assert_eq!(
        hung_got, SALES,
        "every delivery to the hung endpoint arrives once it answers"
    );
    assert!(
        most_held <= MAX_IN_FLIGHT,
        "the hung endpoint held at most {MAX_IN_FLIGHT} sends at once, across instances: {most_held}"
    );
}

#[tokio::test]
async fn a_hung_endpoint_does_not_hold_up_a_healthy_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = database().await;
    let (server, addr, _) = start_with(dir.path(), &settings(&url));

    hung_and_healthy(&[addr], "one instance, one endpoint hung", true).await;

    stop(server);
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn a_hung_endpoint_does_not_hold_up_a_healthy_one_across_two_instances() {
    // Several instances share one PostgreSQL database.
    crate::helpers::db::pg_required();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_db, url) = database().await;
    let env = settings(&url);
    let (a, addr_a, _) = start_with(dir_a.path(), &env);
    let (b, addr_b, _) = start_with(dir_b.path(), &env);

    hung_and_healthy(&[addr_a, addr_b], "two instances, one endpoint hung", true).await;

    stop(a);
    stop(b);
}

#[tokio::test]
async fn with_no_endpoint_hung_deliveries_arrive_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = database().await;
    let (server, addr, _) = start_with(dir.path(), &settings(&url));

    hung_and_healthy(&[addr], "one instance, nothing hung (baseline)", false).await;

    stop(server);
}
