//! One long story through every storage method, run on SQLite and (with
//! GANCHO_TEST_DATABASE_URL) on PostgreSQL with the same ids and times; the
//! two transcripts must be identical, and the story checks itself as it goes.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use gancho::config::{Config, DatabaseUrl, Secret};
use gancho::ids::*;
use gancho::model::*;
use gancho::storage::{AttemptRecord, LogFilter, Page, ProcessedEvent, Store, StoreError};
use serde_json::json;

use crate::helpers::db::{pg_required, PgDatabase};

/// Every id the story uses, made once so both backends see the same.
struct Ids {
    ws: WorkspaceId,
    key: ApiKeyId,
    products: [ProductId; 3],
    category: CategoryId,
    url: InboundUrlId,
    gw_key: KeyId,
    student: StudentId,
    grants: [GrantId; 2],
    endpoint: EndpointId,
    event: EventId,
    delivery: DeliveryId,
    logs: [LogId; 3],
}

fn t0() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_767_225_600_123).unwrap()
}

fn page(limit: u32) -> Page {
    Page { after: None, limit }
}

fn log_entry(
    id: &LogId,
    ws: &WorkspaceId,
    at: DateTime<Utc>,
    status: LogStatus,
    email: &str,
) -> LogEntry {
    LogEntry {
        id: id.clone(),
        workspace_id: ws.clone(),
        at,
        direction: Direction::In,
        gateway: Some(GatewayKind::Hotmart),
        event_type: Some("purchase.approved".into()),
        email: Some(email.into()),
        status,
        http_status: 200,
        duration_ms: 12,
        integration: Integration {
            kind: "inbound_url".into(),
            id: None,
            name: "Vendas".into(),
        },
        attempts: 1,
        error: None,
        detail: json!({"request": {"body": "x"}}),
        reprocess_of: None,
    }
}

