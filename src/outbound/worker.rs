//! The delivery worker. [`run`] keeps up to 64 sends in flight: it claims
//! due deliveries with a lease as slots free up, sends each (signed,
//! Standard Webhooks) in its own task, and records attempts as they finish,
//! batched into one transaction, which also claims the next due deliveries
//! (`OutboundStore::record_then_claim`: on SQLite one unit of the group
//! commit, answered before that group commits, so an endpoint's round of
//! sends waits for no commit; BENCHMARKS.md). The worker's last record, as
//! it stops, waits for its commit and so for all before it. No send waits for another, so a hung
//! endpoint holds only its own slots (at most its `max_in_flight`), and a
//! circuit breaker stops trying an endpoint that keeps timing out until a
//! probe gets an answer. [`run_once`] does one claim → send → record pass
//! for tests and benchmarks. A worker that dies mid-send leaves a lease that
//! expires, and the delivery is claimed again (at least once; receivers
//! dedupe on `webhook-id`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use futures_util::FutureExt;
use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use tokio::task::JoinSet;

use super::endpoint::{open_headers, signing_secrets};
use super::schedule::{after_failure, parse_retry_after, Next};
use super::target::{check_literal, GuardedResolver, TargetError};
use super::Outbox;
use crate::clock::Clock;
use crate::config::Config;
use crate::ids::{DeliveryId, EndpointId};
use crate::keys::Sealer;
use crate::model::{Attempt, DeliveryStatus, Direction, Integration, LogEntry, LogStatus};
use crate::standard_webhooks;
use crate::storage::{AttemptRecord, ClaimRequest, DueDelivery, HealthUpdate, Store, StoreResult};

/// How many deliveries the worker sends at once (and one pass claims).
const BATCH: u32 = 64;
/// Timeouts and connection failures in a row that open an endpoint's breaker.
pub const BREAKER_THRESHOLD: u32 = 5;
/// The longest a connection may take to open: a dropped SYN is known
/// quickly, while an answer may take the whole `GANCHO_DELIVERY_TIMEOUT`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The most of a response body kept on the attempt.
const MAX_RESPONSE_BODY: usize = 4096;
/// The longest a finished send waits to be recorded with others.
const RECORD_AFTER: Duration = Duration::from_millis(5);
/// How often an idle worker looks for due deliveries (it is also woken on new ones).
const IDLE_POLL: Duration = Duration::from_millis(200);

/// What the worker needs; built once at start-up.
pub struct WorkerContext {
    pub store: Arc<dyn Store>,
    pub sealer: Arc<Sealer>,
    pub client: reqwest::Client,
    pub schedule: Vec<Duration>,
    pub timeout: Duration,
    pub allow_private: bool,
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// An endpoint's cap on deliveries in flight, unless it sets its own.
    pub per_endpoint: u32,
    /// How long an unhealthy endpoint waits before its next probe.
    pub breaker_cooldown: Duration,
    /// When each rate-limited endpoint last had a send slot.
    pacer: Mutex<HashMap<EndpointId, DateTime<Utc>>>,
    /// This process's sends in flight, per endpoint (for `/metrics`).
    in_flight: Mutex<HashMap<EndpointId, usize>>,
}

impl WorkerContext {
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Arc<Sealer>,
        config: &Config,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = crate::http_client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.delivery_timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(config.delivery_timeout))
            .no_proxy()
            .user_agent(concat!("gancho/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            store,
            sealer,
            client: builder.build()?,
            schedule: config.retry_schedule.clone(),
            timeout: config.delivery_timeout,
            allow_private: config.allow_private_targets,
            metrics: None,
            per_endpoint: config.endpoint_max_in_flight,
            breaker_cooldown: config.breaker_cooldown,
            pacer: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// How long a claim lasts: a send can take `timeout`, plus a margin. A
    /// dead worker's deliveries are taken again after this.
    pub fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.timeout + Duration::from_secs(5))
            .unwrap_or(chrono::Duration::seconds(15))
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Worked(usize),
    Idle,
}

