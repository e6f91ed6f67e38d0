//! Outbound events (DESIGN.md § Outbound): their types, the `data` each
//! carries (documented in docs/events.md), and [`enqueue`], which writes the
//! event and one delivery per matching endpoint inside the caller's ledger
//! transaction — the outbox, so a change and its events commit together.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::ids::{DeliveryId, EventId, LogId, ProductId, StudentId, WorkspaceId};
use crate::inbound::normalize::NormalizedEvent;
use crate::model::{
    Delivery, DeliveryStatus, Endpoint, Event, Grant, GrantSource, GrantTarget, Student,
};
use crate::storage::{LedgerTx, StoreResult};

/// Every event type gancho sends.
pub const EVENT_TYPES: [&str; 29] = [
    "purchase.approved",
    "purchase.waiting_payment",
    "purchase.refused",
    "purchase.refunded",
    "purchase.refund_requested",
    "purchase.chargeback",
    "purchase.dispute",
    "purchase.canceled",
    "purchase.expired",
    "purchase.completed",
    "subscription.renewed",
    "subscription.delayed",
    "subscription.canceled",
    "subscription.plan_changed",
    "cart.abandoned",
    "access.granted",
    "access.revoked",
    "access.expired",
    "access.extended",
    "student.created",
    "student.updated",
    "student.first_access",
    "student.progress_updated",
    "student.module_completed",
    "student.certificate_issued",
    "student.canceled",
    "student.inactivated",
    "student.reactivated",
    "webhook.test",
];

/// An event about to be written: its type, `data`, and the products it concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    pub event_type: String,
    pub data: Value,
    pub product_ids: Vec<ProductId>,
}

pub fn student_json(s: &Student) -> Value {
    json!({
        "id": s.id,
        "email": s.email,
        "name": s.name,
        "phone": s.phone,
        "status": s.status.as_str(),
    })
}

fn source_json(source: &GrantSource) -> Value {
    match source {
        GrantSource::Manual => json!({"manual": true}),
        GrantSource::Gateway {
            gateway,
            transaction_id,
            subscription_id,
        } => json!({
            "gateway": gateway,
            "transaction_id": transaction_id,
            "subscription_id": subscription_id,
        }),
    }
}

/// `access.granted|revoked|expired|extended`: the student, what the grant
/// covers (a category's products included), the grant and its source.
pub fn access_event(
    event_type: &str,
    student: &Student,
    grant: &Grant,
    product_ids: Vec<ProductId>,
) -> EventDraft {
    let (product_id, category_id) = match &grant.target {
        GrantTarget::Product(p) => (Some(p.clone()), None),
        GrantTarget::Category(c) => (None, Some(c.clone())),
    };
    EventDraft {
        event_type: event_type.to_string(),
        data: json!({
            "student": student_json(student),
            "student_id": student.id,
            "email": student.email,
            "product_id": product_id,
            "category_id": category_id,
            "product_ids": product_ids,
            "grant": {
                "id": grant.id,
                "granted_at": grant.granted_at,
                "expires_at": grant.expires_at,
                "revoked_at": grant.revoked_at,
                "revoke_reason": grant.revoke_reason,
            },
            "source": source_json(&grant.source),
        }),
        product_ids,
    }
}

/// `purchase.*`, `subscription.*`, `cart.abandoned`: the normalized purchase
/// (gancho's generic format) plus the student and the gancho products.
pub fn purchase_event(
    event: &NormalizedEvent,
    student_id: Option<&StudentId>,
    product_ids: Vec<ProductId>,
) -> EventDraft {
    let mut data = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
    if let Some(map) = data.as_object_mut() {
        map.remove("access_ends_at");
        map.insert("student_id".into(), json!(student_id));
        map.insert("product_ids".into(), json!(product_ids));
        if let Some(end) = event.access_ends_at {
            map.insert("access_ends_at".into(), json!(end));
        }
    }
    EventDraft {
        event_type: event.status.event_type().to_string(),
        data,
        product_ids,
    }
}

/// `student.*`: the student, and for progress events what the host platform reported.
pub fn student_event(event_type: &str, student: &Student, extra: Value) -> EventDraft {
    let mut data = json!({
        "student": student_json(student),
        "student_id": student.id,
        "email": student.email,
    });
    if let (Some(map), Value::Object(extra)) = (data.as_object_mut(), extra) {
        map.extend(extra);
    }
    EventDraft {
        event_type: event_type.to_string(),
        data,
        product_ids: Vec::new(),
    }
}

/// Whether an endpoint wants an event: its type filter, and its product
/// filter (an event about no product goes only to endpoints without one).
pub fn matches(endpoint: &Endpoint, draft: &EventDraft) -> bool {
    let type_ok = endpoint.event_types.is_empty()
        || endpoint.event_types.iter().any(|t| t == &draft.event_type);
    let product_ok = endpoint.product_ids.is_empty()
        || draft
            .product_ids
            .iter()
            .any(|p| endpoint.product_ids.contains(p));
    type_ok && product_ok
}

/// The body every delivery of an event sends.
fn payload(id: &EventId, event_type: &str, at: DateTime<Utc>, data: Value) -> Value {
    json!({
        "id": id,
        "type": event_type,
        "created_at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "data": data,
    })
}

