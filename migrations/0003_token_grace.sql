-- After a token rotation the previous token keeps working until
-- previous_token_expires_at (epoch ms), so that AiRudder's URL can be changed
-- without losing the callbacks sent meanwhile. Only hashes are stored.
ALTER TABLE tenants ADD COLUMN previous_token_hash TEXT;
ALTER TABLE tenants ADD COLUMN previous_token_expires_at INTEGER;