/// One pass: claim → pace → send → record.
pub async fn run_once(ctx: &WorkerContext, now: DateTime<Utc>) -> StoreResult<Outcome> {
    let Some(send) = claim(ctx, now, BATCH).await? else {
        return Ok(Outcome::Idle);
    };
    let sent = join_all(send.iter().map(|d| attempt(ctx, d, now))).await;
    let done: Vec<Done> = send.into_iter().zip(sent).collect();
    let n = done.len();
    finish(ctx, done, now, None).await?;
    Ok(Outcome::Worked(n))
}

/// A delivery sent, with what came back.
type Done = (DueDelivery, Sent);

/// Claims up to `limit` due deliveries and moves the ones a rate limit
/// holds back to later; `None` when nothing was due.
async fn claim(
    ctx: &WorkerContext,
    now: DateTime<Utc>,
    limit: u32,
) -> StoreResult<Option<Vec<DueDelivery>>> {
    let due = ctx
        .store
        .claim_due_deliveries(claim_request(ctx, now, limit))
        .await?;
    paced(ctx, due, now).await
}

/// What a claim may send now; the ones a rate limit holds back are moved
/// to later. `None` when nothing was claimed.
async fn paced(
    ctx: &WorkerContext,
    due: Vec<DueDelivery>,
    now: DateTime<Utc>,
) -> StoreResult<Option<Vec<DueDelivery>>> {
    if due.is_empty() {
        return Ok(None);
    }
    let (send, deferred) = pace(ctx, due, now);
    for (id, token, until) in deferred {
        ctx.store.defer_delivery(&id, token, until).await?;
    }
    Ok(Some(send))
}

/// A claim of up to `limit` deliveries due at `now`, leased for a send.
fn claim_request(ctx: &WorkerContext, now: DateTime<Utc>, limit: u32) -> ClaimRequest {
    ClaimRequest {
        now,
        lease_until: now + ctx.lease(),
        limit,
        per_endpoint: ctx.per_endpoint,
    }
}

/// Records finished sends in one transaction: attempts, deliveries, log
/// entries, and what they say about each endpoint's health. With `claim`,
/// claims up to that many deliveries right after, in the record's unit
/// where the store allows (`OutboundStore::record_then_claim`), and
/// returns what may be sent of them.
async fn finish(
    ctx: &WorkerContext,
    mut done: Vec<Done>,
    now: DateTime<Utc>,
    claim: Option<u32>,
) -> StoreResult<Option<Vec<DueDelivery>>> {
    if let Some(m) = &ctx.metrics {
        for (_, s) in &done {
            let outcome = match s.http_status {
                Some(200..=299) => "success",
                Some(410) => "gone",
                _ => "failure",
            };
            m.attempt(outcome, s.duration_ms as f64 / 1000.0);
        }
    }
    let health = breaker_updates(ctx, &mut done, now);
    let records: Vec<AttemptRecord> = done
        .into_iter()
        .map(|(d, s)| record(ctx, &d, s, now))
        .collect();
    let (stale, claimed) = match claim {
        Some(limit) => {
            let request = claim_request(ctx, now, limit);
            let (stale, due) = ctx
                .store
                .record_then_claim(&records, &health, request)
                .await?;
            (stale, Some(due))
        }
        None => (ctx.store.record_attempts(&records, &health).await?, None),
    };
    if stale > 0 {
        // Claimed again elsewhere, or resent by hand, while this send ran:
        // the newer state stands, and the delivery is sent again.
        tracing::warn!(
            stale,
            "attempts not recorded: their deliveries changed hands while they were sent"
        );
    }
    match claimed {
        Some(due) => paced(ctx, due, now).await,
        None => Ok(None),
    }
}

