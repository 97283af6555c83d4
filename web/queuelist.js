// The Named queues view: each non-empty queue's length and how long its oldest item has
// waited (`GET /v1/queues`), a look at its oldest items and emptying it, where the server
// has them.

import { call } from "./api.js";
import { has } from "./features.js";
import { confirmDialog } from "./filters.js";
import { duration } from "./format.js";
import { fill, num, row } from "./rows.js";

/** Reloads the table. */
export async function refreshQueues() {
  try {
    const queues = await call("GET", "/v1/queues");
    const rows = queues.map((queue) => row({ queue: queue.name }, [
      queue.name, num(queue.length), { text: duration(queue.oldest_age_ms), className: "num age" }, actions(queue),
    ]));
    fill("queue-rows", rows, "queues-note", "Every queue is empty.");
  } catch {
    // Shown by the connection status or the token prompt.
  }
}

/** The row's Peek and Purge buttons (none on a server without those routes). */
function actions(queue) {
  const span = document.createElement("span");
  if (has("get", "/v1/queues/{name}/items")) span.append(button("Peek", () => peek(queue.name)));
  if (has("delete", "/v1/queues/{name}")) span.append(" ", button("Purge…", () => purge(queue), "submit"));
  return span;
}

function button(text, onClick, needs) {
  const element = document.createElement("button");
  element.textContent = text;
  if (needs) element.dataset.needs = needs;
  element.addEventListener("click", onClick);
  return element;
}

/** Shows the queue's oldest items, without taking them. */
async function peek(name) {
  const shown = document.getElementById("queue-peek");
  try {
    const peeked = await call("GET", `/v1/queues/${encodeURIComponent(name)}/items?limit=10`);
    const lines = peeked.items.map((item) => `#${item.id}  ${item.size} B  ${JSON.stringify(item.preview)}${item.truncated ? "…" : ""}`);
    shown.textContent = [`${name}: the oldest ${peeked.items.length} of ${peeked.length}`, ...lines].join("\n");
    shown.dataset.queue = name;
    shown.hidden = false;
  } catch (error) {
    document.getElementById("queues-message").textContent = error.message;
  }
}

/** Empties the queue once confirmed. */
async function purge(queue) {
  const yes = await confirmDialog(`Purge queue ${queue.name}? Its ${queue.length} item${queue.length === 1 ? "" : "s"} are removed; this cannot be undone.`);
  if (!yes) return;
  const message = document.getElementById("queues-message");
  try {
    const purged = await call("DELETE", `/v1/queues/${encodeURIComponent(queue.name)}`);
    message.textContent = `${purged.name}: ${purged.removed} item${purged.removed === 1 ? "" : "s"} removed`;
  } catch (error) {
    message.textContent = error.message;
  }
  refreshQueues();
}
