//! The access ledger (DESIGN.md § Inbound, effects): grants on approval and
//! renewal, revocation on refund/chargeback/cancel/expiry, end of period on
//! subscription cancellation, and the expiry of grants whose time is up.
//! Everything runs inside the caller's [`LedgerTx`], so the effects commit
//! together with the event record and its log entry; each change also
//! drafts its outbound event (`access.*`, `student.created`) for the outbox.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::email::Email;
use crate::ids::{CategoryId, GrantId, ProductId, StudentId, WorkspaceId};
use crate::inbound::normalize::NormalizedEvent;
use crate::model::{
    CanonicalStatus, GatewayKind, Grant, GrantSource, GrantTarget, Student, StudentStatus,
};
use crate::outbound::event::{access_event, enqueue, student_event, EventDraft, Fanout};
use crate::storage::{LedgerStore, LedgerTx, StoreResult};

/// What an approval grants: the inbound URL's products and categories, or
/// the products mapped by `external_ids`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Targets {
    pub products: Vec<ProductId>,
    pub categories: Vec<CategoryId>,
    /// Grants expire this many days after the approval is recorded.
    pub access_days: Option<u32>,
}

impl Targets {
    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.categories.is_empty()
    }

    fn all(&self) -> Vec<GrantTarget> {
        self.products
            .iter()
            .cloned()
            .map(GrantTarget::Product)
            .chain(self.categories.iter().cloned().map(GrantTarget::Category))
            .collect()
    }
}

/// One change the ledger made, as recorded in the log entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Effect {
    StudentCreated {
        student_id: StudentId,
        email: String,
    },
    Granted {
        grant_id: GrantId,
        #[serde(skip_serializing_if = "Option::is_none")]
        product_id: Option<ProductId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        category_id: Option<CategoryId>,
        expires_at: Option<DateTime<Utc>>,
    },
    Extended {
        grant_id: GrantId,
        previous_expires_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
    },
    Revoked {
        grant_id: GrantId,
        reason: String,
    },
    EndScheduled {
        grant_id: GrantId,
        expires_at: DateTime<Utc>,
    },
    NotGranted {
        reason: String,
    },
}

/// The ledger's answer to one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    pub student_id: Option<StudentId>,
    pub effects: Vec<Effect>,
    /// Outbound events the changes cause, in order (none when no endpoint
    /// would take them: see [`apply`]).
    pub events: Vec<EventDraft>,
    drafts_events: bool,
}

impl Applied {
    /// Keeps an event the changes cause, unless no endpoint would take it.
    fn draft(&mut self, draft: EventDraft) {
        if self.drafts_events {
            self.events.push(draft);
        }
    }
}

/// The products a grant covers now (a category's current products).
pub async fn grant_products(tx: &mut dyn LedgerTx, grant: &Grant) -> StoreResult<Vec<ProductId>> {
    Ok(match &grant.target {
        GrantTarget::Product(p) => vec![p.clone()],
        GrantTarget::Category(c) => tx
            .category_products(&grant.workspace_id, std::slice::from_ref(c))
            .await?
            .into_iter()
            .map(|(_, p)| p)
            .collect(),
    })
}

/// The keys that serialize changes to one sale: its transaction and, for a
/// subscription, the subscription (renewals, cancellation and expiry touch
/// the subscription's grants). See [`LedgerTx::lock_keys`].
pub fn sale_keys(
    ws: &WorkspaceId,
    gateway: GatewayKind,
    transaction_id: Option<&str>,
    subscription_id: Option<&str>,
) -> Vec<String> {
    let tx = transaction_id.map(|t| format!("sale:{ws}:{gateway}:tx:{t}"));
    let sub = subscription_id.map(|s| format!("sale:{ws}:{gateway}:sub:{s}"));
    tx.into_iter().chain(sub).collect()
}

/// The keys of the sale a grant came from (none for a manual grant).
pub fn grant_keys(grant: &Grant) -> Vec<String> {
    match &grant.source {
        GrantSource::Manual => Vec::new(),
        GrantSource::Gateway {
            gateway,
            transaction_id,
            subscription_id,
        } => sale_keys(
            &grant.workspace_id,
            *gateway,
            Some(transaction_id),
            subscription_id.as_deref(),
        ),
    }
}

