// Browser test of the dashboard in Debian's Chromium, driven by playwright-core.
// Run by tests/all/dashboard.rs against a real `wasmpool serve`:
//   node web/tests/dashboard.mjs SCENARIO URL OUT_DIR [WASM]
// SCENARIO is `pool` (4 workers: upload, submit 5, watch, cancel), `token`, `scopes` (a read
// token sees no control it may not use), `live` (a job's
// dialog shows its output as it is written; the service has `queue-reader` uploaded), `hosts` (the
// page of host a of two hosts a and b with 2 workers each on one PostgreSQL; it prints
// `KILL b` and waits for a line on stdin saying host b was killed), `lanes` (a host with
// lanes default=2 and slow=1, one job running and two queued in slow), or one per view:
// `jobs`, `modules`, `history`, `views` (lanes, hosts, queues), `bulk` (the jobs view's lane
// filter, search and bulk retry/cancel), `cap` (the modules view's cap editor), `schedules`,
// each against jobs the Rust test made (it says which in environment variables).
// Screenshots go to OUT_DIR; those the README shows go to DOCS_DIR too (docs/), so a test
// run refreshes them. Exits 0 when every check held; prints what failed otherwise.

import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { views } from "./views.mjs";

const [scenario, url, outDir, wasm] = process.argv.slice(2);
const BOUND = { timeout: 30_000 };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  if (scenario === "pool") await pool(page);
  else if (scenario === "token") await token(page);
  else if (scenario === "scopes") await scopes(page);
  else if (scenario === "hosts") await hosts(page);
  else if (scenario === "live") await live(page);
  else if (scenario === "lanes") await lanes(page);
  else if (views[scenario]) await views[scenario](page, { url, shot, expectCount, expectText, BOUND });
  else throw new Error(`unknown scenario ${scenario}`);
  assert.deepEqual(problems, [], "the page logs no errors");
  console.log(`${scenario}: all checks passed`);
} finally {
  await browser.close();
}

function tiles(page, state) {
  return page.locator(`#tiles [data-worker-pid]${state ? `[data-state="${state}"]` : ""}`);
}

function count(page, state) {
  return page.locator(`[data-count="${state}"]`);
}

async function pool(page) {
  await page.goto(url);
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  await expectCount(tiles(page, "idle"), 4, "four idle tiles");

  // Pick the module (the drop zone's file input), then submit five jobs with {i} as the argument.
  await page.setInputFiles("#file", wasm);
  await page.locator("#upload-message", { hasText: "uploaded long-time-task" }).waitFor(BOUND);
  await page.fill("#args", "{i}");
  await page.fill("#env", "LONG_TIME_TASK_MIN_MS=2500 LONG_TIME_TASK_MAX_MS=3000");
  await page.fill("#count", "5");
  await page.click("#submit-form button[type=submit]");
  await page.locator("#submit-message", { hasText: "submitted jobs" }).waitFor(BOUND);

  await expectCount(tiles(page, "busy"), 4, "four busy tiles");
  await expectText(count(page, "queued"), "1", "one queued job");
  const pids = await tiles(page, "busy").evaluateAll((all) => all.map((t) => t.dataset.workerPid));
  assert.equal(new Set(pids).size, 4, "four different worker pids");
  await expectCount(page.locator("#job-rows tr"), 5, "the five jobs in the table");
  await expectCount(page.locator('#job-rows tr[data-state="running"]'), 4, "four running rows");
  await shot(page, "dashboard-busy.png", "dashboard-live.png");

  await expectText(count(page, "succeeded"), "5", "all five succeeded");
  await expectCount(page.locator('#job-rows tr[data-state="succeeded"]'), 5, "five succeeded rows");
  await expectCount(tiles(page, "idle"), 4, "four idle tiles again");

  // A long job, cancelled from its detail dialog: it ends cancelled and its tile goes idle.
  await page.fill("#count", "1");
  await page.fill("#env", "LONG_TIME_TASK_MIN_MS=60000 LONG_TIME_TASK_MAX_MS=60001");
  await page.click("#submit-form button[type=submit]");
  await expectCount(tiles(page, "busy"), 1, "one busy tile");
  const jobId = await tiles(page, "busy").first().getAttribute("data-job-id");
  await page.locator(`#job-rows tr[data-job-id="${jobId}"]`).click();
  await page.locator("#job-detail[open]").waitFor(BOUND);
  await page.click("#detail-cancel");
  await page.locator('#job-detail[data-state="cancelled"]').waitFor(BOUND);
  await page.click("#job-detail button[value=close]");
  await expectCount(page.locator(`#job-rows tr[data-job-id="${jobId}"][data-state="cancelled"]`), 1, "the row says cancelled");
  await expectCount(tiles(page, "busy"), 0, "no busy tile left");
  await expectCount(tiles(page, "idle"), 4, "the killed worker's tile is idle again");

  // Filtering by state shows only those jobs.
  await page.selectOption("#state-filter", "cancelled");
  await expectCount(page.locator("#job-rows tr"), 1, "one cancelled job");
  await page.selectOption("#state-filter", "");

  // Pause and resume from the header.
  await page.click("#pause");
  await expectText(page.locator("#pool-state"), "paused", "the header says paused");
  await page.click("#pause");
  await expectText(page.locator("#pool-state"), "", "no longer paused");
  await page.screenshot({ path: `${outDir}/dashboard-done.png`, fullPage: true });
}

