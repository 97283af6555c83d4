// Upload a module (drop or pick a .wasm) and submit one job or N jobs.

import { call } from "./api.js";
import { shortHash } from "./format.js";

/** Fills the module list; keeps the selection when it still exists. */
export function showModules(list, select) {
  const menu = document.getElementById("module");
  const keep = select ?? menu.value;
  menu.replaceChildren(...list.map((module) => {
    const option = document.createElement("option");
    option.value = module.hash;
    option.textContent = `${module.names.join(", ") || shortHash(module.hash)} (${module.kind}, ${(module.size / 1024).toFixed(0)} KiB)`;
    return option;
  }));
  if (list.some((module) => module.hash === keep)) menu.value = keep;
}

export function setupSubmit(reloadModules) {
  const zone = document.getElementById("dropzone");
  const picker = document.getElementById("file");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) upload(file, document.getElementById("upload-message"), reloadModules);
  });
  picker.addEventListener("change", () => {
    if (picker.files[0]) upload(picker.files[0], document.getElementById("upload-message"), reloadModules);
    picker.value = "";
  });
  document.getElementById("submit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
}

/** Uploads a picked or dropped file, named after it; says how it went in `message`, then
 * calls `done` with the module's hash. */
export async function upload(file, message, done) {
  const name = file.name.replace(/\.wasm$/, "").replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 100);
  message.className = "message";
  message.textContent = `uploading ${file.name}…`;
  try {
    const module = await call("POST", `/v1/modules?name=${encodeURIComponent(name)}`, file, { "Content-Type": "application/wasm" });
    message.textContent = `uploaded ${name} (${module.kind}, ${shortHash(module.hash)})`;
    await done(module.hash);
  } catch (error) {
    message.className = "message error";
    message.textContent = `${file.name}: ${error.message}`;
  }
}

function words(text) {
  return text.trim() ? text.trim().split(/\s+/) : [];
}

async function submit() {
  const message = document.getElementById("submit-message");
  const module = document.getElementById("module").value;
  if (!module) {
    message.className = "message error";
    message.textContent = "upload a module first";
    return;
  }
  const count = Math.max(1, Math.min(1000, Number(document.getElementById("count").value) || 1));
  const env = Object.fromEntries(words(document.getElementById("env").value).map((pair) => {
    const at = pair.indexOf("=");
    return at > 0 ? [pair.slice(0, at), pair.slice(at + 1)] : [pair, ""];
  }));
  const timeout = Number(document.getElementById("timeout").value);
  const priority = Number(document.getElementById("priority").value) || 0;
  const args = words(document.getElementById("args").value);
  const jobs = Array.from({ length: count }, (_, i) => ({
    module,
    args: args.map((arg) => arg.replaceAll("{i}", String(i))),
    env,
    priority,
    ...(timeout > 0 ? { timeout_ms: timeout } : {}),
  }));
  try {
    const accepted = await call("POST", "/v1/jobs/batch", { jobs });
    const ids = accepted.jobs.map((job) => job.id);
    message.className = "message";
    message.textContent = ids.length === 1 ? `submitted job ${ids[0]}` : `submitted jobs ${ids[0]}–${ids.at(-1)}`;
  } catch (error) {
    message.className = "message error";
    message.textContent = error.message;
  }
}
