// The jobs table: the jobs the filters match (`filters.js`), newest first, a page of 50 at a
// time; a job's details, its output live while it runs; cancel and retry.

import { authHeaders, call } from "./api.js";
import { filter, setFilters, setModuleOptions, setupFilters } from "./filters.js";
import { duration, jobDuration, output, shortHash, time } from "./format.js";

const PAGE = 50;
let modules = new Map(); // hash -> name
let onUnknownModule = () => {};
let refreshing = null;
let again = false;
let shownJob = null;
let following = null; // { id, controller } while the dialog streams a job's output
// The cursors of the pages walked to (null: the newest page); the last is the page shown.
let cursors = [null];
let nextCursor = null;

/** Remembers module names so rows can show them, and offers them as filters. */
export function setModuleNames(list) {
  modules = new Map(list.map((m) => [m.hash, m.names[0] ?? ""]));
  setModuleOptions(list);
}

/** Called when a row shows a module the page does not know yet (uploaded elsewhere). */
export function whenModuleUnknown(callback) {
  onUnknownModule = callback;
}

/** Shows the first page of the jobs a `#/jobs?…` link's filters match. */
export function enterJobs(params) {
  if ([...params.keys()].length === 0) return;
  setFilters(params);
  firstPage();
}

function firstPage() {
  cursors = [null];
  refreshJobs();
}

function showMessage(text, error = false) {
  const message = document.getElementById("jobs-message");
  message.className = error ? "message error" : "message";
  message.textContent = text;
}

/** Reloads the page shown, at most one request at a time (extra calls fold into one more). */
export async function refreshJobs() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      const query = new URLSearchParams({ ...filter(), limit: String(PAGE) });
      const cursor = cursors.at(-1);
      if (cursor) query.set("cursor", cursor);
      try {
        const page = await call("GET", `/v1/jobs?${query}`);
        nextCursor = page.next_cursor ?? null;
        showRows(page.jobs);
        showPager(page.jobs.length);
      } catch (error) {
        // A refused filter says why; a lost connection shows in the header.
        if (error.status === 400) showMessage(error.message, true);
      }
    } while (again);
    refreshing = null;
  })();
  return refreshing;
}

function showPager(shown) {
  const page = cursors.length;
  const first = (page - 1) * PAGE + 1;
  document.getElementById("page-label").textContent =
    shown ? `page ${page} · jobs ${first}–${first + shown - 1}${nextCursor ? "" : " (the oldest)"}` : page > 1 ? `page ${page} · no jobs` : "no jobs match";
  document.getElementById("page-newer").disabled = page === 1;
  document.getElementById("page-older").disabled = !nextCursor;
  document.getElementById("jobs-summary").textContent = Object.keys(filter()).length ? "filtered" : "";
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showRows(jobs) {
  if (jobs.some((job) => !modules.has(job.module))) onUnknownModule();
  const body = document.getElementById("job-rows");
  const rows = jobs.map((job) => {
    const row = document.createElement("tr");
    row.dataset.jobId = String(job.id);
    row.dataset.state = job.state;
    const badge = document.createElement("span");
    badge.className = `badge ${job.state}`;
    badge.textContent = job.state.replace("_", " ");
    const state = document.createElement("td");
    state.append(badge);
    const reason = cell(job.error ?? "", "reason");
    if (job.error) reason.title = job.error;
    row.append(
      cell(String(job.id)),
      state,
      cell(`${job.name ? job.name + " · " : ""}${modules.get(job.module) || shortHash(job.module)} ${job.args_preview}`, "what"),
      reason,
      cell(jobDuration(job)),
      cell(String(job.exit_code ?? "")),
      cell(job.lane ?? "", "lane-col"),
      cell(job.node ?? "", "host-col"),
      cell(time(job.submitted_at)),
    );
    row.addEventListener("click", () => openJob(job.id));
    return row;
  });
  body.replaceChildren(...rows);
  // Rows are summaries (no output): a shown job whose state moved is fetched whole again.
  if (shownJob !== null) {
    const current = jobs.find((job) => job.id === shownJob);
    const shownState = document.getElementById("job-detail").dataset.state;
    if (current && current.state !== shownState) openJob(shownJob);
  }
}

/** Opens the detail dialog of a job. */
export async function openJob(id) {
  shownJob = id;
  document.getElementById("detail-message").textContent = "";
  try {
    fillDetail(await call("GET", `/v1/jobs/${id}`));
  } catch (error) {
    document.getElementById("detail-message").textContent = error.message;
  }
  const dialog = document.getElementById("job-detail");
  if (!dialog.open) dialog.showModal();
}

function fillDetail(job) {
  document.getElementById("detail-title").textContent = `Job ${job.id}${job.name ? " · " + job.name : ""}: ${job.state.replace("_", " ")}`;
  document.getElementById("job-detail").dataset.state = job.state;
  const fields = [
    ["module", `${modules.get(job.module) || ""} ${job.module}`],
    // A call's job shows the function with its parameters and, once it returned, the result.
    ...(job.call
      ? [["call", `${job.call}(${(job.params ?? []).map((p) => JSON.stringify(p)).join(", ")})`],
         ["result", "result" in job ? JSON.stringify(job.result) : ""]]
      : [["args", job.args.join(" ")]]),
    ["env", Object.entries(job.env).map(([k, v]) => `${k}=${v}`).join(" ")],
    ...(job.mounts?.length
      ? [["mounts", job.mounts.map((m) => `${m.name} at ${m.path}${m.read_only ? " (read-only)" : ""}`).join(", ")]]
      : []),
    ["attempts", `${job.attempts} of ${job.max_attempts}`],
    ["worker pid", job.worker_pid ?? ""],
    ...(job.node ? [["host", `ran on host ${job.node}`]] : []),
    ["exit code", job.exit_code ?? ""],
    ["error", job.error ?? ""],
    ["submitted", job.submitted_at],
    ...(job.run_at ? [["due", `${job.run_at} (in ${duration(Date.parse(job.run_at) - Date.now())})`]] : []),
    ["started", job.started_at ?? ""],
    ["finished", job.finished_at ?? ""],
    ["ran for", jobDuration(job)],
    ["limits", `${job.timeout_ms} ms, ${job.memory_mb} MiB${job.fuel ? `, ${job.fuel} fuel` : ""}`],
    ["fuel used", job.fuel_used ?? ""],
    ["peak memory", job.peak_memory_bytes ? `${(job.peak_memory_bytes / 1048576).toFixed(1)} MiB` : ""],
    ["progress", job.progress ? `${job.progress.percent}% ${job.progress.message}` : ""],
  ];
  const list = document.getElementById("detail-fields");
  list.replaceChildren(...fields.flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    return [dt, dd];
  }));
  const ended = !["queued", "running"].includes(job.state);
  if (ended) {
    stopFollowing();
    document.getElementById("detail-stdout").textContent =
      output(job.stdout, job.stdout_base64) + (job.stdout_truncated ? "\n[cut at the output limit]" : "");
    document.getElementById("detail-stderr").textContent =
      output(job.stderr, job.stderr_base64) + (job.stderr_truncated ? "\n[cut at the output limit]" : "");
  } else {
    follow(job.id);
  }
  document.getElementById("detail-cancel").hidden = ended;
  document.getElementById("detail-retry").hidden = !["failed", "timed_out", "cancelled"].includes(job.state);
}

