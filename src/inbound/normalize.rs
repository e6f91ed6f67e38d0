//! The canonical event every gateway payload is turned into (DESIGN.md
//! § Inbound), and the small parsing helpers the gateway adapters share.
//! The serialized form of [`NormalizedEvent`] is the `data` of gancho's own
//! `generic` format and of the outbound `purchase.*` events.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// The gateways gancho understands. The string form is the `?gateway=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    Hotmart,
    Kiwify,
    Eduzz,
    Generic,
    Stripe,
    Asaas,
    Pagarme,
    Hubla,
    Cakto,
    Kirvano,
    Greenn,
    PerfectPay,
    Ticto,
    Monetizze,
    Braip,
    LastLink,
    Tmb,
    Payt,
    HeroSpark,
    DmGuru,
    Xgrow,
    Voomp,
}

impl GatewayKind {
    pub const ALL: [GatewayKind; 22] = [
        Self::Hotmart,
        Self::Kiwify,
        Self::Eduzz,
        Self::Generic,
        Self::Stripe,
        Self::Asaas,
        Self::Pagarme,
        Self::Hubla,
        Self::Cakto,
        Self::Kirvano,
        Self::Greenn,
        Self::PerfectPay,
        Self::Ticto,
        Self::Monetizze,
        Self::Braip,
        Self::LastLink,
        Self::Tmb,
        Self::Payt,
        Self::HeroSpark,
        Self::DmGuru,
        Self::Xgrow,
        Self::Voomp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hotmart => "hotmart",
            Self::Kiwify => "kiwify",
            Self::Eduzz => "eduzz",
            Self::Generic => "generic",
            Self::Stripe => "stripe",
            Self::Asaas => "asaas",
            Self::Pagarme => "pagarme",
            Self::Hubla => "hubla",
            Self::Cakto => "cakto",
            Self::Kirvano => "kirvano",
            Self::Greenn => "greenn",
            Self::PerfectPay => "perfectpay",
            Self::Ticto => "ticto",
            Self::Monetizze => "monetizze",
            Self::Braip => "braip",
            Self::LastLink => "lastlink",
            Self::Tmb => "tmb",
            Self::Payt => "payt",
            Self::HeroSpark => "herospark",
            Self::DmGuru => "dmguru",
            Self::Xgrow => "xgrow",
            Self::Voomp => "voomp",
        }
    }

    /// `kinds` as `a, b, c`, for messages that name gateways (pass
    /// [`Self::ALL`] to name every one, so no list is kept by hand).
    pub fn join(kinds: &[GatewayKind]) -> String {
        kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

impl std::fmt::Display for GatewayKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// DESIGN.md § Inbound: the canonical statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CanonicalStatus {
    Approved,
    WaitingPayment,
    Refused,
    Refunded,
    RefundRequested,
    Chargeback,
    Dispute,
    Canceled,
    Expired,
    Completed,
    SubscriptionRenewed,
    SubscriptionDelayed,
    SubscriptionCanceled,
    PlanChanged,
    CartAbandoned,
}

