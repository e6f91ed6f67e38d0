//! Issue 11, build item 1: under continuous inbound load and outbound
//! delivery, the server is SIGKILLed at random moments ten times and
//! restarted each time; on SQLite one process, on PostgreSQL two instances
//! (one of them killed each time). At the end every call answered `200` is
//! in the ledger exactly once with its effect, and every event was
//! delivered at least once. The counts are printed.

use std::collections::BTreeSet;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{RngExt, SeedableRng};

use crate::cli::{start_with, stop};
use crate::helpers::db::{pg_required, query, PgDatabase};
use crate::helpers::receiver::Receiver;
use crate::instances::{post, sale, setup, TOKEN};

const KILLS: usize = 10;
/// Gateways posting at once.
const SENDERS: usize = 4;

/// The instances under test: their processes and addresses (shared with
/// the senders, which post to whichever is up).
struct Fleet {
    dirs: Vec<tempfile::TempDir>,
    env: Vec<(String, String)>,
    children: Vec<Child>,
    addrs: Arc<Mutex<Vec<String>>>,
}

impl Fleet {
    fn start(n: usize, env: Vec<(String, String)>) -> Self {
        let dirs: Vec<tempfile::TempDir> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let mut fleet = Self {
            dirs,
            env,
            children: Vec::new(),
            addrs: Arc::default(),
        };
        for i in 0..n {
            let (child, addr) = fleet.spawn(i);
            fleet.children.push(child);
            fleet.addrs.lock().unwrap().push(addr);
        }
        fleet
    }

    fn spawn(&self, i: usize) -> (Child, String) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (child, addr, _) = start_with(self.dirs[i].path(), &env);
        (child, addr)
    }

    /// SIGKILLs instance `i` and starts it again (on a new port).
    fn kill_and_restart(&mut self, i: usize) {
        self.children[i].kill().unwrap();
        self.children[i].wait().unwrap();
        let (child, addr) = self.spawn(i);
        self.children[i] = child;
        self.addrs.lock().unwrap()[i] = addr;
    }

    fn stop(self) {
        for child in self.children {
            stop(child);
        }
    }
}

/// Posts sales `first, first + SENDERS, …` until told to stop, retrying a
/// call that got no 200 (as a gateway does); returns the acknowledged ones.
async fn sender(
    first: usize,
    addrs: Arc<Mutex<Vec<String>>>,
    path: String,
    done: Arc<AtomicBool>,
) -> Vec<usize> {
    let client = crate::helpers::http();
    let mut acked = Vec::new();
    let mut i = first;
    let mut turn = first;
    while !done.load(Ordering::Relaxed) {
        let addr = {
            let addrs = addrs.lock().unwrap();
            addrs[turn % addrs.len()].clone()
        };
        turn += 1;
        match post(&client, &addr, &path, sale(i)).await {
            Ok(s) if s == "processed" || s == "duplicate" => {
                acked.push(i);
                i += SENDERS;
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    acked
}

async fn scalar(url: &str, sql: &str) -> i64 {
    query(url, sql).await[0].int("n")
}

/// Runs the load, the kills, and the checks on the fleet's database at `url`.
async fn crash_under_load(label: &str, mut fleet: Fleet, url: &str) {
    let seed: u64 = rand::rng().random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let receiver = Receiver::spawn().await;
    let client = crate::helpers::http();
    let first = fleet.addrs.lock().unwrap()[0].clone();
    let path = setup(&client, &first, Some(&receiver)).await;
    let done = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| tokio::spawn(sender(s, fleet.addrs.clone(), path.clone(), done.clone())))
        .collect();

    for k in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..900))).await;
        let victim = k % fleet.children.len();
        fleet.kill_and_restart(victim);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, Ordering::Relaxed);
    let mut acked = BTreeSet::new();
    for s in senders {
        acked.extend(s.await.unwrap());
    }
    // Let the survivors deliver everything (a killed instance's in-flight
    // sends are taken over once their leases run out).
    let mut undelivered = -1;
    for _ in 0..600 {
        undelivered = scalar(
            url,
            "SELECT COUNT(*) AS n FROM deliveries WHERE status <> 'success'",
        )
        .await;
        if undelivered == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    fleet.stop();

    let applied = scalar(url, "SELECT COUNT(*) AS n FROM processed_events").await;
    let grants = scalar(url, "SELECT COUNT(*) AS n FROM grants").await;
    let doubled = scalar(
        url,
        "SELECT COUNT(*) AS n FROM (SELECT transaction_id FROM grants GROUP BY transaction_id HAVING COUNT(*) > 1) d",
    )
    .await;
    let events = scalar(url, "SELECT COUNT(*) AS n FROM events").await;
    let received: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    let distinct: BTreeSet<&String> = received.iter().collect();
    let missing = query(url, "SELECT transaction_id FROM grants")
        .await
        .iter()
        .map(|r| r.str("transaction_id"))
        .collect::<BTreeSet<String>>();
    let missing: Vec<usize> = acked
        .iter()
        .copied()
        .filter(|i| !missing.contains(&format!("MI-{i}")))
        .collect();
    eprintln!(
        "{label}: {KILLS} SIGKILLs (seed {seed}); {} acknowledged, {applied} applied, {grants} grants; \
         {events} events, {} delivered ({} distinct webhook-ids, {} duplicated)",
        acked.len(),
        received.len(),
        distinct.len(),
        received.len() - distinct.len()
    );

    assert!(
        acked.len() > 20,
        "the load ran: {} acknowledged",
        acked.len()
    );
    assert!(
        missing.is_empty(),
        "acknowledged but not in the ledger: {missing:?}"
    );
    assert_eq!(doubled, 0, "no sale granted twice");
    assert!(grants as usize >= acked.len());
    assert_eq!(applied, grants, "each applied sale has its grant, once");
    assert_eq!(undelivered, 0, "every delivery ended delivered");
    assert_eq!(
        distinct.len() as i64,
        events,
        "every event delivered at least once"
    );
}

fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    [
        ("GANCHO_ADMIN_TOKEN", TOKEN),
        ("GANCHO_ALLOW_PRIVATE_TARGETS", "true"),
        ("GANCHO_DELIVERY_TIMEOUT", "2s"),
        ("GANCHO_LOG", "warn,gancho::app=info"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn ten_sigkills_under_load_lose_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("crash.db");
    let url = format!("sqlite://{}", file.display());
    let fleet = Fleet::start(1, env(&[("GANCHO_DATABASE_URL", url.as_str())]));
    crash_under_load("SQLite", fleet, &url).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn ten_sigkills_under_load_lose_nothing_on_postgres_with_two_instances() {
    let admin = pg_required();
    let db = PgDatabase::create(&admin).await;
    let fleet = Fleet::start(2, env(&[("GANCHO_DATABASE_URL", db.url.as_str())]));
    crash_under_load("PostgreSQL, two instances", fleet, &db.url).await;
}
