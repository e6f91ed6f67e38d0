-- Issue 9: no foreign key from the tables every inbound call and delivery
-- writes to the workspace row. Each insert checked its workspace with a
-- query of its own (about eight per approval) and took a share lock on the
-- one workspace row that every concurrent call locks too. Workspaces are
-- never deleted, so the cascade was never used; the rows' workspace comes
-- from the configuration the call was verified against.
ALTER TABLE processed_events DROP CONSTRAINT processed_events_workspace_id_fkey;
ALTER TABLE students DROP CONSTRAINT students_workspace_id_fkey;
ALTER TABLE grants DROP CONSTRAINT grants_workspace_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_workspace_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_workspace_id_fkey;
ALTER TABLE log_entries DROP CONSTRAINT log_entries_workspace_id_fkey;
