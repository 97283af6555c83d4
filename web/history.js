// The History view: jobs ended per minute over the last hour and per 15 minutes over the last
// day (`GET /v1/stats/history`), drawn by `chart.js`.

import { call } from "./api.js";
import { barChart } from "./chart.js";

const WINDOWS = [
  { window: "1h", target: "history-hour", unit: "min", labelEvery: 600 },
  { window: "1d", target: "history-day", unit: "15 min", labelEvery: 3 * 3600 },
];

/** Reloads both charts. */
export async function refreshHistory() {
  await Promise.all(WINDOWS.map(async ({ window, target, unit, labelEvery }) => {
    try {
      const history = await call("GET", `/v1/stats/history?window=${window}`);
      const container = document.getElementById(target);
      barChart(container, history.buckets, { bucketSeconds: history.bucket_seconds, unit, labelEvery });
      const ended = history.buckets.reduce((sum, b) => sum + b.succeeded + b.failed, 0);
      const failed = history.buckets.reduce((sum, b) => sum + b.failed, 0);
      container.dataset.total = String(ended);
      container.previousElementSibling.dataset.summary = `${ended} ended, ${failed} failed`;
    } catch {
      // Shown by the connection status or the token prompt.
    }
  }));
}
