//! Start-up and shutdown: open the store, make sure the default workspace
//! and its admin token exist, serve the API and inbound URLs, and run the
//! background tasks under one cancellation token (STYLE.md § 5).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, DatabaseUrl};
use crate::ids::{ApiKeyId, WorkspaceId};
use crate::inbound::access;
use crate::keys::Sealer;
use crate::logs::retention;
use crate::metrics::Metrics;
use crate::model::{ApiKey, Workspace};
use crate::outbound::worker::{self, WorkerContext};
use crate::outbound::Outbox;
use crate::storage::postgres::PgStore;
use crate::storage::sqlite::SqliteStore;
use crate::storage::Store;

/// How often the expiry task looks for grants whose time is up.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(30);
/// How often pending calls' buyers are looked up (`inbound::lookup`); a
/// new one waits at most this long for its first try.
const LOOKUP_INTERVAL: Duration = Duration::from_millis(500);

/// Shared by every handler and task. One `Arc`: axum clones the state for
/// every call, and this makes that one reference count instead of one per
/// field (issue 9: dropping the per-field clones was 0.6 % of a call's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub sealer: Arc<Sealer>,
    pub outbox: Outbox,
    pub metrics: Arc<Metrics>,
    /// One permit per inbound call in flight (`GANCHO_MAX_INFLIGHT`).
    pub inbound_slots: Arc<tokio::sync::Semaphore>,
}

/// SHA-256 hex of an API token: what `api_keys` stores and looks up.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Opens the database named by the config (running migrations): `warm`
/// for the server, whose PostgreSQL pool opens every connection at
/// start-up (`PgStore::open`), not for a one-shot command.
pub async fn open_store(config: &Config, warm: bool) -> anyhow::Result<Arc<dyn Store>> {
    match &config.database_url {
        DatabaseUrl::Sqlite(path) => {
            let store = SqliteStore::open(path)
                .await
                .with_context(|| format!("opening SQLite database {}", path.display()))?;
            Ok(Arc::new(store))
        }
        DatabaseUrl::Postgres(url) => {
            let store = PgStore::open(
                url.expose(),
                config.database_pool_size,
                config.database_statement_timeout,
                warm,
            )
            .await
            .context("GANCHO_DATABASE_URL: connecting to PostgreSQL")?;
            Ok(Arc::new(store))
        }
    }
}

/// A fresh random admin token: 40 letters and digits (238 bits).
pub fn new_admin_token() -> String {
    crate::random::alphanumeric(40)
}

/// Makes sure the default workspace and its bootstrap admin token exist.
/// Returns the token when one was generated (to print once).
pub async fn bootstrap(
    store: &dyn Store,
    config: &Config,
    clock: &dyn Clock,
) -> anyhow::Result<(Workspace, Option<String>)> {
    let now = clock.now();
    let workspace = match store.default_workspace().await? {
        Some(w) => w,
        None => {
            let w = Workspace {
                id: WorkspaceId::new(),
                name: "Default".into(),
                public_id: crate::random::alphanumeric(24).to_ascii_lowercase(),
                created_at: now,
            };
            store.insert_workspace(&w).await?;
            w
        }
    };
    let existing = store.bootstrap_api_key(&workspace.id).await?;
    let configured = config.admin_token.as_ref().map(|t| t.expose().to_string());
    let (token, generated) = match (&existing, configured) {
        (_, Some(t)) => (t, false),
        (Some(_), None) => return Ok((workspace, None)),
        (None, None) => (new_admin_token(), true),
    };
    let hash = token_hash(&token);
    match existing {
        Some(key) if key.token_hash == hash => {}
        Some(key) => store.set_api_key_hash(&key.id, &hash).await?,
        None => {
            store
                .insert_api_key(&ApiKey {
                    id: ApiKeyId::new(),
                    workspace_id: workspace.id.clone(),
                    name: "bootstrap".into(),
                    token_hash: hash,
                    is_bootstrap: true,
                    created_at: now,
                })
                .await?
        }
    }
    Ok((workspace, generated.then_some(token)))
}

/// Builds the whole HTTP application.
pub fn router(state: AppState) -> axum::Router {
    // Spans carry the method and path only: a query may hold a signature.
    // A 5xx is logged where its cause is known (ApiError, the store's write
    // health), once; here it would be once per call, at `error`.
    let trace = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG));
    let limit = state.config.request_timeout;
    crate::api::router(state)
        .layer(axum::middleware::from_fn_with_state(limit, bounded))
        .layer(trace)
        .layer(axum::middleware::from_fn(request_id))
}

