-- The event log becomes a rowid table. Clustered on its random id (WITHOUT
-- ROWID), each event went to a random leaf of the table and of both indexes,
-- so an update's commit wrote three more scattered pages per change; with
-- rowids, the rows of a commit's events share the table's last leaf, and
-- events_by_key_version (which now ends in the rowid) its last leaf too.
-- Only the id and the customer index stay scattered.
CREATE TABLE events_appended (
    id               TEXT    NOT NULL PRIMARY KEY,
    merchant_id      TEXT    NOT NULL REFERENCES merchants (id),
    sequence         INTEGER NOT NULL,
    type             TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    customer_version INTEGER NOT NULL,
    created          INTEGER NOT NULL,
    request_id       TEXT    NOT NULL,
    api_key_prefix   TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL,
    kept             BLOB    NOT NULL,
    key_version      INTEGER NOT NULL,
    personal         BLOB,
    UNIQUE (merchant_id, sequence)
) STRICT;

INSERT INTO events_appended (id, merchant_id, sequence, type, customer_id, customer_version, created,
    request_id, api_key_prefix, idempotency_key, kept, key_version, personal)
SELECT id, merchant_id, sequence, type, customer_id, customer_version, created,
    request_id, api_key_prefix, idempotency_key, kept, key_version, personal
FROM events ORDER BY merchant_id, sequence;

DROP TABLE events;
ALTER TABLE events_appended RENAME TO events;

CREATE INDEX events_by_customer ON events (merchant_id, customer_id, sequence);
CREATE INDEX events_by_key_version ON events (merchant_id, key_version);
