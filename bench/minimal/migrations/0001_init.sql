CREATE TABLE callbacks (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  callid TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  payload TEXT NOT NULL
);
