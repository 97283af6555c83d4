-- Puts to queue $1 take turns, so two hosts cannot both see room for one item.
SELECT pg_advisory_xact_lock(hashtextextended($1, 0))
