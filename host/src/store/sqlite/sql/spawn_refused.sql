-- Job ?1 succeeded but the jobs it spawned were refused as they were written (?2 says why):
-- it ends failed instead, and so does its attempt ?3 in the history.
UPDATE jobs SET state = 'failed', error = ?2 WHERE id = ?1 AND state = 'succeeded'
