//! Slow, idle and too many clients (issue 11, "Overload and slow clients"),
//! with real sockets: none of them may hold the server's connections,
//! descriptors or call slots for longer than the configured limits.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::TestApp;

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_string()
}

/// Waits until the server closes `stream` (EOF or reset); returns what it
/// sent before closing, or `None` if it was still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&seen).into_owned()),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn half_requests_idle_sockets_and_idle_keep_alives_are_closed_after_the_header_timeout() {
    let app = TestApp::spawn_with(|c| c.header_timeout = Duration::from_millis(500)).await;
    let addr = addr(&app);
    // 300 that send half a request line, 200 that send nothing.
    let mut half = join_all((0..300).map(|_| TcpStream::connect(addr.as_str()))).await;
    for s in half.iter_mut() {
        s.as_mut()
            .unwrap()
            .write_all(b"POST /in/abc HT")
            .await
            .unwrap();
    }
    let mut silent = join_all((0..200).map(|_| TcpStream::connect(addr.as_str()))).await;
    // One that finishes a request, then keeps the connection open, idle.
    let mut kept = TcpStream::connect(addr.as_str()).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    kept.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    let started = Instant::now();
    let waits = half
        .iter_mut()
        .chain(silent.iter_mut())
        .map(|s| closed_within(s.as_mut().unwrap(), Duration::from_secs(5)));
    let open = join_all(waits).await.iter().filter(|c| c.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of 500 slow connections still open after 5 s"
    );
    assert!(closed_within(&mut kept, Duration::from_secs(5))
        .await
        .is_some());
    eprintln!(
        "500 slow and 1 idle connection closed after {:?}",
        started.elapsed()
    );
    // The server still answers.
    assert_eq!(app.get("/workspace").await["name"], "Default");
    app.stop().await;
}

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_and_the_cap_frees_up() {
    let app = TestApp::spawn_with(|c| {
        c.max_connections = 20;
        c.header_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = addr(&app);
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(addr.as_str()).await.unwrap());
    }
    // Each of the next ones is accepted and closed without a byte.
    for _ in 0..10 {
        let mut extra = TcpStream::connect(addr.as_str()).await.unwrap();
        let closed = closed_within(&mut extra, Duration::from_millis(500)).await;
        assert_eq!(
            closed.as_deref(),
            Some(""),
            "a connection past the cap stayed open"
        );
    }
    // When the held ones time out, new clients are served again.
    for s in held.iter_mut() {
        assert!(closed_within(s, Duration::from_secs(5)).await.is_some());
    }
    assert_eq!(app.get("/workspace").await["name"], "Default");
    app.stop().await;
}

/// Sends the headers of an inbound call declaring `declared` bytes of body,
/// and only `sent` of them.
async fn partial_inbound(addr: &str, path: &str, declared: usize, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b' '; sent]).await.unwrap();
    s
}

#[tokio::test]
async fn a_body_that_never_finishes_is_408_and_frees_its_slot() {
    let app = TestApp::spawn_with(|c| c.body_timeout = Duration::from_millis(400)).await;
    let path = format!("/in/{}?gateway=hotmart", app.public_id().await);
    let mut s = partial_inbound(&addr(&app), &path, 1000, 10).await;
    let reply = closed_within(&mut s, Duration::from_secs(5))
        .await
        .expect("the server answered and closed");
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("request_timeout"), "{reply}");
    app.stop().await;
}

#[tokio::test]
async fn calls_past_max_inflight_are_503_with_retry_after_and_slots_come_back() {
    let app = TestApp::spawn_with(|c| {
        c.max_inflight = 3;
        c.body_timeout = Duration::from_secs(30);
    })
    .await;
    let path = format!("/in/{}?gateway=hotmart", app.public_id().await);
    // Three calls in flight, stuck reading their bodies.
    let mut stuck = Vec::new();
    for _ in 0..3 {
        stuck.push(partial_inbound(&addr(&app), &path, 100, 1).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("{}{path}", app.base);
    let resp = crate::helpers::http()
        .post(&url)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded");
    // The stuck calls give up; their slots come back.
    drop(stuck);
    let mut status = 0;
    for _ in 0..50 {
        let resp = crate::helpers::http()
            .post(&url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        status = resp.status().as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status, 401,
        "an unsigned call is refused once there is room"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_api_call_that_runs_past_the_request_timeout_is_408() {
    let app = TestApp::spawn_with(|c| c.request_timeout = Duration::from_millis(400)).await;
    let mut s = TcpStream::connect(addr(&app)).await.unwrap();
    let head = format!(
        "POST /api/v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na",
        crate::helpers::ADMIN_TOKEN
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered within 5 s")
        .unwrap();
    let reply = String::from_utf8_lossy(&buf[..n]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("request_timeout"), "{reply}");
    app.stop().await;
}
