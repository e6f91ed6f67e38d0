//! `/students`: lookup by e-mail, detail with current access, creation by
//! hand, and manual grants.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, ListOut, ListParams, Query, Ws};
use crate::app::AppState;
use crate::catalog::student::{self, Access, NewStudent, StudentPatch};
use crate::error::{ApiError, ErrorBody};
use crate::ids::EventId;
use crate::ids::{CategoryId, GrantId, ProductId, StudentId, WorkspaceId};
use crate::model::{GatewayKind, Grant, GrantSource, GrantTarget, Student, StudentStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_students, create_student))
        .routes(routes!(get_student, update_student))
        .routes(routes!(report_event))
        .routes(routes!(create_grant))
        .routes(routes!(delete_grant))
}

/// Where a grant came from: `{gateway, transaction_id, subscription_id}` or `{manual: true}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SourceOut {
    Gateway {
        gateway: GatewayKind,
        transaction_id: String,
        subscription_id: Option<String>,
    },
    Manual {
        manual: bool,
    },
}

/// A current grant.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "grt_01JF4B3D5F7H9K1M3P5R7T9V1X", "product_id": "prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2", "product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"], "source": {"gateway": "hotmart", "transaction_id": "HP16015479281022", "subscription_id": null}, "granted_at": "2025-01-15T14:20:01Z", "expires_at": "2026-01-15T14:20:01Z", "revoked_at": null}))]
pub struct GrantOut {
    pub id: GrantId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<CategoryId>,
    /// The products this grant covers now (a category's current products).
    pub product_ids: Vec<ProductId>,
    pub source: SourceOut,
    pub granted_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl GrantOut {
    fn new(grant: Grant, product_ids: Vec<ProductId>) -> Self {
        let (product_id, category_id) = match grant.target {
            GrantTarget::Product(p) => (Some(p), None),
            GrantTarget::Category(c) => (None, Some(c)),
        };
        let source = match grant.source {
            GrantSource::Manual => SourceOut::Manual { manual: true },
            GrantSource::Gateway {
                gateway,
                transaction_id,
                subscription_id,
            } => SourceOut::Gateway {
                gateway,
                transaction_id,
                subscription_id,
            },
        };
        Self {
            id: grant.id,
            product_id,
            category_id,
            product_ids,
            source,
            granted_at: grant.granted_at,
            expires_at: grant.expires_at,
            revoked_at: grant.revoked_at,
        }
    }
}

impl From<Access> for GrantOut {
    fn from(a: Access) -> Self {
        Self::new(a.grant, a.product_ids)
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "stu_01JF4B2C3D4E5F6G7H8J9K0M1N", "email": "maria@example.com", "name": "Maria Silva", "phone": "+5511987654321", "status": "active", "created_at": "2025-01-15T14:20:01Z", "access": [{"id": "grt_01JF4B3D5F7H9K1M3P5R7T9V1X", "product_id": "prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2", "product_ids": ["prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2"], "source": {"gateway": "hotmart", "transaction_id": "HP16015479281022", "subscription_id": null}, "granted_at": "2025-01-15T14:20:01Z", "expires_at": "2026-01-15T14:20:01Z", "revoked_at": null}]}))]
pub struct StudentOut {
    pub id: StudentId,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub status: StudentStatus,
    pub created_at: DateTime<Utc>,
    /// Current grants with their source.
    pub access: Vec<GrantOut>,
}

async fn student_out(
    state: &AppState,
    ws: &WorkspaceId,
    s: Student,
) -> Result<StudentOut, ApiError> {
    let access =
        student::current_access(state.store.as_ref(), ws, &s.id, state.clock.now()).await?;
    Ok(StudentOut::new(s, access))
}

impl StudentOut {
    fn new(s: Student, access: Vec<Access>) -> Self {
        Self {
            id: s.id,
            email: s.email,
            name: s.name,
            phone: s.phone,
            status: s.status,
            created_at: s.created_at,
            access: access.into_iter().map(GrantOut::from).collect(),
        }
    }
}

