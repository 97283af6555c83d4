// The pool at a glance: the workers (grouped by host and lane, `hosts.js`), counts per
// state, the throughput chart.

import { showWorkers } from "./hosts.js";

const STATES = ["waiting", "queued", "running", "succeeded", "failed", "timed_out", "cancelled", "skipped"];
let latest = null;

/** Draws a pool snapshot (a PoolView). */
export function showPool(pool) {
  latest = pool;
  const hosts = new Set(pool.workers.map((worker) => worker.node)).size;
  const where = hosts > 1 ? ` on ${hosts} hosts` : "";
  const here = hosts > 1 ? " here" : "";
  document.getElementById("capacity").textContent = `${pool.capacity} processes${where}, ${pool.restarts} replaced${here}`;
  const label = pool.draining ? "draining" : pool.paused ? "paused" : "";
  document.getElementById("pool-state").textContent = label;
  document.getElementById("pause").textContent = pool.paused ? "Resume" : "Pause";
  showWorkers(pool.workers, pool.lanes ?? []);
  showCounts(pool.counts);
  showThroughput(pool.throughput ?? []);
}

/** Whether the pool is paused, as last seen. */
export function paused() {
  return latest?.paused ?? false;
}

function showCounts(counts) {
  const list = document.getElementById("counts");
  if (list.children.length === 0) {
    for (const state of STATES) {
      const row = document.createElement("div");
      row.innerHTML = `<dt>${state.replace("_", " ")}</dt><dd data-count="${state}">0</dd>`;
      list.append(row);
    }
  }
  for (const state of STATES) list.querySelector(`[data-count="${state}"]`).textContent = String(counts[state] ?? 0);
}

function showThroughput(series) {
  document.getElementById("rate").textContent = String(series.at(-1) ?? 0);
  const canvas = document.getElementById("throughput");
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const slots = 120;
  const max = Math.max(1, ...series);
  const barWidth = width / slots;
  ctx.fillStyle = "#2f6fde";
  series.forEach((value, i) => {
    const h = (value / max) * (height - 12);
    ctx.fillRect((slots - series.length + i) * barWidth, height - h, Math.max(1, barWidth - 1), h);
  });
  ctx.fillStyle = "#6b7385";
  ctx.font = "10px system-ui";
  ctx.fillText(`max ${max}/s`, 4, 10);
}
