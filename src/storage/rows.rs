//! Row-to-model conversion shared by both backends. Each backend says how
//! to read one column of its rows ([`RowRead`]: SQLite keeps times as unix
//! milliseconds, PostgreSQL as `timestamptz`); the mapping from columns to
//! model types is written once, here, so the two cannot drift.

use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;

use super::{LogBucket, StoreError, StoreResult};
use crate::ids::{
    ApiKeyId, CategoryId, DeliveryId, EndpointId, EventId, GrantId, InboundUrlId, KeyId, LogId,
    ProductId, StudentId, WorkspaceId,
};
use crate::model::{
    ApiKey, Attempt, Category, CustomerLookup, Delivery, DeliveryStatus, Direction, Endpoint,
    Event, ExternalId, GatewayKey, GatewayKind, Grant, GrantSource, GrantTarget, InboundUrl,
    Integration, LogEntry, LogStatus, Product, Student, StudentStatus, Workspace,
};

/// Reads typed columns of one backend's row.
pub trait RowRead {
    fn opt_text(&self, col: &str) -> StoreResult<Option<String>>;
    fn opt_int(&self, col: &str) -> StoreResult<Option<i64>>;
    fn flag(&self, col: &str) -> StoreResult<bool>;
    fn opt_time(&self, col: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// `None` when the query did not select the column at all.
    fn text_if_selected(&self, col: &str) -> Option<String>;

    fn text(&self, col: &str) -> StoreResult<String> {
        self.opt_text(col)?.ok_or_else(|| missing(col))
    }

    fn int(&self, col: &str) -> StoreResult<i64> {
        self.opt_int(col)?.ok_or_else(|| missing(col))
    }

    fn time(&self, col: &str) -> StoreResult<DateTime<Utc>> {
        self.opt_time(col)?.ok_or_else(|| missing(col))
    }
}

fn missing(col: &str) -> StoreError {
    StoreError::Corrupt(format!("{col} is null"))
}

/// Unix milliseconds (SQLite's storage of times) as UTC.
pub fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} is out of range")))
}

fn id<T>(r: &impl RowRead, col: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    let raw = r.text(col)?;
    parse(&raw).ok_or_else(|| StoreError::Corrupt(format!("malformed id {raw} in {col}")))
}

fn gateway(raw: &str) -> StoreResult<GatewayKind> {
    GatewayKind::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("unknown gateway {raw}")))
}

/// A value as the JSON text both backends store in TEXT columns, written
/// straight into a buffer. Use it for a `serde_json::Value` too: its
/// `to_string` goes through `Display`, a formatter call per piece, which in
/// a log entry's detail (a request body of escaped quotes) is one per
/// escape; the profile had it at a twelfth of an inbound call (issue 9).
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// Product ids as the strings stored in a JSON list.
pub fn id_strings(ids: &[ProductId]) -> Vec<&str> {
    ids.iter().map(|p| p.as_str()).collect()
}

fn json<T: DeserializeOwned>(r: &impl RowRead, col: &str) -> StoreResult<T> {
    serde_json::from_str(&r.text(col)?).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn product_ids(r: &impl RowRead, col: &str) -> StoreResult<Vec<ProductId>> {
    let raw: Vec<String> = json(r, col)?;
    raw.iter()
        .map(|p| {
            ProductId::parse(p).ok_or_else(|| StoreError::Corrupt(format!("malformed id {p}")))
        })
        .collect()
}

pub fn workspace(r: &impl RowRead) -> StoreResult<Workspace> {
    Ok(Workspace {
        id: id(r, "id", WorkspaceId::parse)?,
        name: r.text("name")?,
        public_id: r.text("public_id")?,
        created_at: r.time("created_at")?,
    })
}

pub fn api_key(r: &impl RowRead) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        id: id(r, "id", ApiKeyId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        name: r.text("name")?,
        token_hash: r.text("token_hash")?,
        is_bootstrap: r.flag("is_bootstrap")?,
        created_at: r.time("created_at")?,
    })
}

pub fn ui_session(r: &impl RowRead) -> StoreResult<crate::storage::UiSession> {
    Ok(crate::storage::UiSession {
        id: r.text("id")?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        api_key_id: id(r, "api_key_id", ApiKeyId::parse)?,
        token_hash: r.text("token_hash")?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
    })
}