/// The header that names a call: kept from the client when it is a sane
/// token (a proxy's or a gateway's own id), made here otherwise.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether a client's request id is kept: 1 to 64 of `[A-Za-z0-9._-]`.
fn is_sane_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Gives every call a request id before anything else sees it: it is in
/// the request's headers (so the inbound log entry records it with the
/// call), in the `http` span of every log line, and in the answer's
/// `X-Request-Id`.
async fn request_id(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::HeaderValue;
    let given = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(str::to_string);
    let id = given.unwrap_or_else(|| ulid::Ulid::generate().to_string().to_ascii_lowercase());
    let value = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"));
    request.headers_mut().insert(REQUEST_ID, value.clone());
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// Answers `408` to a call that has not been answered within
/// `GANCHO_REQUEST_TIMEOUT` (a client trickling its body, a handler stuck
/// on a database that stopped answering); what the call was doing is
/// cancelled, so an inbound call's transaction rolls back.
async fn bounded(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => (
            axum::http::StatusCode::REQUEST_TIMEOUT,
            axum::Json(serde_json::json!({"error": {
                "code": "request_timeout",
                "message": format!("the call was not complete within {limit:?}"),
            }})),
        )
            .into_response(),
    }
}

/// Runs gancho until `shutdown` resolves: the HTTP server and the background
/// tasks. If any task stops unexpectedly, the rest are shut down too.
pub async fn run(
    config: Config,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = open_store(&config, true).await?;
    let (workspace, generated) = bootstrap(store.as_ref(), &config, clock.as_ref()).await?;
    if let Some(token) = generated {
        // To the terminal, once, and never into the structured log (issue
        // 11, gap 5): log lines are shipped and kept where secrets must not be.
        eprintln!(
            "\ngancho: generated the admin token, shown only this once (set GANCHO_ADMIN_TOKEN to choose your own):\n\n    {token}\n"
        );
        tracing::warn!("generated an admin token; it was printed to the terminal, not logged");
    }
    if config.encryption_key.is_none() {
        tracing::warn!("GANCHO_ENCRYPTION_KEY is not set: gateway keys are stored unencrypted");
    }
    let state = AppState::new(Shared {
        inbound_slots: Arc::new(tokio::sync::Semaphore::new(config.max_inflight)),
        outbox: Outbox::new(&config.retry_schedule),
        metrics: Arc::new(Metrics::new()),
        store,
        sealer: Arc::new(
            Sealer::new(config.encryption_key.as_ref().map(|k| k.expose()))
                .map_err(|e| anyhow::anyhow!("GANCHO_ENCRYPTION_KEY: {e}"))?,
        ),
        config: Arc::new(config),
        clock,
    });
    let addr = listener.local_addr()?;
    tracing::info!(%addr, workspace = %workspace.public_id, "gancho is listening");
    let token = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let app = router(state.clone());
    let server_token = token.clone();
    let limits = crate::serve::Limits {
        max_connections: state.config.max_connections,
        header_timeout: state.config.header_timeout,
    };
    tasks.spawn(async move {
        let result = crate::serve::serve(listener, app, limits, server_token).await;
        ("http server", result.map_err(anyhow::Error::from))
    });
    tasks.spawn(expiry_loop(state.clone(), token.clone()));
    tasks.spawn(write_probe_loop(state.clone(), token.clone()));
    tasks.spawn(retention_loop(state.clone(), token.clone()));
    let lookup_http = crate::http_client::builder()
        .timeout(crate::inbound::lookup::REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gancho/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the customer lookup HTTP client")?;
    tasks.spawn(lookup_loop(state.clone(), lookup_http, token.clone()));
    let mut worker_ctx =
        WorkerContext::new(state.store.clone(), state.sealer.clone(), &state.config)
            .context("building the delivery HTTP client")?;
    worker_ctx.metrics = Some(state.metrics.clone());
    let (clock, outbox, worker_token) = (state.clock.clone(), state.outbox.clone(), token.clone());
    tasks.spawn(async move {
        worker::run(worker_ctx, clock, outbox, worker_token).await;
        ("delivery worker", Ok(()))
    });
    let outer = token.clone();
    tokio::spawn(async move {
        shutdown.await;
        outer.cancel();
    });
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = joined.context("a task panicked")?;
        if !token.is_cancelled() {
            tracing::error!(task = name, error = ?result.as_ref().err(), "task stopped unexpectedly; shutting down");
            failure.get_or_insert(anyhow::anyhow!("task {name} stopped unexpectedly"));
            token.cancel();
        }
        if let Err(e) = result {
            failure.get_or_insert(e);
        }
    }
    tracing::info!("gancho stopped");
    failure.map_or(Ok(()), Err)
}

