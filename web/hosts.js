// Worker tiles grouped by host and lane: one section per host of the cluster (from GET
// /v1/nodes), holding a group per lane the host serves, each with a heading (the lane's
// name, its busy workers on the host, its queued jobs in the whole cluster) and the tiles of
// its workers (from the pool frames). A lost or left host keeps its section, greyed and
// without tiles. Sections, groups and tiles are reused and updated in place.

import { call } from "./api.js";
import { shortHash, time } from "./format.js";

// An unknown name in a pool frame fetches the hosts at once, but not more often than this.
const UNKNOWN_REFETCH_MS = 1000;
const ORDER = { alive: 0, draining: 0, lost: 1, left: 2 };

let nodes = new Map(); // name -> NodeView, as last fetched
let workers = []; // WorkerView[], as last seen in a pool frame
let lanes = new Map(); // name -> LaneView, as last seen in a pool frame
let fetching = null;
let fetchedAt = 0;

/** Fetches the hosts (one request at a time) and redraws the sections. */
export async function refreshNodes() {
  if (fetching) return fetching;
  fetchedAt = Date.now();
  fetching = (async () => {
    try {
      const list = await call("GET", "/v1/nodes");
      nodes = new Map(list.map((node) => [node.name, node]));
      render();
    } catch {
      // Shown by the connection status or the token prompt.
    } finally {
      fetching = null;
    }
  })();
  return fetching;
}

/** Draws the workers of a pool frame under their hosts and lanes. */
export function showWorkers(list, laneList = []) {
  workers = list;
  lanes = new Map(laneList.map((lane) => [lane.name, lane]));
  const unknown = list.some((worker) => !nodes.has(nodeOf(worker)));
  if (unknown && Date.now() - fetchedAt > UNKNOWN_REFETCH_MS) refreshNodes();
  render();
}

function nodeOf(worker) {
  return worker.node ?? "";
}

function hostNames() {
  const names = new Set(nodes.keys());
  for (const worker of workers) names.add(nodeOf(worker));
  return [...names];
}

function stateOf(name) {
  return nodes.get(name)?.state ?? "alive";
}

function render() {
  const byHost = new Map();
  for (const worker of workers) {
    const name = nodeOf(worker);
    if (!byHost.has(name)) byHost.set(name, []);
    byHost.get(name).push(worker);
  }
  const names = hostNames().sort((a, b) => (ORDER[stateOf(a)] ?? 3) - (ORDER[stateOf(b)] ?? 3) || a.localeCompare(b));
  const container = document.getElementById("tiles");
  const sections = new Map([...container.children].map((section) => [section.dataset.host, section]));
  const wanted = names.map((name) => sections.get(name) ?? newSection(name));
  // Move sections only when the order changed, so a steady page is never relaid out.
  if (wanted.length !== container.children.length || wanted.some((section, i) => container.children[i] !== section)) {
    container.replaceChildren(...wanted);
  }
  names.forEach((name, i) => fillSection(wanted[i], name, byHost.get(name) ?? []));
  document.body.toggleAttribute("data-many-hosts", names.length > 1);
}

function newSection(name) {
  const section = document.createElement("section");
  section.className = "host";
  section.dataset.host = name;
  const heading = document.createElement("h3");
  heading.className = "host-heading";
  for (const part of ["host-name", "host-state", "host-load", "host-note"]) {
    const span = document.createElement("span");
    span.className = part;
    heading.append(span, " "); // spaces for copying and screen readers; the flex gap lays out
  }
  const groups = document.createElement("div");
  groups.className = "lanes";
  section.append(heading, groups);
  return section;
}

