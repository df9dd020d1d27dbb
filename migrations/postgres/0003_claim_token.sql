-- Fencing: every claim bumps the delivery's token and hands it to the claimer; attempt records,
-- status changes, renewals and releases only apply with the current token, so a worker whose
-- lease expired and was claimed again by another changes nothing.
ALTER TABLE deliveries ADD COLUMN claim_token BIGINT NOT NULL DEFAULT 0;
-- Deliveries whose destination the running rules no longer have (status `held`) are found here.
CREATE INDEX deliveries_held ON deliveries (destination) WHERE status = 'held';
