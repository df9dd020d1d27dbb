-- Conversations (`thread:` of an action): one row per (destination, thread key). `reference` is the
-- provider's id of the message that opened it (Slack: {"channel","ts"} as JSON), NULL while the
-- opening delivery (`opener_delivery_id`) is still being sent. Forgotten after
-- settings.state_retention without a message (`updated_at`).
CREATE TABLE threads (
    destination        TEXT NOT NULL,
    thread_key         TEXT NOT NULL,
    opener_delivery_id INTEGER NOT NULL,
    reference          TEXT,
    messages           INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,          -- unix milliseconds
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (destination, thread_key)
);
CREATE INDEX threads_updated ON threads (updated_at);

-- Each delivery's part in a conversation: `opener`, `reply`, or `waiting` (deferred until the
-- opener is delivered, then woken). Goes with its delivery.
CREATE TABLE thread_messages (
    delivery_id INTEGER PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    thread_key  TEXT NOT NULL,
    role        TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX thread_messages_thread ON thread_messages (destination, thread_key, role);
