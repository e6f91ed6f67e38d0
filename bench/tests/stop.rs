//! A run stopped with SIGTERM (or Ctrl-C) stops the servers it started:
//! left running, a `gancho` or baseline server would serve on, and load
//! the machine under every later measurement (a past session found seven).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The parent pid in `/proc/{pid}/stat` (the field after the name's `)`).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Whether `pid` is a process that has not exited (a zombie has).
fn is_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The child of `parent` whose command line contains `needle`.
fn child_running(parent: u32, needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        (parent_of(pid) == Some(parent) && cmdline.contains(needle)).then_some(pid)
    })
}

#[test]
fn a_run_stopped_with_sigterm_stops_the_servers_it_started() {
    if !Path::new("/proc/self/stat").exists() {
        return; // reads /proc; Linux only, as the tool's RSS figures are
    }
    let out =
        std::env::temp_dir().join(format!("gancho-bench-stop-test-{}.md", std::process::id()));
    // The baseline is measured first, for seconds: it is stopped then, and
    // the gancho binary (never started) does not matter.
    let mut bench = Command::new(env!("CARGO_BIN_EXE_gancho-bench"))
        .args([
            "all",
            "--runs",
            "1",
            "--gancho",
            "/nonexistent/gancho",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let baseline = loop {
        if let Some(pid) = child_running(bench.id(), "baseline-server") {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the baseline server never started"
        );
        assert!(bench.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(20));
    };
    let killed = Command::new("kill")
        .args(["-TERM", &bench.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = bench.wait().unwrap();
    assert!(!status.success(), "a stopped run does not report success");
    let gone = Instant::now();
    while is_alive(baseline) && gone.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = is_alive(baseline);
    if left {
        let _ = Command::new("kill")
            .args(["-KILL", &baseline.to_string()])
            .status();
    }
    let _ = std::fs::remove_file(&out);
    assert!(!left, "the baseline server outlived the stopped run");
}