function fillSection(section, name, hostWorkers) {
  const node = nodes.get(name);
  const state = stateOf(name);
  // The pool view holds only live hosts' workers; a lost or left host shows none even if a
  // pool frame older than the host list still has them.
  const live = state === "alive" || state === "draining";
  const shown = live ? hostWorkers : [];
  setText(section.querySelector(".host-name"), name || "this host");
  setText(section.querySelector(".host-state"), state);
  if (section.dataset.hostState !== state) section.dataset.hostState = state;
  let load = "";
  let note = "";
  if (live) {
    const busy = shown.length ? shown.filter((worker) => worker.state === "busy").length : node?.busy ?? 0;
    const total = shown.length || (node?.workers ?? 0);
    load = `${busy}/${total} busy`;
  } else {
    const since = node?.heartbeat_at ? `last heartbeat ${time(node.heartbeat_at)}` : "";
    // After the state badge, so the heading reads "b lost — its jobs were retried …". Jobs
    // with no attempts left fail instead (one attempt is the default).
    const why = state === "lost" ? "— its jobs were retried on other hosts, or failed if out of attempts" : "";
    note = [why, since].filter(Boolean).join(" · ");
  }
  setText(section.querySelector(".host-load"), load);
  setText(section.querySelector(".host-note"), note);
  section.title = node ? `${name} at ${node.address}, version ${node.version}, up since ${time(node.started_at)}` : name;
  showLanes(section.querySelector(".lanes"), shown);
}

function laneOf(worker) {
  return worker.lane ?? "default";
}

/** A group per lane (in the order the host's workers come: its `--lane` order). */
function showLanes(container, list) {
  const byLane = new Map();
  for (const worker of list) {
    const lane = laneOf(worker);
    if (!byLane.has(lane)) byLane.set(lane, []);
    byLane.get(lane).push(worker);
  }
  const groups = new Map([...container.children].map((group) => [group.dataset.lane, group]));
  const wanted = [...byLane.keys()].map((lane) => groups.get(lane) ?? newLane(lane));
  if (wanted.length !== container.children.length || wanted.some((group, i) => container.children[i] !== group)) {
    container.replaceChildren(...wanted);
  }
  [...byLane.entries()].forEach(([lane, laneWorkers], i) => {
    const busy = laneWorkers.filter((worker) => worker.state === "busy").length;
    const queued = lanes.get(lane)?.queued ?? 0;
    setText(wanted[i].querySelector(".lane-load"), `${busy}/${laneWorkers.length} busy · ${queued} queued`);
    showTiles(wanted[i].querySelector(".tiles"), laneWorkers);
  });
}

function newLane(name) {
  const group = document.createElement("div");
  group.className = "lane";
  group.dataset.lane = name;
  const heading = document.createElement("h4");
  heading.className = "lane-heading";
  const label = document.createElement("span");
  label.className = "lane-name";
  label.textContent = `lane ${name}`;
  const load = document.createElement("span");
  load.className = "lane-load";
  heading.append(label, " ", load);
  const tiles = document.createElement("div");
  tiles.className = "tiles";
  group.append(heading, tiles);
  return group;
}

function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

function showTiles(container, list) {
  while (container.children.length > list.length) container.lastChild.remove();
  while (container.children.length < list.length) container.append(newTile());
  list.forEach((worker, i) => fillTile(container.children[i], worker));
}

function newTile() {
  const tile = document.createElement("div");
  tile.className = "tile";
  tile.innerHTML = '<div class="pid"></div><div class="job"></div><div class="elapsed"></div><div class="bar"><span></span></div>';
  return tile;
}

function fillTile(tile, worker) {
  tile.dataset.workerPid = String(worker.pid);
  tile.dataset.node = nodeOf(worker);
  tile.dataset.lane = laneOf(worker);
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
  const where = `${worker.node ? ` on host ${worker.node}` : ""} in lane ${laneOf(worker)}`;
  tile.title = worker.state === "busy"
    ? `job ${worker.job_id} on worker ${worker.pid}${where}`
    : `worker ${worker.pid}${where}: ${worker.state}`;
  tickTile(tile);
}

/** Moves the elapsed-time text and the timeout bar of busy tiles (called a few times a second). */
export function tickTiles() {
  for (const tile of document.querySelectorAll("#tiles .tile")) tickTile(tile);
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
