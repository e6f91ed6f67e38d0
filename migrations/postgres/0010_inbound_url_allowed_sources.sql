-- Issue 11: an inbound URL may accept calls only from some addresses (a JSON
-- list of CIDRs; empty: from anywhere). See src/client_ip.rs.
ALTER TABLE inbound_urls ADD COLUMN allowed_sources TEXT NOT NULL DEFAULT '[]';