#[allow(clippy::too_many_lines)]
async fn story(s: &dyn Store, ids: &Ids) -> Vec<String> {
    let mut t: Vec<String> = Vec::new();
    macro_rules! note {
        ($e:expr) => {
            t.push(format!("{:?}", $e))
        };
    }
    let now = t0();
    s.ping().await.unwrap();
    note!(s.migrations_applied().await.unwrap());
    note!(s.try_exclusive("story").await.unwrap().is_some());

    // Workspace and API keys.
    let ws = Workspace {
        id: ids.ws.clone(),
        name: "Escola".into(),
        public_id: "pub123".into(),
        created_at: now,
    };
    s.insert_workspace(&ws).await.unwrap();
    note!(s.default_workspace().await.unwrap());
    note!(s.workspace_by_public_id("pub123").await.unwrap());
    note!(s.workspace_by_public_id("nope").await.unwrap());
    let key = ApiKey {
        id: ids.key.clone(),
        workspace_id: ws.id.clone(),
        name: "boot".into(),
        token_hash: "h1".into(),
        is_bootstrap: true,
        created_at: now,
    };
    s.insert_api_key(&key).await.unwrap();
    note!(matches!(
        s.insert_api_key(&key).await,
        Err(StoreError::Conflict(_))
    ));
    s.set_api_key_hash(&key.id, "h2").await.unwrap();
    note!(s.api_key_by_hash("h2").await.unwrap());
    note!(s.api_key_by_hash("h1").await.unwrap());
    note!(s.bootstrap_api_key(&ws.id).await.unwrap());
    let named = ApiKey {
        id: ApiKeyId::new(),
        is_bootstrap: false,
        token_hash: "h3".into(),
        name: "ci".into(),
        ..key.clone()
    };
    s.insert_api_key(&named).await.unwrap();
    note!(s.list_api_keys(&ws.id, &page(10)).await.unwrap().len());
    note!(s.delete_api_key(&ws.id, &key.id).await.err());
    s.delete_api_key(&ws.id, &named.id).await.unwrap();
    note!(s.list_api_keys(&ws.id, &page(10)).await.unwrap().len());

    // Catalog.
    for (i, p) in ids.products.iter().enumerate() {
        let ext = vec![ExternalId {
            gateway: GatewayKind::Hotmart,
            id: format!("EXT-{}", i % 2),
        }];
        s.insert_product(&Product {
            id: p.clone(),
            workspace_id: ws.id.clone(),
            name: format!("P{i}"),
            external_ids: ext,
            created_at: now,
        })
        .await
        .unwrap();
    }
    note!(s.list_products(&ws.id, &page(2)).await.unwrap());
    note!(s
        .list_products(
            &ws.id,
            &Page {
                after: Some(ids.products[1].to_string()),
                limit: 5
            }
        )
        .await
        .unwrap());
    note!(s
        .products_by_external_id(&ws.id, GatewayKind::Hotmart, "EXT-0")
        .await
        .unwrap());
    let mut p2 = s.get_product(&ws.id, &ids.products[2]).await.unwrap();
    p2.name = "P2 renamed".into();
    p2.external_ids.push(ExternalId {
        gateway: GatewayKind::Kiwify,
        id: "K".into(),
    });
    s.update_product(&p2).await.unwrap();
    note!(s.get_product(&ws.id, &ids.products[2]).await.unwrap());
    let cat = Category {
        id: ids.category.clone(),
        workspace_id: ws.id.clone(),
        name: "Trilha".into(),
        product_ids: vec![ids.products[1].clone(), ids.products[0].clone()],
        created_at: now,
    };
    s.insert_category(&cat).await.unwrap();
    let mut cat2 = s.get_category(&ws.id, &cat.id).await.unwrap();
    note!(&cat2);
    cat2.product_ids.push(ids.products[2].clone());
    s.update_category(&cat2).await.unwrap();
    note!(s.list_categories(&ws.id, &page(10)).await.unwrap());
    note!(s
        .category_products(&ws.id, std::slice::from_ref(&cat.id))
        .await
        .unwrap());

    // Inbound URLs and gateway keys.
    let url = InboundUrl {
        id: ids.url.clone(),
        workspace_id: ws.id.clone(),
        name: "Vendas".into(),
        gateway: GatewayKind::Hotmart,
        slug: "vendas".into(),
        access_days: Some(30),
        product_ids: vec![ids.products[0].clone()],
        category_ids: vec![cat.id.clone()],
        is_enabled: true,
        allowed_sources: vec!["203.0.113.0/24".into()],
        created_at: now,
    };
    s.insert_inbound_url(&url).await.unwrap();
    let clash = InboundUrl {
        id: InboundUrlId::new(),
        ..url.clone()
    };
    note!(s.insert_inbound_url(&clash).await.err());
    let mut url2 = s
        .inbound_url_by_slug(&ws.id, "vendas")
        .await
        .unwrap()
        .unwrap();
    url2.access_days = None;
    url2.is_enabled = false;
    url2.allowed_sources = vec!["2001:db8::/32".into()];
    s.update_inbound_url(&url2).await.unwrap();
    note!(s.get_inbound_url(&ws.id, &url.id).await.unwrap());
    note!(s.list_inbound_urls(&ws.id, &page(10)).await.unwrap().len());
    let gk = GatewayKey {
        id: ids.gw_key.clone(),
        workspace_id: ws.id.clone(),
        gateway: GatewayKind::Kiwify,
        name: "k".into(),
        secret: "sealed".into(),
        api_key: Some("sealed-api-key".into()),
        created_at: now,
    };
    s.insert_key(&gk).await.unwrap();
    note!(s.list_keys(&ws.id, &page(10)).await.unwrap());
    note!(s.all_keys(&ws.id).await.unwrap());

    // Endpoints.
    let ep = Endpoint {
        id: ids.endpoint.clone(),
        workspace_id: ws.id.clone(),
        name: "CRM".into(),
        url: "http://127.0.0.1:9/h".into(),
        event_types: vec!["access.granted".into()],
        product_ids: vec![],
        headers: vec![("X-A".into(), "1".into())],
        rate_limit_per_second: Some(5),
        is_enabled: true,
        disabled_reason: None,
        secret: "whsec_x".into(),
        previous_secret: None,
        previous_secret_expires_at: None,
        max_in_flight: None,
        health: Default::default(),
        created_at: now,
        updated_at: now,
    };
    s.insert_endpoint(&ep).await.unwrap();
    let mut ep2 = s.get_endpoint(&ws.id, &ep.id).await.unwrap();
    ep2.previous_secret = Some("whsec_old".into());
    ep2.previous_secret_expires_at = Some(now + Duration::hours(24));
    s.update_endpoint(&ep2).await.unwrap();
    note!(s.list_endpoints(&ws.id, &page(10)).await.unwrap());

    // The ledger, in one transaction.
    let mut tx = s.begin().await.unwrap();
    let processed = ProcessedEvent {
        workspace_id: ws.id.clone(),
        gateway: GatewayKind::Hotmart,
        reference: "tx:T1".into(),
        status: CanonicalStatus::Approved,
        transaction_id: Some("T1".into()),
        subscription_id: Some("S1".into()),
        log_id: ids.logs[0].clone(),
        processed_at: now,
    };
    note!(tx.claim_event(&processed).await.unwrap());
    note!(tx.claim_event(&processed).await.unwrap());
    note!(tx
        .transaction_has_status(
            &ws.id,
            GatewayKind::Hotmart,
            "T1",
            &[CanonicalStatus::Approved]
        )
        .await
        .unwrap());
    note!(tx
        .transaction_has_status(
            &ws.id,
            GatewayKind::Hotmart,
            "T1",
            &[CanonicalStatus::Refunded]
        )
        .await
        .unwrap());
    let student = Student {
        id: ids.student.clone(),
        workspace_id: ws.id.clone(),
        email: "ana@example.com".into(),
        name: Some("Ana".into()),
        phone: None,
        document: None,
        status: StudentStatus::Active,
        created_at: now,
        updated_at: now,
    };
    note!(tx.insert_student(&student).await.unwrap());
    note!(tx
        .insert_student(&Student {
            id: StudentId::new(),
            ..student.clone()
        })
        .await
        .unwrap());
    let mut st = tx
        .student_by_email(&ws.id, "ana@example.com")
        .await
        .unwrap()
        .unwrap();
    st.phone = Some("+55".into());
    tx.update_student(&st).await.unwrap();
    note!(tx.get_student(&ws.id, &student.id).await.unwrap());
    let grant = Grant {
        id: ids.grants[0].clone(),
        workspace_id: ws.id.clone(),
        student_id: student.id.clone(),
        target: GrantTarget::Product(ids.products[0].clone()),
        source: GrantSource::Gateway {
            gateway: GatewayKind::Hotmart,
            transaction_id: "T1".into(),
            subscription_id: Some("S1".into()),
        },
        granted_at: now,
        expires_at: Some(now + Duration::days(30)),
        revoked_at: None,
        revoke_reason: None,
    };
    tx.insert_grant(&grant).await.unwrap();
    let manual = Grant {
        id: ids.grants[1].clone(),
        target: GrantTarget::Category(cat.id.clone()),
        source: GrantSource::Manual,
        expires_at: None,
        ..grant.clone()
    };
    tx.insert_grant(&manual).await.unwrap();
    tx.link_grant_transaction(&grant, GatewayKind::Hotmart, "T2")
        .await
        .unwrap();
    note!(tx
        .grants_for_transaction(&ws.id, GatewayKind::Hotmart, "T2", now)
        .await
        .unwrap());
    note!(tx
        .grants_for_subscription(&ws.id, GatewayKind::Hotmart, "S1", now)
        .await
        .unwrap());
    tx.set_grant_expiry(&grant.id, Some(now + Duration::days(1)))
        .await
        .unwrap();
    note!(tx
        .due_expired_grants(now + Duration::days(2), 10)
        .await
        .unwrap());
    note!(tx
        .category_products(&ws.id, std::slice::from_ref(&cat.id))
        .await
        .unwrap());
    note!(tx.enabled_endpoints(&ws.id).await.unwrap());
    let event = Event {
        id: ids.event.clone(),
        workspace_id: ws.id.clone(),
        event_type: "access.granted".into(),
        payload: json!({"id": ids.event, "type": "access.granted", "data": {"email": "ana@example.com"}}),
        product_ids: vec![ids.products[0].clone()],
        created_at: now,
    };
    tx.insert_event(&event).await.unwrap();
    let delivery = Delivery {
        id: ids.delivery.clone(),
        workspace_id: ws.id.clone(),
        event_id: event.id.clone(),
        event_type: event.event_type.clone(),
        endpoint_id: ep.id.clone(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        cycle_start: 0,
        next_attempt_at: Some(now),
        lease_until: None,
        lease_token: 0,
        last_http_status: None,
        last_error: None,
        log_id: ids.logs[2].clone(),
        created_at: now,
        updated_at: now,
    };
    tx.insert_delivery(&delivery).await.unwrap();
    tx.insert_log(&log_entry(
        &ids.logs[0],
        &ws.id,
        now,
        LogStatus::Success,
        "ana@example.com",
    ))
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // A rolled-back transaction leaves nothing.
    let mut tx = s.begin().await.unwrap();
    tx.revoke_grant(&grant.id, now, "refunded").await.unwrap();
    drop(tx);
    note!(s.get_grant(&ws.id, &grant.id).await.unwrap());
    let mut tx = s.begin().await.unwrap();
    tx.revoke_grant(&manual.id, now + Duration::minutes(1), "manual")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Students and access.
    note!(s.get_student(&ws.id, &student.id).await.unwrap());
    note!(s
        .student_by_email(&ws.id, "ana@example.com")
        .await
        .unwrap()
        .is_some());
    note!(s.list_students(&ws.id, &page(10)).await.unwrap().len());
    note!(s
        .active_grants(&ws.id, &student.id, now + Duration::hours(1))
        .await
        .unwrap());
    note!(s
        .active_grants(&ws.id, &student.id, now + Duration::days(3))
        .await
        .unwrap());

    // Logs.
    s.insert_log(&log_entry(
        &ids.logs[1],
        &ws.id,
        now + Duration::minutes(20),
        LogStatus::Failure,
        "bia@example.com",
    ))
    .await
    .unwrap();
    note!(s.get_log(&ws.id, &ids.logs[0]).await.unwrap());
    note!(s
        .search_logs(
            &ws.id,
            &LogFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len());
    note!(s
        .search_logs(
            &ws.id,
            &LogFilter {
                status: Some(LogStatus::Failure),
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap());
    note!(s
        .search_logs(
            &ws.id,
            &LogFilter {
                email: Some("ana@example.com".into()),
                from: Some(now),
                to: Some(now),
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len());
    note!(s
        .search_logs(
            &ws.id,
            &LogFilter {
                before: Some((now + Duration::minutes(20), ids.logs[1].clone())),
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len());
    note!(s
        .log_buckets(&ws.id, now - Duration::hours(1), now + Duration::hours(1))
        .await
        .unwrap());

    // Outbound: claim, record, defer, requeue.
    note!(s.queue_counts(&ws.id, now).await.unwrap());
    let claimed = s.claim_due_deliveries(claim_at(now)).await.unwrap();
    note!(claimed.len());
    note!(s.claim_due_deliveries(claim_at(now)).await.unwrap().len());
    note!(s.queue_counts(&ws.id, now).await.unwrap());
    let mut done = claimed[0].delivery.clone();
    done.attempts = 1;
    done.status = DeliveryStatus::Failed;
    done.next_attempt_at = None;
    done.lease_until = None;
    done.last_http_status = Some(410);
    done.updated_at = now;
    let attempt = Attempt {
        number: 1,
        at: now,
        http_status: Some(410),
        response_body: Some("gone".into()),
        duration_ms: 7,
        error: Some("HTTP 410".into()),
    };
    let mut out_log = log_entry(
        &ids.logs[2],
        &ws.id,
        now,
        LogStatus::Failure,
        "ana@example.com",
    );
    out_log.direction = Direction::Out;
    let record = AttemptRecord {
        attempt,
        delivery: done,
        log: out_log.clone(),
        disable_endpoint: Some("gone".into()),
    };
    let recorded = s
        .record_attempts(
            std::slice::from_ref(&record),
            &[gancho::storage::HealthUpdate {
                endpoint_id: ep.id.clone(),
                is_reset: false,
                failures: 5,
                threshold: 5,
                open_until: now + Duration::seconds(30),
            }],
        )
        .await
        .unwrap();
    assert_eq!(recorded, 0, "held under its claim's token");
    note!(s.get_endpoint(&ws.id, &ep.id).await.unwrap().health);
    note!(s.get_delivery(&ws.id, &ids.delivery).await.unwrap());
    note!(s.delivery_attempts(&ids.delivery).await.unwrap());
    note!(
        s.get_endpoint(&ws.id, &ep.id)
            .await
            .unwrap()
            .disabled_reason
    );
    note!(s.queue_counts(&ws.id, now).await.unwrap());
    let requeued = s
        .requeue_delivery(&ws.id, &ids.delivery, now + Duration::minutes(5))
        .await
        .unwrap();
    note!(requeued);
    // The resend changed the lease token: the old claim's record is dropped.
    assert_eq!(s.record_attempts(&[record], &[]).await.unwrap(), 1);
    note!(s.get_delivery(&ws.id, &ids.delivery).await.unwrap());
    // So is a deferral under a token that is not the delivery's.
    s.defer_delivery(
        &ids.delivery,
        requeued.lease_token - 1,
        now + Duration::minutes(7),
    )
    .await
    .unwrap();
    s.defer_delivery(
        &ids.delivery,
        requeued.lease_token,
        now + Duration::minutes(9),
    )
    .await
    .unwrap();
    note!(s.list_deliveries(&ws.id, &ep.id, &page(10)).await.unwrap());
    note!(s
        .queue_counts(&ws.id, now + Duration::minutes(11))
        .await
        .unwrap());
    note!(s.get_event(&ws.id, &ids.event).await.unwrap());

    // A record that lets its lease go (a failure retried at once), and the
    // claim right after it, which takes the delivery again.
    let mut enabled = s.get_endpoint(&ws.id, &ep.id).await.unwrap();
    enabled.is_enabled = true;
    enabled.disabled_reason = None;
    enabled.health = Default::default();
    s.update_endpoint(&enabled).await.unwrap();
    // After the breaker's 30 s (opened above): half-open, one at a time.
    let later = now + Duration::minutes(1);
    s.requeue_delivery(&ws.id, &ids.delivery, later)
        .await
        .unwrap();
    let claimed = s.claim_due_deliveries(claim_at(later)).await.unwrap();
    assert_eq!(claimed.len(), 1, "the requeued delivery is due");
    let mut retried = claimed[0].delivery.clone();
    retried.attempts += 1;
    retried.status = DeliveryStatus::Pending;
    retried.next_attempt_at = Some(later);
    retried.lease_until = None;
    retried.last_http_status = Some(503);
    retried.updated_at = later;
    // The delivery's one log entry follows its latest attempt.
    let retry_log = out_log.clone();
    let record = AttemptRecord {
        attempt: Attempt {
            number: retried.attempts,
            at: later,
            http_status: Some(503),
            response_body: None,
            duration_ms: 3,
            error: Some("HTTP 503".into()),
        },
        delivery: retried,
        log: retry_log,
        disable_endpoint: None,
    };
    let (stale, again) = s
        .record_then_claim(&[record], &[], claim_at(later))
        .await
        .unwrap();
    assert_eq!(stale, 0, "recorded under its claim's token");
    assert_eq!(
        again.len(),
        1,
        "the record let the lease go, the claim took it"
    );
    assert_eq!(again[0].delivery.id, ids.delivery);
    assert!(again[0].delivery.lease_token > claimed[0].delivery.lease_token);
    note!(again[0].delivery.attempts);
    // SQLite answers `record_then_claim` before its group commits; a
    // record (even of nothing) waits for that commit, as the worker's last
    // one does when it stops.
    note!(s.record_attempts(&[], &[]).await.unwrap());
    note!(s.delivery_attempts(&ids.delivery).await.unwrap().len());

    // Retention, then deletes.
    note!(s.purge_logs(now + Duration::minutes(1), 10).await.unwrap());
    note!(s
        .search_logs(
            &ws.id,
            &LogFilter {
                limit: 10,
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len());
    note!(s
        .purge_deliveries(now + Duration::days(1), 10)
        .await
        .unwrap());
    s.delete_key(&ws.id, &gk.id).await.unwrap();
    note!(s.delete_key(&ws.id, &gk.id).await.err());
    s.delete_inbound_url(&ws.id, &url.id).await.unwrap();
    s.delete_category(&ws.id, &cat.id).await.unwrap();
    s.delete_product(&ws.id, &ids.products[0]).await.unwrap();
    note!(s.get_product(&ws.id, &ids.products[0]).await.err());
    note!(s
        .active_grants(&ws.id, &student.id, now)
        .await
        .unwrap()
        .len());
    s.delete_endpoint(&ws.id, &ep.id).await.unwrap();
    note!(s.list_endpoints(&ws.id, &page(10)).await.unwrap().len());
    t
}

/// The story's claims: up to 10 deliveries due at `now`, leased for 15 s,
/// 4 at most to an endpoint.
fn claim_at(now: DateTime<Utc>) -> gancho::storage::ClaimRequest {
    gancho::storage::ClaimRequest {
        now,
        lease_until: now + Duration::seconds(15),
        limit: 10,
        per_endpoint: 4,
    }
}

fn ids() -> Ids {
    Ids {
        ws: WorkspaceId::new(),
        key: ApiKeyId::new(),
        products: [ProductId::new(), ProductId::new(), ProductId::new()],
        category: CategoryId::new(),
        url: InboundUrlId::new(),
        gw_key: KeyId::new(),
        student: StudentId::new(),
        grants: [GrantId::new(), GrantId::new()],
        endpoint: EndpointId::new(),
        event: EventId::new(),
        delivery: DeliveryId::new(),
        logs: [LogId::new(), LogId::new(), LogId::new()],
    }
}

async fn open(url: DatabaseUrl) -> Arc<dyn Store> {
    let config = Config {
        database_url: url,
        admin_token: Some(Secret::new("x")),
        ..Config::default()
    };
    gancho::app::open_store(&config, false).await.unwrap()
}

#[tokio::test]
async fn every_storage_method_runs_through_the_story_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(DatabaseUrl::Sqlite(dir.path().join("story.db"))).await;
    let on_sqlite = story(sqlite.as_ref(), &ids()).await;
    assert!(on_sqlite.len() > 60);
    assert_eq!(on_sqlite[0], "true", "migrations applied");
}

#[tokio::test]
#[ignore = "needs PostgreSQL: run with GANCHO_TEST_DATABASE_URL and --include-ignored (.ci/run does)"]
async fn every_storage_method_tells_the_same_story_on_each_backend() {
    let admin = pg_required();
    let ids = ids();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = open(DatabaseUrl::Sqlite(dir.path().join("story.db"))).await;
    let on_sqlite = story(sqlite.as_ref(), &ids).await;
    let db = PgDatabase::create(&admin).await;
    let pg = open(DatabaseUrl::Postgres(Secret::new(&db.url))).await;
    let on_pg = story(pg.as_ref(), &ids).await;
    for (i, (a, b)) in on_sqlite.iter().zip(&on_pg).enumerate() {
        assert_eq!(a, b, "step {i} differs between SQLite and PostgreSQL");
    }
    assert_eq!(on_sqlite.len(), on_pg.len());
}
