-- Webhooks (the flaky spec, §6.2): a suite's endpoints; the outbox, one
-- message per event, written in the transaction of the change that causes
-- it; one delivery per message and matching endpoint, claimed by a sender
-- with a lease (so a killed sender's claim lapses and the delivery is sent
-- again with the same message id); and every attempt, kept 30 days.
CREATE TABLE webhook_endpoints (
  id TEXT PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  format TEXT NOT NULL,
  events TEXT NOT NULL,
  owner TEXT,
  description TEXT,
  enabled BIGINT NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  created_at BIGINT NOT NULL,
  removed_at BIGINT
);
CREATE INDEX webhook_endpoints_by_suite ON webhook_endpoints (suite_id) WHERE removed_at IS NULL;

CREATE TABLE webhook_messages (
  id TEXT PRIMARY KEY,
  suite_id BIGINT NOT NULL REFERENCES suites(id),
  type TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  data TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
  id BIGSERIAL PRIMARY KEY,
  message_id TEXT NOT NULL REFERENCES webhook_messages(id),
  endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id),
  state TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  lease_until BIGINT,
  last_status BIGINT,
  created_at BIGINT NOT NULL,
  done_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
  id BIGSERIAL PRIMARY KEY,
  delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id),
  sent_at BIGINT NOT NULL,
  status_code BIGINT,
  error TEXT,
  response TEXT,
  duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
CREATE INDEX webhook_attempts_by_time ON webhook_attempts (sent_at);

-- When a cluster was first seen failing on its suite's default branch (the
-- moment of its cluster.created event); clusters already there count as announced.
ALTER TABLE clusters ADD COLUMN announced_at BIGINT;
UPDATE clusters SET announced_at = first_seen;
