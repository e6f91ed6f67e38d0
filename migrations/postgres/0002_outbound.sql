-- Saída: endpoints, the outbox of events, deliveries and their attempts.
-- The same tables as migrations/sqlite/0002_outbound.sql.

CREATE TABLE endpoints (
    id                          TEXT PRIMARY KEY,
    workspace_id                TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                        TEXT NOT NULL,
    url                         TEXT NOT NULL,
    event_types                 TEXT NOT NULL,
    product_ids                 TEXT NOT NULL,
    headers                     TEXT NOT NULL,
    rate_limit_per_second       BIGINT,
    is_enabled                  BOOLEAN NOT NULL,
    disabled_reason             TEXT,
    secret                      TEXT NOT NULL,
    previous_secret             TEXT,
    previous_secret_expires_at  TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ NOT NULL,
    updated_at                  TIMESTAMPTZ NOT NULL
);
CREATE INDEX endpoints_workspace ON endpoints (workspace_id, id);

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    product_ids   TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_workspace ON events (workspace_id, created_at);

CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    event_id          TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    event_type        TEXT NOT NULL,
    endpoint_id       TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status            TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    cycle_start       BIGINT NOT NULL,
    next_attempt_at   TIMESTAMPTZ,
    lease_until       TIMESTAMPTZ,
    last_http_status  BIGINT,
    last_error        TEXT,
    log_id            TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_status ON deliveries (workspace_id, status);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE delivery_attempts (
    delivery_id    TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    number         BIGINT NOT NULL,
    at             TIMESTAMPTZ NOT NULL,
    http_status    BIGINT,
    response_body  TEXT,
    duration_ms    BIGINT NOT NULL,
    error          TEXT,
    PRIMARY KEY (delivery_id, number)
);
