// The dashboard: wires the live event stream to the views and the buttons to the API.

import { call, onTokenChange, setupTokenForm } from "./api.js";
import { refreshNodes, tickTiles } from "./hosts.js";
import { refreshJobs, setModuleNames, setupJobs, whenModuleUnknown } from "./jobs.js";
import { follow } from "./live.js";
import { paused, showPool } from "./pool.js";
import { setupSubmit, showModules } from "./submit.js";

const JOBS_REFRESH_MS = 500;
const MODULES_REFRESH_MS = 2000;
const NODES_REFRESH_MS = 2000;
let jobsTimer = null;
let modulesLoadedAt = 0;

async function reloadModules(select) {
  modulesLoadedAt = Date.now();
  try {
    const list = await call("GET", "/v1/modules");
    setModuleNames(list);
    showModules(list, select);
  } catch {
    // Shown by the token prompt or the connection status.
  }
}

/** Job transitions arrive in bursts: reload the table at most twice a second. */
function jobsChanged() {
  if (jobsTimer) return;
  jobsTimer = setTimeout(() => {
    jobsTimer = null;
    refreshJobs();
  }, JOBS_REFRESH_MS);
}

function setStatus(status) {
  const badge = document.getElementById("connection");
  badge.dataset.status = status;
  badge.textContent = { live: "live", reconnecting: "reconnecting…", unauthorized: "token needed" }[status] ?? status;
  if (status === "live") {
    reloadModules();
    refreshJobs();
    refreshNodes();
  }
}

function onEvent(type, data) {
  if (type === "pool") showPool(data);
  if (type === "jobs") jobsChanged();
}

// Modules uploaded by someone else show up in the jobs table first: fetch their names then,
// but not more often than every two seconds.
whenModuleUnknown(() => {
  if (Date.now() - modulesLoadedAt > MODULES_REFRESH_MS) reloadModules();
});
setupTokenForm();
setupJobs();
setupSubmit(reloadModules);
document.getElementById("pause").addEventListener("click", async () => {
  try {
    showPool(await call("POST", paused() ? "/v1/pool/resume" : "/v1/pool/pause"));
  } catch {
    // Shown by the token prompt.
  }
});
onTokenChange(() => {
  reloadModules();
  refreshJobs();
  refreshNodes();
});
setInterval(tickTiles, 250);
// Hosts join, leave and get lost without a pool frame saying so: ask every two seconds while
// the stream is up (a pool frame naming an unknown host asks at once).
setInterval(() => {
  if (document.getElementById("connection").dataset.status === "live") refreshNodes();
}, NODES_REFRESH_MS);
follow(onEvent, setStatus);
