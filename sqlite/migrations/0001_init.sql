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

-- Each merchant key (purpose data: versioned; purpose index: version 1 only)
-- has one row per master key it is wrapped under: during a master-key
-- rotation a key is wrapped under both the old and the new master key.
CREATE TABLE merchant_keys (
    merchant_id   TEXT    NOT NULL REFERENCES merchants (id),
    purpose       TEXT    NOT NULL CHECK (purpose IN ('data', 'index')),
    version       INTEGER NOT NULL CHECK (version > 0),
    master_key_id TEXT    NOT NULL,
    wrapped       BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, purpose, version, master_key_id)
) STRICT;

-- Timestamps are Unix seconds (UTC). The personal fields are AES-256-GCM
-- ciphertexts; ref_index is the blind index (HMAC-SHA-256) of
-- object_reference_id, unique per merchant, enforced here rather than by a
-- check-then-insert; mobile_index and email_index are those of mobile_number
-- and email_address (NULL when it is unset), by which lists are filtered.
-- key_version is at most the lowest data-key version used by the row's
-- fields: a data-key rotation re-encrypts the rows below the newest version.
-- version counts the customer's changes. An erased customer stays as a
-- tombstone: erased_at set, every personal column and every blind index NULL
-- (so the reference is free again).
CREATE TABLE customers (
    id                  TEXT    NOT NULL PRIMARY KEY,
    merchant_id         TEXT    NOT NULL REFERENCES merchants (id),
    version             INTEGER NOT NULL,
    ref_index           BLOB,
    mobile_index        BLOB,
    email_index         BLOB,
    key_version         INTEGER NOT NULL,
    object_reference_id BLOB,
    mobile_number       BLOB,
    mobile_country_code TEXT    NOT NULL,
    email_address       BLOB,
    first_name          BLOB,
    last_name           BLOB,
    date_created        INTEGER NOT NULL,
    last_updated        INTEGER NOT NULL,
    erased_at           INTEGER,
    UNIQUE (merchant_id, ref_index)
) STRICT;

CREATE INDEX customers_by_key_version ON customers (merchant_id, key_version);

-- Lists (GET /customers) are ordered by date_created, ties by id: a page,
-- and a cursor's position in it, is a range of one of these indexes, each
-- in that order. Tombstones are in none of them. erased_at, NULL in every
-- entry, makes customers_listed cover the count of a created range, which
-- then reads no row.
CREATE INDEX customers_listed ON customers (merchant_id, date_created, id, erased_at) WHERE erased_at IS NULL;
CREATE INDEX customers_by_mobile ON customers (merchant_id, mobile_index, date_created, id) WHERE mobile_index IS NOT NULL;
CREATE INDEX customers_by_email ON customers (merchant_id, email_index, date_created, id) WHERE email_index IS NOT NULL;

-- How many customers each merchant has, tombstones aside: the total of a
-- list without a filter, which counting would make a scan of every row.
-- The triggers keep it in the transaction of each insert and erasure; the
-- writer is the only one, so nobody waits for the row.
CREATE TABLE customer_counts (
    merchant_id TEXT    NOT NULL PRIMARY KEY REFERENCES merchants (id),
    live        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TRIGGER merchants_count_customers AFTER INSERT ON merchants BEGIN
    INSERT INTO customer_counts (merchant_id, live) VALUES (NEW.id, 0);
END;

CREATE TRIGGER customers_counted AFTER INSERT ON customers WHEN NEW.erased_at IS NULL BEGIN
    UPDATE customer_counts SET live = live + 1 WHERE merchant_id = NEW.merchant_id;
END;

CREATE TRIGGER customers_uncounted AFTER UPDATE OF erased_at ON customers
WHEN OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL BEGIN
    UPDATE customer_counts SET live = live - 1 WHERE merchant_id = NEW.merchant_id;
END;

-- The event log: one row per change, numbered per merchant without gaps as
-- it is inserted (the writer is the only one). kept is what an erasure
-- keeps; personal is sealed and NULL once the customer is erased.
CREATE TABLE events (
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
) STRICT, WITHOUT ROWID;

CREATE INDEX events_by_customer ON events (merchant_id, customer_id, sequence);
CREATE INDEX events_by_key_version ON events (merchant_id, key_version);

-- Leases: which process does a piece of background work (pruning old
-- events) while several share the database.
CREATE TABLE leases (
    name    TEXT    NOT NULL PRIMARY KEY,
    holder  TEXT    NOT NULL,
    expires INTEGER NOT NULL
) STRICT;

-- Idempotency-Key records (extensions §5): the key and the request are kept
-- as keyed hashes, never in clear; the answer is sealed. locked_until and
-- expires are Unix nanoseconds.
CREATE TABLE idempotency_keys (
    merchant_id  TEXT    NOT NULL REFERENCES merchants (id),
    key_hash     BLOB    NOT NULL,
    request_hash BLOB    NOT NULL,
    token        BLOB    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('in_flight', 'done', 'erased')),
    locked_until INTEGER NOT NULL,
    expires      INTEGER NOT NULL,
    customer_id  TEXT,
    status       INTEGER NOT NULL,
    key_version  INTEGER NOT NULL,
    answer       BLOB,
    PRIMARY KEY (merchant_id, key_hash)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_by_customer ON idempotency_keys (merchant_id, customer_id);
CREATE INDEX idempotency_by_expiry ON idempotency_keys (expires);