pub fn gateway_key(r: &impl RowRead) -> StoreResult<GatewayKey> {
    Ok(GatewayKey {
        id: id(r, "id", KeyId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        gateway: gateway(&r.text("gateway")?)?,
        name: r.text("name")?,
        secret: r.text("secret")?,
        api_key: r.opt_text("api_key")?,
        created_at: r.time("created_at")?,
    })
}

pub fn customer_lookup(r: &impl RowRead) -> StoreResult<CustomerLookup> {
    Ok(CustomerLookup {
        log_id: id(r, "log_id", LogId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        key_id: id(r, "key_id", KeyId::parse)?,
        gateway: gateway(&r.text("gateway")?)?,
        customer_ref: r.text("customer_ref")?,
        attempts: u32::try_from(r.int("attempts")?)
            .map_err(|_| StoreError::Corrupt("attempts out of range".into()))?,
        next_attempt_at: r.time("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.time("created_at")?,
    })
}

pub fn student(r: &impl RowRead) -> StoreResult<Student> {
    let status = r.text("status")?;
    Ok(Student {
        id: id(r, "id", StudentId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        email: r.text("email")?,
        name: r.opt_text("name")?,
        phone: r.opt_text("phone")?,
        document: r.opt_text("document")?,
        status: StudentStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("student status {status}")))?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub fn grant(r: &impl RowRead) -> StoreResult<Grant> {
    let target = match (r.opt_text("product_id")?, r.opt_text("category_id")?) {
        (Some(p), _) => GrantTarget::Product(id_of(&p, ProductId::parse)?),
        (None, Some(c)) => GrantTarget::Category(id_of(&c, CategoryId::parse)?),
        (None, None) => return Err(StoreError::Corrupt("grant without a target".into())),
    };
    let source = if r.flag("is_manual")? {
        GrantSource::Manual
    } else {
        GrantSource::Gateway {
            gateway: gateway(&r.text("gateway")?)?,
            transaction_id: r.opt_text("transaction_id")?.unwrap_or_default(),
            subscription_id: r.opt_text("subscription_id")?,
        }
    };
    Ok(Grant {
        id: id(r, "id", GrantId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        student_id: id(r, "student_id", StudentId::parse)?,
        target,
        source,
        granted_at: r.time("granted_at")?,
        expires_at: r.opt_time("expires_at")?,
        revoked_at: r.opt_time("revoked_at")?,
        revoke_reason: r.opt_text("revoke_reason")?,
    })
}

fn id_of<T>(raw: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    parse(raw).ok_or_else(|| StoreError::Corrupt(format!("malformed id {raw}")))
}

pub fn log_entry(r: &impl RowRead) -> StoreResult<LogEntry> {
    let detail = r
        .text_if_selected("detail")
        .map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|e| StoreError::Corrupt(format!("log detail: {e}")))?
        .unwrap_or(serde_json::Value::Null);
    Ok(LogEntry {
        id: id(r, "id", LogId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        at: r.time("at")?,
        direction: match r.text("direction")?.as_str() {
            "in" => Direction::In,
            _ => Direction::Out,
        },
        gateway: r.opt_text("gateway")?.as_deref().map(gateway).transpose()?,
        event_type: r.opt_text("event_type")?,
        email: r.opt_text("email")?,
        status: match r.text("status")?.as_str() {
            "success" => LogStatus::Success,
            _ => LogStatus::Failure,
        },
        http_status: r.int("http_status")? as u16,
        duration_ms: r.int("duration_ms")?,
        integration: Integration {
            kind: r.text("integration_kind")?,
            id: r.opt_text("integration_id")?,
            name: r.text("integration_name")?,
        },
        attempts: r.int("attempts")? as u32,
        error: r.opt_text("error")?,
        detail,
        reprocess_of: r
            .opt_text("reprocess_of")?
            .map(|v| id_of(&v, LogId::parse))
            .transpose()?,
    })
}

pub fn endpoint(r: &impl RowRead) -> StoreResult<Endpoint> {
    Ok(Endpoint {
        id: id(r, "id", EndpointId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        name: r.text("name")?,
        url: r.text("url")?,
        event_types: json(r, "event_types")?,
        product_ids: product_ids(r, "product_ids")?,
        headers: json(r, "headers")?,
        rate_limit_per_second: r.opt_int("rate_limit_per_second")?.map(|v| v as u32),
        is_enabled: r.flag("is_enabled")?,
        disabled_reason: r.opt_text("disabled_reason")?,
        secret: r.text("secret")?,
        previous_secret: r.opt_text("previous_secret")?,
        previous_secret_expires_at: r.opt_time("previous_secret_expires_at")?,
        max_in_flight: r.opt_int("max_in_flight")?.map(|v| v as u32),
        health: crate::model::EndpointHealth {
            consecutive_failures: r.opt_int("breaker_failures")?.unwrap_or(0) as u32,
            open_until: r.opt_time("breaker_open_until")?,
        },
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub fn event(r: &impl RowRead) -> StoreResult<Event> {
    Ok(Event {
        id: id(r, "id", EventId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        event_type: r.text("type")?,
        payload: json(r, "payload")?,
        product_ids: product_ids(r, "product_ids")?,
        created_at: r.time("created_at")?,
    })
}

pub fn delivery(r: &impl RowRead) -> StoreResult<Delivery> {
    let status = r.text("status")?;
    Ok(Delivery {
        id: id(r, "id", DeliveryId::parse)?,
        workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
        event_id: id(r, "event_id", EventId::parse)?,
        event_type: r.text("event_type")?,
        endpoint_id: id(r, "endpoint_id", EndpointId::parse)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status}")))?,
        attempts: r.int("attempts")? as u32,
        cycle_start: r.int("cycle_start")? as u32,
        next_attempt_at: r.opt_time("next_attempt_at")?,
        lease_until: r.opt_time("lease_until")?,
        lease_token: r.int("lease_token")?,
        last_http_status: r.opt_int("last_http_status")?.map(|s| s as u16),
        last_error: r.opt_text("last_error")?,
        log_id: id(r, "log_id", LogId::parse)?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub fn attempt(r: &impl RowRead) -> StoreResult<Attempt> {
    Ok(Attempt {
        number: r.int("number")? as u32,
        at: r.time("at")?,
        http_status: r.opt_int("http_status")?.map(|s| s as u16),
        response_body: r.opt_text("response_body")?,
        duration_ms: r.int("duration_ms")?,
        error: r.opt_text("error")?,
    })
}

pub fn log_bucket(r: &impl RowRead) -> StoreResult<LogBucket> {
    Ok(LogBucket {
        start: r.time("bucket")?,
        total: r.int("total")?,
        success: r.int("success")?,
        failure: r.int("failure")?,
        sum_ms: r.int("sum_ms")?,
    })
}

/// The child rows of `parent` (a link table's rows whose `parent_col` is it).
fn children_of<'a, R: RowRead>(
    rows: &'a [R],
    parent_col: &'a str,
    parent: &'a str,
) -> impl Iterator<Item = &'a R> + 'a {
    rows.iter()
        .filter(move |c| c.opt_text(parent_col).ok().flatten().as_deref() == Some(parent))
}

/// Products from their rows and the `product_external_ids` rows of them.
pub fn products<R: RowRead>(rows: &[R], external: &[R]) -> StoreResult<Vec<Product>> {
    rows.iter()
        .map(|r| {
            let pid = r.text("id")?;
            let external_ids = children_of(external, "product_id", &pid)
                .map(|e| {
                    Ok(ExternalId {
                        gateway: gateway(&e.text("gateway")?)?,
                        id: e.text("external_id")?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Product {
                id: id(r, "id", ProductId::parse)?,
                workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
                name: r.text("name")?,
                external_ids,
                created_at: r.time("created_at")?,
            })
        })
        .collect()
}

/// Categories from their rows and the `category_products` rows of them.
pub fn categories<R: RowRead>(rows: &[R], links: &[R]) -> StoreResult<Vec<Category>> {
    rows.iter()
        .map(|r| {
            let cid = r.text("id")?;
            let product_ids = children_of(links, "category_id", &cid)
                .map(|l| id(l, "product_id", ProductId::parse))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Category {
                id: id(r, "id", CategoryId::parse)?,
                workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
                name: r.text("name")?,
                product_ids,
                created_at: r.time("created_at")?,
            })
        })
        .collect()
}

/// Inbound URLs from their rows and their product and category link rows.
pub fn inbound_urls<R: RowRead>(
    rows: &[R],
    products: &[R],
    categories: &[R],
) -> StoreResult<Vec<InboundUrl>> {
    rows.iter()
        .map(|r| {
            let uid = r.text("id")?;
            Ok(InboundUrl {
                id: id(r, "id", InboundUrlId::parse)?,
                workspace_id: id(r, "workspace_id", WorkspaceId::parse)?,
                name: r.text("name")?,
                gateway: gateway(&r.text("gateway")?)?,
                slug: r.text("slug")?,
                access_days: r.opt_int("access_days")?.map(|d| d as u32),
                product_ids: children_of(products, "inbound_url_id", &uid)
                    .map(|l| id(l, "product_id", ProductId::parse))
                    .collect::<StoreResult<_>>()?,
                category_ids: children_of(categories, "inbound_url_id", &uid)
                    .map(|l| id(l, "category_id", CategoryId::parse))
                    .collect::<StoreResult<_>>()?,
                is_enabled: r.flag("is_enabled")?,
                allowed_sources: json(r, "allowed_sources")?,
                created_at: r.time("created_at")?,
            })
        })
        .collect()
}
