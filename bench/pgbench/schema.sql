-- The customers table of the PostgreSQL reference: the same columns, keys
-- and constraints as customerd's own schema, filled with :customers rows
-- whose ids pgbench's update.sql can compute from a row number.
DROP TABLE IF EXISTS customers;
CREATE TABLE customers (
    id                  TEXT   NOT NULL PRIMARY KEY,
    merchant_id         TEXT   NOT NULL,
    object_reference_id TEXT   NOT NULL,
    mobile_number       TEXT   NOT NULL,
    mobile_country_code TEXT   NOT NULL,
    email_address       TEXT,
    first_name          TEXT,
    last_name           TEXT,
    date_created        BIGINT NOT NULL,
    last_updated        BIGINT NOT NULL,
    UNIQUE (merchant_id, object_reference_id)
);
INSERT INTO customers
SELECT 'cst_pg' || lpad(i::text, 14, '0'), 'load', 'load-' || i, '9' || lpad((i * 7919 % 1000000000)::text, 9, '0'),
       '91', 'load' || i || '@example.com', 'Load', 'Customer' || i,
       extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint
FROM generate_series(0, :customers - 1) AS i;
VACUUM ANALYZE customers;
