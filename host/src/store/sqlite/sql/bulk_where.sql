-- The `{where}` of a bulk cancel or retry (cancel.sql, retry.sql, ?1 the time): the jobs in
-- state ?2 that `{filter}` selects (placeholders from ?3 on). One writer: no lock to take.
state = ?2 AND {filter}
