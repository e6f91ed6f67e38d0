//! `gancho serve`: bind `GANCHO_LISTEN` and run `app::run` until Ctrl-C or
//! SIGTERM.

use std::sync::Arc;

use anyhow::Context;

use crate::clock::SystemClock;

pub async fn serve() -> anyhow::Result<()> {
    let config = super::config()?;
    // Handlers are installed now, before start-up work, so a SIGTERM that
    // arrives early still means a clean stop rather than the default kill.
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("GANCHO_LISTEN: cannot bind {}", config.listen))?;
    crate::app::run(config, Arc::new(SystemClock), listener, shutdown).await
}

/// A future that resolves on Ctrl-C or SIGTERM; the handlers are installed
/// when this is called.
#[cfg(unix)]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
