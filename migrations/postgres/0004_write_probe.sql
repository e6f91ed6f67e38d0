-- A scratch table for `/readyz`'s write probe (storage::write): while writes
-- are failing, it inserts and deletes a row about the size of an inbound
-- call's writes and commits, to learn whether the database takes writes again.
CREATE TABLE write_probe (
    id BIGINT PRIMARY KEY,
    filler BYTEA NOT NULL
);