/// What the finished sends say about their endpoints' breakers, in order:
/// an HTTP answer (any status) starts the count over; a timeout or a
/// failed connection adds one. When an endpoint crosses the threshold (or
/// its half-open probe fails), the attempt that did it says so.
fn breaker_updates(
    ctx: &WorkerContext,
    done: &mut [Done],
    now: DateTime<Utc>,
) -> Vec<HealthUpdate> {
    let open_until = now
        + chrono::Duration::from_std(ctx.breaker_cooldown).unwrap_or(chrono::Duration::seconds(30));
    let mut updates: Vec<HealthUpdate> = Vec::new();
    let mut healthy_before: Vec<EndpointId> = Vec::new();
    for (d, s) in done.iter_mut() {
        if d.endpoint.health == Default::default() && !healthy_before.contains(&d.endpoint.id) {
            healthy_before.push(d.endpoint.id.clone());
        }
        let reached = s.http_status.is_some();
        if !reached && !s.is_unreachable {
            continue; // not the endpoint's doing (a bad URL, a blocked address)
        }
        let i = match updates.iter().position(|u| u.endpoint_id == d.endpoint.id) {
            Some(i) => i,
            None => {
                updates.push(HealthUpdate {
                    endpoint_id: d.endpoint.id.clone(),
                    is_reset: false,
                    failures: 0,
                    threshold: BREAKER_THRESHOLD,
                    open_until,
                });
                updates.len() - 1
            }
        };
        let u = &mut updates[i];
        if reached {
            (u.is_reset, u.failures) = (true, 0);
            if d.endpoint.health.open_until.is_some() {
                tracing::warn!(endpoint_id = %d.endpoint.id, "endpoint answers again: breaker closed");
                if let Some(m) = &ctx.metrics {
                    m.endpoint_breaker(&d.endpoint.id, false);
                }
            }
            continue;
        }
        u.failures += 1;
        let before = if u.is_reset {
            0
        } else {
            d.endpoint.health.consecutive_failures
        };
        let total = before + u.failures;
        let was_open = d.endpoint.health.open_until.is_some() && !u.is_reset;
        if total >= BREAKER_THRESHOLD && (total == BREAKER_THRESHOLD || was_open) {
            let note = format!(
                "endpoint unhealthy after {total} timeouts or connection failures in a row: \
                 its deliveries wait, unattempted, until a probe at {}",
                open_until.to_rfc3339()
            );
            tracing::warn!(endpoint_id = %d.endpoint.id, next_probe_at = %open_until, "endpoint unhealthy: breaker open");
            if let Some(m) = &ctx.metrics {
                m.endpoint_breaker(&d.endpoint.id, true);
            }
            s.error = Some(match s.error.take() {
                Some(e) => format!("{e}; {note}"),
                None => note,
            });
        }
    }
    // An answer from an endpoint that was healthy when claimed changes nothing.
    updates.retain(|u| !(u.is_reset && u.failures == 0 && healthy_before.contains(&u.endpoint_id)));
    updates
}

/// A claimed delivery moved to later: its id, the lease token it was
/// claimed with, and when it is due again.
type Deferral = (crate::ids::DeliveryId, i64, DateTime<Utc>);

/// Splits the claimed deliveries into those to send now and those to move
/// to a later slot, so a rate-limited endpoint gets at most its rate.
fn pace(
    ctx: &WorkerContext,
    due: Vec<DueDelivery>,
    now: DateTime<Utc>,
) -> (Vec<DueDelivery>, Vec<Deferral>) {
    let mut pacer = ctx.pacer.lock().unwrap_or_else(|e| e.into_inner());
    let mut queued: HashMap<EndpointId, i32> = HashMap::new();
    let mut send = Vec::new();
    let mut deferred = Vec::new();
    for d in due {
        let Some(rate) = d.endpoint.rate_limit_per_second else {
            send.push(d);
            continue;
        };
        let interval = chrono::Duration::microseconds(1_000_000 / i64::from(rate.max(1)));
        let free = pacer
            .get(&d.endpoint.id)
            .map_or(now, |last| (*last + interval).max(now));
        if free <= now {
            pacer.insert(d.endpoint.id.clone(), now);
            send.push(d);
        } else {
            let n = queued.entry(d.endpoint.id.clone()).or_insert(0);
            deferred.push((
                d.delivery.id.clone(),
                d.delivery.lease_token,
                free + interval * *n,
            ));
            *n += 1;
        }
    }
    (send, deferred)
}

