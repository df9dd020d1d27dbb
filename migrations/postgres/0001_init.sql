-- Events as received, with the routing decision that was made for them.
CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    source        TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    received_at   BIGINT NOT NULL,           -- unix milliseconds
    body          BYTEA NOT NULL,            -- the raw bytes, exactly as signed
    content_type  TEXT,
    matched_rules TEXT NOT NULL,             -- JSON array of rule names
    rules_version TEXT NOT NULL
);
CREATE INDEX events_received_at ON events (received_at);

-- Idempotency across instances: the primary key is the arbiter.
CREATE TABLE dedup (
    source     TEXT NOT NULL,
    key        TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (source, key)
);

-- One row per action of a fired rule. No secrets: URL and headers come from the running config.
CREATE TABLE deliveries (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id          TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    rule              TEXT NOT NULL,
    action_index      BIGINT NOT NULL,
    destination       TEXT NOT NULL,
    body              BYTEA,                 -- NULL when the template failed
    content_type      TEXT,
    status            TEXT NOT NULL,         -- pending | failed | delivered | dead
    series            BIGINT NOT NULL DEFAULT 1,
    attempts          BIGINT NOT NULL DEFAULT 0,
    series_started_at BIGINT NOT NULL,
    next_attempt_at   BIGINT NOT NULL,
    lease_owner       TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX deliveries_event ON deliveries (event_id);
CREATE INDEX deliveries_status ON deliveries (status, updated_at);

-- Every attempt ever made, replays included.
CREATE TABLE attempts (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    series           BIGINT NOT NULL,
    attempted_at     BIGINT NOT NULL,
    status_code      BIGINT,
    latency_ms       BIGINT NOT NULL,
    outcome          TEXT NOT NULL,
    error            TEXT,
    response_excerpt TEXT
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
