-- Announces a transaction's changes to the other hosts (delivered only if it commits): one
-- notification on channel $1 per payload of $2, however many payloads.
SELECT pg_notify($1, payload) FROM UNNEST($2::TEXT[]) AS payload
