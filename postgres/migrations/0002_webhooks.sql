-- Webhook endpoints and their delivery attempts (extensions §4). The
-- deliveries themselves are jobs of the job queue (River), whose tables its
-- own migrations create.
CREATE TABLE webhook_endpoints (
    merchant_id    TEXT        NOT NULL REFERENCES merchants (id),
    id             TEXT        NOT NULL,
    url            TEXT        NOT NULL,
    enabled_events TEXT        NOT NULL, -- "*" or comma-separated event types
    description    TEXT        NOT NULL,
    disabled       BOOLEAN     NOT NULL,
    created        TIMESTAMPTZ NOT NULL,
    secret         BYTEA       NOT NULL, -- sealed under the merchant's data key
    PRIMARY KEY (merchant_id, id)
);

CREATE INDEX webhook_endpoints_by_created ON webhook_endpoints (merchant_id, created, id);

CREATE TABLE webhook_attempts (
    merchant_id TEXT        NOT NULL,
    id          TEXT        NOT NULL,
    endpoint_id TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    attempt     INTEGER     NOT NULL,
    created     TIMESTAMPTZ NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT      NOT NULL,
    error       TEXT,
    next_retry  TIMESTAMPTZ,
    delivered   BOOLEAN     NOT NULL,
    PRIMARY KEY (merchant_id, id)
);

CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (merchant_id, endpoint_id, created, id);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (merchant_id, endpoint_id, event_id, attempt);
CREATE INDEX webhook_attempts_by_created ON webhook_attempts (merchant_id, created);
