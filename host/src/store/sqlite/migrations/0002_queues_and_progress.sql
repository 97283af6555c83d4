-- Named queues: items in put order; a get takes the oldest.
CREATE TABLE queue_items (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    queue   TEXT NOT NULL,
    item    BLOB NOT NULL,
    put_at  INTEGER NOT NULL               -- µs since the Unix epoch
);
CREATE INDEX queue_items_by_queue ON queue_items (queue, id);

-- The latest progress a running job reported.
ALTER TABLE jobs ADD COLUMN progress_percent INTEGER;
ALTER TABLE jobs ADD COLUMN progress_message TEXT;
