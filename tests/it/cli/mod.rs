//! The `gancho` binary itself: help text, a bad setting stopping start-up
//! with one line, the generated admin token printed once, and a clean stop
//! on SIGTERM. The operations commands have a file each below.

mod backup;
mod check;
mod copy;
mod token;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::db::{pg_url, PgDatabase};
use crate::helpers::receiver::{Receiver, Reply};
use crate::helpers::SendJson;

thread_local! {
    /// Every line the last started gancho printed (tests run one per thread).
    static LOG: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
}

pub(crate) fn gancho() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gancho"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// Runs `gancho ARGS` in `dir` with only `env` set (and `PATH`).
pub(crate) fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    gancho()
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// stdout and stderr as text.
pub(crate) fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8(out.stdout.clone()).unwrap(),
        String::from_utf8(out.stderr.clone()).unwrap(),
    )
}

/// A failed command: non-zero, one line on stderr (returned), nothing else there.
pub(crate) fn failed_in_one_line(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(!out.status.success(), "succeeded: {stdout}{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr}\nstdout: {stdout}");
    assert!(lines[0].starts_with("gancho: "), "{stderr}");
    lines[0].to_string()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["token", "--help"],
        vec!["token", "reset", "--help"],
        vec!["backup", "--help"],
        vec!["check", "--help"],
        vec!["copy", "--help"],
        vec!["migrate", "--help"],
        vec!["rotate-encryption-key", "--help"],
        vec!["completions", "--help"],
    ] {
        let out = gancho().args(&args).output().unwrap();

        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _gancho"),
        ("zsh", "#compdef gancho"),
        ("fish", "complete -c gancho"),
    ] {
        let out = run(dir.path(), &["completions", shell], &[]);

        assert!(out.status.success(), "{shell}");
        let (script, _) = text(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["serve", "token", "backup", "check", "migrate"] {
            assert!(script.contains(command), "{shell} misses {command}");
        }
    }
    let out = run(dir.path(), &["completions", "tcsh"], &[]);
    assert!(!out.status.success());
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();

    let out = run(
        dir.path(),
        &["serve"],
        &[("GANCHO_RETRY_SCHEDULE", "1m,soon")],
    );

    let line = failed_in_one_line(&out);
    assert!(line.contains("GANCHO_RETRY_SCHEDULE"), "{line}");
}

/// Starts `gancho serve` in `dir` and returns the child, its address, and
/// the generated token if it printed one.
fn start(dir: &std::path::Path, db: &Option<String>) -> (Child, String, Option<String>) {
    let env: Vec<(&str, &str)> = db
        .iter()
        .map(|u| ("GANCHO_DATABASE_URL", u.as_str()))
        .collect();
    start_with(dir, &env)
}

/// A fresh PostgreSQL database when the suite runs on PostgreSQL (the
/// binary then uses it); `None` means the binary's default SQLite file.
pub(crate) async fn database() -> (Option<PgDatabase>, Option<String>) {
    match pg_url() {
        Some(admin) => {
            let db = PgDatabase::create(&admin).await;
            let url = db.url.clone();
            (Some(db), Some(url))
        }
        None => (None, None),
    }
}

#[allow(clippy::zombie_processes)] // the caller waits for it in `stop` (or kills it)
pub(crate) fn start_with(
    dir: &std::path::Path,
    env: &[(&str, &str)],
) -> (Child, String, Option<String>) {
    // stderr joins stdout in one pipe, so lines arrive in the order written:
    // the generated token (stderr, plain) comes before the listening line.
    let mut child = Command::new("sh")
        .args(["-c", "exec \"$0\" serve 2>&1", env!("CARGO_BIN_EXE_gancho")])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .envs(env.iter().copied())
        .env("GANCHO_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let keep = LOG.with(|l| l.clone());
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            keep.lock().unwrap().push(line.clone());
            let _ = tx.send(line);
        }
    });
    let mut token = None;
    let mut token_follows = false;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("gancho did not start");
        if token_follows && !line.trim().is_empty() {
            token = Some(line.trim().to_string());
            token_follows = false;
        }
        if line.starts_with("gancho: generated the admin token") {
            token_follows = true;
        }
        if let Some((_, rest)) = line.split_once("addr=") {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            return (child, addr, token);
        }
        // GANCHO_LOG_FORMAT=json: the same line as an object.
        if let Some((_, rest)) = line.split_once("\"addr\":\"") {
            let addr = rest.split('"').next().unwrap().to_string();
            return (child, addr, token);
        }
    }
}

