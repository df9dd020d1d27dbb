-- Fleet-wide rate limits: one token bucket per destination, refilled and spent inside the claim
-- transaction while its row is locked, so every instance draws from the same bucket.
CREATE TABLE destination_buckets (
    destination TEXT PRIMARY KEY,
    tokens      DOUBLE PRECISION NOT NULL,
    refilled_at BIGINT NOT NULL              -- unix milliseconds
);
