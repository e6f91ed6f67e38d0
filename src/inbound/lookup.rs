//! Buyers a webhook does not name. Asaas's payment webhooks carry only the
//! customer's id (`cus_…`), and a sale cannot be granted without an e-mail.
//! When the key that proved such a call carries the seller's API key, the
//! call is stored with a [`CustomerLookup`] in the same transaction as its
//! log entry and answered `200 pending`; nothing is granted yet, and
//! nothing is lost if gancho stops. [`run_due`] (a loop in `app.rs`, one
//! instance at a time) then fetches the buyer from the gateway's API and
//! applies the call as a reprocess with the buyer filled in, retrying on
//! [`DELAYS`] while the API fails: the call stays pending until it is
//! resolved. Refunds and chargebacks need no buyer and never wait here.

use std::time::Duration;

use serde_json::Value;

use super::normalize::{clean_email, Customer, NormalizedEvent};
use super::{rerun, InboundContext, Trace};
use crate::ids::WorkspaceId;
use crate::keys;
use crate::model::{CustomerLookup, GatewayKind};
use crate::storage::{StoreError, StoreResult};

/// Waits after each failed attempt; the last repeats until the call is resolved.
pub const DELAYS: [Duration; 6] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
];

/// Lookups taken in one pass.
const BATCH: u32 = 16;

/// How long one request to a gateway's API may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The gateways' APIs gancho asks (from the configuration).
#[derive(Debug, Clone)]
pub struct Apis {
    /// `GANCHO_ASAAS_API_URL`, without a trailing slash.
    pub asaas: String,
}

/// The lookup a granting event needs, or `None` when it cannot wait for one
/// (no buyer id, or the proving key has no API key): then the event goes on
/// to be ignored for want of an e-mail, as before.
pub(super) async fn needed(
    ctx: &super::ReadContext<'_>,
    trace: &Trace,
    ws: &WorkspaceId,
    event: &NormalizedEvent,
) -> StoreResult<Option<CustomerLookup>> {
    let (Some(customer_ref), Some(key_id), Some(log_gateway)) =
        (&event.customer_ref, &trace.key_id, trace.gateway)
    else {
        return Ok(None);
    };
    if !keys::takes_api_key(event.gateway) || log_gateway != event.gateway {
        return Ok(None);
    }
    let keys = ctx.store.all_keys(ws).await?;
    if !keys.iter().any(|k| &k.id == key_id && k.api_key.is_some()) {
        return Ok(None);
    }
    Ok(Some(CustomerLookup {
        log_id: trace.log_id.clone(),
        workspace_id: ws.clone(),
        key_id: key_id.clone(),
        gateway: event.gateway,
        customer_ref: customer_ref.clone(),
        attempts: 0,
        next_attempt_at: ctx.now,
        last_error: None,
        created_at: ctx.now,
    }))
}

/// Fills what the webhook left out with what the gateway's API said.
pub(super) fn fill_customer(customer: &mut Customer, buyer: Customer) {
    customer.email = customer.email.take().or(buyer.email);
    customer.name = customer.name.take().or(buyer.name);
    customer.phone = customer.phone.take().or(buyer.phone);
    customer.document = customer.document.take().or(buyer.document);
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub resolved: usize,
    pub failed: usize,
}

/// Resolves the lookups due at `ctx.now`: fetches each buyer and applies
/// its call, or schedules the next try.
pub async fn run_due(
    ctx: &InboundContext<'_>,
    http: &reqwest::Client,
    apis: &Apis,
) -> StoreResult<Pass> {
    let mut pass = Pass::default();
    for mut lookup in ctx.store.due_lookups(ctx.now, BATCH).await? {
        let applied = match fetch(ctx, http, apis, &lookup).await {
            Ok(buyer) => apply(ctx, &lookup, buyer).await,
            Err(e) => Err(e),
        };
        match applied {
            Ok(()) => {
                ctx.store.delete_lookup(&lookup.log_id).await?;
                pass.resolved += 1;
            }
            Err(Failure::Gone(why)) => {
                // The call's log entry is gone (retention, a deleted
                // workspace): there is nothing left to apply.
                tracing::warn!(log_id = %lookup.log_id, why, "dropping a customer lookup");
                ctx.store.delete_lookup(&lookup.log_id).await?;
            }
            Err(Failure::Retry(why)) => {
                let delay = DELAYS[(lookup.attempts as usize).min(DELAYS.len() - 1)];
                lookup.attempts += 1;
                lookup.next_attempt_at = ctx.now + chrono_delay(delay);
                tracing::warn!(
                    log_id = %lookup.log_id,
                    customer = %lookup.customer_ref,
                    attempts = lookup.attempts,
                    error = %why,
                    "could not resolve the buyer of a pending call; will retry"
                );
                lookup.last_error = Some(why);
                ctx.store.reschedule_lookup(&lookup).await?;
                pass.failed += 1;
            }
            Err(Failure::Store(e)) => return Err(e),
        }
    }
    Ok(pass)
}