/// Revokes a grant now and drafts its `access.revoked` (or `access.expired`)
/// event; `None` when it was already revoked (by a concurrent change).
pub async fn revoke(
    tx: &mut dyn LedgerTx,
    grant: &Grant,
    now: DateTime<Utc>,
    reason: &str,
    event_type: &str,
) -> StoreResult<Option<EventDraft>> {
    if !tx.revoke_grant(&grant.id, now, reason).await? {
        return Ok(None);
    }
    let student = tx
        .get_student(&grant.workspace_id, &grant.student_id)
        .await?;
    let mut revoked = grant.clone();
    revoked.revoked_at = Some(now);
    revoked.revoke_reason = Some(reason.to_string());
    let products = grant_products(tx, grant).await?;
    Ok(Some(access_event(event_type, &student, &revoked, products)))
}

/// Statuses after which a transaction never grants access, whatever
/// arrives later: they win over its approval in any order.
const REVERSALS: [CanonicalStatus; 3] = [
    CanonicalStatus::Refunded,
    CanonicalStatus::Chargeback,
    CanonicalStatus::Canceled,
];

/// Whether the status grants access (and so needs a student and targets).
pub fn grants_access(status: CanonicalStatus) -> bool {
    matches!(
        status,
        CanonicalStatus::Approved | CanonicalStatus::SubscriptionRenewed
    )
}

/// Applies one normalized event to the ledger. The caller has already
/// claimed the event (so this runs once per `(gateway, transaction, status)`)
/// and checked that granting events have an e-mail and targets. Without
/// `drafts_events` (no endpoint would take an event, and none is kept
/// unsent) the changes draft no outbound event: building their JSON was
/// a cost of every approval while it holds the SQLite writer (issue 9).
pub async fn apply(
    tx: &mut dyn LedgerTx,
    ws: &WorkspaceId,
    event: &NormalizedEvent,
    buyer: Buyer<'_>,
    targets: &Targets,
    now: DateTime<Utc>,
    drafts_events: bool,
) -> StoreResult<Applied> {
    let mut applied = Applied {
        drafts_events,
        ..Applied::default()
    };
    if grants_access(event.status) {
        let found = match buyer {
            Buyer::Unknown => None,
            Buyer::Email(email) => {
                let candidate = student_candidate(ws, event, email, now);
                Some(tx.student_or_insert(&candidate).await?)
            }
            Buyer::Student(student, is_new) => Some((student, is_new)),
        };
        if let Some((student, is_new)) = found {
            let student = complete_student(tx, event, student, is_new, now, &mut applied).await?;
            grant(tx, &student, event, targets, now, &mut applied).await?;
        }
        return Ok(applied);
    }
    match buyer {
        Buyer::Unknown => {}
        Buyer::Email(email) => {
            applied.student_id = tx.student_by_email(ws, email.as_str()).await?.map(|s| s.id);
        }
        Buyer::Student(student, _) => applied.student_id = Some(student.id),
    }
    match event.status {
        CanonicalStatus::Refunded
        | CanonicalStatus::Chargeback
        | CanonicalStatus::Canceled
        | CanonicalStatus::Expired => revoke_transaction(tx, ws, event, now, &mut applied).await?,
        CanonicalStatus::SubscriptionCanceled => {
            end_subscription(tx, ws, event, now, &mut applied).await?
        }
        _ => {}
    }
    Ok(applied)
}

/// Who an event is about, as the caller knows them.
pub enum Buyer<'a> {
    /// The event names no valid e-mail.
    Unknown,
    /// Their e-mail, not yet looked up.
    Email(&'a Email),
    /// A granting event's student, read or written with the event's claim
    /// (`LedgerTx::claim_with_student`); `true` when it was written.
    Student(Student, bool),
}

/// The student a granting event creates when none has its e-mail.
pub fn student_candidate(
    ws: &WorkspaceId,
    event: &NormalizedEvent,
    email: &Email,
    now: DateTime<Utc>,
) -> Student {
    let c = &event.customer;
    Student {
        id: StudentId::new(),
        workspace_id: ws.clone(),
        email: email.as_str().to_string(),
        name: c.name.clone(),
        phone: c.phone.clone(),
        document: c.document.clone(),
        status: StudentStatus::Active,
        created_at: now,
        updated_at: now,
    }
}

