//! The processes and servers a benchmark talks to: a `gancho serve` child on
//! a fresh database, the parse-only baseline (the same HTTP stack, axum on
//! tokio, that only parses the JSON body and answers 200), and a loopback
//! receiver that answers every delivery at once and notes when it came.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

pub const TOKEN: &str = "bench-admin-token-0123456789";
pub const HOTTOK: &str = "bench-hottok-0123456789";
pub const KIWIFY_TOKEN: &str = "bench-kiwify-token-0123";

/// A fresh directory under the system's temporary one (a server's SQLite
/// file and keys), removed with everything in it when dropped. Not the
/// `tempfile` crate: its dependencies would change the features of crates
/// gancho also uses, and the release `gancho` the tool builds next could
/// not reuse the dependencies already compiled for the tool.
pub struct ScratchDir(PathBuf);

/// The prefixes of this tool's scratch directories and databases.
pub const SCRATCH_DIR: &str = "gancho-bench-";
pub const SCRATCH_DB: &str = "gancho_bench_";

/// A name unique to this run and call, `{prefix}{pid}{separator}{n}`: the
/// pid tells [`left_by_a_finished_run`] whether the run is still going.
pub fn scratch_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let separator = if prefix.ends_with('_') { '_' } else { '-' };
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}{separator}{n}", std::process::id())
}

/// `admin`'s URL naming database `name` instead: the last segment of its
/// path is replaced, and its query (`?host=/var/run/postgresql` for a Unix
/// socket, `?sslmode=…`) is kept.
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].rfind('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl ScratchDir {
    pub fn new() -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(scratch_name(SCRATCH_DIR));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Whether `name` is one of this tool's scratch directories or databases
/// (`{prefix}{pid}…`) left by a run that is no longer running: a run stopped
/// with Ctrl-C, or one that failed part-way, never dropped its own.
pub fn left_by_a_finished_run(name: &str, prefix: &str, running: impl Fn(u32) -> bool) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.split(['-', '_']).next())
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(|pid| pid != std::process::id() && !running(pid))
}

