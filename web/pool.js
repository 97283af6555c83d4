// The pool at a glance: one tile per worker, counts per state, the throughput chart.

import { shortHash } from "./format.js";

const STATES = ["queued", "running", "succeeded", "failed", "timed_out", "cancelled"];
let latest = null;

/** Draws a pool snapshot (a PoolView). */
export function showPool(pool) {
  latest = pool;
  document.getElementById("capacity").textContent = `${pool.capacity} processes, ${pool.restarts} replaced`;
  const label = pool.draining ? "draining" : pool.paused ? "paused" : "";
  document.getElementById("pool-state").textContent = label;
  document.getElementById("pause").textContent = pool.paused ? "Resume" : "Pause";
  showTiles(pool.workers);
  showCounts(pool.counts);
  showThroughput(pool.throughput ?? []);
}

/** Whether the pool is paused, as last seen. */
export function paused() {
  return latest?.paused ?? false;
}

function showTiles(workers) {
  const container = document.getElementById("tiles");
  while (container.children.length > workers.length) container.lastChild.remove();
  while (container.children.length < workers.length) container.append(newTile());
  workers.forEach((worker, i) => fillTile(container.children[i], worker));
}

function newTile() {
  const tile = document.createElement("div");
  tile.className = "tile";
  tile.innerHTML = '<div class="pid"></div><div class="job"></div><div class="elapsed"></div><div class="bar"><span></span></div>';
  return tile;
}

function fillTile(tile, worker) {
  tile.dataset.workerPid = String(worker.pid);
  tile.dataset.state = worker.state;
  tile.dataset.jobId = worker.job_id ?? "";
  tile.dataset.since = worker.since ?? "";
  tile.dataset.timeoutMs = worker.timeout_ms ?? "";
  tile.querySelector(".pid").textContent = worker.pid ? `pid ${worker.pid}` : "starting…";
  const job = worker.state === "busy"
    ? `#${worker.job_id} ${worker.job_name ?? ""} ${worker.module_name ?? shortHash(worker.module)}`
    : worker.state;
  const progress = worker.state === "busy" && worker.progress ? ` · ${worker.progress.percent}% ${worker.progress.message}` : "";
  tile.querySelector(".job").textContent = job + progress;
  tile.title = worker.state === "busy" ? `job ${worker.job_id} on worker ${worker.pid}` : `worker ${worker.pid}: ${worker.state}`;
  tickTile(tile);
}

/** Moves the elapsed-time text and the timeout bar of busy tiles (called a few times a second). */
export function tickTiles() {
  for (const tile of document.getElementById("tiles").children) tickTile(tile);
}

function tickTile(tile) {
  const elapsed = tile.querySelector(".elapsed");
  const bar = tile.querySelector(".bar span");
  if (tile.dataset.state !== "busy" || !tile.dataset.since) {
    elapsed.textContent = "";
    bar.style.width = "0";
    return;
  }
  const ms = Math.max(0, Date.now() - Date.parse(tile.dataset.since));
  elapsed.textContent = `${(ms / 1000).toFixed(1)} s`;
  const timeout = Number(tile.dataset.timeoutMs);
  bar.style.width = timeout ? `${Math.min(100, (100 * ms) / timeout).toFixed(1)}%` : "0";
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
