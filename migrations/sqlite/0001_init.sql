-- Events as received, with the routing decision that was made for them.
CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    received_at   INTEGER NOT NULL,          -- unix milliseconds
    body          BLOB NOT NULL,             -- the raw bytes, exactly as signed
    content_type  TEXT,
    matched_rules TEXT NOT NULL,             -- JSON array of rule names
    rules_version TEXT NOT NULL
);
CREATE INDEX events_received_at ON events (received_at);

-- Idempotency: one row per (source, key) seen within the window.
CREATE TABLE dedup (
    source     TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (source, key)
);

-- One row per action of a fired rule. No secrets: URL and headers come from the running config.
CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    rule              TEXT NOT NULL,
    action_index      INTEGER NOT NULL,
    destination       TEXT NOT NULL,
    body              BLOB,                  -- NULL when the template failed
    content_type      TEXT,
    status            TEXT NOT NULL,         -- pending | failed | delivered | dead
    series            INTEGER NOT NULL DEFAULT 1,   -- bumped by each replay
    attempts          INTEGER NOT NULL DEFAULT 0,   -- in the current series
    series_started_at INTEGER NOT NULL,
    next_attempt_at   INTEGER NOT NULL,
    lease_owner       TEXT,
    lease_until       INTEGER,
    last_error        TEXT,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_status ON deliveries (status, updated_at);

-- Every attempt ever made, replays included.
CREATE TABLE attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id      INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    series           INTEGER NOT NULL,
    attempted_at     INTEGER NOT NULL,
    status_code      INTEGER,
    latency_ms       INTEGER NOT NULL,
    outcome          TEXT NOT NULL,          -- delivered | retry | dead
    error            TEXT,
    response_excerpt TEXT                    -- first 1 KiB of the response body
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