/// What came back from one send.
struct Sent {
    http_status: Option<u16>,
    body: Option<String>,
    duration_ms: i64,
    error: Option<String>,
    retry_after: Option<Duration>,
    /// It timed out or could not connect (what the breaker counts).
    is_unreachable: bool,
}

impl Sent {
    fn failed(error: &str, duration_ms: i64) -> Self {
        Self {
            http_status: None,
            body: None,
            duration_ms,
            error: Some(error.to_string()),
            retry_after: None,
            is_unreachable: false,
        }
    }
}

async fn attempt(ctx: &WorkerContext, d: &DueDelivery, now: DateTime<Utc>) -> Sent {
    let started = Instant::now();
    let failed = |error: String| Sent::failed(&error, elapsed_ms(started));
    let url = match reqwest::Url::parse(&d.endpoint.url) {
        Ok(url) => url,
        Err(e) => return failed(format!("invalid url: {e}")),
    };
    if let Err(e) = check_literal(&url, ctx.allow_private) {
        return failed(e.to_string());
    }
    let secrets = match signing_secrets(&ctx.sealer, &d.endpoint, now) {
        Ok(s) => s,
        Err(e) => return failed(format!("cannot read the endpoint secret: {e}")),
    };
    let body = crate::storage::rows::to_json(&d.event.payload);
    let id = d.event.id.as_str();
    let ts = now.timestamp();
    let signature: Vec<String> = secrets
        .iter()
        .filter_map(|s| standard_webhooks::sign(s, id, ts, body.as_bytes()))
        .collect();
    let mut request = ctx
        .client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature.join(" "));
    let headers = match open_headers(&ctx.sealer, &d.endpoint) {
        Ok(h) => h,
        Err(e) => return failed(format!("cannot read the endpoint's headers: {e}")),
    };
    for (name, value) in &headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request = request.header(n, v);
        }
    }
    let mut response = match request.body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            return Sent {
                is_unreachable: e.is_timeout() || e.is_connect(),
                ..failed(describe(&e))
            }
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESPONSE_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_RESPONSE_BODY);
    Sent {
        http_status: Some(status),
        body: Some(String::from_utf8_lossy(&bytes).into_owned()),
        duration_ms: elapsed_ms(started),
        error: (!(200..300).contains(&status)).then(|| format!("HTTP {status}")),
        retry_after,
        is_unreachable: false,
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// A short, stable description of a failed send.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<TargetError>() {
            return t.to_string();
        }
        chain.push_str(&s.to_string());
        chain.push_str(": ");
        source = s.source();
    }
    let lower = chain.to_lowercase();
    let kind = if lower.contains("connection refused") {
        "connection refused"
    } else if lower.contains("dns") || lower.contains("lookup") || lower.contains("resolve") {
        "dns"
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "tls"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    };
    format!("{kind}: {}", chain.trim_end_matches(": "))
}

/// Decides what follows an attempt and builds everything to write.
fn record(ctx: &WorkerContext, d: &DueDelivery, sent: Sent, now: DateTime<Utc>) -> AttemptRecord {
    let mut delivery = d.delivery.clone();
    delivery.attempts += 1;
    let status = sent.http_status;
    let gone = status == Some(410);
    let next = match status {
        Some(s) if (200..300).contains(&s) => Next::Delivered,
        Some(410) => Next::GaveUp,
        _ => {
            let honoured = matches!(status, Some(429) | Some(503))
                .then_some(sent.retry_after)
                .flatten();
            after_failure(
                &ctx.schedule,
                delivery.attempts - delivery.cycle_start,
                now,
                honoured,
            )
        }
    };
    (delivery.status, delivery.next_attempt_at) = match next {
        Next::Delivered => (DeliveryStatus::Success, None),
        Next::Retry { at } => (DeliveryStatus::Pending, Some(at)),
        Next::GaveUp => (DeliveryStatus::Failed, None),
    };
    delivery.lease_until = None;
    delivery.last_http_status = status;
    delivery.last_error = sent.error.clone();
    delivery.updated_at = now;
    let attempt = Attempt {
        number: delivery.attempts,
        at: now,
        http_status: status,
        response_body: sent.body,
        duration_ms: sent.duration_ms,
        error: sent.error,
    };
    let log = log_entry(d, &delivery, &attempt);
    AttemptRecord {
        attempt,
        delivery,
        log,
        disable_endpoint: gone
            .then(|| format!("the endpoint answered 410 Gone at {}", now.to_rfc3339())),
    }
}

