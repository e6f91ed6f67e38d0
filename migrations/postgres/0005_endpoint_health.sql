-- One slow endpoint must not hold up the others (issue 14): a per-endpoint
-- cap on deliveries in flight, and a circuit breaker. `breaker_failures`
-- counts consecutive timeouts and connection failures; while
-- `breaker_open_until` is set the endpoint is unhealthy, and once it has
-- passed one probe delivery (half-open) decides.
ALTER TABLE endpoints ADD COLUMN max_in_flight BIGINT;
ALTER TABLE endpoints ADD COLUMN breaker_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE endpoints ADD COLUMN breaker_open_until TIMESTAMPTZ;
-- Leased deliveries per endpoint, counted at every claim (leases are cleared
-- when an attempt is recorded, so this stays small).
CREATE INDEX deliveries_leased ON deliveries (endpoint_id) WHERE lease_until IS NOT NULL;
