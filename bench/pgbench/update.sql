-- The single-row partial update customerd runs for POST /customers/{id}:
-- two fields and last_updated, by id within the merchant, returning the row.
-- Each transaction commits on its own with PostgreSQL's default durability
-- (synchronous_commit = on), as customerd acknowledges only committed writes.
\set i random(0, :customers - 1)
\set m random(9000000000, 9999999999)
\set f random(0, 999)
UPDATE customers SET
    mobile_number = :m::text,
    first_name    = 'Load' || :f,
    last_updated  = GREATEST(last_updated, extract(epoch FROM now())::bigint)
WHERE merchant_id = 'load' AND id = 'cst_pg' || lpad(:i::text, 14, '0')
RETURNING id, merchant_id, object_reference_id, mobile_number, mobile_country_code,
    email_address, first_name, last_name, date_created, last_updated;
