//! Students as the API sees them: lookup, detail with current access
//! (category grants expanded to their products), creation by hand, and
//! manual grants and revocations.

use chrono::{DateTime, Utc};

use super::category::get_category;
use super::product::get_product;
use super::{named, CatalogError};
use crate::email::Email;
use crate::ids::{GrantId, ProductId, StudentId, WorkspaceId};
use crate::model::{Grant, GrantSource, GrantTarget, Student, StudentStatus};
use crate::storage::Store;

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
    let grants = store.active_grants(ws, student, now).await?;
    let categories: Vec<_> = grants
        .iter()
        .filter_map(|g| match &g.target {
            GrantTarget::Category(c) => Some(c.clone()),
            GrantTarget::Product(_) => None,
        })
        .collect();
    let members = store.category_products(ws, &categories).await?;
    Ok(grants
        .into_iter()
        .map(|grant| {
            let product_ids = match &grant.target {
                GrantTarget::Product(p) => vec![p.clone()],
                GrantTarget::Category(c) => members
                    .iter()
                    .filter(|(cat, _)| cat == c)
                    .map(|(_, p)| p.clone())
                    .collect(),
            };
            Access { grant, product_ids }
        })
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

pub async fn create_student(
    store: &dyn Store,
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
    tx.insert_student(&student).await?;
    tx.commit().await?;
    Ok(student)
}

/// Grants a product or category by hand (`source: {manual: true}`).
pub async fn grant_manually(
    store: &dyn Store,
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
    tx.commit().await?;
    Ok(grant)
}

/// Revokes one of the student's grants now (reason `manual`).
pub async fn revoke_manually(
    store: &dyn Store,
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
    tx.revoke_grant(grant, now, "manual").await?;
    tx.commit().await?;
    Ok(())
}
