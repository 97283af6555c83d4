-- Where jobs $1 stand, and the size of what each gave back.
SELECT id, state,
       (coalesce(octet_length(stdout), 0) + coalesce(octet_length(stderr), 0)
         + coalesce(octet_length(error), 0) + coalesce(octet_length(call_result), 0))::BIGINT
         AS output_bytes
FROM jobs
WHERE id = ANY($1::BIGINT[])
ORDER BY id
