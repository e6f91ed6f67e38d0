//! The `gancho` binary itself: help text, a bad setting stopping start-up
//! with one line, the generated admin token printed once, and a clean stop
//! on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn gancho() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gancho"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn every_command_has_help() {
    for args in [vec!["--help"], vec!["serve", "--help"]] {
        let out = gancho().args(&args).output().unwrap();

        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Usage"), "{args:?}: {text}");
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();

    let out = gancho()
        .arg("serve")
        .current_dir(dir.path())
        .env("GANCHO_RETRY_SCHEDULE", "1m,soon")
        .output()
        .unwrap();

    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("GANCHO_RETRY_SCHEDULE"), "{err}");
}

/// Starts `gancho serve` in `dir` and returns the child, its address, and
/// the generated token if it printed one.
#[allow(clippy::zombie_processes)] // the caller waits for it in `stop`
fn start(dir: &std::path::Path) -> (Child, String, Option<String>) {
    let mut child = gancho()
        .arg("serve")
        .current_dir(dir)
        .env("GANCHO_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut token = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("gancho did not start");
        if let Some((_, t)) = line.split_once("GANCHO_ADMIN_TOKEN to choose your own): ") {
            token = Some(t.trim().to_string());
        }
        if let Some((_, rest)) = line.split_once("addr=") {
            let addr = rest.split_whitespace().next().unwrap().to_string();
            return (child, addr, token);
        }
    }
}

fn stop(mut child: Child) {
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "gancho exited with {status} on SIGTERM");
}

#[tokio::test]
async fn the_generated_admin_token_is_printed_once_and_works() {
    let dir = tempfile::tempdir().unwrap();

    let (first, addr, token) = start(dir.path());
    let token = token.expect("a generated token on first start");
    let client = reqwest::Client::new();
    let ws = client
        .get(format!("http://{addr}/api/v1/workspace"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status().as_u16(), 200);
    stop(first);

    let (second, addr, again) = start(dir.path());
    assert!(again.is_none(), "the token is printed only once");
    let ws = client
        .get(format!("http://{addr}/api/v1/workspace"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ws.status().as_u16(), 200, "the token survives a restart");
    stop(second);
    assert!(dir.path().join("gancho.db").exists());
}
