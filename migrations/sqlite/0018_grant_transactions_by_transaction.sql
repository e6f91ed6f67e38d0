-- Issue 9: a sale's grants are looked up by transaction, so the links are
-- keyed by it: one B-tree written per link instead of the table's key
-- (by grant) and an index by transaction. Grants are never deleted (no
-- retention, no workspace deletion), so the cascade from `grants` that a
-- key leading with `grant_id` would serve is never taken.
CREATE TABLE grant_transactions_rebuilt (
    grant_id        TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    workspace_id    TEXT NOT NULL,
    gateway         TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    PRIMARY KEY (workspace_id, gateway, transaction_id, grant_id)
) WITHOUT ROWID;
INSERT INTO grant_transactions_rebuilt (grant_id, workspace_id, gateway, transaction_id)
    SELECT grant_id, workspace_id, gateway, transaction_id FROM grant_transactions;
DROP TABLE grant_transactions;
ALTER TABLE grant_transactions_rebuilt RENAME TO grant_transactions;