fn chrono_delay(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1))
}

enum Failure {
    /// Try again later (the API failed, the buyer has no e-mail yet, ...).
    Retry(String),
    /// Nothing to apply any more.
    Gone(&'static str),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Applies the pending call with its buyer, as a reprocess of its entry.
async fn apply(
    ctx: &InboundContext<'_>,
    lookup: &CustomerLookup,
    buyer: Customer,
) -> Result<(), Failure> {
    let ws = &lookup.workspace_id;
    let original = match ctx.store.get_log(ws, &lookup.log_id).await {
        Ok(entry) => entry,
        Err(StoreError::NotFound) => return Err(Failure::Gone("its log entry no longer exists")),
        Err(e) => return Err(e.into()),
    };
    let workspace = match ctx.store.get_workspace(ws).await {
        Ok(w) => w,
        Err(StoreError::NotFound) => return Err(Failure::Gone("its workspace no longer exists")),
        Err(e) => return Err(e.into()),
    };
    let reply = rerun(ctx, &workspace, &original, Some(buyer))
        .await
        .map_err(|e| match e {
            super::ReprocessError::Store(e) => Failure::Store(e),
            super::ReprocessError::NotReprocessable(why) => Failure::Gone(why),
        })?;
    match reply.status {
        // The rerun woke the worker if it queued deliveries.
        200 => Ok(()),
        503 => Err(Failure::Store(StoreError::Unavailable(
            "storage refused the pending call".into(),
        ))),
        status => Err(Failure::Retry(format!(
            "applying the call answered {status}: {}",
            reply.body
        ))),
    }
}

/// The buyer, from the gateway's API with the proving key's API key.
async fn fetch(
    ctx: &InboundContext<'_>,
    http: &reqwest::Client,
    apis: &Apis,
    lookup: &CustomerLookup,
) -> Result<Customer, Failure> {
    let keys = keys::plain_keys(ctx.store, ctx.sealer, &lookup.workspace_id)
        .await
        .map_err(|e| match e {
            keys::KeyError::Store(e) => Failure::Store(e),
            other => Failure::Retry(format!("the key cannot be read: {other}")),
        })?;
    let api_key = keys
        .iter()
        .find(|k| k.id == lookup.key_id)
        .and_then(|k| k.api_key.clone())
        .ok_or_else(|| {
            Failure::Retry(format!(
                "the key {} was deleted or has no API key; add one, then the call is applied",
                lookup.key_id
            ))
        })?;
    match lookup.gateway {
        GatewayKind::Asaas => asaas_customer(http, &apis.asaas, &api_key, &lookup.customer_ref)
            .await
            .map_err(Failure::Retry),
        _ => Err(Failure::Gone("this gateway has no customer API")),
    }
}

/// `GET {base}/v3/customers/{id}` with the `access_token` header (Asaas's
/// API v3): the customer's `email`, `name`, `mobilePhone`/`phone` and `cpfCnpj`.
pub async fn asaas_customer(
    http: &reqwest::Client,
    base: &str,
    api_key: &str,
    customer_ref: &str,
) -> Result<Customer, String> {
    let is_id = !customer_ref.is_empty()
        && customer_ref.len() <= 64
        && customer_ref
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !is_id {
        return Err(format!("{customer_ref:?} is not an Asaas customer id"));
    }
    let url = format!("{}/v3/customers/{customer_ref}", base.trim_end_matches('/'));
    let response = http
        .get(&url)
        .header("access_token", api_key)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("Asaas's API could not be reached: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!(
            "Asaas's API answered {status} for customer {customer_ref}"
        ));
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("Asaas's API answered something that is not JSON: {e}"))?;
    let text = |k: &str| {
        body[k]
            .as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let email = clean_email(text("email")).ok_or_else(|| {
        format!("the Asaas customer {customer_ref} has no e-mail; add one in Asaas and the sale is granted")
    })?;
    Ok(Customer {
        email: Some(email),
        name: text("name"),
        phone: text("mobilePhone").or_else(|| text("phone")),
        document: text("cpfCnpj"),
    })
}