fn parse_id(raw: &str) -> Result<StudentId, ApiError> {
    StudentId::parse(raw).ok_or_else(|| ApiError::NotFound("student not found".into()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StudentQuery {
    /// Exact e-mail (trimmed, case-insensitive).
    pub email: Option<String>,
    /// 1 to 500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/students", tag = "students", params(StudentQuery),
    responses((status = 200, body = ListOut<StudentOut>), (status = 422, body = ErrorBody)))]
async fn list_students(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Query(q): Query<StudentQuery>,
) -> Result<Json<ListOut<StudentOut>>, ApiError> {
    let page = ListParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .page()?;
    let rows = match &q.email {
        Some(email) => student::find_by_email(state.store.as_ref(), &ws, email)
            .await?
            .into_iter()
            .collect(),
        None => state.store.list_students(&ws, &page).await?,
    };
    let list = ListOut::from_rows(rows, &page, |s| s.id.to_string(), |s| s);
    // The whole page's access at once, not a query or two per student.
    let ids: Vec<StudentId> = list.items.iter().map(|s| s.id.clone()).collect();
    let access =
        student::current_access_of(state.store.as_ref(), &ws, &ids, state.clock.now()).await?;
    Ok(Json(ListOut {
        items: list
            .items
            .into_iter()
            .zip(access)
            .map(|(s, a)| StudentOut::new(s, a))
            .collect(),
        next_cursor: list.next_cursor,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "maria@example.com", "name": "Maria Silva"}))]
pub struct StudentIn {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[utoipa::path(post, path = "/students", tag = "students", request_body = StudentIn,
    responses((status = 201, body = StudentOut), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_student(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Json(body): Json<StudentIn>,
) -> Result<(StatusCode, Json<StudentOut>), ApiError> {
    let new = NewStudent {
        email: body.email,
        name: body.name,
        phone: body.phone,
    };
    let s = student::create_student(
        state.store.as_ref(),
        &state.outbox,
        &ws,
        new,
        state.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(student_out(&state, &ws, s).await?),
    ))
}

#[utoipa::path(get, path = "/students/{id}", tag = "students",
    responses((status = 200, body = StudentOut), (status = 404, body = ErrorBody)))]
async fn get_student(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
) -> Result<Json<StudentOut>, ApiError> {
    let s = student::get_student(state.store.as_ref(), &ws, &parse_id(&id)?).await?;
    Ok(Json(student_out(&state, &ws, s).await?))
}

/// Exactly one of `product_id` and `category_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"product_id": "prod_01JF3Y8Q6ZV5N2T4W7X9A0B1C2", "expires_at": "2027-01-31T23:59:59Z"}))]
pub struct GrantIn {
    pub product_id: Option<ProductId>,
    pub category_id: Option<CategoryId>,
    /// When the access ends; absent for lifetime access.
    pub expires_at: Option<DateTime<Utc>>,
}

#[utoipa::path(post, path = "/students/{id}/grants", tag = "students", request_body = GrantIn,
    responses((status = 201, body = GrantOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_grant(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(body): Json<GrantIn>,
) -> Result<(StatusCode, Json<GrantOut>), ApiError> {
    let target = match (body.product_id, body.category_id) {
        (Some(p), None) => GrantTarget::Product(p),
        (None, Some(c)) => GrantTarget::Category(c),
        _ => {
            return Err(ApiError::Validation(
                "give exactly one of product_id and category_id".into(),
            ))
        }
    };
    let student_id = parse_id(&id)?;
    let store = state.store.as_ref();
    let now = state.clock.now();
    let grant = student::grant_manually(
        store,
        &state.outbox,
        &ws,
        &student_id,
        target,
        body.expires_at,
        now,
    )
    .await?;
    state.metrics.granted(1);
    let access = student::current_access(store, &ws, &student_id, now).await?;
    let products = access
        .into_iter()
        .find(|a| a.grant.id == grant.id)
        .map(|a| a.product_ids)
        .unwrap_or_default();
    Ok((StatusCode::CREATED, Json(GrantOut::new(grant, products))))
}

#[utoipa::path(delete, path = "/students/{id}/grants/{grant_id}", tag = "students",
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_grant(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path((id, grant_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let grant_id =
        GrantId::parse(&grant_id).ok_or_else(|| ApiError::NotFound("grant not found".into()))?;
    student::revoke_manually(
        state.store.as_ref(),
        &state.outbox,
        &ws,
        &parse_id(&id)?,
        &grant_id,
        state.clock.now(),
    )
    .await?;
    state.metrics.revoked(1);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"status": "inactive"}))]
pub struct StudentPatchIn {
    /// `canceled`, `inactive` or `active` (emits `student.canceled`,
    /// `student.inactivated` or `student.reactivated`).
    pub status: Option<StudentStatus>,
    /// Changing name or phone emits `student.updated`.
    pub name: Option<String>,
    pub phone: Option<String>,
}

#[utoipa::path(patch, path = "/students/{id}", tag = "students", request_body = StudentPatchIn,
    responses((status = 200, body = StudentOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_student(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(body): Json<StudentPatchIn>,
) -> Result<Json<StudentOut>, ApiError> {
    let patch = StudentPatch {
        status: body.status,
        name: body.name,
        phone: body.phone,
    };
    let s = student::update_student(
        state.store.as_ref(),
        &state.outbox,
        &ws,
        &parse_id(&id)?,
        patch,
        state.clock.now(),
    )
    .await?;
    Ok(Json(student_out(&state, &ws, s).await?))
}

/// Progress reported by the host platform.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "module_completed", "data": {"module": "Fórmulas", "progress": 40}}))]
pub struct ProgressIn {
    /// `first_access`, `progress_updated`, `module_completed` or `certificate_issued`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Anything to pass on (module id, percentage, certificate URL, ...).
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"event_id": "evt_01JF4D7J9M1P3R5T7V9X1Z3B5D", "type": "student.module_completed"}))]
pub struct EventQueuedOut {
    pub event_id: EventId,
    #[serde(rename = "type")]
    pub event_type: String,
}

#[utoipa::path(post, path = "/students/{id}/events", tag = "students", request_body = ProgressIn,
    responses((status = 202, body = EventQueuedOut), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn report_event(
    State(state): State<AppState>,
    Ws(ws): Ws,
    Path(id): Path<String>,
    Json(body): Json<ProgressIn>,
) -> Result<(StatusCode, Json<EventQueuedOut>), ApiError> {
    let student_id = parse_id(&id)?;
    let now = state.clock.now();
    let store = state.store.as_ref();
    let event_id = student::report_progress(
        store,
        &state.outbox,
        &ws,
        &student_id,
        &body.kind,
        body.data,
        now,
    )
    .await?;
    let short = body.kind.strip_prefix("student.").unwrap_or(&body.kind);
    let out = EventQueuedOut {
        event_id,
        event_type: format!("student.{short}"),
    };
    Ok((StatusCode::ACCEPTED, Json(out)))
}
