//! `/metrics` in Prometheus text: inbound requests by gateway and outcome,
//! delivery attempts by outcome with a latency histogram, queue depth by
//! state (read from the store at scrape time), ledger grants and
//! revocations, and per endpoint (bounded: the ten busiest here, and the
//! ones whose breaker this process saw open) sends in flight and breaker
//! state. Counters are per process (each instance exposes its own).

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::inbound::access::Effect;
use crate::model::GatewayKind;
use crate::storage::QueueCounts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InboundLabels {
    gateway: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint_id: String,
}

/// The most endpoints listed by breaker state (beyond this, only the total).
const MAX_BREAKER_LABELS: usize = 50;

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    inbound: Family<InboundLabels, Counter>,
    attempts: Family<OutcomeLabels, Counter>,
    latency: Histogram,
    queue: Family<StateLabels, Gauge>,
    grants: Counter,
    revocations: Counter,
    in_flight: Family<EndpointLabels, Gauge>,
    breaker_open: Family<EndpointLabels, Gauge>,
    unhealthy: std::sync::Mutex<std::collections::BTreeSet<String>>,
    unhealthy_total: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("gancho");
        let inbound = Family::<InboundLabels, Counter>::default();
        registry.register(
            "inbound_requests",
            "Inbound webhook calls by gateway and outcome",
            inbound.clone(),
        );
        let attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Outbound delivery attempts by outcome",
            attempts.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        registry.register(
            "delivery_latency_seconds",
            "Duration of outbound delivery attempts",
            latency.clone(),
        );
        let queue = Family::<StateLabels, Gauge>::default();
        registry.register("queue_depth", "Deliveries by state", queue.clone());
        let grants = Counter::default();
        registry.register(
            "ledger_grants",
            "Access grants made (and renewals extended)",
            grants.clone(),
        );
        let revocations = Counter::default();
        registry.register(
            "ledger_revocations",
            "Access grants revoked or expired",
            revocations.clone(),
        );
        let in_flight = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "endpoint_in_flight",
            "Deliveries being sent now, for the ten endpoints with the most",
            in_flight.clone(),
        );
        let breaker_open = Family::<EndpointLabels, Gauge>::default();
        registry.register(
            "endpoint_breaker_open",
            "1 while an endpoint's circuit breaker is open (unhealthy)",
            breaker_open.clone(),
        );
        let unhealthy_total = Gauge::default();
        registry.register(
            "endpoints_unhealthy",
            "Endpoints whose circuit breaker is open",
            unhealthy_total.clone(),
        );
        Self {
            registry,
            inbound,
            attempts,
            latency,
            queue,
            grants,
            revocations,
            in_flight,
            breaker_open,
            unhealthy: Default::default(),
            unhealthy_total,
        }
    }

    /// One inbound call; `gateway` is absent when it was never resolved.
    pub fn inbound(&self, gateway: Option<GatewayKind>, outcome: &str) {
        let gateway = gateway.map_or("unknown", |g| g.as_str()).to_string();
        self.inbound
            .get_or_create(&InboundLabels {
                gateway,
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts the grants and revocations among a call's effects.
    pub fn ledger(&self, effects: &[Effect]) {
        for e in effects {
            match e {
                Effect::Granted { .. } | Effect::Extended { .. } => {
                    self.grants.inc();
                }
                Effect::Revoked { .. } => {
                    self.revocations.inc();
                }
                _ => {}
            }
        }
    }

    pub fn granted(&self, n: u64) {
        self.grants.inc_by(n);
    }

    pub fn revoked(&self, n: u64) {
        self.revocations.inc_by(n);
    }

    /// One delivery attempt: `success`, `failure` or `gone`.
    pub fn attempt(&self, outcome: &str, seconds: f64) {
        self.attempts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
        self.latency.observe(seconds);
    }

    /// Replaces the per-endpoint in-flight gauges with `busiest`.
    pub fn endpoints_in_flight(&self, busiest: &[(crate::ids::EndpointId, usize)]) {
        self.in_flight.clear();
        for (id, n) in busiest {
            self.in_flight
                .get_or_create(&EndpointLabels {
                    endpoint_id: id.to_string(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    }

    /// An endpoint's breaker opened (`true`) or closed.
    pub fn endpoint_breaker(&self, id: &crate::ids::EndpointId, is_open: bool) {
        let mut open = self.unhealthy.lock().unwrap_or_else(|e| e.into_inner());
        let labels = EndpointLabels {
            endpoint_id: id.to_string(),
        };
        if is_open {
            open.insert(labels.endpoint_id.clone());
            if open.len() <= MAX_BREAKER_LABELS {
                self.breaker_open.get_or_create(&labels).set(1);
            }
        } else {
            open.remove(&labels.endpoint_id);
            self.breaker_open.remove(&labels);
        }
        self.unhealthy_total
            .set(i64::try_from(open.len()).unwrap_or(i64::MAX));
    }

    /// The exposition text, with the queue gauges set from `queue`.
    pub fn render(&self, queue: &QueueCounts) -> String {
        for (state, n) in [
            ("waiting", queue.waiting),
            ("processing", queue.processing),
            ("late", queue.late),
            ("done", queue.done),
            ("failed", queue.failed),
        ] {
            self.queue
                .get_or_create(&StateLabels {
                    state: state.into(),
                })
                .set(n);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_show_in_the_text() {
        let m = Metrics::new();
        m.inbound(Some(GatewayKind::Hotmart), "processed");
        m.attempt("success", 0.02);
        m.granted(2);
        let text = m.render(&QueueCounts {
            waiting: 3,
            ..Default::default()
        });
        assert!(
            text.contains(
                r#"gancho_inbound_requests_total{gateway="hotmart",outcome="processed"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"gancho_delivery_attempts_total{outcome="success"} 1"#));
        assert!(text.contains("gancho_delivery_latency_seconds_bucket"));
        assert!(text.contains(r#"gancho_queue_depth{state="waiting"} 3"#));
        assert!(text.contains("gancho_ledger_grants_total 2"));
    }
}
