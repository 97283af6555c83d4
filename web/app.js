// The dashboard: wires the live event stream and the views (`router.js`) to the API.

import { call, onTokenChange, setupTokenForm } from "./api.js";
import { loadFeatures } from "./features.js";
import { applyFeatures, setHostOptions, setLaneOptions } from "./filters.js";
import { refreshHistory } from "./history.js";
import { refreshHostList } from "./hostlist.js";
import { refreshNodes, tickTiles } from "./hosts.js";
import { enterJobs, refreshJobs, setModuleNames, setupJobs, whenModuleUnknown } from "./jobs.js";
import { laneNames, refreshLanes, showLanes } from "./lanes.js";
import { follow } from "./live.js";
import { refreshModules, setupModules } from "./modules.js";
import { paused, showPool } from "./pool.js";
import { refreshLimits } from "./limitlist.js";
import { refreshQueues } from "./queuelist.js";
import { currentView, defineView, refreshView, setupRouter } from "./router.js";
import { refreshSchedules } from "./schedules.js";
import { setupSubmit, showModules } from "./submit.js";
import { refreshWorkflows } from "./workflows.js";

const JOBS_REFRESH_MS = 500;
const MODULES_REFRESH_MS = 2000;
const NODES_REFRESH_MS = 2000;
let jobsTimer = null;
let modulesLoadedAt = 0;
let lanesOffered = "";

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

async function reloadHosts() {
  try {
    const nodes = await call("GET", "/v1/nodes");
    setHostOptions(nodes.map((node) => node.name));
  } catch {
    // Shown by the token prompt or the connection status.
  }
}

/** Job transitions arrive in bursts: reload the table at most twice a second. */
function jobsChanged() {
  if (jobsTimer) return;
  jobsTimer = setTimeout(() => {
    jobsTimer = null;
    if (["live", "jobs"].includes(currentView())) refreshJobs();
  }, JOBS_REFRESH_MS);
}

/** Everything the page reads once connected (again after a new token). */
async function connected() {
  try {
    await loadFeatures();
    applyFeatures();
  } catch {
    // The defaults stand: the filters every server has.
  }
  reloadModules();
  reloadHosts();
  refreshNodes();
  refreshView();
  showScope();
}

/** Marks the page with the token's scope, so the controls it does not allow are hidden
 * (`data-needs` in the page and the views; the rule is in style.css). */
async function showScope() {
  try {
    const me = await call("GET", "/v1/me");
    document.body.dataset.scope = me.scope;
    document.body.dataset.serviceAdmin = me.service_admin ? "yes" : "no";
  } catch {
    // An older server: every control stays, and the server refuses what it must.
  }
}

function isLive() {
  return document.getElementById("connection").dataset.status === "live";
}

function setStatus(status) {
  const badge = document.getElementById("connection");
  badge.dataset.status = status;
  badge.textContent = { live: "live", reconnecting: "reconnecting…", unauthorized: "token needed" }[status] ?? status;
  if (status === "live") connected();
}

function onEvent(type, data) {
  if (type === "pool") {
    showPool(data);
    showLanes(data);
    const names = laneNames().join(" ");
    if (names !== lanesOffered) {
      lanesOffered = names;
      setLaneOptions(laneNames());
    }
  }
  if (type === "jobs" || type === "deleted") jobsChanged();
}

defineView("live", { refresh: refreshJobs });
defineView("jobs", { enter: enterJobs, refresh: refreshJobs });
defineView("modules", { refresh: refreshModules });
defineView("history", { refresh: refreshHistory });
defineView("lanes", { refresh: refreshLanes });
defineView("hosts", { refresh: refreshHostList });
defineView("queues", { refresh: refreshQueues });
defineView("limits", { refresh: refreshLimits });
defineView("schedules", { refresh: refreshSchedules });
defineView("workflows", { refresh: refreshWorkflows });

// Modules uploaded by someone else show up in the jobs table first: fetch their names then,
// but not more often than every two seconds.
whenModuleUnknown(() => {
  if (Date.now() - modulesLoadedAt > MODULES_REFRESH_MS) reloadModules();
});
setupTokenForm();
setupJobs();
setupSubmit(reloadModules);
setupModules(reloadModules);
document.getElementById("pause").addEventListener("click", async () => {
  try {
    showPool(await call("POST", paused() ? "/v1/pool/resume" : "/v1/pool/pause"));
  } catch {
    // Shown by the token prompt.
  }
});
onTokenChange(connected);
setInterval(tickTiles, 250);
// Hosts join, leave and get lost without a pool frame saying so: ask every two seconds while
// the stream is up (a pool frame naming an unknown host asks at once).
setInterval(() => {
  if (isLive()) refreshNodes();
}, NODES_REFRESH_MS);
setupRouter(isLive);
follow(onEvent, setStatus);
