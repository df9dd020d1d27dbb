-- Operator events (issue 16): one row per subject of an episode (`destination.failing:NAME`,
-- `queue.stale`). Opening an episode that is already open, or closing one already closed, changes
-- nothing, so in a fleet exactly one instance reports each transition.
CREATE TABLE alert_episodes (
    subject   TEXT PRIMARY KEY,
    since     BIGINT NOT NULL,           -- when the trouble started (unix milliseconds)
    opened_at BIGINT NOT NULL,           -- when it was reported
    closed_at BIGINT                     -- NULL while the episode is open
);
