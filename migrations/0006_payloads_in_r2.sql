-- Callback bodies live in R2 (one gzip object per consumer batch, see
-- src/storage/payloads.ts): an event row holds where its body is,
-- `<key>#<offset>+<length>`, and `payload` stays NULL. Rows stored before
-- keep their `payload`, which reads fall back to.
ALTER TABLE events ADD COLUMN payload_ref TEXT;
