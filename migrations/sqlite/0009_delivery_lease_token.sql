-- Issue 11, gap 2: every claim of a delivery, and every resend by hand, bumps
-- its lease token; the worker's record of an attempt is written only while
-- the token it claimed is still the delivery's, so a worker whose lease ran
-- out (or whose delivery was resent meanwhile) cannot overwrite newer state.
ALTER TABLE deliveries ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
