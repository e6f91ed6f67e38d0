-- Asaas sends only a customer id: a key may carry the seller's API key, and
-- an inbound call that needs the buyer's e-mail waits here, durably, until
-- src/inbound/lookup.rs has fetched it (one row per waiting log entry).
ALTER TABLE gateway_keys ADD COLUMN api_key TEXT;

CREATE TABLE customer_lookups (
    log_id          TEXT PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key_id          TEXT NOT NULL,
    gateway         TEXT NOT NULL,
    customer_ref    TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX customer_lookups_due ON customer_lookups (next_attempt_at);
