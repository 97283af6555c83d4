// The jobs view's filters (state, module, lane, host, submission time, a search by id or
// name) and the bulk actions on the jobs they match. Only the filters the server's
// `GET /v1/jobs` lists are shown.

import { call } from "./api.js";
import { has, queryParameters } from "./features.js";
import { shortHash } from "./format.js";

// Input id -> query parameter.
const FIELDS = {
  "job-search": "q",
  "state-filter": "state",
  "module-filter": "module",
  "lane-filter": "lane",
  "host-filter": "node",
  "after-filter": "submitted_after",
  "before-filter": "submitted_before",
};
const TIMES = new Set(["submitted_after", "submitted_before"]);
let searchParameter = "q";
let supported = new Set(["state", "module"]);

function input(id) {
  return document.getElementById(id);
}

/** The filter as query parameters (empty fields left out). */
export function filter() {
  const query = {};
  for (const [id, name] of Object.entries(FIELDS)) {
    const value = input(id).value.trim();
    if (!value || !supported.has(name === "q" ? searchParameter : name)) continue;
    const key = name === "q" ? searchParameter : name;
    query[key] = TIMES.has(name) ? new Date(value).toISOString() : value;
  }
  return query;
}

/** Sets the filters from a `#/jobs?state=failed&module=fib` link (the others cleared). */
export function setFilters(params) {
  if ([...params.keys()].length === 0) return;
  for (const [id, name] of Object.entries(FIELDS)) input(id).value = params.get(name) ?? "";
}

/** Shows the filters and actions this server has. */
export function applyFeatures() {
  const listed = queryParameters("get", "/v1/jobs");
  if (listed.size) supported = listed;
  searchParameter = supported.has("q") ? "q" : "name";
  for (const [id, name] of Object.entries(FIELDS)) {
    const shown = supported.has(name === "q" ? searchParameter : name);
    const element = input(id);
    (element.closest("label") ?? element).hidden = !shown;
  }
  if (searchParameter === "name") input("job-search").placeholder = "name contains";
  document.querySelector("#job-filters .bulk").hidden = !has("post", "/v1/jobs/retry");
  input("bulk-delete").hidden = !has("post", "/v1/jobs/delete");
}

/** Fills a filter's menu with `[value, label]` pairs, keeping the choice. */
function fillMenu(id, pairs, anyLabel) {
  const menu = input(id);
  const keep = menu.value;
  const options = [["", anyLabel], ...pairs].map(([value, label]) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    return option;
  });
  menu.replaceChildren(...options);
  if (pairs.some(([value]) => value === keep)) menu.value = keep;
}

/** The modules the module filter offers. */
export function setModuleOptions(list) {
  fillMenu("module-filter", list.map((m) => [m.hash, m.names[0] || shortHash(m.hash)]), "any module");
}

/** The hosts the host filter offers (none on a single host). */
export function setHostOptions(names) {
  fillMenu("host-filter", names.map((name) => [name, name]), "any host");
  input("host-filter").disabled = names.length < 2;
}

/** The lanes the lane filter offers. */
export function setLaneOptions(names) {
  fillMenu("lane-filter", names.map((name) => [name, name]), "any lane");
}

/** Calls `onChange` whenever a filter changes (the search once typing pauses). */
export function setupFilters(onChange, message) {
  let typing = null;
  for (const id of Object.keys(FIELDS)) {
    input(id).addEventListener(id === "job-search" ? "input" : "change", () => {
      clearTimeout(typing);
      typing = setTimeout(onChange, id === "job-search" ? 250 : 0);
    });
  }
  input("job-filters").addEventListener("submit", (event) => event.preventDefault());
  input("clear-filters").addEventListener("click", () => {
    for (const id of Object.keys(FIELDS)) input(id).value = "";
    onChange();
  });
  input("bulk-retry").addEventListener("click", () => bulk("retry", message, onChange));
  input("bulk-cancel").addEventListener("click", () => bulk("cancel", message, onChange));
  input("bulk-delete").addEventListener("click", () => bulkDelete(message, onChange));
}

/** How many jobs match, and how many of them the action would change: the server counts
 * them (a dry run of the action), whatever their number. */
async function countMatching(action, query) {
  return call("POST", `/v1/jobs/${action}`, { ...query, dry_run: true });
}

/** Asks a yes/no question in the confirmation dialog. */
export function confirmDialog(text) {
  const dialog = input("confirm");
  input("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

async function bulk(action, message, done) {
  const query = filter();
  delete query[searchParameter];
  if (Object.keys(query).length === 0) {
    message(`Choose a filter first: ${action} acts on the jobs the filters match (the search is not one).`, true);
    return;
  }
  try {
    const { matched, changed } = await countMatching(action, query);
    const applies = action === "retry" ? "failed, timed-out or cancelled" : "queued or running";
    const what = `${changed} of ${matched} matching job${matched === 1 ? "" : "s"}`;
    const yes = await confirmDialog(`${action === "retry" ? "Retry" : "Cancel"} ${what}? Only the ${applies} ones change.`);
    if (!yes) return;
    const answer = await call("POST", `/v1/jobs/${action}`, query);
    const verb = action === "retry" ? "retried" : "cancelled";
    message(`${verb} ${answer.changed} of ${answer.matched} matching job${answer.matched === 1 ? "" : "s"}`);
    done();
  } catch (error) {
    message(error.message, true);
  }
}

/** Deletes the ended jobs the filters match, once confirmed (the server counts them first
 * with a dry run). */
async function bulkDelete(message, done) {
  const query = filter();
  delete query[searchParameter];
  if (Object.keys(query).length === 0) {
    message("Choose a filter first: delete acts on the jobs the filters match (the search is not one).", true);
    return;
  }
  try {
    const { matched } = await call("POST", "/v1/jobs/delete", { ...query, dry_run: true });
    const what = `${matched} matching job${matched === 1 ? "" : "s"}`;
    const yes = await confirmDialog(`Delete ${what}? Only the ended ones go, with their output; this cannot be undone.`);
    if (!yes) return;
    const answer = await call("POST", "/v1/jobs/delete", query);
    message(`deleted ${answer.deleted} of ${answer.matched} matching job${answer.matched === 1 ? "" : "s"}`);
    done();
  } catch (error) {
    message(error.message, true);
  }
}