pub(crate) fn stop(mut child: Child) {
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "gancho exited with {status} on SIGTERM");
}

#[tokio::test]
async fn the_generated_admin_token_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();

    let (_db, url) = database().await;
    let (first, addr, token) = start(dir.path(), &url);
    let token = token.expect("a generated token on first start");
    // Printed bare, once, and in no structured log line (issue 11, gap 5).
    let printed: Vec<String> = LOG.with(|l| l.lock().unwrap().clone());
    let with_token: Vec<&String> = printed.iter().filter(|l| l.contains(&token)).collect();
    assert_eq!(with_token.len(), 1, "{printed:#?}");
    assert_eq!(with_token[0].trim(), token);
    let client = crate::helpers::http();
    let ws = client
        .get(format!("http://{addr}/api/v1/workspace"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status().as_u16(), 200);
    stop(first);

    let (second, addr, again) = start(dir.path(), &url);
    assert!(again.is_none(), "the token is printed only once");
    let ws = client
        .get(format!("http://{addr}/api/v1/workspace"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status().as_u16(), 200, "the token survives a restart");
    stop(second);
    assert_eq!(dir.path().join("gancho.db").exists(), url.is_none());
}

#[tokio::test]
async fn a_sigkill_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = database().await;
    let mut env = vec![
        ("GANCHO_ADMIN_TOKEN", "crash-test-token"),
        ("GANCHO_ALLOW_PRIVATE_TARGETS", "true"),
        ("GANCHO_DELIVERY_TIMEOUT", "2s"),
    ];
    if let Some(url) = &url {
        env.push(("GANCHO_DATABASE_URL", url.as_str()));
    }
    let receiver = Receiver::spawn().await;
    receiver.reply([Reply::status(200).after(Duration::from_secs(3))]);
    let (first, addr, _) = start_with(dir.path(), &env);
    let client = crate::helpers::http();
    let api = |path: &str| format!("http://{addr}/api/v1{path}");
    let endpoint: serde_json::Value = client
        .post(api("/endpoints"))
        .bearer_auth("crash-test-token")
        .json(&serde_json::json!({"name": "r", "url": receiver.url}))
        .send_json()
        .await;
    let test = api(&format!(
        "/endpoints/{}/test",
        endpoint["id"].as_str().unwrap()
    ));
    let mut events = Vec::new();
    for _ in 0..5 {
        let sent: serde_json::Value = client
            .post(&test)
            .bearer_auth("crash-test-token")
            .send_json()
            .await;
        events.push(sent["event_id"].as_str().unwrap().to_string());
    }

    receiver.wait_for(1).await;
    let mut first = first;
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let (second, addr, _) = start_with(dir.path(), &env);
    // The killed process never recorded its attempts: the restarted one must
    // take the deliveries again once their lease expires, and finish them.
    let list = format!(
        "http://{addr}/api/v1/endpoints/{}/deliveries",
        endpoint["id"].as_str().unwrap()
    );
    let mut tries = 0;
    let statuses: Vec<String> = loop {
        tries += 1;
        let page: serde_json::Value = client
            .get(&list)
            .bearer_auth("crash-test-token")
            .send_json()
            .await;
        let statuses: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["status"].as_str().unwrap().to_string())
            .collect();
        let done = statuses.len() == events.len() && statuses.iter().all(|s| s == "success");
        if done || tries > 400 {
            break statuses;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let delivered: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_string())
        .collect();
    stop(second);

    assert_eq!(
        statuses,
        vec!["success"; events.len()],
        "every delivery finishes after the restart"
    );
    assert!(
        delivered.len() > events.len(),
        "the killed process's send is sent again"
    );
    for e in &events {
        assert!(
            delivered.contains(e),
            "event {e} was never delivered: {delivered:?}"
        );
    }
    let mut distinct = delivered.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), events.len());
    eprintln!(
        "deliveries: {} for {} events ({} duplicates, at least once)",
        delivered.len(),
        events.len(),
        delivered.len() - distinct.len()
    );
}

