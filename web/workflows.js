// The Workflows view: the workflows (`GET /v1/workflows`) with their state and their jobs
// counted by state, and the one chosen drawn as a graph of its jobs (`GET
// /v1/workflows/{id}`), each coloured by its state, parents above children; redrawn at every
// refresh while the stream is live; a click on a job opens it.

import { call } from "./api.js";
import { has } from "./features.js";
import { openJob } from "./jobs.js";
import { fill, row } from "./rows.js";

const NS = "http://www.w3.org/2000/svg";
const NODE = { width: 150, height: 34, gapX: 24, gapY: 46 };
let chosen = null;

/** Reloads the list, and the chosen workflow's graph. */
export async function refreshWorkflows() {
  if (!has("get", "/v1/workflows")) return;
  try {
    const page = await call("GET", "/v1/workflows?limit=100");
    const rows = page.workflows.map((workflow) => {
      const counts = Object.entries(workflow.counts).map(([state, n]) => `${n} ${state.replace("_", " ")}`);
      const tr = row({ workflow: workflow.id, state: workflow.state }, [
        `#${workflow.id}`, { text: workflow.state, className: `state` }, counts.join(", "), new Date(workflow.created_at).toLocaleString(),
      ]);
      tr.addEventListener("click", () => choose(workflow.id));
      if (workflow.id === chosen) tr.setAttribute("aria-selected", "true");
      return tr;
    });
    fill("workflow-rows", rows, "workflows-note", "No workflows yet: jobs submitted with `after` make one.");
    if (chosen === null && page.workflows.length) chosen = page.workflows[0].id;
    if (chosen !== null) await draw(chosen);
  } catch {
    // Shown by the connection status or the token prompt.
  }
}

async function choose(id) {
  chosen = id;
  await refreshWorkflows();
}

/** Draws workflow `id`: its jobs in levels, edges from parents down to children. */
async function draw(id) {
  const workflow = await call("GET", `/v1/workflows/${id}`);
  const level = new Map();
  const byId = new Map(workflow.jobs.map((job) => [job.id, job]));
  // Each job one level below its deepest parent (a batch may list a child before its parent,
  // so levels settle over passes; a workflow has no cycle).
  for (const job of workflow.jobs) level.set(job.id, 0);
  for (let pass = 0, changed = true; changed && pass <= workflow.jobs.length; pass++) {
    changed = false;
    for (const job of workflow.jobs) {
      for (const parent of job.after) {
        if (level.has(parent) && level.get(parent) + 1 > level.get(job.id)) {
          level.set(job.id, level.get(parent) + 1);
          changed = true;
        }
      }
    }
  }
  const rows = [];
  for (const job of workflow.jobs) (rows[level.get(job.id)] ??= []).push(job);
  const widest = Math.max(1, ...rows.map((jobs) => jobs.length));
  const width = widest * (NODE.width + NODE.gapX) + NODE.gapX;
  const height = rows.length * (NODE.height + NODE.gapY) + NODE.gapY;
  const at = new Map();
  rows.forEach((jobs, depth) => {
    const offset = (width - jobs.length * (NODE.width + NODE.gapX) + NODE.gapX) / 2;
    jobs.forEach((job, i) => at.set(job.id, { x: offset + i * (NODE.width + NODE.gapX), y: NODE.gapY / 2 + depth * (NODE.height + NODE.gapY) }));
  });
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", class: "workflow", "data-workflow": id });
  svg.append(element("title", {}, `workflow ${id}: ${workflow.state}`));
  for (const [parent, child] of workflow.edges) {
    const from = at.get(parent);
    const to = at.get(child);
    if (!from || !to) continue;
    svg.append(element("line", { x1: from.x + NODE.width / 2, y1: from.y + NODE.height, x2: to.x + NODE.width / 2, y2: to.y, class: "edge" }));
  }
  for (const job of workflow.jobs) {
    const { x, y } = at.get(job.id);
    const node = element("g", { class: `node ${job.state}`, "data-job-id": job.id, "data-state": job.state, tabindex: 0 });
    node.append(element("title", {}, `#${job.id} ${job.name ?? ""}: ${job.state}${job.error ? ` (${job.error})` : ""}`));
    node.append(element("rect", { x, y, width: NODE.width, height: NODE.height, rx: 4 }));
    const label = `${job.name ?? `#${job.id}`} · ${job.state.replace("_", " ")}`;
    node.append(element("text", { x: x + NODE.width / 2, y: y + NODE.height / 2 + 4, "text-anchor": "middle" }, label));
    node.addEventListener("click", () => openJob(job.id));
    svg.append(node);
  }
  const title = document.getElementById("workflow-title");
  title.textContent = `Workflow #${id}: ${workflow.state} (${byId.size} jobs)`;
  title.dataset.state = workflow.state;
  document.getElementById("workflow-graph").replaceChildren(svg);
}

function element(name, attributes, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}
