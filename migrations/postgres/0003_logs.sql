-- Logs: search indexes, reprocess links, and the trigger-kept aggregates
-- log_buckets (15-minute UTC slots) and delivery_counts, as in
-- migrations/sqlite/0003_logs.sql.

ALTER TABLE log_entries ADD COLUMN reprocess_of TEXT;

CREATE INDEX log_entries_email ON log_entries (workspace_id, email, at, id) WHERE email IS NOT NULL;
CREATE INDEX log_entries_status ON log_entries (workspace_id, status, at, id);
CREATE INDEX log_entries_event_type ON log_entries (workspace_id, event_type, at, id) WHERE event_type IS NOT NULL;
CREATE INDEX log_entries_age ON log_entries (at);

CREATE TABLE log_buckets (
    workspace_id  TEXT NOT NULL,
    bucket        TIMESTAMPTZ NOT NULL,
    total         BIGINT NOT NULL,
    success       BIGINT NOT NULL,
    failure       BIGINT NOT NULL,
    sum_ms        BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, bucket)
);

CREATE FUNCTION log_bucket_of(at TIMESTAMPTZ) RETURNS TIMESTAMPTZ LANGUAGE sql IMMUTABLE AS
$$ SELECT date_bin('15 minutes', at, TIMESTAMPTZ '2000-01-01 00:00:00+00') $$;

CREATE FUNCTION log_entries_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO log_buckets (workspace_id, bucket, total, success, failure, sum_ms)
        VALUES (NEW.workspace_id, log_bucket_of(NEW.at), 1,
                (NEW.status = 'success')::int, (NEW.status = 'failure')::int, NEW.duration_ms)
        ON CONFLICT (workspace_id, bucket) DO UPDATE SET
            total = log_buckets.total + 1,
            success = log_buckets.success + excluded.success,
            failure = log_buckets.failure + excluded.failure,
            sum_ms = log_buckets.sum_ms + excluded.sum_ms;
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.duration_ms IS DISTINCT FROM OLD.duration_ms THEN
        UPDATE log_buckets SET
            success = success + (NEW.status = 'success')::int - (OLD.status = 'success')::int,
            failure = failure + (NEW.status = 'failure')::int - (OLD.status = 'failure')::int,
            sum_ms = sum_ms + NEW.duration_ms - OLD.duration_ms
        WHERE workspace_id = NEW.workspace_id AND bucket = log_bucket_of(NEW.at);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER log_entries_count AFTER INSERT OR UPDATE ON log_entries
    FOR EACH ROW EXECUTE FUNCTION log_entries_count();

CREATE TABLE delivery_counts (
    workspace_id  TEXT NOT NULL,
    status        TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, status)
);

INSERT INTO delivery_counts (workspace_id, status, n)
    SELECT workspace_id, status, COUNT(*) FROM deliveries GROUP BY workspace_id, status;

CREATE FUNCTION deliveries_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF TG_OP = 'DELETE' OR OLD.status <> NEW.status THEN
            UPDATE delivery_counts SET n = n - 1
            WHERE workspace_id = OLD.workspace_id AND status = OLD.status;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND OLD.status <> NEW.status) THEN
        INSERT INTO delivery_counts (workspace_id, status, n) VALUES (NEW.workspace_id, NEW.status, 1)
        ON CONFLICT (workspace_id, status) DO UPDATE SET n = delivery_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_count AFTER INSERT OR UPDATE OR DELETE ON deliveries
    FOR EACH ROW EXECUTE FUNCTION deliveries_count();

CREATE INDEX deliveries_finished ON deliveries (updated_at) WHERE status <> 'pending';
CREATE INDEX events_age ON events (created_at);