/// Whether process `pid` is running (Linux `/proc`, as the RSS figures).
/// Without `/proc` there is no telling, and every run counts as running:
/// nothing is swept.
pub fn running(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the scratch directories under `base` that finished runs left
/// (each can hold a database of a million deliveries); how many.
pub fn sweep_scratch(base: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(base) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| left_by_a_finished_run(&e.file_name().to_string_lossy(), SCRATCH_DIR, running))
        .filter(|e| std::fs::remove_dir_all(e.path()).is_ok())
        .count()
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running server process.
pub struct Process {
    child: Child,
    pub addr: String,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now and at its peak, in MiB (Linux `/proc`).
    pub fn rss_mib(&self) -> (f64, f64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args` with `env`, and waits for the `addr=` line it prints.
pub fn spawn(program: &Path, args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Process> {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line); // later lines are read and dropped
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .context("the server did not print its address")?;
        if let Some((_, rest)) = line.split_once("addr=") {
            let addr = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            return Ok(Process { child, addr });
        }
    }
}

/// `gancho serve` on `database_url`, tuned for a benchmark (warnings only,
/// private targets allowed for the loopback receiver).
pub fn gancho(bin: &Path, database_url: &str, dir: &Path) -> anyhow::Result<Process> {
    gancho_with(bin, database_url, dir, &[])
}

/// [`gancho`] with more settings (`extra`, e.g. `GANCHO_TIMEZONE`).
pub fn gancho_with(
    bin: &Path,
    database_url: &str,
    dir: &Path,
    extra: &[(&str, String)],
) -> anyhow::Result<Process> {
    let mut env = gancho_env(database_url, dir)?;
    env.extend(extra.iter().cloned());
    spawn(bin, &["serve"], &env)
}

/// The settings of every gancho process of a benchmark on `database_url`
/// (`dir` holds its empty `gancho.toml`).
pub fn gancho_env(database_url: &str, dir: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
    let env = vec![
        ("GANCHO_DATABASE_URL", database_url.to_string()),
        ("GANCHO_LISTEN", "127.0.0.1:0".to_string()),
        ("GANCHO_ADMIN_TOKEN", TOKEN.to_string()),
        ("GANCHO_ALLOW_PRIVATE_TARGETS", "true".to_string()),
        (
            "GANCHO_ENCRYPTION_KEY",
            "bench-encryption-key-0123456789abcdef".to_string(),
        ),
        ("GANCHO_LOG", "warn,gancho::app=info".to_string()),
        ("GANCHO_CONFIG", dir.join("none.toml").display().to_string()),
    ];
    std::fs::write(dir.join("none.toml"), "")?;
    Ok(env)
}

/// What a benchmark posts to, set up through the API.
pub struct Setup {
    pub hotmart_path: String,
    pub kiwify_path: String,
    pub global_path: String,
}

pub async fn set_up(client: &reqwest::Client, addr: &str) -> anyhow::Result<Setup> {
    let api = |p: &str| format!("http://{addr}/api/v1{p}");
    let post = |p: &str, body: Value| {
        let req = client.post(api(p)).bearer_auth(TOKEN).json(&body);
        async move {
            let resp = req.send().await?;
            let status = resp.status();
            let body: Value = resp.json().await?;
            if !status.is_success() {
                bail!("setup: {status} {body}");
            }
            Ok::<Value, anyhow::Error>(body)
        }
    };
    post("/keys", json!({"gateway": "hotmart", "secret": HOTTOK})).await?;
    post(
        "/keys",
        json!({"gateway": "kiwify", "secret": KIWIFY_TOKEN}),
    )
    .await?;
    let a = post(
        "/products",
        json!({"name": "Curso A", "external_ids": [{"gateway": "hotmart", "id": "3456789"}]}),
    )
    .await?;
    let b = post("/products", json!({"name": "Curso B"})).await?;
    let products = json!([a["id"], b["id"]]);
    let path = |v: &Value| -> String {
        let url = v["url"].as_str().unwrap_or_default();
        url.find("/in/")
            .map(|i| url[i..].to_string())
            .unwrap_or_default()
    };
    let hotmart = post(
        "/inbound-urls",
        json!({"name": "Hotmart", "gateway": "hotmart", "product_ids": products}),
    )
    .await?;
    let kiwify = post(
        "/inbound-urls",
        json!({"name": "Kiwify", "gateway": "kiwify", "product_ids": products}),
    )
    .await?;
    let ws: Value = client
        .get(api("/workspace"))
        .bearer_auth(TOKEN)
        .send()
        .await?
        .json()
        .await?;
    Ok(Setup {
        hotmart_path: path(&hotmart),
        kiwify_path: path(&kiwify),
        global_path: format!("/in/{}", ws["public_id"].as_str().unwrap_or_default()),
    })
}

/// Adds `n` endpoints, each sent `event_types`, pointing at `url`.
pub async fn add_endpoints(
    client: &reqwest::Client,
    addr: &str,
    n: usize,
    url: &str,
    event_types: &[&str],
) -> anyhow::Result<()> {
    for i in 0..n {
        let resp = client
            .post(format!("http://{addr}/api/v1/endpoints"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": format!("receiver {i}"), "url": format!("{url}/{i}"), "event_types": event_types}))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("endpoint: {}", resp.text().await?);
        }
    }
    Ok(())
}

/// Runs the parse-only baseline server on `127.0.0.1:0` (the
/// `baseline-server` subcommand) and prints its address.
pub async fn run_baseline() -> anyhow::Result<()> {
    async fn parse_only(body: axum::body::Bytes) -> (axum::http::StatusCode, &'static str) {
        match serde_json::from_slice::<Value>(&body) {
            Ok(_) => (axum::http::StatusCode::OK, r#"{"status":"processed"}"#),
            Err(_) => (axum::http::StatusCode::BAD_REQUEST, "{}"),
        }
    }
    let app = axum::Router::new().fallback(parse_only);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    #[allow(clippy::print_stdout)] // the parent reads the address from stdout
    {
        println!("baseline listening addr={}", listener.local_addr()?);
    }
    axum::serve(listener, app).await?;
    Ok(())
}

/// A loopback receiver: answers every delivery 200 at once and notes when
/// each sale's first delivery arrived, by transaction id.
#[derive(Clone, Default)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<ReceiverLog>>,
}

#[derive(Default)]
struct ReceiverLog {
    webhook_ids: std::collections::HashSet<String>,
    received: usize,
    arrivals: Vec<(String, Instant)>,
}

impl Receiver {
    pub async fn spawn() -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(ReceiverLog::default()));
        let state = Arc::clone(&inner);
        let handler =
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = Arc::clone(&state);
                async move {
                    let at = Instant::now();
                    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let tx = v["data"]["transaction_id"]
                        .as_str()
                        .or_else(|| v["data"]["source"]["transaction_id"].as_str())
                        .map(str::to_string);
                    // One event goes to every endpoint under the same webhook-id.
                    let id = format!(
                        "{} {}",
                        uri.path(),
                        headers
                            .get("webhook-id")
                            .and_then(|h| h.to_str().ok())
                            .unwrap_or_default()
                    );
                    let mut log = state.lock().unwrap_or_else(|e| e.into_inner());
                    log.received += 1;
                    log.webhook_ids.insert(id);
                    if let Some(tx) = tx {
                        log.arrivals.push((tx, at));
                    }
                    axum::http::StatusCode::OK
                }
            };
        let app = axum::Router::new().fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, inner })
    }

    /// Distinct deliveries (endpoint and `webhook-id`) received so far, and requests in all.
    pub fn counts(&self) -> (usize, usize) {
        let log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (log.webhook_ids.len(), log.received)
    }

    /// For each arrival whose sale was acknowledged at a known time, the delay.
    pub fn delays(&self, acked: &HashMap<String, Instant>) -> Vec<Duration> {
        let log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        log.arrivals
            .iter()
            .filter_map(|(tx, at)| acked.get(tx).map(|a| at.saturating_duration_since(*a)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_scratch_of_runs_no_longer_running_is_swept() {
        let base = std::env::temp_dir().join(format!("sweep-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        // A process that has exited: its pid names no running process.
        let mut child = Command::new("true").spawn().unwrap();
        let finished = child.id();
        child.wait().unwrap();
        let ours = base.join(scratch_name(SCRATCH_DIR));
        let left = base.join(format!("gancho-bench-{finished}-3"));
        let other = base.join(format!("someone-else-{finished}"));
        for dir in [&ours, &left, &other] {
            std::fs::create_dir_all(dir.join("inside")).unwrap();
        }

        assert_eq!(sweep_scratch(&base), 1);

        assert!(!left.exists());
        assert!(ours.exists() && other.exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_database_url_keeps_the_admin_urls_host_and_query() {
        let url = |admin| database_url(admin, "scratch");
        assert_eq!(
            url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/scratch"
        );
        assert_eq!(
            url("postgres://postgres@localhost/test?host=/var/run/postgresql"),
            "postgres://postgres@localhost/scratch?host=/var/run/postgresql"
        );
        assert_eq!(
            url("postgres://postgres@db"),
            "postgres://postgres@db/scratch"
        );
        assert_eq!(
            url("postgres:///test?sslmode=disable"),
            "postgres:///scratch?sslmode=disable"
        );
    }

    #[test]
    fn database_names_are_read_the_same_way() {
        let dead = |_| false;
        assert!(left_by_a_finished_run(
            "gancho_bench_4242_99",
            "gancho_bench_",
            dead
        ));
        assert!(!left_by_a_finished_run(
            "gancho_bench_4242_99",
            "gancho_bench_",
            |_| true
        ));
        assert!(!left_by_a_finished_run(
            "gancho_tpl_4242",
            "gancho_bench_",
            dead
        ));
        assert!(!left_by_a_finished_run(
            "gancho_bench_x_1",
            "gancho_bench_",
            dead
        ));
        let ours = scratch_name(SCRATCH_DB);
        assert!(ours.starts_with(&format!("gancho_bench_{}_", std::process::id())));
        assert!(!left_by_a_finished_run(&ours, SCRATCH_DB, dead));
    }
}
