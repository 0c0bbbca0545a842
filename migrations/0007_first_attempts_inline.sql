-- A first attempt that succeeds leaves no delivery or attempt row: its
-- outcome is written into its event's row (first_attempts), so that the
-- happy path writes the event once and updates it once. See
-- src/delivery/lifecycle.ts ("inline first attempts").
--
-- events becomes WITHOUT ROWID: its TEXT key was a second b-tree (an index
-- entry written with every event); now the key is the table.

CREATE TABLE events_keyed (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  payload TEXT,
  payload_state TEXT NOT NULL DEFAULT 'kept',
  callid TEXT,
  task_id TEXT,
  state TEXT,
  agent TEXT,
  phone_masked TEXT,
  call_time TEXT,
  seq INTEGER,
  batch_nonce TEXT NOT NULL,
  payload_ref TEXT,
  -- JSON array: the destinations whose first attempt the storing invocation
  -- (batch_nonce) makes itself, holding no delivery row, until fanout_until.
  fanout TEXT,
  fanout_until INTEGER,
  -- Invocations that took that fan-out on (the storing one included).
  fanout_claims INTEGER NOT NULL DEFAULT 0,
  -- JSON object: destination id -> [attempt start ms, status code, duration ms]
  -- of each first attempt that was delivered.
  first_attempts TEXT
) WITHOUT ROWID;

INSERT INTO events_keyed (id, tenant_id, kind, type, received_at, payload, payload_state, callid, task_id, state, agent,
  phone_masked, call_time, seq, batch_nonce, payload_ref)
SELECT id, tenant_id, kind, type, received_at, payload, payload_state, callid, task_id, state, agent,
  phone_masked, call_time, seq, batch_nonce, payload_ref
FROM events;

DROP TABLE events;
ALTER TABLE events_keyed RENAME TO events;

CREATE INDEX events_tenant_received ON events (tenant_id, received_at DESC);
CREATE INDEX events_purgeable ON events (received_at) WHERE payload IS NOT NULL;
CREATE INDEX events_callid ON events (callid, tenant_id, seq);
