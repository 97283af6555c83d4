// The Named queues view: each non-empty queue's length and how long its oldest item has
// waited (`GET /v1/queues`).

import { call } from "./api.js";
import { duration } from "./format.js";
import { fill, num, row } from "./rows.js";

/** Reloads the table. */
export async function refreshQueues() {
  try {
    const queues = await call("GET", "/v1/queues");
    const rows = queues.map((queue) => row({ queue: queue.name }, [
      queue.name, num(queue.length), { text: duration(queue.oldest_age_ms), className: "num age" },
    ]));
    fill("queue-rows", rows, "queues-note", "Every queue is empty.");
  } catch {
    // Shown by the connection status or the token prompt.
  }
}
