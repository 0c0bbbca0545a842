-- Times are Unix epoch milliseconds (INTEGER) so that ranges, ordering and
-- retention compare numbers, not strings.

CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE destinations (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  event_types TEXT,            -- JSON array, NULL = every type
  filter TEXT,                 -- JSON payload filter, NULL = everything
  format TEXT NOT NULL DEFAULT 'envelope',
  secret_enc TEXT NOT NULL,    -- AES-GCM ciphertext of the whsec_ secret
  previous_secret_enc TEXT,
  previous_secret_expires_at INTEGER,
  headers_enc TEXT,            -- AES-GCM ciphertext of a JSON object
  enabled INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  consecutive_dead INTEGER NOT NULL DEFAULT 0,
  failing_since INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX destinations_tenant ON destinations (tenant_id);

CREATE TABLE events (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  payload TEXT,                -- the body exactly as received; NULL once purged or erased
  payload_state TEXT NOT NULL DEFAULT 'kept', -- kept | purged | erased
  callid TEXT,
  task_id TEXT,
  state TEXT,
  agent TEXT,
  phone_masked TEXT,
  call_time TEXT,
  seq INTEGER,
  -- Set to the consumer invocation that inserted the row, so that deliveries
  -- are created only by the invocation that created the event.
  batch_nonce TEXT NOT NULL
);
CREATE INDEX events_tenant_received ON events (tenant_id, received_at DESC);
-- Only rows that still hold a payload: retention walks this, never the purged past.
CREATE INDEX events_purgeable ON events (received_at) WHERE payload IS NOT NULL;
-- Serves both `seq` (a call's last number within a tenant) and the search by callid.
CREATE INDEX events_callid ON events (callid, tenant_id, seq);

CREATE TABLE deliveries (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  status TEXT NOT NULL,        -- pending | delivered | failed | dead | held
  attempt_count INTEGER NOT NULL DEFAULT 0,
  -- Position in the retry schedule; reset by an operator retry, unlike attempt_count.
  schedule_step INTEGER NOT NULL DEFAULT 0,
  last_status_code INTEGER,
  next_attempt_at INTEGER,
  -- A claim: the invocation (lease_owner) that may attempt it, until lease_until.
  lease_owner TEXT,
  lease_until INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
-- No index on event_id: a delivery's id is `dlv_<event hash>_<destination>`,
-- so an event's deliveries are a range of the primary key, and the id being
-- derived from the pair already makes the pair unique.
-- Partial: a delivered or dead delivery leaves the index, so finishing one
-- costs one index write, and the sweep reads only live work.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
-- Without status, so that a delivery changing state does not rewrite this index.
CREATE INDEX deliveries_destination ON deliveries (destination_id, created_at);
-- What operators look for (`?status=dead`, `?status=held`): written only when a
-- delivery dies or is held, never on the happy path.
CREATE INDEX deliveries_dead ON deliveries (created_at) WHERE status = 'dead';
CREATE INDEX deliveries_held ON deliveries (created_at) WHERE status = 'held';

CREATE TABLE attempts (
  id INTEGER PRIMARY KEY, -- not AUTOINCREMENT: that costs a sqlite_sequence write per attempt
  delivery_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  status_code INTEGER,
  duration_ms INTEGER NOT NULL,
  error TEXT,
  response_body TEXT
);
-- Retention deletes attempts through their delivery, so no index on `at` is written.
CREATE INDEX attempts_delivery ON attempts (delivery_id, at);

CREATE TABLE quarantine (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  last_received_at INTEGER NOT NULL,
  times_received INTEGER NOT NULL DEFAULT 1,
  body TEXT NOT NULL,
  issues TEXT NOT NULL,        -- JSON [{path, message}]
  replayed_event_id TEXT
);
CREATE INDEX quarantine_tenant_received ON quarantine (tenant_id, received_at DESC);
CREATE INDEX quarantine_last_received ON quarantine (last_received_at);

-- Bodies too large for a queue message wait here until the consumer stores them.
CREATE TABLE inbox (
  event_id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  body TEXT NOT NULL
);

-- Queue messages that exhausted their retries; kept so that nothing is lost silently.
CREATE TABLE dead_letters (
  id TEXT PRIMARY KEY,
  queue TEXT NOT NULL,
  body TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
