-- What module ?2 exports (JSON, worked out when it was compiled), once known.
UPDATE modules SET exports = ?1 WHERE hash = ?2