/// The delivery's log entry, following its latest attempt.
fn log_entry(d: &DueDelivery, delivery: &crate::model::Delivery, a: &Attempt) -> LogEntry {
    let data = &d.event.payload["data"];
    let email = data["email"]
        .as_str()
        .or_else(|| data["customer"]["email"].as_str())
        .map(str::to_string);
    LogEntry {
        id: delivery.log_id.clone(),
        workspace_id: delivery.workspace_id.clone(),
        at: delivery.created_at,
        direction: Direction::Out,
        gateway: None,
        event_type: Some(delivery.event_type.clone()),
        email,
        status: if delivery.status == DeliveryStatus::Success {
            LogStatus::Success
        } else {
            LogStatus::Failure
        },
        http_status: a.http_status.unwrap_or(0),
        duration_ms: a.duration_ms,
        integration: Integration {
            kind: "endpoint".into(),
            id: Some(d.endpoint.id.to_string()),
            name: d.endpoint.name.clone(),
        },
        attempts: delivery.attempts,
        error: a.error.clone(),
        detail: json!({
            "delivery_id": delivery.id,
            "delivery_status": delivery.status,
            "next_attempt_at": delivery.next_attempt_at,
            "endpoint": {"id": d.endpoint.id, "name": d.endpoint.name, "url": d.endpoint.url},
            // The payload lives once, on the event; the log detail reads it from there.
            "event_id": d.event.id,
        }),
        reprocess_of: None,
    }
}

