-- The dashboard's overview (src/store/overview.rs) reads time ranges of events and attempts: these
-- indexes cover its queries, so each reads only its window's index entries, never the table rows
-- (events carry their bodies). Each replaces the narrower index it starts with.
CREATE INDEX events_received_source ON events (received_at, source);
DROP INDEX events_received_at;
CREATE INDEX attempts_time_covering ON attempts (attempted_at, outcome, latency_ms, delivery_id);
DROP INDEX attempts_time;
-- The charts count per minute: indexes on the minute itself hand those groups over in order (no
-- sort of a day's rows); the last column makes them covering.
CREATE INDEX events_minute_source ON events ((received_at / 60000), source, received_at);
CREATE INDEX attempts_minute_outcome ON attempts ((attempted_at / 60000), outcome, attempted_at);
-- What waits or died per destination (the overview and the destinations page), read from the
-- index alone instead of one table row per dead or pending delivery.
CREATE INDEX deliveries_status_destination ON deliveries (status, destination);
