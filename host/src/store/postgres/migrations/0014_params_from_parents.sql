-- A call whose parameters are its parents' results (`params_from_parents`): the parents' ids
-- in the order its `after` named them (a JSON array), NULL for every other job. Its
-- parameters are written from their results in the transaction that queues it.
ALTER TABLE jobs ADD COLUMN params_from_parents TEXT;