/// Completes a granting event's student: an existing one gets what it
/// lacked from the event, a new one its `student.created` event.
async fn complete_student(
    tx: &mut dyn LedgerTx,
    event: &NormalizedEvent,
    mut student: Student,
    is_new: bool,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> StoreResult<Student> {
    let c = &event.customer;
    applied.student_id = Some(student.id.clone());
    if !is_new {
        // Fill in what we did not know; never overwrite what the admin may have edited.
        let before = student.clone();
        student.name = student.name.or_else(|| c.name.clone());
        student.phone = student.phone.or_else(|| c.phone.clone());
        student.document = student.document.or_else(|| c.document.clone());
        if student != before {
            student.updated_at = now;
            tx.update_student(&student).await?;
        }
        return Ok(student);
    }
    if applied.drafts_events {
        let draft = student_event("student.created", &student, serde_json::json!({}));
        applied.events.push(draft);
    }
    applied.effects.push(Effect::StudentCreated {
        student_id: student.id.clone(),
        email: student.email.clone(),
    });
    Ok(student)
}

/// Grants each target, or extends the subscription's grant of it (a renewal).
async fn grant(
    tx: &mut dyn LedgerTx,
    student: &Student,
    event: &NormalizedEvent,
    targets: &Targets,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> StoreResult<()> {
    let ws = &student.workspace_id;
    let Some(transaction_id) = event.transaction_id.as_deref() else {
        return Ok(());
    };
    // DESIGN.md § Inbound: a late approval never re-grants a reversed sale;
    // a canceled one neither (README: the ledger's arrival-order rules).
    let Some(own_grants) = tx
        .transaction_grants_unless(ws, event.gateway, transaction_id, &REVERSALS, now)
        .await?
    else {
        applied.effects.push(Effect::NotGranted {
            reason: format!(
                "transaction {transaction_id} was already refunded, charged back or canceled"
            ),
        });
        return Ok(());
    };
    // Only a renewal extends the subscription's grants; another approval is
    // another purchase, with grants of its own that its own refund revokes.
    let subscription_grants = match event.subscription_id.as_deref() {
        Some(sub) if event.status == CanonicalStatus::SubscriptionRenewed => {
            tx.grants_for_subscription(ws, event.gateway, sub, now)
                .await?
        }
        _ => Vec::new(),
    };
    let days = targets.access_days.map(|d| Duration::days(i64::from(d)));
    for target in targets.all() {
        let mine = |g: &&Grant| g.student_id == student.id && g.target == target;
        if own_grants.iter().any(|g| mine(&g)) {
            continue;
        }
        if let Some(existing) = subscription_grants.iter().find(mine) {
            extend(
                tx,
                student,
                existing,
                event,
                transaction_id,
                days,
                now,
                applied,
            )
            .await?;
            continue;
        }
        let g = Grant {
            id: GrantId::new(),
            workspace_id: ws.clone(),
            student_id: student.id.clone(),
            target: target.clone(),
            source: GrantSource::Gateway {
                gateway: event.gateway,
                transaction_id: transaction_id.to_string(),
                subscription_id: event.subscription_id.clone(),
            },
            granted_at: now,
            expires_at: days.map(|d| now + d),
            revoked_at: None,
            revoke_reason: None,
        };
        tx.insert_grant(&g).await?;
        if applied.drafts_events {
            let products = grant_products(tx, &g).await?;
            let draft = access_event("access.granted", student, &g, products);
            applied.events.push(draft);
        }
        let (product_id, category_id) = match target {
            GrantTarget::Product(p) => (Some(p), None),
            GrantTarget::Category(c) => (None, Some(c)),
        };
        applied.effects.push(Effect::Granted {
            grant_id: g.id,
            product_id,
            category_id,
            expires_at: g.expires_at,
        });
    }
    Ok(())
}

/// A renewal: the grant now also answers to this transaction, and a timed
/// grant runs `days` longer, counted from its current end (or from now if
/// that already passed).
#[allow(clippy::too_many_arguments)] // each is one fact of the renewal
async fn extend(
    tx: &mut dyn LedgerTx,
    student: &Student,
    existing: &Grant,
    event: &NormalizedEvent,
    transaction_id: &str,
    days: Option<Duration>,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> StoreResult<()> {
    tx.link_grant_transaction(existing, event.gateway, transaction_id)
        .await?;
    let expires_at = match (existing.expires_at, days) {
        (Some(end), Some(d)) => Some(end.max(now) + d),
        (current, _) => current,
    };
    if expires_at != existing.expires_at {
        tx.set_grant_expiry(&existing.id, expires_at).await?;
    }
    if applied.drafts_events {
        let mut extended = existing.clone();
        extended.expires_at = expires_at;
        let products = grant_products(tx, &extended).await?;
        let mut draft = access_event("access.extended", student, &extended, products);
        draft.data["previous_expires_at"] = serde_json::json!(existing.expires_at);
        draft.data["transaction_id"] = serde_json::json!(transaction_id);
        applied.events.push(draft);
    }
    applied.effects.push(Effect::Extended {
        grant_id: existing.id.clone(),
        previous_expires_at: existing.expires_at,
        expires_at,
    });
    Ok(())
}

async fn revoke_transaction(
    tx: &mut dyn LedgerTx,
    ws: &WorkspaceId,
    event: &NormalizedEvent,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> StoreResult<()> {
    let Some(transaction_id) = event.transaction_id.as_deref() else {
        return Ok(());
    };
    let reason = event.status.as_str();
    for g in tx
        .grants_for_transaction(ws, event.gateway, transaction_id, now)
        .await?
    {
        if let Some(draft) = revoke(tx, &g, now, reason, "access.revoked").await? {
            applied.draft(draft);
            applied.effects.push(Effect::Revoked {
                grant_id: g.id,
                reason: reason.to_string(),
            });
        }
    }
    Ok(())
}

/// DESIGN.md: a canceled subscription's grants end when its paid period
/// ends, if the gateway says when; otherwise now.
async fn end_subscription(
    tx: &mut dyn LedgerTx,
    ws: &WorkspaceId,
    event: &NormalizedEvent,
    now: DateTime<Utc>,
    applied: &mut Applied,
) -> StoreResult<()> {
    let Some(sub) = event.subscription_id.as_deref() else {
        return Ok(());
    };
    for g in tx
        .grants_for_subscription(ws, event.gateway, sub, now)
        .await?
    {
        match event.access_ends_at.filter(|end| *end > now) {
            Some(end) => {
                let end = g.expires_at.map_or(end, |e| e.min(end));
                tx.set_grant_expiry(&g.id, Some(end)).await?;
                applied.effects.push(Effect::EndScheduled {
                    grant_id: g.id,
                    expires_at: end,
                });
            }
            None => {
                let reason = "subscription_canceled";
                if let Some(draft) = revoke(tx, &g, now, reason, "access.revoked").await? {
                    applied.draft(draft);
                    applied.effects.push(Effect::Revoked {
                        grant_id: g.id,
                        reason: reason.into(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// How many expired grants one pass revokes per transaction.
const EXPIRY_BATCH: u32 = 200;

/// Revokes (reason `expired`) every grant whose `expires_at` has passed,
/// each with its `access.expired` event. Returns how many were revoked.
/// Runs in small transactions so writers are never blocked for long; the
/// caller wakes the delivery worker. A grant whose sale is being changed
/// right now (a renewal may be extending it) is left for the next pass, and
/// each grant is read again under its sale's lock before it is revoked.
pub async fn expire_due_grants(store: &dyn LedgerStore, fanout: Fanout<'_>) -> StoreResult<usize> {
    let now = fanout.now;
    let mut total = 0;
    loop {
        let mut tx = store.begin().await?;
        let due = tx.due_expired_grants(now, EXPIRY_BATCH).await?;
        // Events are fanned out per workspace, so its endpoints are read once per batch.
        let mut by_workspace: Vec<(WorkspaceId, Vec<EventDraft>)> = Vec::new();
        let mut revoked = 0;
        for g in &due {
            let Some(draft) = expire(tx.as_mut(), g, now).await? else {
                continue;
            };
            revoked += 1;
            match by_workspace
                .iter_mut()
                .find(|(ws, _)| ws == &g.workspace_id)
            {
                Some((_, drafts)) => drafts.push(draft),
                None => by_workspace.push((g.workspace_id.clone(), vec![draft])),
            }
        }
        for (ws, drafts) in by_workspace {
            enqueue(tx.as_mut(), &ws, drafts, fanout).await?;
        }
        tx.commit().await?;
        total += revoked;
        // A short batch was the last; one where every grant was busy waits for the next pass.
        if due.len() < EXPIRY_BATCH as usize || revoked == 0 {
            return Ok(total);
        }
    }
}

/// Expires one grant if its sale is free and it is still due.
async fn expire(
    tx: &mut dyn LedgerTx,
    grant: &Grant,
    now: DateTime<Utc>,
) -> StoreResult<Option<EventDraft>> {
    if !tx.try_lock_keys(&grant_keys(grant)).await? {
        return Ok(None);
    }
    let fresh = tx.get_grant(&grant.workspace_id, &grant.id).await?;
    if fresh.revoked_at.is_some() || fresh.expires_at.is_none_or(|end| end > now) {
        return Ok(None);
    }
    revoke(tx, &fresh, now, "expired", "access.expired").await
}
