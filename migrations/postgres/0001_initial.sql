-- gancho's first schema: workspaces, catalog, students and the access
-- ledger, inbound URLs, gateway keys, processed inbound events and logs.
-- The same tables as migrations/sqlite/0001_initial.sql, in PostgreSQL types.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_id   TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    is_bootstrap  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE products (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX products_workspace ON products (workspace_id, id);

CREATE TABLE product_external_ids (
    product_id    TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    workspace_id  TEXT NOT NULL,
    gateway       TEXT NOT NULL,
    external_id   TEXT NOT NULL,
    position      BIGINT NOT NULL,
    PRIMARY KEY (product_id, gateway, external_id)
);
CREATE INDEX product_external_ids_lookup ON product_external_ids (workspace_id, gateway, external_id);

CREATE TABLE categories (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX categories_workspace ON categories (workspace_id, id);

CREATE TABLE category_products (
    category_id  TEXT NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    product_id   TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    position     BIGINT NOT NULL,
    PRIMARY KEY (category_id, product_id)
);
CREATE INDEX category_products_product ON category_products (product_id);

CREATE TABLE students (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    name          TEXT,
    phone         TEXT,
    document      TEXT,
    status        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, email)
);

CREATE TABLE grants (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    student_id       TEXT NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    product_id       TEXT REFERENCES products(id) ON DELETE CASCADE,
    category_id      TEXT REFERENCES categories(id) ON DELETE CASCADE,
    is_manual        BOOLEAN NOT NULL,
    gateway          TEXT,
    transaction_id   TEXT,
    subscription_id  TEXT,
    granted_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ,
    revoked_at       TIMESTAMPTZ,
    revoke_reason    TEXT,
    CHECK ((product_id IS NULL) <> (category_id IS NULL))
);
CREATE INDEX grants_student ON grants (student_id, granted_at);
CREATE INDEX grants_subscription ON grants (workspace_id, gateway, subscription_id)
    WHERE subscription_id IS NOT NULL;
CREATE INDEX grants_due ON grants (expires_at)
    WHERE revoked_at IS NULL AND expires_at IS NOT NULL;

CREATE TABLE grant_transactions (
    grant_id        TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    gateway         TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    PRIMARY KEY (grant_id, gateway, transaction_id)
);
CREATE INDEX grant_transactions_lookup ON grant_transactions (workspace_id, gateway, transaction_id);

CREATE TABLE inbound_urls (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    gateway       TEXT NOT NULL,
    slug          TEXT NOT NULL,
    access_days   BIGINT,
    is_enabled    BOOLEAN NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, slug)
);

CREATE TABLE inbound_url_products (
    inbound_url_id  TEXT NOT NULL REFERENCES inbound_urls(id) ON DELETE CASCADE,
    product_id      TEXT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    position        BIGINT NOT NULL,
    PRIMARY KEY (inbound_url_id, product_id)
);

CREATE TABLE inbound_url_categories (
    inbound_url_id  TEXT NOT NULL REFERENCES inbound_urls(id) ON DELETE CASCADE,
    category_id     TEXT NOT NULL REFERENCES categories(id) ON DELETE CASCADE,
    position        BIGINT NOT NULL,
    PRIMARY KEY (inbound_url_id, category_id)
);

CREATE TABLE gateway_keys (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    gateway       TEXT NOT NULL,
    name          TEXT NOT NULL,
    secret        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX gateway_keys_gateway ON gateway_keys (workspace_id, gateway);

CREATE TABLE processed_events (
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    gateway          TEXT NOT NULL,
    reference        TEXT NOT NULL,
    status           TEXT NOT NULL,
    transaction_id   TEXT,
    subscription_id  TEXT,
    log_id           TEXT NOT NULL,
    processed_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, gateway, reference, status)
);
CREATE INDEX processed_events_transaction ON processed_events (workspace_id, gateway, transaction_id)
    WHERE transaction_id IS NOT NULL;

CREATE TABLE log_entries (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    at                TIMESTAMPTZ NOT NULL,
    direction         TEXT NOT NULL,
    gateway           TEXT,
    event_type        TEXT,
    email             TEXT,
    status            TEXT NOT NULL,
    http_status       BIGINT NOT NULL,
    duration_ms       BIGINT NOT NULL,
    integration_kind  TEXT NOT NULL,
    integration_id    TEXT,
    integration_name  TEXT NOT NULL,
    attempts          BIGINT NOT NULL,
    error             TEXT
);
CREATE INDEX log_entries_at ON log_entries (workspace_id, at, id);

CREATE TABLE log_details (
    log_id  TEXT PRIMARY KEY REFERENCES log_entries(id) ON DELETE CASCADE,
    detail  TEXT NOT NULL
);
