-- Customers' personal fields are encrypted at rest from this version on (see
-- package fieldcrypt and SECURITY.md). The plaintext table of earlier versions
-- is kept under a new name, and the nodes move its rows into the encrypted
-- table in batches while they serve, then drop it. Renaming is instant, so
-- this migration takes no time whatever the table's size. Index names are
-- per schema, so the old table's indexes are renamed too.
ALTER TABLE customers RENAME TO customers_plaintext;
ALTER INDEX customers_pkey RENAME TO customers_plaintext_pkey;
ALTER INDEX customers_merchant_id_object_reference_id_key RENAME TO customers_plaintext_reference_key;

-- Each merchant key (purpose data: versioned; purpose index: version 1 only)
-- has one row per master key it is wrapped under: during a master-key
-- rotation a key is wrapped under both the old and the new master key.
CREATE TABLE merchant_keys (
    merchant_id   TEXT        NOT NULL REFERENCES merchants (id),
    purpose       TEXT        NOT NULL CHECK (purpose IN ('data', 'index')),
    version       INTEGER     NOT NULL CHECK (version > 0),
    master_key_id TEXT        NOT NULL,
    wrapped       BYTEA       NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (merchant_id, purpose, version, master_key_id)
);

-- The personal fields are AES-256-GCM ciphertexts; ref_index is the blind
-- index (HMAC-SHA-256) of object_reference_id, unique per merchant, which
-- decides races between nodes as the plaintext constraint did. key_version
-- is at most the lowest data-key version used by the row's fields: a
-- data-key rotation re-encrypts the rows below the newest version.
CREATE TABLE customers (
    id                  TEXT        NOT NULL PRIMARY KEY,
    merchant_id         TEXT        NOT NULL REFERENCES merchants (id),
    ref_index           BYTEA       NOT NULL,
    key_version         INTEGER     NOT NULL,
    object_reference_id BYTEA       NOT NULL,
    mobile_number       BYTEA       NOT NULL,
    mobile_country_code TEXT        NOT NULL,
    email_address       BYTEA,
    first_name          BYTEA,
    last_name           BYTEA,
    date_created        TIMESTAMPTZ NOT NULL,
    last_updated        TIMESTAMPTZ NOT NULL,
    UNIQUE (merchant_id, ref_index)
);

CREATE INDEX customers_by_key_version ON customers (merchant_id, key_version);
