-- Secret rotation (the flaky spec, §6.2): for 24 h after a rotation the
-- sender signs with the new secret and the one it replaced.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret TEXT;
ALTER TABLE webhook_endpoints ADD COLUMN rotated_at BIGINT;
