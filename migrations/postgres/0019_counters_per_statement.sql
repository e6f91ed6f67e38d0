-- Issue 9: the aggregates Logs reads (log_buckets, delivery_counts) are
-- kept per statement, not per row. A per-row PL/pgSQL trigger ran for each
-- delivery an approval queues (30 for a sale fanned out to 10 endpoints),
-- twice for each delivery a record finishes (its old status out, its new
-- one in), and once for each log entry, each time taking its shard and
-- upserting one counter row: most of a busy flush's time. And a statement
-- touching many rows of one workspace and status updated the same counter
-- row once per row, each update walking the versions the ones before it
-- left in the transaction: quadratic (60,000 deliveries finished in one
-- statement took minutes).
--
-- Each trigger now reads the statement's rows from its transition tables
-- and adds one sum per workspace and slot (or status) to the shard its
-- transaction holds (0011_counter_shards.sql). A trigger with transition
-- tables serves one event, so each table gets one per event. The counts
-- are the per-row triggers' to the row: an update counts only what
-- changed, matched to its old row by id (never updated).

DROP TRIGGER log_entries_count ON log_entries;
DROP TRIGGER deliveries_count ON deliveries;
DROP FUNCTION log_entries_count();
DROP FUNCTION deliveries_count();

CREATE FUNCTION log_entries_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_buckets (workspace_id, bucket, shard, total, success, failure, sum_ms)
    SELECT workspace_id, log_bucket_of(at), gancho_counter_shard(), COUNT(*),
           COUNT(*) FILTER (WHERE status = 'success'), COUNT(*) FILTER (WHERE status = 'failure'),
           SUM(duration_ms)
    FROM new_rows GROUP BY workspace_id, log_bucket_of(at)
    ON CONFLICT (workspace_id, bucket, shard) DO UPDATE SET
        total = log_buckets.total + excluded.total,
        success = log_buckets.success + excluded.success,
        failure = log_buckets.failure + excluded.failure,
        sum_ms = log_buckets.sum_ms + excluded.sum_ms;
    RETURN NULL;
END $$;

CREATE FUNCTION log_entries_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO log_buckets (workspace_id, bucket, shard, total, success, failure, sum_ms)
    SELECT n.workspace_id, log_bucket_of(n.at), gancho_counter_shard(), 0,
           SUM((n.status = 'success')::int - (o.status = 'success')::int),
           SUM((n.status = 'failure')::int - (o.status = 'failure')::int),
           SUM(n.duration_ms - o.duration_ms)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status IS DISTINCT FROM o.status OR n.duration_ms IS DISTINCT FROM o.duration_ms
    GROUP BY n.workspace_id, log_bucket_of(n.at)
    ON CONFLICT (workspace_id, bucket, shard) DO UPDATE SET
        success = log_buckets.success + excluded.success,
        failure = log_buckets.failure + excluded.failure,
        sum_ms = log_buckets.sum_ms + excluded.sum_ms;
    RETURN NULL;
END $$;

CREATE TRIGGER log_entries_inserted AFTER INSERT ON log_entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_entries_inserted();
CREATE TRIGGER log_entries_updated AFTER UPDATE ON log_entries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION log_entries_updated();

-- New deliveries count up, deleted ones down: both triggers name their
-- table `changed_rows`.
CREATE FUNCTION deliveries_added_or_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_counts (workspace_id, status, shard, n)
    SELECT workspace_id, status, gancho_counter_shard(),
           CASE TG_OP WHEN 'DELETE' THEN -COUNT(*) ELSE COUNT(*) END
    FROM changed_rows GROUP BY workspace_id, status
    ON CONFLICT (workspace_id, status, shard) DO UPDATE SET n = delivery_counts.n + excluded.n;
    RETURN NULL;
END $$;

CREATE FUNCTION deliveries_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_counts (workspace_id, status, shard, n)
    SELECT x.workspace_id, x.status, gancho_counter_shard(), SUM(x.n)
    FROM old_rows o JOIN new_rows c ON c.id = o.id
    CROSS JOIN LATERAL (VALUES (o.workspace_id, o.status, -1), (c.workspace_id, c.status, 1))
        AS x (workspace_id, status, n)
    WHERE c.status <> o.status
    GROUP BY x.workspace_id, x.status
    HAVING SUM(x.n) <> 0
    ON CONFLICT (workspace_id, status, shard) DO UPDATE SET n = delivery_counts.n + excluded.n;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_inserted AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_added_or_removed();
CREATE TRIGGER deliveries_updated AFTER UPDATE ON deliveries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_updated();
CREATE TRIGGER deliveries_deleted AFTER DELETE ON deliveries
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_added_or_removed();
