-- The small tables keyed by several columns, rebuilt WITHOUT ROWID (issue 9).
-- A rowid table keyed by columns other than its rowid is two B-trees: the
-- rows, and an index of the key pointing at them; every insert writes both.
-- Keyed by their primary key, these are one. Each sale writes a processed
-- event, a grant transaction per grant, and a log bucket; each delivery
-- attempt a row and a counter (about +4 % inbound at saturation, A/B).
-- The tables with wide rows (events, deliveries, log entries) stay rowid
-- tables: rebuilt too, inbound was 7 % slower.
--
-- Each rebuild: a new table, the rows copied, the old one dropped, the new
-- one renamed, its indexes made again. The triggers that count into
-- log_buckets and delivery_counts are dropped first (a rename checks every
-- trigger, and theirs would name a table that is gone) and made again last.

DROP TRIGGER log_entries_count_insert;
DROP TRIGGER log_entries_count_update;
DROP TRIGGER deliveries_count_insert;
DROP TRIGGER deliveries_count_update;
DROP TRIGGER deliveries_count_delete;

CREATE TABLE grant_transactions_rebuilt (
    grant_id        TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    gateway         TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    PRIMARY KEY (grant_id, gateway, transaction_id)
) WITHOUT ROWID;
INSERT INTO grant_transactions_rebuilt (grant_id, workspace_id, gateway, transaction_id)
    SELECT grant_id, workspace_id, gateway, transaction_id FROM grant_transactions;
DROP TABLE grant_transactions;
ALTER TABLE grant_transactions_rebuilt RENAME TO grant_transactions;
CREATE INDEX grant_transactions_lookup ON grant_transactions (workspace_id, gateway, transaction_id);

CREATE TABLE processed_events_rebuilt (
    workspace_id     TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    gateway          TEXT NOT NULL,
    reference        TEXT NOT NULL,
    status           TEXT NOT NULL,
    transaction_id   TEXT,
    subscription_id  TEXT,
    log_id           TEXT NOT NULL,
    processed_at     INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, gateway, reference, status)
) WITHOUT ROWID;
INSERT INTO processed_events_rebuilt (workspace_id, gateway, reference, status, transaction_id,
                                      subscription_id, log_id, processed_at)
    SELECT workspace_id, gateway, reference, status, transaction_id,
           subscription_id, log_id, processed_at
    FROM processed_events;
DROP TABLE processed_events;
ALTER TABLE processed_events_rebuilt RENAME TO processed_events;
CREATE INDEX processed_events_transaction ON processed_events (workspace_id, gateway, transaction_id)
    WHERE transaction_id IS NOT NULL;

CREATE TABLE log_buckets_rebuilt (
    workspace_id  TEXT NOT NULL,
    bucket        INTEGER NOT NULL,  -- start of a 15-minute UTC slot, unix ms
    total         INTEGER NOT NULL,
    success       INTEGER NOT NULL,
    failure       INTEGER NOT NULL,
    sum_ms        INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, bucket)
) WITHOUT ROWID;
INSERT INTO log_buckets_rebuilt (workspace_id, bucket, total, success, failure, sum_ms)
    SELECT workspace_id, bucket, total, success, failure, sum_ms FROM log_buckets;
DROP TABLE log_buckets;
ALTER TABLE log_buckets_rebuilt RENAME TO log_buckets;

CREATE TABLE delivery_counts_rebuilt (
    workspace_id  TEXT NOT NULL,
    status        TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, status)
) WITHOUT ROWID;
INSERT INTO delivery_counts_rebuilt (workspace_id, status, n)
    SELECT workspace_id, status, n FROM delivery_counts;
DROP TABLE delivery_counts;
ALTER TABLE delivery_counts_rebuilt RENAME TO delivery_counts;

CREATE TABLE delivery_attempts_rebuilt (
    delivery_id    TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    http_status    INTEGER,
    response_body  TEXT,
    duration_ms    INTEGER NOT NULL,
    error          TEXT,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;
INSERT INTO delivery_attempts_rebuilt (delivery_id, number, at, http_status, response_body,
                                       duration_ms, error)
    SELECT delivery_id, number, at, http_status, response_body, duration_ms, error
    FROM delivery_attempts;
DROP TABLE delivery_attempts;
ALTER TABLE delivery_attempts_rebuilt RENAME TO delivery_attempts;

CREATE TRIGGER log_entries_count_insert AFTER INSERT ON log_entries BEGIN
    INSERT INTO log_buckets (workspace_id, bucket, total, success, failure, sum_ms)
    VALUES (NEW.workspace_id, (NEW.at / 900000) * 900000, 1,
            NEW.status = 'success', NEW.status = 'failure', NEW.duration_ms)
    ON CONFLICT (workspace_id, bucket) DO UPDATE SET
        total = total + 1,
        success = success + excluded.success,
        failure = failure + excluded.failure,
        sum_ms = sum_ms + excluded.sum_ms;
END;

CREATE TRIGGER log_entries_count_update AFTER UPDATE OF status, duration_ms ON log_entries BEGIN
    UPDATE log_buckets SET
        success = success + (NEW.status = 'success') - (OLD.status = 'success'),
        failure = failure + (NEW.status = 'failure') - (OLD.status = 'failure'),
        sum_ms = sum_ms + NEW.duration_ms - OLD.duration_ms
    WHERE workspace_id = NEW.workspace_id AND bucket = (NEW.at / 900000) * 900000;
END;

CREATE TRIGGER deliveries_count_insert AFTER INSERT ON deliveries BEGIN
    INSERT INTO delivery_counts (workspace_id, status, n) VALUES (NEW.workspace_id, NEW.status, 1)
    ON CONFLICT (workspace_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_count_update AFTER UPDATE OF status ON deliveries
WHEN OLD.status <> NEW.status BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE workspace_id = OLD.workspace_id AND status = OLD.status;
    INSERT INTO delivery_counts (workspace_id, status, n) VALUES (NEW.workspace_id, NEW.status, 1)
    ON CONFLICT (workspace_id, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER deliveries_count_delete AFTER DELETE ON deliveries BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE workspace_id = OLD.workspace_id AND status = OLD.status;
END;
