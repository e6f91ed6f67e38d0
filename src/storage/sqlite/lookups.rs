//! Inbound calls waiting for their buyer's details: see `storage::lookups`.

use super::{map_err, ms, SqliteStore};

crate::storage::lookups::lookup_store!(SqliteStore);
