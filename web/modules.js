// The Modules view: per module its runs, success rate, p50/p95 run times and latest failure
// (`GET /v1/stats/modules`), its cap on jobs running at once (editable where the server
// takes `PATCH /v1/modules/{…}`), upload and delete.

import { call } from "./api.js";
import { confirmDialog } from "./filters.js";
import { has } from "./features.js";
import { duration, shortHash, time } from "./format.js";
import { openJob } from "./jobs.js";
import { upload } from "./submit.js";

let afterChange = () => {};

function showMessage(text, error = false) {
  const message = document.getElementById("modules-message");
  message.className = error ? "message error" : "message";
  message.textContent = text;
}

/** Reloads the table. */
export async function refreshModules() {
  try {
    const [stats, list] = await Promise.all([call("GET", "/v1/stats/modules"), call("GET", "/v1/modules")]);
    const modules = new Map(list.map((m) => [m.hash, m]));
    showRows(stats.modules, modules);
  } catch {
    // Shown by the connection status or the token prompt.
  }
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function percent(rate) {
  if (rate === null || rate === undefined) return "–";
  return `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 1)}%`;
}

function showRows(stats, modules) {
  const body = document.getElementById("module-rows");
  // Keep a row whose cap is being edited as it is.
  const editing = document.activeElement?.closest?.("#module-rows tr")?.dataset.moduleHash;
  const rows = stats.map((stat) => {
    if (stat.hash === editing) return body.querySelector(`tr[data-module-hash="${stat.hash}"]`);
    const module = modules.get(stat.hash);
    const row = document.createElement("tr");
    row.dataset.moduleHash = stat.hash;
    const name = document.createElement("td");
    name.innerHTML = '<span class="module-name"></span> <code class="hash"></code>';
    name.querySelector(".module-name").textContent = stat.name ?? "";
    name.querySelector(".hash").textContent = shortHash(stat.hash);
    name.title = stat.hash;
    const rate = cell(percent(stat.success_rate), "num success-rate");
    if (stat.success_rate !== null) rate.dataset.rate = String(stat.success_rate);
    if (stat.success_rate !== null && stat.success_rate < 0.9) rate.classList.add("bad");
    row.append(
      name,
      cell(module?.kind ?? ""),
      cell(module ? `${(module.size / 1024).toFixed(0)} KiB` : "", "num"),
      cell(`${stat.runs}`, "num runs"),
      rate,
      cell(stat.p50_ms === null ? "–" : duration(stat.p50_ms), "num p50"),
      cell(stat.p95_ms === null ? "–" : duration(stat.p95_ms), "num p95"),
      failureCell(stat.last_failure),
      capCell(stat),
      deleteCell(stat),
    );
    return row;
  });
  body.replaceChildren(...rows);
}

function failureCell(failure) {
  const td = cell("", "last-failure");
  if (!failure) {
    td.textContent = "–";
    return td;
  }
  const link = document.createElement("a");
  link.href = "#";
  link.textContent = `#${failure.job_id}`;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openJob(failure.job_id);
  });
  const why = document.createElement("span");
  why.className = "reason";
  why.textContent = failure.error ?? "";
  td.title = `${failure.error ?? ""} (${time(failure.finished_at)})`;
  td.append(link, " ", why, ` · ${time(failure.finished_at)}`);
  return td;
}

function capCell(stat) {
  const td = cell("", "cap");
  if (!has("patch", /^\/v1\/modules\/\{[^}]+\}$/)) {
    td.textContent = stat.max_running ?? "none";
    return td;
  }
  const form = document.createElement("form");
  form.className = "cap-form";
  form.dataset.needs = "admin";
  const field = document.createElement("input");
  field.type = "number";
  field.min = "1";
  field.placeholder = "none";
  field.value = stat.max_running ?? "";
  field.setAttribute("aria-label", `most jobs of ${stat.name ?? stat.hash} running at once`);
  const save = document.createElement("button");
  save.textContent = "Set";
  form.append(field, save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = field.value.trim() === "" ? null : Number(field.value);
    try {
      await call("PATCH", `/v1/modules/${stat.hash}`, { max_running: value });
      showMessage(`${stat.name ?? shortHash(stat.hash)}: ${value === null ? "no cap" : `at most ${value} running at once`}`);
      // Let the refresh replace the row (a focused row is kept as it is): the Set button
      // has the focus after a click, not the field.
      if (form.contains(document.activeElement)) document.activeElement.blur();
      refreshModules();
    } catch (error) {
      showMessage(error.message, true);
    }
  });
  td.append(form);
  return td;
}

function deleteCell(stat) {
  const td = cell("");
  const button = document.createElement("button");
  button.textContent = "Delete";
  button.className = "danger";
  button.dataset.needs = "admin";
  button.addEventListener("click", async () => {
    const label = stat.name ?? shortHash(stat.hash);
    if (!(await confirmDialog(`Delete module ${label}? Its ended jobs are kept.`))) return;
    try {
      await call("DELETE", `/v1/modules/${stat.hash}`);
      showMessage(`deleted ${label}`);
      afterChange();
      refreshModules();
    } catch (error) {
      showMessage(error.message, true);
    }
  });
  td.append(button);
  return td;
}

/** Wires the upload; `changed` runs after an upload or a delete (the other views' lists). */
export function setupModules(changed) {
  afterChange = changed;
  const picker = document.getElementById("modules-file");
  const zone = picker.closest("label");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  const done = async (hash) => {
    await changed(hash);
    await refreshModules();
  };
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) upload(file, document.getElementById("modules-message"), done);
  });
  picker.addEventListener("change", () => {
    if (picker.files[0]) upload(picker.files[0], document.getElementById("modules-message"), done);
    picker.value = "";
  });
}