async function token(page) {
  await page.goto(url);
  await page.locator("#token-panel:not([hidden])").waitFor(BOUND);
  await page.fill("#token", "not-the-token");
  await page.click("#token-form button");
  await page.locator("#token-message", { hasText: "That token was refused" }).waitFor(BOUND);
  await page.fill("#token", process.env.WASMPOOL_TOKEN);
  await page.click("#token-form button");
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  await expectCount(tiles(page, "idle"), 2, "two idle tiles once the token is right");
  assert.equal(await page.locator("#token-panel").isHidden(), true, "the prompt is gone");
  // The service's admin keeps every control.
  await page.locator("body[data-scope=admin][data-service-admin=yes]").waitFor(BOUND);
  assert.equal(await page.locator("#pause").isVisible(), true, "the admin may pause");
  // The token is kept for the tab: a reload does not ask again.
  await page.reload();
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  assert.equal(await page.locator("#token-panel").isHidden(), true, "no prompt after a reload");
  // 401s are the expected answers to the missing and wrong token, not page errors.
  problems.splice(0, problems.length, ...problems.filter((p) => !p.includes("401")));
}

/** A read token (WASMPOOL_TOKEN) sees the pool, but not the controls it may not use. */
async function scopes(page) {
  await page.goto(url);
  await page.locator("#token-panel:not([hidden])").waitFor(BOUND);
  await page.fill("#token", process.env.WASMPOOL_TOKEN);
  await page.click("#token-form button");
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  await expectCount(tiles(page, "idle"), 2, "the shared pool's two idle workers");
  await page.locator("body[data-scope=read][data-service-admin=no]").waitFor(BOUND);
  for (const control of ["#pause", "#submit-form", "#dropzone", "#bulk-retry", "#bulk-cancel", "#bulk-delete"]) {
    assert.equal(await page.locator(control).isVisible(), false, `${control} is hidden from a read token`);
  }
  problems.splice(0, problems.length, ...problems.filter((p) => !p.includes("401")));
}

