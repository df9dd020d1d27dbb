-- The destination health view reads recent attempts by time.
CREATE INDEX attempts_time ON attempts (attempted_at);
