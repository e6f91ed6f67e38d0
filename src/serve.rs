//! The HTTP server's accept loop, with the limits that keep slow or idle
//! clients from holding the process (issue 11): at most
//! `GANCHO_MAX_CONNECTIONS` open connections (more are closed as soon as
//! they are accepted), headers within `GANCHO_HEADER_TIMEOUT` (hyper starts
//! that timer whenever a connection waits for a request, so it is also the
//! keep-alive idle timeout), and a graceful shutdown that lets calls in
//! flight finish. HTTP/1.1 only. Timeouts on bodies and whole requests are layers of the
//! router (`app::router`).

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// How long shutdown waits for calls in flight before closing their connections.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    // HTTP/1.1 only: gateways and browsers speak it, and sniffing for
    // HTTP/2 would wait for bytes with no timer running.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let graceful = GracefulShutdown::new();
    let mut is_warned = false;
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was
                    // accepted: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !std::mem::replace(&mut is_warned, true) {
                tracing::warn!(
                    max = limits.max_connections,
                    "GANCHO_MAX_CONNECTIONS reached: closing new connections until some end"
                );
            }
            drop(stream);
            continue;
        };
        if slots.available_permits() > limits.max_connections / 2 {
            is_warned = false;
        }
        let _ = stream.set_nodelay(true);
        // Handlers see the peer (`ConnectInfo`): inbound URLs check their
        // allowed sources against it (src/client_ip.rs).
        let service = TowerToHyperService::new(tower_http::add_extension::AddExtension::new(
            app.clone(),
            axum::extract::ConnectInfo(peer),
        ));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (a reset, a timeout): nothing to report.
            let _ = watched.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::warn!("calls still in flight after {DRAIN:?}; closing their connections");
        }
    }
    Ok(())
}