/// Resolves pending calls' buyers every [`LOOKUP_INTERVAL`] (`inbound::lookup`).
async fn lookup_loop(
    state: AppState,
    http: reqwest::Client,
    token: CancellationToken,
) -> (&'static str, anyhow::Result<()>) {
    let apis = crate::inbound::lookup::Apis {
        asaas: state.config.asaas_api_url.clone(),
    };
    loop {
        let ctx = crate::inbound::InboundContext {
            store: state.store.as_ref(),
            sealer: &state.sealer,
            outbox: &state.outbox,
            metrics: Some(&state.metrics),
            now: state.clock.now(),
        };
        // One instance at a time, so a buyer is fetched once.
        let result = match state.store.try_exclusive("customer_lookups").await {
            Ok(Some(_lock)) => crate::inbound::lookup::run_due(&ctx, &http, &apis).await,
            Ok(None) => Ok(Default::default()),
            Err(e) => Err(e),
        };
        match result {
            Ok(pass) if pass.resolved > 0 => {
                tracing::info!(resolved = pass.resolved, "pending calls applied");
            }
            Ok(_) => {}
            Err(crate::storage::StoreError::Unavailable(_)) => {}
            Err(e) => tracing::error!(error = %e, "resolving pending calls failed; will retry"),
        }
        tokio::select! {
            _ = token.cancelled() => return ("customer lookups", Ok(())),
            _ = tokio::time::sleep(LOOKUP_INTERVAL) => {}
        }
    }
}

/// While the database refuses writes, probes one every second
/// (`storage::write::WriteHealth`): the episode ends, and calls are taken
/// again, as soon as one commits.
async fn write_probe_loop(
    state: AppState,
    token: CancellationToken,
) -> (&'static str, anyhow::Result<()>) {
    loop {
        if state.store.write_health().problem().is_some() {
            // The outcome is the write health itself; nothing else to do.
            let _ = state.store.check_writes().await;
        }
        tokio::select! {
            _ = token.cancelled() => return ("write probe", Ok(())),
            _ = state.store.write_health().episode_started() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Revokes expired grants every [`EXPIRY_INTERVAL`].
async fn expiry_loop(
    state: AppState,
    token: CancellationToken,
) -> (&'static str, anyhow::Result<()>) {
    loop {
        let fanout = state.outbox.fanout(state.clock.now());
        // One instance at a time; another takes over if this one dies.
        let turn = state.store.try_exclusive("expiry").await;
        let result = match turn {
            Ok(Some(_lock)) => access::expire_due_grants(state.store.as_ref(), fanout).await,
            Ok(None) => Ok(0),
            Err(e) => Err(e),
        };
        match result {
            Ok(0) => {}
            Ok(n) => {
                state.outbox.wake();
                state.metrics.revoked(n as u64);
                tracing::info!(revoked = n, "expired grants revoked");
            }
            Err(e) => tracing::error!(error = %e, "expiring grants failed; will retry"),
        }
        tokio::select! {
            _ = token.cancelled() => return ("grant expiry", Ok(())),
            _ = tokio::time::sleep(EXPIRY_INTERVAL) => {}
        }
    }
}

/// How often retention runs.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Purges entries older than `GANCHO_RETENTION_DAYS`, at start-up and hourly.
async fn retention_loop(
    state: AppState,
    token: CancellationToken,
) -> (&'static str, anyhow::Result<()>) {
    loop {
        let now = state.clock.now();
        let days = state.config.retention_days;
        let result = match state.store.try_exclusive("retention").await {
            Ok(Some(_lock)) => retention::purge(state.store.as_ref(), now, days).await,
            Ok(None) => Ok(Default::default()),
            Err(e) => Err(e),
        };
        match result {
            Ok(p) if p.log_entries + p.deliveries_and_events > 0 => tracing::info!(
                log_entries = p.log_entries,
                deliveries_and_events = p.deliveries_and_events,
                "retention purged old entries"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "retention failed; will retry"),
        }
        tokio::select! {
            _ = token.cancelled() => return ("retention", Ok(())),
            _ = tokio::time::sleep(RETENTION_INTERVAL) => {}
        }
    }
}
