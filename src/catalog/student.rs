//! Students as the API sees them: lookup, detail with current access
//! (category grants expanded to their products), creation and status
//! changes by hand, progress reported by the host platform, and manual
//! grants and revocations — each with its outbound event.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use super::category::get_category;
use super::product::get_product;
use super::{named, CatalogError};
use crate::email::Email;
use crate::ids::{CategoryId, GrantId, ProductId, StudentId, WorkspaceId};
use crate::inbound::access::{grant_keys, grant_products, revoke};
use crate::model::{Grant, GrantSource, GrantTarget, Student, StudentStatus};
use crate::outbound::event::{access_event, enqueue, student_event, EventDraft, EVENT_TYPES};
use crate::outbound::Outbox;
use crate::storage::{LedgerTx, Store};
use serde_json::{json, Value};

/// One current grant, with the products it covers right now.
#[derive(Debug, Clone)]
pub struct Access {
    pub grant: Grant,
    pub product_ids: Vec<ProductId>,
}

/// The student's current grants; category grants list their products as
/// they are now, so products added to a category later are included.
pub async fn current_access(
    store: &dyn Store,
    ws: &WorkspaceId,
    student: &StudentId,
    now: DateTime<Utc>,
) -> Result<Vec<Access>, CatalogError> {
    let mut access = current_access_of(store, ws, std::slice::from_ref(student), now).await?;
    Ok(access.pop().unwrap_or_default())
}

