-- Sets (NULL: clears) module ?2's cap on its jobs running at once to ?1.
UPDATE modules SET max_running = ?1 WHERE hash = ?2