/// Sends until `token` is cancelled: claims as slots free up (and when
/// woken by new deliveries, or every `IDLE_POLL`), records sends as they
/// finish. Claims and records are batched (each is a transaction, and on
/// SQLite a commit is an fsync): a claim waits until half the slots are
/// free unless nothing is in flight, and finished sends are recorded once
/// half a batch is waiting, `RECORD_AFTER` has passed, or nothing else is
/// in flight. A record runs in a task of its own, one at a time, while the
/// loop goes on claiming and sending: on PostgreSQL a claim and a record
/// each take milliseconds of round trips, and one after the other they
/// left the worker waiting on the database most of a busy drain (issue 9).
/// A delivery being recorded still holds its lease and its slot. On
/// cancellation it finishes and records what is in flight.
pub async fn run(
    ctx: WorkerContext,
    clock: Arc<dyn Clock>,
    outbox: Outbox,
    token: CancellationToken,
) {
    let ctx = Arc::new(ctx);
    let mut in_flight: JoinSet<Done> = JoinSet::new();
    let mut finished: Vec<Result<Done, tokio::task::JoinError>> = Vec::new();
    let mut first_finished = tokio::time::Instant::now();
    // The record running now, the deliveries it records, and how many it
    // claims after them (`None`: it claims nothing).
    let mut recording: JoinSet<Option<Vec<DueDelivery>>> = JoinSet::new();
    let mut being_recorded: Vec<DeliveryId> = Vec::new();
    let mut record_claims: Option<u32> = None;
    // Deliveries this worker holds (sending, or sent and not yet recorded).
    // A claim can return one again if its lease ran out meanwhile (a stalled
    // record, a clock that jumped); sending it twice at once would also put
    // it twice in one record batch.
    let mut held: std::collections::HashSet<DeliveryId> = Default::default();
    // Deliveries claimed again while held (resent by hand, or their lease
    // ran out): the claim bumped their lease token, so the send in flight
    // will record nothing, and the new claim is sent once it is over.
    let mut reclaimed: HashMap<DeliveryId, DueDelivery> = HashMap::new();
    let half = BATCH as usize / 2;
    // Whether a claim may find work: after a wake, a poll tick, a record
    // (which frees leases), or a claim that came back full. A claim that
    // finds nothing still takes SQLite's write lock, so it is not repeated
    // on every finished send.
    let mut may_find_work = true;
    while !token.is_cancelled() {
        // Finished but unrecorded sends still hold their leases: count them.
        // So do the deliveries a running record may claim.
        let holding = in_flight.len()
            + finished.len()
            + reclaimed.len()
            + being_recorded.len()
            + record_claims.map_or(0, |n| n as usize);
        let take = worth_claiming(holding, in_flight.is_empty());
        if let Some(room) = take.filter(|_| may_find_work) {
            let now = clock.now();
            may_find_work = false;
            match claim(&ctx, now, room).await {
                Ok(Some(send)) => {
                    may_find_work = send.len() >= room as usize;
                    take_claimed(&mut in_flight, &ctx, &mut held, &mut reclaimed, send, now);
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "claiming deliveries failed; will retry"),
            }
        }
        let record_at = first_finished + RECORD_AFTER;
        tokio::select! {
            _ = token.cancelled() => {}
            Some(one) = in_flight.join_next(), if !in_flight.is_empty() => {
                if finished.is_empty() {
                    first_finished = tokio::time::Instant::now();
                }
                finished.push(one);
                while let Some(more) = in_flight.try_join_next() {
                    finished.push(more);
                }
            }
            Some(joined) = recording.join_next(), if !recording.is_empty() => {
                let recorded = std::mem::take(&mut being_recorded);
                let now = clock.now();
                release(&mut in_flight, &ctx, &mut held, &mut reclaimed, recorded, now);
                match (joined, record_claims.take()) {
                    // The record claimed after it, in its unit. A wake
                    // meanwhile still counts: its deliveries may have
                    // committed after the claim ran.
                    (Ok(Some(send)), Some(limit)) => {
                        may_find_work |= send.len() >= limit as usize;
                        take_claimed(&mut in_flight, &ctx, &mut held, &mut reclaimed, send, now);
                    }
                    // Its claim found nothing due, or the record failed and
                    // let no lease go: nothing new to look for.
                    (Ok(None), Some(_)) => {}
                    // It did not claim: the leases it let go may be claimed.
                    _ => may_find_work = true,
                }
            }
            _ = tokio::time::sleep_until(record_at), if !finished.is_empty() && recording.is_empty() => {}
            _ = outbox.woken() => may_find_work = true,
            _ = tokio::time::sleep(IDLE_POLL) => may_find_work = true,
        }
        let is_due = finished.len() >= half
            || tokio::time::Instant::now() >= first_finished + RECORD_AFTER
            || in_flight.is_empty();
        if !finished.is_empty() && is_due && recording.is_empty() {
            let batch = std::mem::take(&mut finished);
            being_recorded = batch
                .iter()
                .flatten()
                .map(|(d, _)| d.delivery.id.clone())
                .collect();
            // The record claims what the worker will have room for once it
            // lets these go (the claim above's rule), in the same unit.
            record_claims = worth_claiming(in_flight.len() + reclaimed.len(), in_flight.is_empty());
            let (ctx, now, claims) = (Arc::clone(&ctx), clock.now(), record_claims);
            recording.spawn(async move { record_finished(&ctx, batch, now, claims).await });
        }
    }
    while recording.join_next().await.is_some() {}
    while let Some(one) = in_flight.join_next().await {
        finished.push(one);
    }
    record_finished(&ctx, finished, clock.now(), None).await;
}

