-- Job ?1 takes its call's parameters from its parents ?2 (their ids in `after` order).
UPDATE jobs SET params_from_parents = ?2 WHERE id = ?1
