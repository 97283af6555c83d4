-- Where jobs ?1 (a JSON array of ids) stand, and the size of what each gave back.
SELECT id, state,
       coalesce(length(stdout), 0) + coalesce(length(stderr), 0)
         + coalesce(length(error), 0) + coalesce(length(call_result), 0) AS output_bytes
FROM jobs
WHERE id IN (SELECT value FROM json_each(?1))
ORDER BY id