/// How many deliveries a claim takes while the worker holds `holding`:
/// none until half the batch is free (each claim is a transaction), unless
/// nothing is in flight, when any room is worth a claim.
fn worth_claiming(holding: usize, nothing_in_flight: bool) -> Option<u32> {
    let room = (BATCH as usize).saturating_sub(holding);
    (room >= BATCH as usize / 2 || (nothing_in_flight && room > 0)).then_some(room as u32)
}

/// Sends what a claim returned, except a delivery this worker still holds
/// (it waits in `reclaimed` until its record is in; see [`release`]).
fn take_claimed(
    in_flight: &mut JoinSet<Done>,
    ctx: &Arc<WorkerContext>,
    held: &mut std::collections::HashSet<DeliveryId>,
    reclaimed: &mut HashMap<DeliveryId, DueDelivery>,
    send: Vec<DueDelivery>,
    now: DateTime<Utc>,
) {
    for d in send {
        if held.contains(&d.delivery.id) {
            reclaimed.insert(d.delivery.id.clone(), d);
            continue;
        }
        held.insert(d.delivery.id.clone());
        dispatch(in_flight, ctx, d, now);
    }
}

/// After a record: each delivery is let go, or sent again if it was
/// claimed again while it was held.
fn release(
    in_flight: &mut JoinSet<Done>,
    ctx: &Arc<WorkerContext>,
    held: &mut std::collections::HashSet<DeliveryId>,
    reclaimed: &mut HashMap<DeliveryId, DueDelivery>,
    recorded: Vec<DeliveryId>,
    now: DateTime<Utc>,
) {
    for id in recorded {
        match reclaimed.remove(&id) {
            Some(again) => dispatch(in_flight, ctx, again, now),
            None => {
                held.remove(&id);
            }
        }
    }
}

/// Sends one claimed delivery in its own task. A panic becomes a failed
/// attempt, so the delivery is recorded (and released) anyway.
fn dispatch(
    in_flight: &mut JoinSet<Done>,
    ctx: &Arc<WorkerContext>,
    d: DueDelivery,
    now: DateTime<Utc>,
) {
    let ctx = Arc::clone(ctx);
    ctx.count_in_flight(&d.endpoint.id, 1);
    in_flight.spawn(async move {
        let sent = std::panic::AssertUnwindSafe(attempt(&ctx, &d, now))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Sent::failed("internal error while sending", 0));
        (d, sent)
    });
}

/// Records sends that finished; a task that panicked is left to its lease.
async fn record_finished(
    ctx: &WorkerContext,
    finished: Vec<Result<Done, tokio::task::JoinError>>,
    now: DateTime<Utc>,
    claim: Option<u32>,
) -> Option<Vec<DueDelivery>> {
    let mut done = Vec::with_capacity(finished.len());
    for f in finished {
        match f {
            Ok(d) => {
                ctx.count_in_flight(&d.0.endpoint.id, -1);
                done.push(d);
            }
            Err(e) => tracing::error!(error = %e, "a delivery task failed; its lease will expire"),
        }
    }
    // The worker's last record (no claim) runs even with nothing to
    // record: it waits for its commit, and so for the commits of the
    // records answered before theirs (`record_then_claim` on SQLite).
    if done.is_empty() && claim.is_some() {
        return None;
    }
    let claimed = finish(ctx, done, now, claim).await.unwrap_or_else(|e| {
        // The leases expire and the deliveries are sent again (at least once).
        tracing::error!(error = %e, "recording delivery attempts failed");
        None
    });
    if let Some(m) = &ctx.metrics {
        m.endpoints_in_flight(&ctx.busiest_endpoints(10));
    }
    claimed
}

impl WorkerContext {
    fn count_in_flight(&self, endpoint: &EndpointId, delta: isize) {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(endpoint.clone()).or_insert(0);
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            map.remove(endpoint);
        }
    }

    /// The `limit` endpoints with the most sends in flight here.
    fn busiest_endpoints(&self, limit: usize) -> Vec<(EndpointId, usize)> {
        let map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<(EndpointId, usize)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(limit);
        all
    }
}
