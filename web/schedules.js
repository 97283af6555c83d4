// The Schedules view: each schedule's cron, next and last run, pause/resume and run now
// (`/v1/schedules`, where the server has it).

import { call } from "./api.js";
import { has } from "./features.js";
import { openJob } from "./jobs.js";
import { fill, row } from "./rows.js";

/** `in 3 min` / `2 h ago`. */
function relative(timestamp) {
  // The sign from the exact difference: a run half a second ago is `0 s ago`, not `in 0 s`.
  const ahead = Date.parse(timestamp) - Date.now();
  const size = Math.round(Math.abs(ahead) / 1000);
  const text = size < 90 ? `${size} s` : size < 5400 ? `${Math.round(size / 60)} min` : `${Math.round(size / 3600)} h`;
  return ahead > 0 ? `in ${text}` : `${text} ago`;
}

/** `Dec 7, 03:00 GMT+1`: the time in the schedule's zone, as its cron reads, with the zone
 * named; in UTC, named so, when this browser does not know the zone. */
function zoned(timestamp, zone) {
  const options = { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };
  try {
    return new Date(timestamp).toLocaleString([], { ...options, timeZone: zone });
  } catch {
    return new Date(timestamp).toLocaleString([], { ...options, timeZone: "UTC" });
  }
}

/** A time cell: the time in `zone` and how far off, the timestamp as its title; `–` for none. */
function when(timestamp, className, zone) {
  return timestamp ? { text: `${zoned(timestamp, zone)} (${relative(timestamp)})`, title: timestamp, className } : { text: "–", className };
}

/** Reloads the table. */
export async function refreshSchedules() {
  if (!has("get", "/v1/schedules")) {
    fill("schedule-rows", [], "schedules-note", "This server has no schedules.");
    return;
  }
  let list;
  try {
    list = (await call("GET", "/v1/schedules")).schedules;
  } catch {
    return; // Shown by the connection status or the token prompt.
  }
  const rows = list.map((schedule) => {
    const lastJob = { className: "last-job", ...(schedule.last_job_id ? { node: jobLink(schedule.last_job_id) } : { text: "–" }) };
    const toggle = document.createElement("button");
    toggle.textContent = schedule.enabled ? "Pause" : "Resume";
    toggle.dataset.needs = "admin";
    toggle.addEventListener("click", () => setEnabled(schedule.name, !schedule.enabled));
    const actions = document.createElement("span");
    actions.append(toggle);
    if (has("post", "/v1/schedules/{name}/run")) {
      const run = document.createElement("button");
      run.textContent = "Run now";
      run.dataset.needs = "admin";
      run.addEventListener("click", () => runNow(schedule.name));
      actions.append(" ", run);
    }
    return row({ schedule: schedule.name, enabled: String(schedule.enabled) }, [
      schedule.name,
      { text: `${schedule.cron} (${schedule.timezone})`, className: "cron" },
      schedule.job?.module ?? "",
      { text: schedule.enabled ? "active" : "paused", className: "state" },
      when(schedule.next_run_at, "next-run", schedule.timezone),
      when(schedule.last_run_at, "last-run", schedule.timezone),
      lastJob,
      actions,
    ]);
  });
  fill("schedule-rows", rows, "schedules-note", "No schedules yet: `wasmpool schedule add` makes one.");
}

function jobLink(id) {
  const link = document.createElement("a");
  link.href = "#";
  link.textContent = `#${id}`;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openJob(id);
  });
  return link;
}

async function setEnabled(name, enabled) {
  try {
    await call("PATCH", `/v1/schedules/${encodeURIComponent(name)}`, { enabled });
  } catch (error) {
    document.getElementById("schedules-note").textContent = error.message;
  }
  refreshSchedules();
}

/** Submits the schedule's job once, now; says which job it made. */
async function runNow(name) {
  const note = document.getElementById("schedules-message");
  try {
    const accepted = await call("POST", `/v1/schedules/${encodeURIComponent(name)}/run`);
    note.textContent = `${name}: job #${accepted.id} submitted`;
  } catch (error) {
    note.textContent = error.message;
  }
}