export function setupJobs() {
  setupFilters(firstPage, showMessage);
  document.getElementById("page-older").addEventListener("click", () => {
    if (!nextCursor) return;
    cursors.push(nextCursor);
    refreshJobs();
  });
  document.getElementById("page-newer").addEventListener("click", () => {
    if (cursors.length > 1) cursors.pop();
    refreshJobs();
  });
  document.getElementById("job-detail").addEventListener("close", () => {
    shownJob = null;
    stopFollowing();
  });
  // POST .../cancel, not DELETE: a job that ended meanwhile is kept (409), not deleted.
  document.getElementById("detail-cancel").addEventListener("click", () => act("POST", "/cancel"));
  document.getElementById("detail-retry").addEventListener("click", () => act("POST", "/retry"));
}

async function act(method, suffix) {
  if (shownJob === null) return;
  const message = document.getElementById("detail-message");
  try {
    await call(method, `/v1/jobs/${shownJob}${suffix}`);
    message.textContent = "";
    await openJob(shownJob);
    refreshJobs();
  } catch (error) {
    message.textContent = error.message;
  }
}

/** Streams a queued or running job's stdout and stderr into the dialog as the job writes them;
 * when both streams end (the job ended), shows the job as stored. */
function follow(id) {
  if (following?.id === id) return;
  stopFollowing();
  const controller = new AbortController();
  following = { id, controller };
  const streams = ["stdout", "stderr"].map((stream) => pipe(id, stream, controller.signal));
  Promise.allSettled(streams).then(() => {
    if (following?.controller !== controller) return;
    following = null;
    if (shownJob === id) openJob(id);
  });
}

function stopFollowing() {
  following?.controller.abort();
  following = null;
}

/** Copies one followed output stream into its `<pre>`, staying scrolled to the end if it was. */
async function pipe(id, stream, signal) {
  const target = document.getElementById(`detail-${stream}`);
  target.textContent = "";
  const path = `/v1/jobs/${id}/output?follow=true&stream=${stream}`;
  const response = await fetch(path, { headers: authHeaders(), signal });
  if (!response.ok) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder(); // keeps a character split between chunks for the next
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const atEnd = target.scrollTop + target.clientHeight >= target.scrollHeight - 4;
    target.append(decoder.decode(value, { stream: true }));
    if (atEnd) target.scrollTop = target.scrollHeight;
  }
}