impl CanonicalStatus {
    pub const ALL: [CanonicalStatus; 15] = [
        Self::Approved,
        Self::WaitingPayment,
        Self::Refused,
        Self::Refunded,
        Self::RefundRequested,
        Self::Chargeback,
        Self::Dispute,
        Self::Canceled,
        Self::Expired,
        Self::Completed,
        Self::SubscriptionRenewed,
        Self::SubscriptionDelayed,
        Self::SubscriptionCanceled,
        Self::PlanChanged,
        Self::CartAbandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::WaitingPayment => "waiting_payment",
            Self::Refused => "refused",
            Self::Refunded => "refunded",
            Self::RefundRequested => "refund_requested",
            Self::Chargeback => "chargeback",
            Self::Dispute => "dispute",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Completed => "completed",
            Self::SubscriptionRenewed => "subscription_renewed",
            Self::SubscriptionDelayed => "subscription_delayed",
            Self::SubscriptionCanceled => "subscription_canceled",
            Self::PlanChanged => "plan_changed",
            Self::CartAbandoned => "cart_abandoned",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// The outbound event type this status is forwarded as (DESIGN.md § Outbound).
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Approved => "purchase.approved",
            Self::WaitingPayment => "purchase.waiting_payment",
            Self::Refused => "purchase.refused",
            Self::Refunded => "purchase.refunded",
            Self::RefundRequested => "purchase.refund_requested",
            Self::Chargeback => "purchase.chargeback",
            Self::Dispute => "purchase.dispute",
            Self::Canceled => "purchase.canceled",
            Self::Expired => "purchase.expired",
            Self::Completed => "purchase.completed",
            Self::SubscriptionRenewed => "subscription.renewed",
            Self::SubscriptionDelayed => "subscription.delayed",
            Self::SubscriptionCanceled => "subscription.canceled",
            Self::PlanChanged => "subscription.plan_changed",
            Self::CartAbandoned => "cart.abandoned",
        }
    }

    /// The status carried by an outbound event type (the inverse of
    /// [`CanonicalStatus::event_type`]), used by the `generic` adapter.
    pub fn from_event_type(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.event_type() == event_type)
    }
}

/// The buyer, as the gateway described them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    /// Trimmed and lowercased; validated by the ledger, not here.
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub document: Option<String>,
}

/// The gateway's own product: its id (matched against `external_ids`) and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductRef {
    pub id: String,
    pub name: Option<String>,
}

/// One gateway event in gancho's terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NormalizedEvent {
    pub gateway: GatewayKind,
    /// The gateway's sale id; refunds revoke exactly the grants it made.
    pub transaction_id: Option<String>,
    pub status: CanonicalStatus,
    pub customer: Customer,
    pub product: Option<ProductRef>,
    pub amount_cents: Option<i64>,
    pub currency: Option<String>,
    pub subscription_id: Option<String>,
    /// The charge number of a subscription (1 = first payment).
    pub recurrence: Option<u32>,
    pub occurred_at: Option<DateTime<Utc>>,
    /// The gateway's name for the event (`PURCHASE_APPROVED`, `trans_status=3`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_event: Option<String>,
    /// The gateway's own id of this notification, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// For `subscription_canceled`: when the paid period ends
    /// (Hotmart `date_next_charge`, Kiwify `next_payment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_ends_at: Option<DateTime<Utc>>,
    /// The gateway's id of the buyer when the webhook names no e-mail
    /// (Asaas `payment.customer`): `inbound::lookup` fetches the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    /// Other ids the gateway's product goes by, tried in order when no
    /// product maps `product.id` (a Stripe invoice names a price, `price_…`,
    /// and the product behind it, `prod_…`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_aliases: Vec<String>,
}

impl NormalizedEvent {
    /// An event with only its gateway and status; adapters fill in the rest
    /// with struct-update syntax.
    pub fn new(gateway: GatewayKind, status: CanonicalStatus) -> Self {
        Self {
            gateway,
            transaction_id: None,
            status,
            customer: Customer::default(),
            product: None,
            amount_cents: None,
            currency: None,
            subscription_id: None,
            recurrence: None,
            occurred_at: None,
            native_event: None,
            event_id: None,
            access_ends_at: None,
            customer_ref: None,
            product_aliases: Vec::new(),
        }
    }
}

/// Trims and lowercases an e-mail (DESIGN.md: compared case-insensitively and trimmed).
pub fn clean_email(raw: Option<String>) -> Option<String> {
    raw.map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
}

