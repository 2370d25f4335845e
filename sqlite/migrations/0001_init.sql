-- Merchants are created by the operator (customerd merchant create).
CREATE TABLE merchants (
    id         TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
) STRICT;

-- API keys are stored as a SHA-256 hash; the prefix finds the row.
CREATE TABLE api_keys (
    prefix      TEXT    NOT NULL PRIMARY KEY,
    hash        BLOB    NOT NULL,
    merchant_id TEXT    NOT NULL REFERENCES merchants (id),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, created_at);

-- Timestamps are Unix seconds (UTC). object_reference_id is unique per
-- merchant, enforced here rather than by a check-then-insert.
CREATE TABLE customers (
    id                  TEXT    NOT NULL PRIMARY KEY,
    merchant_id         TEXT    NOT NULL REFERENCES merchants (id),
    object_reference_id TEXT    NOT NULL,
    mobile_number       TEXT    NOT NULL,
    mobile_country_code TEXT    NOT NULL,
    email_address       TEXT,
    first_name          TEXT,
    last_name           TEXT,
    date_created        INTEGER NOT NULL,
    last_updated        INTEGER NOT NULL,
    UNIQUE (merchant_id, object_reference_id)
) STRICT;
