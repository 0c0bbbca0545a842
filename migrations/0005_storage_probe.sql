-- A row the sweep writes and deletes to learn whether D1 takes writes again
-- (src/storage/outage.ts); empty at rest.
CREATE TABLE storage_probe (
  at INTEGER PRIMARY KEY
);
