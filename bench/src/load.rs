//! The load generator: closed-loop saturation (N connections, each sending
//! its next request as soon as the last is answered) and open-loop fixed
//! rate (requests start on a schedule, and latency counts from the scheduled
//! start, so a stalled server cannot hide its queueing). Every request is
//! made by a caller-supplied function from a unique sequence number.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One answered (or failed) request.
#[derive(Debug, Clone, Copy)]
pub struct Shot {
    /// `0` when the request failed without an HTTP answer.
    pub status: u16,
    pub latency: Duration,
    /// The request's sequence number.
    pub seq: u64,
    /// When it was answered.
    pub done: Instant,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub shots: Vec<Shot>,
    pub elapsed: Duration,
}

impl Report {
    /// Calls answered `200` per second (a call shed with `503` is not taken).
    pub fn rate(&self) -> f64 {
        self.ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Calls gancho shed with `503` (past `GANCHO_MAX_INFLIGHT`).
    pub fn shed(&self) -> usize {
        self.shots.iter().filter(|s| s.status == 503).count()
    }

    pub fn ok(&self) -> usize {
        self.shots.iter().filter(|s| s.status == 200).count()
    }

    /// The `p`th percentile latency (0–100) of the calls answered `200`.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut all: Vec<Duration> = self
            .shots
            .iter()
            .filter(|s| s.status == 200)
            .map(|s| s.latency)
            .collect();
        percentile(&mut all, p)
    }
}

pub fn percentile(all: &mut [Duration], p: f64) -> Duration {
    if all.is_empty() {
        return Duration::ZERO;
    }
    all.sort();
    let i = ((all.len() as f64 - 1.0) * p / 100.0).round() as usize;
    all[i.min(all.len() - 1)]
}

/// `conns` loops, each sending its next request when the last is answered,
/// for `duration`.
pub async fn saturate<F, Fut>(conns: usize, duration: Duration, send: F) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u16> + Send,
{
    let deadline = Instant::now() + duration;
    closed_loop(conns, send, move |_| Instant::now() < deadline).await
}

/// Sends exactly `n` requests over `conns` loops, as fast as answered.
pub async fn exactly<F, Fut>(n: u64, conns: usize, send: F) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u16> + Send,
{
    closed_loop(conns, send, move |seq| seq < n).await
}

/// `conns` loops sending requests numbered in order, while `go_on(seq)`.
async fn closed_loop<F, Fut>(
    conns: usize,
    send: F,
    go_on: impl Fn(u64) -> bool + Send + Sync + 'static,
) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u16> + Send,
{
    let send = Arc::new(send);
    let go_on = Arc::new(go_on);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (send, go_on, next) = (Arc::clone(&send), Arc::clone(&go_on), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut shots = Vec::new();
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if !go_on(seq) {
                    return shots;
                }
                let t = Instant::now();
                let status = send(seq).await;
                let done = Instant::now();
                shots.push(Shot {
                    status,
                    latency: done - t,
                    seq,
                    done,
                });
            }
        }));
    }
    let mut shots = Vec::new();
    for t in tasks {
        if let Ok(mut s) = t.await {
            shots.append(&mut s);
        }
    }
    Report {
        shots,
        elapsed: started.elapsed(),
    }
}

/// Starts `rate` requests a second for `duration`, each at its scheduled
/// time (at most `max_open` outstanding; past that the schedule slips and
/// the slip counts as latency).
pub async fn fixed_rate<F, Fut>(rate: f64, duration: Duration, max_open: usize, send: F) -> Report
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u16> + Send + 'static,
{
    let send = Arc::new(send);
    let permits = Arc::new(tokio::sync::Semaphore::new(max_open));
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let mut tasks = Vec::with_capacity(total as usize);
    for seq in 0..total {
        let due = started + Duration::from_secs_f64(seq as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let send = Arc::clone(&send);
        tasks.push(tokio::spawn(async move {
            let status = send(seq).await;
            drop(permit);
            let done = Instant::now();
            Shot {
                status,
                latency: done.saturating_duration_since(due),
                seq,
                done,
            }
        }));
    }
    let mut shots = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            shots.push(s);
        }
    }
    Report {
        shots,
        elapsed: started.elapsed(),
    }
}
