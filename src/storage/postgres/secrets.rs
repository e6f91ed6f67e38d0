//! Every sealed secret, for the key rotation: see `storage::secrets`.

use super::{map_err, PgStore};

crate::storage::secrets::secret_store!(PgStore);
