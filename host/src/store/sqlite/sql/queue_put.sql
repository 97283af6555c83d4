-- Appends item ?2 to queue ?1 at ?3 (the caller checked its capacity).
INSERT INTO queue_items (queue, item, put_at) VALUES (?1, ?2, ?3)