#[tokio::test]
async fn secrets_never_reach_gancho_s_own_log_output() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = database().await;
    let mut env = vec![
        ("GANCHO_ADMIN_TOKEN", "log-test-admin-token"),
        ("GANCHO_LOG", "debug"),
    ];
    if let Some(url) = &url {
        env.push(("GANCHO_DATABASE_URL", url.as_str()));
    }
    let (child, addr, _) = start_with(dir.path(), &env);
    let client = crate::helpers::http();
    let api = |p: &str| format!("http://{addr}/api/v1{p}");
    for (gateway, secret) in [
        ("hotmart", "test-hottok-Xk3p9QmZ2v8T"),
        ("kiwify", "test-kiwify-token-7f3a9c"),
    ] {
        client
            .post(api("/keys"))
            .bearer_auth("log-test-admin-token")
            .json(&serde_json::json!({"gateway": gateway, "secret": secret}))
            .send()
            .await
            .unwrap();
    }
    let ws: serde_json::Value = client
        .get(api("/workspace"))
        .bearer_auth("log-test-admin-token")
        .send_json()
        .await;
    let global = ws["global_inbound_url"]
        .as_str()
        .unwrap()
        .replace("http://127.0.0.1:8080", &format!("http://{addr}"));
    let hotmart = crate::helpers::fixture::load("hotmart", "purchase_approved");
    let kiwify = crate::helpers::fixture::load("kiwify", "order_approved");
    let signature = kiwify.query[0].1.clone();
    client
        .post(&global)
        .header("content-type", "application/json")
        .header("x-hotmart-hottok", "test-hottok-Xk3p9QmZ2v8T")
        .body(hotmart.body)
        .send()
        .await
        .unwrap();
    client
        .post(format!("{global}?signature={signature}"))
        .header("content-type", "application/json")
        .body(kiwify.body)
        .send()
        .await
        .unwrap();
    client
        .post(&global)
        .header("content-type", "application/json")
        .body("{\"hottok\": \"test-hottok-Xk3p9QmZ2v8T\"")
        .send()
        .await
        .unwrap();
    stop(child);

    let log = LOG.with(|l| l.lock().unwrap().join("\n"));
    assert!(
        log.contains("/in/"),
        "debug output shows the requests: {log}"
    );
    for secret in [
        "test-hottok-Xk3p9QmZ2v8T",
        "test-kiwify-token-7f3a9c",
        signature.as_str(),
        "log-test-admin-token",
    ] {
        assert!(
            !log.contains(secret),
            "{secret} appeared in gancho's log output"
        );
    }
}

