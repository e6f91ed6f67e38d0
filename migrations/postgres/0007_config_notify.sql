-- Every change to the configuration an inbound call reads (workspaces,
-- products and their external ids, categories, inbound URLs and their links,
-- gateway keys) notifies `gancho_config` when its transaction commits, so
-- every instance empties its configuration cache (src/storage/config_cache.rs).
CREATE FUNCTION gancho_config_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gancho_config', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER workspaces_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON workspaces FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER products_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON products FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER product_external_ids_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON product_external_ids FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER categories_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON categories FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER category_products_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON category_products FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER inbound_urls_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON inbound_urls FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER inbound_url_products_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON inbound_url_products FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER inbound_url_categories_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON inbound_url_categories FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
CREATE TRIGGER gateway_keys_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON gateway_keys FOR EACH STATEMENT EXECUTE FUNCTION gancho_config_changed();
