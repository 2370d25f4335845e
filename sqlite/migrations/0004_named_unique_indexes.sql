-- The unique keys of customers and events become named indexes, which an
-- import into an empty database can drop and build again once its rows are
-- in (see bulk.go): a key declared in the table (PRIMARY KEY, UNIQUE) is an
-- automatic index that cannot be dropped, and each row adds an entry at a
-- random place in it. The tables keep their rowids, so their order, and
-- the same columns; only where the keys live changes.
CREATE TABLE customers_named (
    id                  TEXT    NOT NULL,
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
    erased_at           INTEGER
) STRICT;

INSERT INTO customers_named (rowid, id, merchant_id, version, ref_index, mobile_index, email_index, key_version,
    object_reference_id, mobile_number, mobile_country_code, email_address, first_name, last_name, date_created,
    last_updated, erased_at)
SELECT rowid, id, merchant_id, version, ref_index, mobile_index, email_index, key_version,
    object_reference_id, mobile_number, mobile_country_code, email_address, first_name, last_name, date_created,
    last_updated, erased_at
FROM customers ORDER BY rowid;

DROP TABLE customers; -- and its indexes and triggers, made again below
ALTER TABLE customers_named RENAME TO customers;

CREATE UNIQUE INDEX customers_by_id ON customers (id);
CREATE UNIQUE INDEX customers_by_ref ON customers (merchant_id, ref_index);
CREATE INDEX customers_by_key_version ON customers (merchant_id, key_version);
CREATE INDEX customers_listed ON customers (merchant_id, date_created, id, erased_at) WHERE erased_at IS NULL;
CREATE INDEX customers_by_mobile ON customers (merchant_id, mobile_index, date_created, id) WHERE mobile_index IS NOT NULL;
CREATE INDEX customers_by_email ON customers (merchant_id, email_index, date_created, id) WHERE email_index IS NOT NULL;

CREATE TRIGGER customers_counted AFTER INSERT ON customers WHEN NEW.erased_at IS NULL BEGIN
    UPDATE customer_counts SET live = live + 1 WHERE merchant_id = NEW.merchant_id;
END;

CREATE TRIGGER customers_uncounted AFTER UPDATE OF erased_at ON customers
WHEN OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL BEGIN
    UPDATE customer_counts SET live = live - 1 WHERE merchant_id = NEW.merchant_id;
END;

CREATE TABLE events_named (
    id               TEXT    NOT NULL,
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
    UNIQUE (merchant_id, sequence) -- numbers each new event: it stays while an import loads
) STRICT;

INSERT INTO events_named (rowid, id, merchant_id, sequence, type, customer_id, customer_version, created,
    request_id, api_key_prefix, idempotency_key, kept, key_version, personal)
SELECT rowid, id, merchant_id, sequence, type, customer_id, customer_version, created,
    request_id, api_key_prefix, idempotency_key, kept, key_version, personal
FROM events ORDER BY rowid;

DROP TABLE events;
ALTER TABLE events_named RENAME TO events;

CREATE UNIQUE INDEX events_by_id ON events (id);
CREATE INDEX events_by_customer ON events (merchant_id, customer_id, sequence);
CREATE INDEX events_by_key_version ON events (merchant_id, key_version);
