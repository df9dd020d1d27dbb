-- Entity state: the last committed event of each key a source's `key` path selects, written in
-- the transaction that stores the event. `key_path` is part of the identity, so changing a source's
-- key path in the rules file starts fresh keys. Forgotten after settings.state_retention.
CREATE TABLE entity_state (
    source     TEXT NOT NULL,
    key_path   TEXT NOT NULL,
    key        TEXT NOT NULL,             -- the value as JSON text: 9001, "A-17"
    event_id   TEXT NOT NULL,
    body       BYTEA NOT NULL,             -- the last event's raw body (what `prev` shows)
    updated_at BIGINT NOT NULL,          -- unix milliseconds
    PRIMARY KEY (source, key_path, key)
);
CREATE INDEX entity_state_updated ON entity_state (updated_at);

-- Deliveries of rules with `after:` + `still:`, by the key whose later events may cancel them.
CREATE TABLE waits (
    delivery_id BIGINT PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    key_path    TEXT NOT NULL,
    key         TEXT NOT NULL,
    rule        TEXT NOT NULL
);
CREATE INDEX waits_key ON waits (source, key_path, key, rule);
