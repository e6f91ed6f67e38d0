//! Prefixed, opaque IDs (DESIGN.md § Data model): one newtype per kind so an
//! ID of one kind can never be passed where another is expected. The body is
//! a ULID, so IDs sort by creation time (keyset pagination relies on it).

use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One generator for the process: ULIDs made in the same millisecond get
/// an incremented random part, so IDs sort in creation order (lists and
/// log pages are ordered by them). `Ulid::generate()` alone is random within a
/// millisecond.
static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());

/// The body of a new ID.
fn next_ulid() -> ulid::Ulid {
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    // Overflow needs 2^80 IDs in one millisecond; fall back rather than fail.
    generator
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::generate())
}

macro_rules! id_type {
    ($name:ident, $prefix:literal) => {
        #[doc = concat!("An ID with the `", $prefix, "` prefix.")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, unique ID.
            pub fn new() -> Self {
                Self(format!("{}{}", $prefix, next_ulid()))
            }

            /// Accepts only strings with this kind's prefix and a non-empty,
            /// URL-safe body; anything else is not an ID of this kind.
            pub fn parse(value: &str) -> Option<Self> {
                let body = value.strip_prefix($prefix)?;
                let ok = !body.is_empty()
                    && body.len() <= 64
                    && body
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                ok.then(|| Self(value.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).ok_or_else(|| {
                    serde::de::Error::custom(format!("not a valid {} id: {raw}", $prefix))
                })
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("ID with the `", $prefix, "` prefix")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(WorkspaceId, "ws_");
id_type!(ProductId, "prod_");
id_type!(CategoryId, "cat_");
id_type!(StudentId, "stu_");
id_type!(GrantId, "grt_");
id_type!(InboundUrlId, "in_");
id_type!(KeyId, "key_");
id_type!(ApiKeyId, "ak_");
id_type!(EndpointId, "ep_");
id_type!(EventId, "evt_");
id_type!(DeliveryId, "dlv_");
id_type!(LogId, "log_");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_prefix_and_reject_others() {
        let id = ProductId::new();
        assert!(id.as_str().starts_with("prod_"));
        assert_eq!(ProductId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(ProductId::parse("cat_01ABC"), None);
        assert_eq!(ProductId::parse("prod_"), None);
        assert_eq!(ProductId::parse("prod_a b"), None);
    }

    #[test]
    fn ids_sort_by_creation_even_within_one_millisecond() {
        let ids: Vec<ProductId> = (0..2000).map(|_| ProductId::new()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
}
