-- Issue 9: whether a transaction was refunded or charged back is asked by
-- its dedupe key, `reference = 'tx:' || transaction_id` (every event with a
-- transaction id has that reference), so the primary key answers it and
-- this index, a random-keyed leaf written by every sale, is not needed.
DROP INDEX IF EXISTS processed_events_transaction;
