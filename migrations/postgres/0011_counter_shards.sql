-- Issue 9: the aggregates the triggers keep (log_buckets, delivery_counts)
-- no longer serialize write transactions. Kept in one row per workspace and
-- slot (or status), every inbound call's log entry and every new delivery
-- updated the same row, so each write transaction waited for the previous
-- one's COMMIT (the backends sat on `transactionid` at 190 calls/s).
--
-- Each row is now split into shards: a transaction adds its counts to a
-- shard that no other open transaction writes, the first it can hold with a
-- transaction-scoped advisory lock (class 1196310856, "GANC"; the two-key
-- space, apart from the one-key locks of lock_keys and the tasks). Status
-- changes add their differences to the transaction's shard too, so a shard
-- may hold negative counts; readers sum the shards (src/storage/postgres/logs.rs).
-- SQLite has one writer and keeps one row.

CREATE FUNCTION gancho_counter_shard() RETURNS SMALLINT LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    FOR s IN 0..63 LOOP
        IF pg_try_advisory_xact_lock(1196310856, s) THEN
            RETURN s;
        END IF;
    END LOOP;
    -- 64 transactions writing counts at once: share a shard (and wait).
    RETURN (pg_backend_pid() % 64)::SMALLINT;
END $$;

ALTER TABLE log_buckets ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE log_buckets DROP CONSTRAINT log_buckets_pkey;
ALTER TABLE log_buckets ADD PRIMARY KEY (workspace_id, bucket, shard);

ALTER TABLE delivery_counts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE delivery_counts DROP CONSTRAINT delivery_counts_pkey;
ALTER TABLE delivery_counts ADD PRIMARY KEY (workspace_id, status, shard);

CREATE OR REPLACE FUNCTION log_entries_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO log_buckets (workspace_id, bucket, shard, total, success, failure, sum_ms)
        VALUES (NEW.workspace_id, log_bucket_of(NEW.at), gancho_counter_shard(), 1,
                (NEW.status = 'success')::int, (NEW.status = 'failure')::int, NEW.duration_ms)
        ON CONFLICT (workspace_id, bucket, shard) DO UPDATE SET
            total = log_buckets.total + 1,
            success = log_buckets.success + excluded.success,
            failure = log_buckets.failure + excluded.failure,
            sum_ms = log_buckets.sum_ms + excluded.sum_ms;
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.duration_ms IS DISTINCT FROM OLD.duration_ms THEN
        INSERT INTO log_buckets (workspace_id, bucket, shard, total, success, failure, sum_ms)
        VALUES (NEW.workspace_id, log_bucket_of(NEW.at), gancho_counter_shard(), 0,
                (NEW.status = 'success')::int - (OLD.status = 'success')::int,
                (NEW.status = 'failure')::int - (OLD.status = 'failure')::int,
                NEW.duration_ms - OLD.duration_ms)
        ON CONFLICT (workspace_id, bucket, shard) DO UPDATE SET
            success = log_buckets.success + excluded.success,
            failure = log_buckets.failure + excluded.failure,
            sum_ms = log_buckets.sum_ms + excluded.sum_ms;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION deliveries_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s SMALLINT;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status THEN
        RETURN NULL;
    END IF;
    s := gancho_counter_shard();
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO delivery_counts (workspace_id, status, shard, n) VALUES (OLD.workspace_id, OLD.status, s, -1)
        ON CONFLICT (workspace_id, status, shard) DO UPDATE SET n = delivery_counts.n - 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO delivery_counts (workspace_id, status, shard, n) VALUES (NEW.workspace_id, NEW.status, s, 1)
        ON CONFLICT (workspace_id, status, shard) DO UPDATE SET n = delivery_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
