-- Customers' personal fields are encrypted at rest from this version on (see
-- package fieldcrypt and SECURITY.md). The plaintext table of earlier versions
-- is kept under a new name, and the store moves its rows into the encrypted
-- table in batches while it serves, then drops it. Renaming is instant, so
-- this migration takes no time whatever the table's size.
ALTER TABLE customers RENAME TO customers_plaintext;

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

-- The personal fields are AES-256-GCM ciphertexts; ref_index is the blind
-- index (HMAC-SHA-256) of object_reference_id, unique per merchant.
-- key_version is at most the lowest data-key version used by the row's
-- fields: a data-key rotation re-encrypts the rows below the newest version.
CREATE TABLE customers (
    id                  TEXT    NOT NULL PRIMARY KEY,
    merchant_id         TEXT    NOT NULL REFERENCES merchants (id),
    ref_index           BLOB    NOT NULL,
    key_version         INTEGER NOT NULL,
    object_reference_id BLOB    NOT NULL,
    mobile_number       BLOB    NOT NULL,
    mobile_country_code TEXT    NOT NULL,
    email_address       BLOB,
    first_name          BLOB,
    last_name           BLOB,
    date_created        INTEGER NOT NULL,
    last_updated        INTEGER NOT NULL,
    UNIQUE (merchant_id, ref_index)
) STRICT;

CREATE INDEX customers_by_key_version ON customers (merchant_id, key_version);
