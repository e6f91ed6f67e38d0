//! `gancho check` and `gancho migrate`: a healthy install passes every
//! check; each broken thing (wrong encryption key, pending migration,
//! unreachable database, public URL that does not answer) fails with one
//! clear line of its own; `migrate` applies exactly what `check` listed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{failed_in_one_line, run, text, write_corrupted_database};
use crate::helpers::db::{pg_url, PgDatabase};
use crate::helpers::receiver::Receiver;
use crate::helpers::TestApp;

const KEY: &str = "the encryption key of the check test, 32+ chars";

/// The check's lines that failed.
fn failures(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.contains("FAILED")).collect()
}

/// A failed check: one FAILED line, about `what`, and one summary line on stderr.
fn only_failure<'a>(out: &std::process::Output, stdout: &'a str, what: &str) -> &'a str {
    let summary = failed_in_one_line(out);
    assert!(summary.contains("1 of "), "{summary}");
    let failed = failures(stdout);
    assert_eq!(failed.len(), 1, "{stdout}");
    assert!(
        failed[0].starts_with(&format!("{what}: FAILED: ")),
        "{stdout}"
    );
    failed[0]
}

// Multi-threaded: the command blocks this thread while the server or the
// receiver it calls runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_install_passes_and_a_wrong_encryption_key_fails_one_line() {
    let app = TestApp::spawn_with(|c| {
        c.encryption_key = Some(gancho::config::Secret::new(KEY));
    })
    .await;
    app.create_key("hotmart", "test-hottok-Xk3p9QmZ2v8T").await;
    app.post(
        "/endpoints",
        json!({"name": "CRM", "url": "https://crm.example.com/hook",
               "headers": {"Authorization": "Bearer crm-token-0123456789abcdef"}}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let env = |key: &'static str| {
        vec![
            ("GANCHO_DATABASE_URL", app.db_url.clone()),
            ("GANCHO_PUBLIC_URL", app.base.clone()),
            ("GANCHO_ENCRYPTION_KEY", key.to_string()),
        ]
    };
    let check = |key: &'static str| {
        let env = env(key);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(dir.path(), &["check"], &env)
    };

    let right = check(KEY);
    let wrong = check("another key, as long as the right one is");

    let (stdout, stderr) = text(&right);
    assert!(right.status.success(), "{stdout}{stderr}");
    let names: Vec<&str> = stdout
        .lines()
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "configuration",
            "database",
            "migrations",
            "encryption key",
            "public URL"
        ]
    );
    assert!(stdout.lines().all(|l| l.contains(": ok")), "{stdout}");
    assert!(
        stdout.contains(
            "opens 1 gateway key secrets, 0 API keys, 1 endpoint secrets, 1 header values"
        ),
        "{stdout}"
    );
    let (stdout, _) = text(&wrong);
    let line = only_failure(&wrong, &stdout, "encryption key");
    assert!(
        line.contains("cannot be opened with the current key"),
        "{line}"
    );
    app.stop().await;
}

/// The migration files of this build for the suite's backend, in order.
fn migration_files(backend: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Migrates `url` with every migration but the newest (as an older gancho
/// did) and returns the newest one's name, e.g. `0012_ui_sessions`.
async fn migrate_all_but_the_newest(url: &str, backend: &str) -> String {
    let older = tempfile::tempdir().unwrap();
    let files = migration_files(backend);
    let (newest, rest) = files.split_last().unwrap();
    for f in rest {
        std::fs::copy(f, older.path().join(f.file_name().unwrap())).unwrap();
    }
    let migrator = sqlx::migrate::Migrator::new(older.path()).await.unwrap();
    if backend == "postgres" {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        migrator.run(&pool).await.unwrap();
        pool.close().await;
    }
    let name = newest.file_stem().unwrap().to_str().unwrap().to_string();
    name
}

// Multi-threaded: the command blocks this thread while the server or the
// receiver it calls runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_migration_is_named_and_migrate_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_pg, url, backend) = match pg_url() {
        Some(admin) => {
            let db = PgDatabase::create_empty(&admin).await;
            let url = db.url.clone();
            (Some(db), url, "postgres")
        }
        None => (
            None,
            format!("sqlite://{}", dir.path().join("gancho.db").display()),
            "sqlite",
        ),
    };
    let newest = migrate_all_but_the_newest(&url, backend).await;
    let public = Receiver::spawn().await;
    let public_url = public.url.trim_end_matches("/hook").to_string();
    let env = [
        ("GANCHO_DATABASE_URL", url.as_str()),
        ("GANCHO_PUBLIC_URL", public_url.as_str()),
    ];

    let before = run(dir.path(), &["check"], &env);
    let migrated = run(dir.path(), &["migrate"], &env);
    let again = run(dir.path(), &["migrate"], &env);
    let after = run(dir.path(), &["check"], &env);

    let (stdout, _) = text(&before);
    let line = only_failure(&before, &stdout, "migrations");
    assert!(line.contains(&format!("1 pending: {newest}")), "{line}");
    assert!(stdout.contains("encryption key: skipped"), "{stdout}");
    let (stdout, stderr) = text(&migrated);
    assert!(migrated.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), format!("applied {newest}"));
    assert_eq!(text(&again).0.trim(), "up to date");
    let (stdout, stderr) = text(&after);
    assert!(after.status.success(), "{stdout}{stderr}");
}

// Multi-threaded: the command blocks this thread while the server or the
// receiver it calls runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_reached_fails_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let public = Receiver::spawn().await;
    let public_url = public.url.trim_end_matches("/hook").to_string();
    let missing = format!(
        "sqlite://{}",
        dir.path().join("nowhere/gancho.db").display()
    );
    let corrupted = dir.path().join("corrupted.db");
    write_corrupted_database(&corrupted);
    let corrupted = format!("sqlite://{}", corrupted.display());
    for (url, says) in [
        (missing.as_str(), "no SQLite database at"),
        (corrupted.as_str(), "not a database"),
        (
            "postgres://postgres@127.0.0.1:1/gancho",
            "cannot reach PostgreSQL",
        ),
    ] {
        let out = run(
            dir.path(),
            &["check"],
            &[
                ("GANCHO_DATABASE_URL", url),
                ("GANCHO_PUBLIC_URL", &public_url),
            ],
        );

        let (stdout, _) = text(&out);
        let line = only_failure(&out, &stdout, "database");
        assert!(line.contains(says), "{line}");
        assert!(stdout.contains("migrations: skipped"), "{stdout}");
        assert!(stdout.contains("public URL: ok"), "{stdout}");
    }
    assert!(
        !dir.path().join("nowhere").exists(),
        "check creates nothing"
    );
}

// Multi-threaded: the command blocks this thread while the server or the
// receiver it calls runs on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_url_that_does_not_answer_fails_one_line_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gancho.db").display());
    assert!(
        run(dir.path(), &["migrate"], &[("GANCHO_DATABASE_URL", &url)])
            .status
            .success()
    );
    // Connections are accepted by the kernel and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    for (public_url, says) in [
        (silent_url.as_str(), "did not answer within 5s"),
        (closed_url.as_str(), "refused"),
    ] {
        let started = Instant::now();
        let out = run(
            dir.path(),
            &["check"],
            &[
                ("GANCHO_DATABASE_URL", &url),
                ("GANCHO_PUBLIC_URL", public_url),
            ],
        );

        assert!(started.elapsed() < Duration::from_secs(15));
        let (stdout, _) = text(&out);
        let line = only_failure(&out, &stdout, "public URL");
        assert!(line.contains(says) && line.contains(public_url), "{line}");
    }
    drop(silent);
}
