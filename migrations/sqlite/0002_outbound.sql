-- Saída: endpoints, the outbox of events, deliveries and their attempts.
-- Events and deliveries are written in the same transaction as the change
-- that caused them; the worker claims due deliveries with a lease.

CREATE TABLE endpoints (
    id                          TEXT PRIMARY KEY,
    workspace_id                TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                        TEXT NOT NULL,
    url                         TEXT NOT NULL,
    event_types                 TEXT NOT NULL,  -- JSON array; empty = all
    product_ids                 TEXT NOT NULL,  -- JSON array; empty = all
    headers                     TEXT NOT NULL,  -- JSON object
    rate_limit_per_second       INTEGER,
    is_enabled                  INTEGER NOT NULL,
    disabled_reason             TEXT,
    secret                      TEXT NOT NULL,
    previous_secret             TEXT,
    previous_secret_expires_at  INTEGER,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
);
CREATE INDEX endpoints_workspace ON endpoints (workspace_id, id);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,  -- the whole body sent: {id, type, created_at, data}
    product_ids   TEXT NOT NULL,  -- JSON array, for endpoint filters
    created_at    INTEGER NOT NULL
);
CREATE INDEX events_workspace ON events (workspace_id, created_at);

CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    event_type        TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status            TEXT NOT NULL,      -- pending | success | failed
    attempts          INTEGER NOT NULL,
    cycle_start       INTEGER NOT NULL,   -- attempts made before the current schedule (a resend restarts it)
    next_attempt_at   INTEGER,
    lease_until       INTEGER,
    last_http_status  INTEGER,
    last_error        TEXT,
    log_id            TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_status ON deliveries (workspace_id, status);

CREATE TABLE delivery_attempts (
    delivery_id    TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    http_status    INTEGER,
    response_body  TEXT,
    duration_ms    INTEGER NOT NULL,
    error          TEXT,
    PRIMARY KEY (delivery_id, number)
);
