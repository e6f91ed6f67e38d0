-- Issue 8: admin UI sessions, stored server-side so that logging out,
-- deleting the admin API key that opened one, or changing the admin token
-- ends it. `id` is the SHA-256 of the cookie's value (the value itself is
-- never stored); `token_hash` is the key's hash at login, so a session of
-- a key whose token changed no longer matches (src/ui/session.rs).
CREATE TABLE ui_sessions (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    api_key_id    TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
