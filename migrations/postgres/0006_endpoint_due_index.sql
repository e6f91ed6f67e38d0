-- Each endpoint's oldest due deliveries, read by an index range per endpoint
-- at every claim (so the claim costs the same with a large backlog).
CREATE INDEX deliveries_endpoint_due ON deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