/// When and where the first attempt of new deliveries happens.
#[derive(Debug, Clone, Copy)]
pub struct Fanout<'a> {
    pub now: DateTime<Utc>,
    /// The first delay of the retry schedule.
    pub first_delay: std::time::Duration,
    /// Deliver to this endpoint only, whatever its filters (`webhook.test`).
    pub only: Option<&'a Endpoint>,
}

/// Writes the events and their deliveries in `tx`: each event with one
/// delivery per endpoint that takes it. An event no endpoint takes gets an
/// id but is not written (see [`LedgerTx::keeps_unsent_events`]). Returns
/// each event's id and its deliveries (the caller wakes the worker after
/// commit if there are any).
pub async fn enqueue(
    tx: &mut dyn LedgerTx,
    ws: &WorkspaceId,
    drafts: Vec<EventDraft>,
    fanout: Fanout<'_>,
) -> StoreResult<Vec<(EventId, Vec<DeliveryId>)>> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let endpoints = fanout_endpoints(tx, ws, fanout).await?;
    enqueue_to(tx, ws, drafts, fanout, &endpoints).await
}

/// The endpoints an event may go to: `fanout.only`, else the workspace's
/// enabled ones.
pub async fn fanout_endpoints(
    tx: &mut dyn LedgerTx,
    ws: &WorkspaceId,
    fanout: Fanout<'_>,
) -> StoreResult<Vec<Endpoint>> {
    Ok(match fanout.only {
        Some(e) => vec![e.clone()],
        None => tx.enabled_endpoints(ws).await?,
    })
}

/// [`enqueue`] to `endpoints`, as [`fanout_endpoints`] read them in `tx`.
pub async fn enqueue_to(
    tx: &mut dyn LedgerTx,
    ws: &WorkspaceId,
    drafts: Vec<EventDraft>,
    fanout: Fanout<'_>,
    endpoints: &[Endpoint],
) -> StoreResult<Vec<(EventId, Vec<DeliveryId>)>> {
    let first = fanout.now
        + chrono::Duration::from_std(fanout.first_delay).unwrap_or(chrono::Duration::zero());
    let mut written = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let id = EventId::new();
        let takers: Vec<&Endpoint> = endpoints
            .iter()
            .filter(|e| fanout.only.is_some() || matches(e, &draft))
            .collect();
        if takers.is_empty() && !tx.keeps_unsent_events() {
            written.push((id, Vec::new()));
            continue;
        }
        let event = Event {
            id: id.clone(),
            workspace_id: ws.clone(),
            payload: payload(&id, &draft.event_type, fanout.now, draft.data.clone()),
            event_type: draft.event_type.clone(),
            product_ids: draft.product_ids.clone(),
            created_at: fanout.now,
        };
        tx.insert_event(&event).await?;
        let mut deliveries = Vec::new();
        for endpoint in takers {
            let delivery = Delivery {
                id: DeliveryId::new(),
                workspace_id: ws.clone(),
                event_id: id.clone(),
                event_type: draft.event_type.clone(),
                endpoint_id: endpoint.id.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                cycle_start: 0,
                next_attempt_at: Some(first),
                lease_until: None,
                lease_token: 0,
                last_http_status: None,
                last_error: None,
                log_id: LogId::new(),
                created_at: fanout.now,
                updated_at: fanout.now,
            };
            tx.insert_delivery(&delivery).await?;
            deliveries.push(delivery.id);
        }
        written.push((id, deliveries));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EndpointId;
    use crate::model::StudentStatus;

    fn endpoint(types: &[&str], products: &[ProductId]) -> Endpoint {
        let now = Utc::now();
        Endpoint {
            id: EndpointId::new(),
            workspace_id: WorkspaceId::new(),
            name: "e".into(),
            url: "https://example.com".into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            product_ids: products.to_vec(),
            headers: Vec::new(),
            rate_limit_per_second: None,
            is_enabled: true,
            disabled_reason: None,
            secret: "whsec_x".into(),
            previous_secret: None,
            previous_secret_expires_at: None,
            max_in_flight: None,
            health: Default::default(),
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn endpoints_filter_by_type_and_product() {
        let (a, b) = (ProductId::new(), ProductId::new());
        let draft = EventDraft {
            event_type: "access.granted".into(),
            data: json!({}),
            product_ids: vec![a.clone()],
        };
        let no_product = EventDraft {
            product_ids: vec![],
            ..draft.clone()
        };

        assert!(matches(&endpoint(&[], &[]), &draft));
        assert!(matches(&endpoint(&["access.granted"], &[]), &draft));
        assert!(!matches(&endpoint(&["access.revoked"], &[]), &draft));
        assert!(matches(&endpoint(&[], &[a.clone(), b.clone()]), &draft));
        assert!(!matches(&endpoint(&[], &[b]), &draft));
        assert!(!matches(&endpoint(&[], &[a]), &no_product));
        assert!(matches(&endpoint(&[], &[]), &no_product));
    }

    #[test]
    fn student_events_are_flat() {
        let now = Utc::now();
        let s = Student {
            id: StudentId::new(),
            workspace_id: WorkspaceId::new(),
            email: "ana@example.com".into(),
            name: Some("Ana".into()),
            phone: None,
            document: None,
            status: StudentStatus::Active,
            created_at: now,
            updated_at: now,
        };

        let d = student_event("student.module_completed", &s, json!({"module": "M1"}));

        assert_eq!(d.data["email"], "ana@example.com");
        assert_eq!(d.data["student"]["name"], "Ana");
        assert_eq!(d.data["module"], "M1");
    }
}
