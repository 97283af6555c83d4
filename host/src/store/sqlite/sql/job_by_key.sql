-- The job submitted earlier with idempotency key ?1, and its state.
SELECT id, state FROM jobs WHERE idempotency_key = ?1
