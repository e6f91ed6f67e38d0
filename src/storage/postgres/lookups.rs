//! Inbound calls waiting for their buyer's details: see `storage::lookups`.

use super::{map_err, ms, PgStore};

crate::storage::lookups::lookup_store!(PgStore, sqlx::PgConnection);
