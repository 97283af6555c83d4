// The Limits view: each of the tenant's named rate limits (`GET /v1/rate-limits`), its rate,
// the starts it allows right now and the queued jobs that use it (the first of them by id).

import { call } from "./api.js";
import { fill, num, row } from "./rows.js";

/** Reloads the table. */
export async function refreshLimits() {
  try {
    const limits = await call("GET", "/v1/rate-limits");
    const rows = limits.map((limit) => row({ limit: limit.name }, [
      limit.name,
      `${limit.per} per ${window(limit.window_ms)}`,
      num(limit.burst),
      { text: String(limit.available), className: "num available" },
      { text: String(limit.waiting), className: "num waiting" },
      { text: waiting(limit), className: "jobs" },
    ]));
    fill("limit-rows", rows, "limits-note", "No rate limits: set one with `wasmpool limits set NAME 100/1m`.");
  } catch {
    // Shown by the connection status or the token prompt.
  }
}

/** The window, in the largest whole unit. */
function window(ms) {
  for (const [unit, length] of [["h", 3600000], ["min", 60000], ["s", 1000]]) {
    if (ms % length === 0) return `${ms / length} ${unit}`;
  }
  return `${ms} ms`;
}

/** The first waiting jobs' ids, and how many more. */
function waiting(limit) {
  const ids = limit.first_waiting.map((id) => `#${id}`).join(" ");
  const more = limit.waiting - limit.first_waiting.length;
  return more > 0 ? `${ids} and ${more} more` : ids;
}
