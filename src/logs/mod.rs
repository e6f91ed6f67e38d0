//! Logs: one log of both directions. Search with filters and a keyset
//! cursor, the full entry (inbound: redacted request, verification,
//! normalized event, effects; outbound: event, endpoint, every attempt),
//! stats per local day, the queue panel and CSV export. Retention lives in
//! `retention.rs`; writing entries is done by the inbound and outbound code.

pub mod retention;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::ids::{DeliveryId, EventId, LogId, WorkspaceId};
use crate::model::{Direction, LogEntry, LogStatus};
use crate::storage::{LogFilter, Store, StoreError};

/// The most entries one page returns.
pub const MAX_LIMIT: u32 = 500;
const DEFAULT_LIMIT: u32 = 50;
pub const MAX_STATS_DAYS: u32 = 90;

#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for LogsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("log entry"),
            other => Self::Store(other),
        }
    }
}

/// The raw `GET /logs` query, as strings, validated by [`parse_filter`].
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub direction: Option<String>,
    pub status: Option<String>,
    pub event_type: Option<String>,
    pub email: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

fn invalid(msg: impl Into<String>) -> LogsError {
    LogsError::Invalid(msg.into())
}

fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, LogsError> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            invalid(format!(
                "{field}: expected an RFC 3339 time such as 2026-11-23T15:00:00Z"
            ))
        })
}

/// The cursor is `base64url("{at_ms}.{id}")` of the last entry of a page.
pub fn encode_cursor(entry: &LogEntry) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", entry.at.timestamp_millis(), entry.id))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, LogId), LogsError> {
    let bad = || invalid("cursor: not a cursor from this API");
    let text = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    let at = at
        .parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .ok_or_else(bad)?;
    Ok((at, LogId::parse(id).ok_or_else(bad)?))
}

/// Validates the query (422 on a bad value, with the reason).
pub fn parse_filter(q: &LogQuery) -> Result<LogFilter, LogsError> {
    let direction = match q.direction.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("in") => Some(Direction::In),
        Some("out") => Some(Direction::Out),
        Some(other) => return Err(invalid(format!("direction: in or out, not {other:?}"))),
    };
    let status = match q.status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("success") => Some(LogStatus::Success),
        Some("failure") => Some(LogStatus::Failure),
        Some(other) => {
            return Err(invalid(format!(
                "status: success or failure, not {other:?}"
            )))
        }
    };
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(invalid(format!("limit: from 1 to {MAX_LIMIT}")));
    }
    let from = q
        .from
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .map(|v| parse_time("from", v))
        .transpose()?;
    let to =
        q.to.as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(|v| parse_time("to", v))
            .transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(invalid("from: must not be after to"));
        }
    }
    let email = q
        .email
        .as_deref()
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty());
    let event_type = q
        .event_type
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let before = q
        .cursor
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(decode_cursor)
        .transpose()?;
    Ok(LogFilter {
        direction,
        status,
        event_type,
        email,
        from,
        to,
        before,
        limit,
    })
}

/// One page of entries and the cursor of the next (`None` on the last page).
pub async fn search(
    store: &dyn Store,
    ws: &WorkspaceId,
    filter: &LogFilter,
) -> Result<(Vec<LogEntry>, Option<String>), LogsError> {
    let mut probe = filter.clone();
    probe.limit = filter.limit + 1;
    let mut rows = store.search_logs(ws, &probe).await?;
    let next = if rows.len() > filter.limit as usize {
        rows.truncate(filter.limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok((rows, next))
}

/// The full entry: for a delivery, its event payload and every attempt are
/// read from where they live, so the log never copies them.
pub async fn detail(
    store: &dyn Store,
    ws: &WorkspaceId,
    id: &LogId,
) -> Result<(LogEntry, Value), LogsError> {
    let entry = store.get_log(ws, id).await?;
    let mut detail = entry.detail.clone();
    if entry.direction == Direction::Out {
        let delivery_id = detail["delivery_id"].as_str().and_then(DeliveryId::parse);
        if let Some(delivery_id) = delivery_id {
            let attempts = store.delivery_attempts(&delivery_id).await?;
            detail["attempts"] = json!(attempts);
            if let Ok(d) = store.get_delivery(ws, &delivery_id).await {
                detail["delivery_status"] = json!(d.status);
                detail["next_attempt_at"] = json!(d.next_attempt_at);
            }
        }
        let event_id = detail["event_id"].as_str().and_then(EventId::parse);
        if let Some(event_id) = event_id {
            detail["event"] = store
                .get_event(ws, &event_id)
                .await
                .map(|e| e.payload)
                .unwrap_or(Value::Null);
        }
    }
    Ok((entry, detail))
}

/// One day of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStats {
    pub date: NaiveDate,
    pub total: i64,
    pub success: i64,
    pub failure: i64,
}

/// `GET /logs/stats`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub total: i64,
    pub success: i64,
    pub failure: i64,
    pub avg_ms: f64,
    pub per_day: Vec<DayStats>,
}