/// [`current_access`] of each of `students`, in their order, in two
/// statements whatever their number (their grants, then the products of
/// the categories among them): a page of `GET /students` is read so.
pub async fn current_access_of(
    store: &dyn Store,
    ws: &WorkspaceId,
    students: &[StudentId],
    now: DateTime<Utc>,
) -> Result<Vec<Vec<Access>>, CatalogError> {
    let grants = store.active_grants_of(ws, students, now).await?;
    let categories: Vec<_> = grants
        .iter()
        .filter_map(|g| match &g.target {
            GrantTarget::Category(c) => Some(c.clone()),
            GrantTarget::Product(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut members: HashMap<CategoryId, Vec<ProductId>> = HashMap::new();
    for (category, product) in store.category_products(ws, &categories).await? {
        members.entry(category).or_default().push(product);
    }
    let mut by_student: HashMap<StudentId, Vec<Access>> = HashMap::new();
    for grant in grants {
        let product_ids = match &grant.target {
            GrantTarget::Product(p) => vec![p.clone()],
            GrantTarget::Category(c) => members.get(c).cloned().unwrap_or_default(),
        };
        by_student
            .entry(grant.student_id.clone())
            .or_default()
            .push(Access { grant, product_ids });
    }
    Ok(students
        .iter()
        .map(|s| by_student.get(s).cloned().unwrap_or_default())
        .collect())
}

pub async fn get_student(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &StudentId,
) -> Result<Student, CatalogError> {
    store.get_student(ws, id).await.map_err(named("student"))
}

/// Looks a student up by e-mail (trimmed, case-insensitive).
pub async fn find_by_email(
    store: &dyn Store,
    ws: &WorkspaceId,
    raw_email: &str,
) -> Result<Option<Student>, CatalogError> {
    let email =
        Email::parse(raw_email).map_err(|e| CatalogError::Invalid(format!("email: {e}")))?;
    Ok(store.student_by_email(ws, email.as_str()).await?)
}

/// Contact details of a student created by hand.
#[derive(Debug, Clone, Default)]
pub struct NewStudent {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// Writes the drafts to the outbox in `tx`, commits, and wakes the worker
/// if they queued deliveries.
async fn commit_with_events(
    mut tx: Box<dyn LedgerTx>,
    outbox: &Outbox,
    ws: &WorkspaceId,
    drafts: Vec<EventDraft>,
    now: DateTime<Utc>,
) -> Result<Vec<crate::ids::EventId>, CatalogError> {
    let written = enqueue(tx.as_mut(), ws, drafts, outbox.fanout(now)).await?;
    tx.commit().await?;
    outbox.wake_for(written.iter().map(|(_, d)| d.len()).sum());
    Ok(written.into_iter().map(|(id, _)| id).collect())
}

pub async fn create_student(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    new: NewStudent,
    now: DateTime<Utc>,
) -> Result<Student, CatalogError> {
    let email =
        Email::parse(&new.email).map_err(|e| CatalogError::Invalid(format!("email: {e}")))?;
    let mut tx = store.begin().await?;
    if tx.student_by_email(ws, email.as_str()).await?.is_some() {
        return Err(CatalogError::Conflict(format!(
            "a student with e-mail {email} already exists"
        )));
    }
    let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let student = Student {
        id: StudentId::new(),
        workspace_id: ws.clone(),
        email: email.as_str().to_string(),
        name: clean(new.name),
        phone: clean(new.phone),
        document: None,
        status: StudentStatus::Active,
        created_at: now,
        updated_at: now,
    };
    if !tx.insert_student(&student).await? {
        return Err(CatalogError::Conflict(format!(
            "a student with e-mail {email} already exists"
        )));
    }
    let draft = student_event("student.created", &student, json!({}));
    commit_with_events(tx, outbox, ws, vec![draft], now).await?;
    Ok(student)
}

/// Changes a student by hand (DESIGN.md: `PATCH /students/{id}`).
#[derive(Debug, Clone, Default)]
pub struct StudentPatch {
    pub status: Option<StudentStatus>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// The event a status change emits.
fn status_event(from: StudentStatus, to: StudentStatus) -> Option<&'static str> {
    match (from, to) {
        (a, b) if a == b => None,
        (_, StudentStatus::Canceled) => Some("student.canceled"),
        (_, StudentStatus::Inactive) => Some("student.inactivated"),
        (_, StudentStatus::Active) => Some("student.reactivated"),
    }
}

/// Applies a patch and emits `student.canceled|inactivated|reactivated`
/// for a status change and `student.updated` for changed contact details.
pub async fn update_student(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    id: &StudentId,
    patch: StudentPatch,
    now: DateTime<Utc>,
) -> Result<Student, CatalogError> {
    let mut tx = store.begin().await?;
    let before = tx.get_student(ws, id).await.map_err(named("student"))?;
    let mut student = before.clone();
    let clean = |v: String| Some(v.trim().to_string()).filter(|s| !s.is_empty());
    if let Some(name) = patch.name {
        student.name = clean(name);
    }
    if let Some(phone) = patch.phone {
        student.phone = clean(phone);
    }
    if let Some(status) = patch.status {
        student.status = status;
    }
    if student == before {
        return Ok(student);
    }
    student.updated_at = now;
    tx.update_student(&student).await?;
    let mut drafts = Vec::new();
    if let Some(event_type) = status_event(before.status, student.status) {
        let extra = json!({"previous_status": before.status.as_str()});
        drafts.push(student_event(event_type, &student, extra));
    }
    if (student.name.clone(), student.phone.clone()) != (before.name.clone(), before.phone.clone())
    {
        let extra = json!({"previous": {"name": before.name, "phone": before.phone}});
        drafts.push(student_event("student.updated", &student, extra));
    }
    commit_with_events(tx, outbox, ws, drafts, now).await?;
    Ok(student)
}

/// The progress events the host platform reports.
pub const PROGRESS_EVENTS: [&str; 4] = [
    "first_access",
    "progress_updated",
    "module_completed",
    "certificate_issued",
];

/// Records a progress event (`module_completed`, ...) as `student.<type>`,
/// with the reported `data` merged in. Returns the event id.
pub async fn report_progress(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    id: &StudentId,
    kind: &str,
    data: Value,
    now: DateTime<Utc>,
) -> Result<crate::ids::EventId, CatalogError> {
    let short = kind.strip_prefix("student.").unwrap_or(kind);
    if !PROGRESS_EVENTS.contains(&short) {
        return Err(CatalogError::Invalid(format!(
            "type: one of {}",
            PROGRESS_EVENTS.join(", ")
        )));
    }
    let event_type = format!("student.{short}");
    debug_assert!(EVENT_TYPES.contains(&event_type.as_str()));
    let extra = match data {
        Value::Object(map) => Value::Object(map),
        Value::Null => json!({}),
        other => json!({ "value": other }),
    };
    let mut tx = store.begin().await?;
    let student = tx.get_student(ws, id).await.map_err(named("student"))?;
    // The student's own fields win over reported ones with the same name.
    let mut draft = student_event(&event_type, &student, json!({}));
    if let (Value::Object(reported), Some(map)) = (extra, draft.data.as_object_mut()) {
        for (k, v) in reported {
            map.entry(k).or_insert(v);
        }
    }
    let ids = commit_with_events(tx, outbox, ws, vec![draft], now).await?;
    ids.into_iter()
        .next()
        .ok_or(CatalogError::NotFound("event"))
}

/// Grants a product or category by hand (`source: {manual: true}`).
pub async fn grant_manually(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    student: &StudentId,
    target: GrantTarget,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Grant, CatalogError> {
    get_student(store, ws, student).await?;
    match &target {
        GrantTarget::Product(p) => get_product(store, ws, p).await.map(|_| ()),
        GrantTarget::Category(c) => get_category(store, ws, c).await.map(|_| ()),
    }
    .map_err(|e| match e {
        CatalogError::NotFound(what) => {
            CatalogError::Invalid(format!("the {what} to grant does not exist"))
        }
        other => other,
    })?;
    if expires_at.is_some_and(|e| e <= now) {
        return Err(CatalogError::Invalid(
            "expires_at: must be in the future".into(),
        ));
    }
    let grant = Grant {
        id: GrantId::new(),
        workspace_id: ws.clone(),
        student_id: student.clone(),
        target,
        source: GrantSource::Manual,
        granted_at: now,
        expires_at,
        revoked_at: None,
        revoke_reason: None,
    };
    let mut tx = store.begin().await?;
    tx.insert_grant(&grant).await?;
    let owner = tx.get_student(ws, student).await?;
    let products = grant_products(tx.as_mut(), &grant).await?;
    let draft = access_event("access.granted", &owner, &grant, products);
    commit_with_events(tx, outbox, ws, vec![draft], now).await?;
    Ok(grant)
}

/// Revokes one of the student's grants now (reason `manual`).
pub async fn revoke_manually(
    store: &dyn Store,
    outbox: &Outbox,
    ws: &WorkspaceId,
    student: &StudentId,
    grant: &GrantId,
    now: DateTime<Utc>,
) -> Result<(), CatalogError> {
    let mut tx = store.begin().await?;
    let found = tx.get_grant(ws, grant).await.map_err(named("grant"))?;
    if &found.student_id != student {
        return Err(CatalogError::NotFound("grant"));
    }
    // Read it again under its sale's lock: a renewal may be extending it.
    tx.lock_keys(&grant_keys(&found)).await?;
    let found = tx.get_grant(ws, grant).await?;
    let Some(draft) = revoke(tx.as_mut(), &found, now, "manual", "access.revoked").await? else {
        return Ok(()); // already revoked
    };
    commit_with_events(tx, outbox, ws, vec![draft], now).await?;
    Ok(())
}
