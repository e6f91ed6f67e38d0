-- Logs: search indexes, reprocess links, and two small aggregates kept by
-- triggers so stats and the queue panel never scan the big tables:
-- log_buckets (15-minute UTC buckets, so any time zone's days add up) and
-- delivery_counts (deliveries per status).

ALTER TABLE log_entries ADD COLUMN reprocess_of TEXT;

CREATE INDEX log_entries_email ON log_entries (workspace_id, email, at, id) WHERE email IS NOT NULL;
CREATE INDEX log_entries_status ON log_entries (workspace_id, status, at, id);
CREATE INDEX log_entries_event_type ON log_entries (workspace_id, event_type, at, id) WHERE event_type IS NOT NULL;
CREATE INDEX log_entries_age ON log_entries (at);

CREATE TABLE log_buckets (
    workspace_id  TEXT NOT NULL,
    bucket        INTEGER NOT NULL,  -- start of a 15-minute UTC slot, unix ms
    total         INTEGER NOT NULL,
    success       INTEGER NOT NULL,
    failure       INTEGER NOT NULL,
    sum_ms        INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, bucket)
);

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

CREATE TABLE delivery_counts (
    workspace_id  TEXT NOT NULL,
    status        TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, status)
);

INSERT INTO delivery_counts (workspace_id, status, n)
    SELECT workspace_id, status, COUNT(*) FROM deliveries GROUP BY workspace_id, status;

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

CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status <> 'pending';
CREATE INDEX events_age ON events (created_at);