/// A decimal amount (`497.0`, `"497.00"`, `"1.234,56"` is not accepted) in integer cents.
pub fn decimal_to_cents(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut frac_digits = frac.chars();
    let tens = frac_digits.next().and_then(|c| c.to_digit(10)).unwrap_or(0);
    let units = frac_digits.next().and_then(|c| c.to_digit(10)).unwrap_or(0);
    // Checked all the way: an amount too large for an i64 is no amount,
    // not a panic (debug) or a wrapped negative number (release).
    let mut cents = whole
        .checked_mul(100)?
        .checked_add(i64::from(tens * 10 + units))?;
    // Round half up on the third decimal.
    if frac_digits.next().and_then(|c| c.to_digit(10)).unwrap_or(0) >= 5 {
        cents = cents.checked_add(1)?;
    }
    Some(if negative { -cents } else { cents })
}

/// Epoch milliseconds (Hotmart) as a UTC time.
pub fn millis_to_time(text: &str) -> Option<DateTime<Utc>> {
    let ms: i64 = text.trim().parse().ok()?;
    Utc.timestamp_millis_opt(ms).single()
}

/// An RFC 3339 timestamp as UTC.
pub fn rfc3339_to_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A local wall-clock time in America/Sao_Paulo (Kiwify's `"2025-01-15 09:30"`,
/// Eduzz's `20250115` + `09:30:00`) as UTC. Accepts `%Y-%m-%d %H:%M[:%S]`,
/// `%Y%m%d %H:%M:%S` and a bare date (midnight).
pub fn sao_paulo_to_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let naive = [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y%m%d %H:%M:%S",
        "%Y%m%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| {
        ["%Y-%m-%d", "%Y%m%d"]
            .iter()
            .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    chrono_tz::America::Sao_Paulo
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Any of the time formats gateways use: RFC 3339, epoch ms, or São Paulo wall time.
pub fn any_time(text: &str) -> Option<DateTime<Utc>> {
    rfc3339_to_time(text)
        .or_else(|| {
            if text.trim().len() >= 12 {
                millis_to_time(text)
            } else {
                None
            }
        })
        .or_else(|| sao_paulo_to_time(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_cents() {
        assert_eq!(decimal_to_cents("497.00"), Some(49700));
        assert_eq!(decimal_to_cents("497"), Some(49700));
        assert_eq!(decimal_to_cents("49.65"), Some(4965));
        assert_eq!(decimal_to_cents("0.5"), Some(50));
        assert_eq!(decimal_to_cents("1.005"), Some(101));
        assert_eq!(decimal_to_cents("-3.10"), Some(-310));
        assert_eq!(decimal_to_cents("abc"), None);
        assert_eq!(decimal_to_cents(""), None);
    }

    #[test]
    fn decimals_too_large_for_cents_are_no_amount() {
        // i64::MAX is 92233720368547758.07 in cents.
        assert_eq!(decimal_to_cents("92233720368547758.07"), Some(i64::MAX));
        assert_eq!(decimal_to_cents("92233720368547758.08"), None);
        assert_eq!(decimal_to_cents("92233720368547758.075"), None);
        assert_eq!(decimal_to_cents("-92233720368547758.99"), None);
        assert_eq!(decimal_to_cents("922337203685477580"), None);
    }

    #[test]
    fn sao_paulo_times_are_utc_minus_three() {
        let t = sao_paulo_to_time("2025-01-15 09:30").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-15T12:30:00+00:00");
        let t = sao_paulo_to_time("20250115 09:30:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2025-01-15T12:30:00+00:00");
    }

    #[test]
    fn gateway_names_are_their_serialized_form() {
        for g in GatewayKind::ALL {
            let json = serde_json::to_value(g).unwrap();

            assert_eq!(json, serde_json::json!(g.as_str()));
            assert_eq!(GatewayKind::parse(g.as_str()), Some(g));
        }
    }

    #[test]
    fn statuses_round_trip_through_event_types() {
        for s in CanonicalStatus::ALL {
            assert_eq!(CanonicalStatus::from_event_type(s.event_type()), Some(s));
            assert_eq!(CanonicalStatus::parse(s.as_str()), Some(s));
        }
    }
}