async function live(page) {
  await page.goto(url);
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  // The guest prints a line, then waits on the queue `dash-gate` for each next line.
  const api = (method, path, body, type) => page.evaluate(async ([method, path, body, type]) => {
    const response = await fetch(path, { method, body, headers: { "Content-Type": type } });
    return [response.status, await response.text()];
  }, [method, path, body, type]);
  const job = { module: "queue-reader", args: ["dash-gate", "60000"] };
  const [status, accepted] = await api("POST", "/v1/jobs", JSON.stringify(job), "application/json");
  assert.equal(status, 202, accepted);
  const id = JSON.parse(accepted).id;
  await page.locator(`#job-rows tr[data-job-id="${id}"]`).click();
  await page.locator("#job-detail[open]").waitFor(BOUND);

  const stdout = page.locator("#detail-stdout");
  await stdout.filter({ hasText: "Process to read:" }).waitFor(BOUND);
  await page.locator('#job-detail[data-state="running"]').waitFor(BOUND);
  assert.equal((await stdout.textContent()).includes("Get"), false, "the next line does not exist yet");
  const put = (item) => api("POST", "/v1/queues/dash-gate", item, "application/octet-stream");
  assert.equal((await put("one"))[0], 201);
  await stdout.filter({ hasText: "Get one from queue." }).waitFor(BOUND);
  assert.equal(await page.locator("#job-detail").getAttribute("data-state"), "running", "shown while it still runs");
  await page.screenshot({ path: `${outDir}/dashboard-live-output.png`, fullPage: true });

  // The job ends: the dialog shows it as stored, the same output.
  assert.equal((await put("END"))[0], 201);
  await page.locator('#job-detail[data-state="succeeded"]').waitFor(BOUND);
  const stored = await page.evaluate(async (id) => (await (await fetch(`/v1/jobs/${id}`)).json()).stdout, id);
  assert.equal(await stdout.textContent(), stored, "the dialog shows the stored output");
  await page.click("#job-detail button[value=close]");
}

async function hosts(page) {
  await page.goto(url);
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  for (const name of ["a", "b"]) {
    await expectCount(page.locator(`#tiles [data-host="${name}"][data-host-state="alive"]`), 1, `an alive section for host ${name}`);
    await expectCount(hostTiles(page, name), 2, `two tiles of host ${name} in its section`);
  }
  await expectCount(page.locator("#tiles [data-host]"), 2, "two host sections");
  await expectCount(page.locator('#tiles [data-worker-pid]:not([data-node="a"]):not([data-node="b"])'), 0, "every tile names its host");

  // Four long jobs through a's page: each host runs two, and a's page shows b's busy tiles.
  await page.setInputFiles("#file", wasm);
  await page.locator("#upload-message", { hasText: "uploaded long-time-task" }).waitFor(BOUND);
  await page.fill("#args", "{i}");
  await page.fill("#env", "LONG_TIME_TASK_MIN_MS=60000 LONG_TIME_TASK_MAX_MS=60001");
  await page.fill("#count", "4");
  await page.click("#submit-form button[type=submit]");
  await page.locator("#submit-message", { hasText: "submitted jobs" }).waitFor(BOUND);
  await expectCount(hostTiles(page, "a", "busy"), 2, "two busy tiles of host a");
  await expectCount(hostTiles(page, "b", "busy"), 2, "two busy tiles of host b");
  await expectText(page.locator('[data-host="b"] .host-load'), "2/2 busy", "b's heading counts its busy workers");

  // A job running on b says so in its details and in the jobs table's host column.
  const jobId = await hostTiles(page, "b", "busy").first().getAttribute("data-job-id");
  const row = page.locator(`#job-rows tr[data-job-id="${jobId}"]`);
  await expectText(row.locator(".host-col"), "b", "the row's host column says b");
  assert.equal(await page.locator("th.host-col").isVisible(), true, "the host column shows with two hosts");
  await row.click();
  await page.locator("#job-detail[open]").waitFor(BOUND);
  await page.locator("#detail-fields", { hasText: "ran on host b" }).waitFor(BOUND);
  await page.click("#job-detail button[value=close]");
  await page.screenshot({ path: `${outDir}/dashboard-hosts.png`, fullPage: true });

  // Host b is SIGKILLed: within 10 s its section says lost and holds no tiles.
  console.log("KILL b");
  const input = createInterface({ input: process.stdin });
  const [reply] = await Promise.race([
    input[Symbol.asyncIterator]().next().then(({ value }) => [value]),
    page.waitForTimeout(BOUND.timeout).then(() => [null]),
  ]);
  input.close();
  assert.equal(reply, "killed", "the test killed host b");
  const lost = { timeout: 10_000 };
  const section = page.locator('#tiles [data-host="b"]');
  await page.locator('#tiles [data-host="b"][data-host-state="lost"]').waitFor(lost);
  await expectCount(hostTiles(page, "b"), 0, "no tiles left in b's section", lost);
  assert.equal(await section.isVisible(), true, "b's section stays visible");
  await section.locator(".host-heading", { hasText: /^\s*b\s+lost\s+— its jobs were retried on other hosts.*·\s+last heartbeat \d/ }).waitFor(lost);
  await expectCount(page.locator('#tiles [data-host="a"][data-host-state="alive"]'), 1, "a is still alive");
  await expectCount(hostTiles(page, "a"), 2, "a's tiles are still there");
  await shot(page, "dashboard-host-lost.png", "dashboard-hosts.png");
}