/// Totals of the last `days` local days (today included), one zero-filled
/// row per day; days begin at midnight in `tz` (`GANCHO_TIMEZONE`).
pub async fn stats(
    store: &dyn Store,
    ws: &WorkspaceId,
    days: u32,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Stats, LogsError> {
    if !(1..=MAX_STATS_DAYS).contains(&days) {
        return Err(invalid(format!("days: from 1 to {MAX_STATS_DAYS}")));
    }
    let today = now.with_timezone(&tz).date_naive();
    let first = today - Duration::days(i64::from(days) - 1);
    let start = local_midnight(tz, first);
    let end = local_midnight(tz, today + Duration::days(1));
    let buckets = store.log_buckets(ws, start, end).await?;
    let mut per_day: Vec<DayStats> = (0..days)
        .map(|i| DayStats {
            date: first + Duration::days(i64::from(i)),
            total: 0,
            success: 0,
            failure: 0,
        })
        .collect();
    let mut sum_ms = 0;
    for b in &buckets {
        let date = b.start.with_timezone(&tz).date_naive();
        let Some(day) = per_day.iter_mut().find(|d| d.date == date) else {
            continue;
        };
        day.total += b.total;
        day.success += b.success;
        day.failure += b.failure;
        sum_ms += b.sum_ms;
    }
    let total: i64 = per_day.iter().map(|d| d.total).sum();
    let success: i64 = per_day.iter().map(|d| d.success).sum();
    let failure: i64 = per_day.iter().map(|d| d.failure).sum();
    let avg_ms = if total > 0 {
        (sum_ms as f64 / total as f64 * 10.0).round() / 10.0
    } else {
        0.0
    };
    Ok(Stats {
        total,
        success,
        failure,
        avg_ms,
        per_day,
    })
}

/// The UTC instant of midnight starting `date` in `tz` (the first valid
/// local time, for zones whose clocks skip midnight).
fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// The CSV header of [`csv_row`].
pub const CSV_HEADER: [&str; 13] = [
    "id",
    "at",
    "direction",
    "gateway",
    "event_type",
    "email",
    "status",
    "http_status",
    "duration_ms",
    "integration_kind",
    "integration_name",
    "attempts",
    "error",
];

/// One entry as CSV fields, each defused by [`defuse_formula`]: e-mails,
/// event types, integration names and errors come from gateways and users.
pub fn csv_row(e: &LogEntry) -> [String; 13] {
    let row = [
        e.id.to_string(),
        e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        e.direction.as_str().to_string(),
        e.gateway
            .map(|g| g.as_str().to_string())
            .unwrap_or_default(),
        e.event_type.clone().unwrap_or_default(),
        e.email.clone().unwrap_or_default(),
        e.status.as_str().to_string(),
        e.http_status.to_string(),
        e.duration_ms.to_string(),
        e.integration.kind.clone(),
        e.integration.name.clone(),
        e.attempts.to_string(),
        e.error.clone().unwrap_or_default(),
    ];
    row.map(defuse_formula)
}

/// A cell a spreadsheet will show as text rather than run as a formula
/// (OWASP "CSV Injection"): one starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`, which Excel, LibreOffice and Google
/// Sheets read as "text follows" and hide.
fn defuse_formula(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_start_a_formula_are_prefixed_with_a_quote() {
        for (cell, out) in [
            ("=1+2", "'=1+2"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("ana@example.com", "ana@example.com"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(defuse_formula(cell.to_string()), out, "{cell:?}");
        }
    }

    #[test]
    fn bad_filters_say_why() {
        for q in [
            LogQuery {
                direction: Some("sideways".into()),
                ..Default::default()
            },
            LogQuery {
                status: Some("ok".into()),
                ..Default::default()
            },
            LogQuery {
                limit: Some(501),
                ..Default::default()
            },
            LogQuery {
                limit: Some(0),
                ..Default::default()
            },
            LogQuery {
                from: Some("yesterday".into()),
                ..Default::default()
            },
            LogQuery {
                from: Some("2026-01-02T00:00:00Z".into()),
                to: Some("2026-01-01T00:00:00Z".into()),
                ..Default::default()
            },
            LogQuery {
                cursor: Some("!!".into()),
                ..Default::default()
            },
        ] {
            assert!(
                matches!(parse_filter(&q), Err(LogsError::Invalid(_))),
                "{q:?}"
            );
        }
        let f = parse_filter(&LogQuery {
            email: Some(" Ana@Example.com ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.email.as_deref(), Some("ana@example.com"));
        assert_eq!(f.limit, 50);
    }

    #[test]
    fn sao_paulo_days_start_at_three_utc() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            local_midnight(chrono_tz::America::Sao_Paulo, d).to_rfc3339(),
            "2026-11-23T03:00:00+00:00"
        );
    }
}
