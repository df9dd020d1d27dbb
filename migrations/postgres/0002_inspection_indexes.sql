-- The admin API's views. Destination health reads recent attempts by time.
CREATE INDEX attempts_time ON attempts (attempted_at);
-- An event's deliveries by status (the event list counts them per page row); it also serves every
-- lookup by event_id, so the single-column index goes.
CREATE INDEX deliveries_event_status ON deliveries (event_id, status);
DROP INDEX deliveries_event;
-- Due work per destination: when some destinations' queues are full, the worker claims for the
-- others by seeking here, instead of scanning past every due delivery of the full ones.
CREATE INDEX deliveries_due_destination ON deliveries (destination, next_attempt_at)
    WHERE status IN ('pending', 'failed');