/// Issue 11, gap 5: `gancho rotate-encryption-key` re-seals every secret
/// under the new key; with a wrong current key it fails in one line and
/// changes nothing.
#[tokio::test]
async fn rotating_the_encryption_key_reseals_every_secret_and_a_wrong_key_changes_nothing() {
    const OLD: &str = "the old encryption key, at least 32 characters";
    const NEW: &str = "the new encryption key, at least 32 characters";
    const TOKEN: &str = "rotation-test-token";
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = database().await;
    let with_key = |key: &'static str| {
        let mut env = vec![
            ("GANCHO_ADMIN_TOKEN", TOKEN),
            ("GANCHO_ENCRYPTION_KEY", key),
        ];
        if let Some(url) = &url {
            env.push(("GANCHO_DATABASE_URL", url.as_str()));
        }
        env
    };
    let client = crate::helpers::http();
    let get = |addr: &str, path: &str| {
        client
            .get(format!("http://{addr}/api/v1{path}"))
            .bearer_auth(TOKEN)
            .send()
    };
    let (server, addr, _) = start_with(dir.path(), &with_key(OLD));
    for (path, body) in [
        (
            "/keys",
            serde_json::json!({"gateway": "hotmart", "secret": "test-hottok-Xk3p9QmZ2v8T"}),
        ),
        (
            "/endpoints",
            serde_json::json!({"name": "CRM", "url": "https://crm.example.com/hook",
                "headers": {"Authorization": "Bearer crm-token-0123456789abcdef"}}),
        ),
    ] {
        let r = client
            .post(format!("http://{addr}/api/v1{path}"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{path}");
    }
    stop(server);
    let rotate = |current: &str| {
        let mut cmd = gancho();
        cmd.arg("rotate-encryption-key")
            .current_dir(dir.path())
            .envs(
                with_key(OLD)
                    .into_iter()
                    .filter(|(k, _)| *k != "GANCHO_ENCRYPTION_KEY"),
            )
            .env("GANCHO_ENCRYPTION_KEY", current)
            .env("GANCHO_NEW_ENCRYPTION_KEY", NEW);
        cmd.output().unwrap()
    };

    let wrong = rotate("not the key these secrets were sealed with, though long");
    let right = rotate(OLD);

    assert!(!wrong.status.success());
    let err = String::from_utf8(wrong.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot be opened with the current key"),
        "{err}"
    );
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert_eq!(
        String::from_utf8(right.stdout).unwrap().lines().next().unwrap(),
        "re-sealed 1 gateway key secrets, 0 API keys, 1 endpoint secrets, 1 header values; now set GANCHO_ENCRYPTION_KEY to the new key and start gancho"
    );
    // Under the new key everything opens; under the old one nothing does.
    let (server, addr, _) = start_with(dir.path(), &with_key(NEW));
    let keys: serde_json::Value = get(&addr, "/keys").await.unwrap().json().await.unwrap();
    assert_eq!(keys["items"][0]["secret"], "test…2v8T");
    let eps: serde_json::Value = get(&addr, "/endpoints")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(eps["items"][0]["headers"]["Authorization"], "Bear…cdef");
    stop(server);
    let (server, addr, _) = start_with(dir.path(), &with_key(OLD));
    assert_eq!(get(&addr, "/keys").await.unwrap().status().as_u16(), 500);
    stop(server);
}

/// Issue 11, build item 3: a corrupted SQLite file is never served: start-up
/// stops with one line that names the file and says what is wrong.
#[test]
fn a_corrupted_database_file_stops_start_up_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    write_corrupted_database(&dir.path().join("gancho.db"));

    let out = run(dir.path(), &["serve"], &[("GANCHO_LISTEN", "127.0.0.1:0")]);

    let line = failed_in_one_line(&out);
    assert!(
        line.contains("gancho.db") && line.contains("not a database"),
        "{line}"
    );
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_calls_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, url) = database().await;
    let mut env = vec![
        ("GANCHO_ADMIN_TOKEN", "json-log-admin-token"),
        ("GANCHO_LOG_FORMAT", "json"),
        ("GANCHO_LOG", "info,tower_http=debug,sqlx=warn"),
    ];
    if let Some(url) = &url {
        env.push(("GANCHO_DATABASE_URL", url.as_str()));
    }
    LOG.with(|l| l.lock().unwrap().clear());
    let (child, addr, _) = start_with(dir.path(), &env);
    let r = crate::helpers::http()
        .get(format!("http://{addr}/api/v1/workspace"))
        .bearer_auth("json-log-admin-token")
        .header("x-request-id", "json-log-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "json-log-test-1");
    std::thread::sleep(Duration::from_millis(300));
    stop(child);
    let lines = LOG.with(|l| l.lock().unwrap().clone());
    assert!(lines.len() >= 3, "{lines:?}");
    let mut with_id = 0;
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        if v["span"]["request_id"] == "json-log-test-1" {
            with_id += 1;
        }
    }
    assert!(
        with_id >= 1,
        "no line carries the call's request id: {lines:?}"
    );
    // A wrong value stops start-up with one line naming it.
    let out = gancho()
        .arg("serve")
        .env("GANCHO_LOG_FORMAT", "xml")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GANCHO_LOG_FORMAT") && err.lines().count() == 1,
        "{err}"
    );
}

/// A file with SQLite's header and garbage after it.
pub(crate) fn write_corrupted_database(path: &std::path::Path) {
    let mut garbage = b"SQLite format 3\0".to_vec();
    garbage.extend((0..65_520u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    std::fs::write(path, garbage).unwrap();
}
