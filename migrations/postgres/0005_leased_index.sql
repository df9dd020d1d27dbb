-- Fleet-wide concurrency: live leases are counted per destination at each claim.
CREATE INDEX deliveries_leased ON deliveries (destination, lease_until) WHERE lease_owner IS NOT NULL;
