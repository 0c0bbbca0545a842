-- Retention deletes dead letters older than RETENTION_DAYS in bounded batches,
-- and erase pages through them oldest first; without this index each batch
-- would scan the whole table. Dead letters are rare, so the index costs
-- almost no writes.
CREATE INDEX dead_letters_received ON dead_letters (received_at);
