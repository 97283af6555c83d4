-- Puts taken item ?3 back in queue ?2 under its id ?1, which keeps its place.
INSERT OR IGNORE INTO queue_items (id, queue, item, put_at) VALUES (?1, ?2, ?3, ?4)