/** Saves a screenshot in OUT_DIR as `name`, and in DOCS_DIR as `docsName` when given. */
async function shot(page, name, docsName) {
  await page.screenshot({ path: `${outDir}/${name}`, fullPage: true });
  if (docsName && process.env.DOCS_DIR) {
    await page.screenshot({ path: `${process.env.DOCS_DIR}/${docsName}`, fullPage: true });
  }
}

async function lanes(page) {
  await page.goto(url);
  await page.locator("#connection[data-status=live]").waitFor(BOUND);
  const group = (lane) => page.locator(`#tiles .lane[data-lane="${lane}"]`);
  const laneTiles = (lane, state) =>
    group(lane).locator(`[data-worker-pid][data-lane="${lane}"]${state ? `[data-state="${state}"]` : ""}`);
  await expectCount(page.locator("#tiles .lane"), 2, "a group per lane");
  await expectCount(laneTiles("default"), 2, "the default lane's two tiles in its group");
  await expectCount(laneTiles("slow"), 1, "the slow lane's tile in its group");
  await expectCount(page.locator("#tiles [data-worker-pid]"), 3, "no tile outside its lane");
  const order = await page.locator("#tiles .lane").evaluateAll((all) => all.map((g) => g.dataset.lane));
  assert.deepEqual(order, ["default", "slow"], "the lanes in the host's order");
  await expectText(group("slow").locator(".lane-name"), "lane slow", "the slow lane's heading names it");
  await expectCount(laneTiles("slow", "busy"), 1, "the slow lane's worker runs its job");
  await expectCount(laneTiles("default", "idle"), 2, "the default lane's workers are idle");
  await expectText(group("slow").locator(".lane-load"), "1/1 busy · 2 queued", "the slow lane's load and queue");
  await expectText(group("default").locator(".lane-load"), "0/2 busy · 0 queued", "the default lane's load");
  const tile = laneTiles("slow", "busy");
  assert.ok((await tile.getAttribute("data-node"))?.length > 0, "the tile names its host");
  await page.screenshot({ path: `${outDir}/dashboard-lanes.png`, fullPage: true });
}

function hostTiles(page, name, state) {
  return page.locator(`#tiles [data-host="${name}"] [data-worker-pid][data-node="${name}"]${state ? `[data-state="${state}"]` : ""}`);
}

async function expectCount(locator, n, what, bound = BOUND) {
  const deadline = Date.now() + bound.timeout;
  let seen;
  while (Date.now() < deadline) {
    seen = await locator.count();
    if (seen === n) return;
    await locator.page().waitForTimeout(50);
  }
  assert.fail(`${what}: saw ${seen}, expected ${n}`);
}

async function expectText(locator, text, what) {
  const deadline = Date.now() + BOUND.timeout;
  let seen;
  while (Date.now() < deadline) {
    seen = (await locator.textContent())?.trim();
    if (seen === text) return;
    await locator.page().waitForTimeout(50);
  }
  assert.fail(`${what}: saw ${JSON.stringify(seen)}, expected ${JSON.stringify(text)}`);
}
