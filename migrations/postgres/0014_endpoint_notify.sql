-- Issue 9: the enabled endpoints an event fans out to are kept with the
-- configuration an inbound call reads (src/storage/config_cache.rs), so a
-- change to what fan-out reads (an endpoint added or removed, enabled or
-- disabled, its event types or products) notifies `gancho_config` too. The
-- breaker's columns, written by the delivery worker, are not among them:
-- fan-out does not read them, and the cache would be emptied on every
-- recorded failure.
CREATE TRIGGER endpoints_config_changed AFTER INSERT OR DELETE OR TRUNCATE
    ON endpoints FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER endpoints_fanout_changed AFTER UPDATE OF workspace_id, is_enabled, event_types, product_ids
    ON endpoints FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
