-- The delivery lifecycle of src/delivery/lifecycle.ts: claim counting, sweep
-- bookkeeping, per-destination rate limits, attempt counters for stats.

-- Times this delivery was claimed. A claim whose outcome was never recorded
-- (D1 refused the write after the CRM answered) shows as claims > attempt_count;
-- past MAX_UNRECORDED_CLAIMS the delivery dies instead of being sent yet again.
ALTER TABLE deliveries ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
-- When the sweep last put this delivery on the queue, so that a lagging queue
-- is not handed the same overdue delivery every minute.
ALTER TABLE deliveries ADD COLUMN requeued_at INTEGER;

-- Held deliveries by destination, oldest first: what a release walks. Written
-- only when a delivery is held, never on the happy path.
DROP INDEX deliveries_held;
CREATE INDEX deliveries_held ON deliveries (destination_id, created_at) WHERE status = 'held';

-- At most rate_limit requests per rate_limit_period ('second' | 'minute' | 'hour').
ALTER TABLE destinations ADD COLUMN rate_limit INTEGER;
ALTER TABLE destinations ADD COLUMN rate_limit_period TEXT;
-- The next free send slot (epoch ms), and how many slots the last reservation
-- took: a reservation is one UPDATE, so concurrent invocations never share a slot.
ALTER TABLE destinations ADD COLUMN rate_next_at INTEGER;
ALTER TABLE destinations ADD COLUMN rate_granted INTEGER;

-- Attempts per tenant, hour, trigger (first | retry | operator) and outcome
-- (delivered | failed | dead | held), counted when recorded: a failure later
-- delivered stays counted as a failure.
CREATE TABLE attempt_counts (
  hour INTEGER NOT NULL,
  tenant_id TEXT NOT NULL,
  trigger TEXT NOT NULL,
  outcome TEXT NOT NULL,
  n INTEGER NOT NULL,
  PRIMARY KEY (hour, tenant_id, trigger, outcome)
) WITHOUT ROWID;
