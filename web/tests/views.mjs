// The scenarios of the dashboard's views (run through dashboard.mjs, which passes the
// helpers): each opens its view's tab and checks what an operator sees there against the
// jobs, queues and schedules the Rust test made (named in environment variables).

import assert from "node:assert/strict";

const env = process.env;

/** The API as the page itself calls it (same origin, no token). */
function api(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const init = { method, headers: body === undefined ? {} : { "Content-Type": "application/json" } };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    const text = await response.text();
    return { status: response.status, json: text ? JSON.parse(text) : null };
  }, [method, path, body]);
}

async function open(page, ctx, view) {
  await page.goto(`${ctx.url}/#/${view}`);
  await page.locator("#connection[data-status=live]").waitFor(ctx.BOUND);
  await page.locator(`[data-tab="${view}"][aria-current="page"]`).waitFor(ctx.BOUND);
}

/** Waits (bounded) until `check()` resolves truthy; returns that value. */
async function until(page, ctx, what, check) {
  const deadline = Date.now() + ctx.BOUND.timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await page.waitForTimeout(50);
  }
  assert.fail(`${what}: not within ${ctx.BOUND.timeout} ms`);
}

/** The confirmation dialog once it asks `question`; answers it `yes` or no. */
async function answer(page, ctx, question, yes) {
  await page.locator("#confirm[open]", { hasText: question }).waitFor(ctx.BOUND);
  await page.click(yes ? "#confirm-yes" : '#confirm button[value="no"]');
  await page.locator("#confirm:not([open])").waitFor({ ...ctx.BOUND, state: "attached" });
}

/** The minute (ms since the epoch) a timestamp falls in. */
function minuteOf(timestamp) {
  const ms = Date.parse(timestamp);
  return ms - (ms % 60000);
}

export const views = {
  // JOBS: 55 `hello` jobs and 3 failing `exit-code 3` jobs, all ended (FAILED_IDS).
  async jobs(page, ctx) {
    const { expectCount, expectText, shot } = ctx;
    const failedIds = env.FAILED_IDS.split(",");
    await open(page, ctx, "jobs");
    const rows = page.locator("#job-rows tr");
    await expectCount(rows, 50, "the newest 50 jobs on the first page");
    assert.equal(await page.locator("#page-newer").isDisabled(), true, "no newer page");

    // The failed job's row says why it failed, as the API has it.
    const { json: failed } = await api(page, "GET", `/v1/jobs/${failedIds[0]}`);
    assert.ok(failed.error, "the failed job has a reason");
    await expectText(page.locator(`#job-rows tr[data-job-id="${failedIds[0]}"] td.reason`), failed.error, "the failed row's reason");

    // Paging past the newest 50: the next page holds the other 8, then back.
    await page.click("#page-older");
    await expectCount(rows, 8, "the 8 older jobs on page 2");
    await expectText(page.locator("#page-label"), "page 2 · jobs 51–58 (the oldest)", "page 2's label");
    assert.equal(await page.locator("#page-older").isDisabled(), true, "no older page");
    await page.click("#page-newer");
    await expectCount(rows, 50, "back to the first page");

    // Filters narrow the rows: state, then module.
    await page.selectOption("#state-filter", "failed");
    await expectCount(rows, 3, "the three failed jobs");
    await expectCount(page.locator('#job-rows tr:not([data-state="failed"])'), 0, "only failed rows");
    await shot(page, "dashboard-jobs-failed.png", "dashboard-jobs.png");
    await page.selectOption("#state-filter", "");
    const exitCode = await page.locator("#module-filter option", { hasText: "exit-code" }).getAttribute("value");
    await page.selectOption("#module-filter", exitCode);
    await expectCount(rows, 3, "the three jobs of exit-code");
    await page.click("#clear-filters");
    await expectCount(rows, 50, "every job again");

    // A `#/jobs?state=…` link opens the view filtered.
    await page.goto(`${ctx.url}/#/jobs?state=succeeded`);
    await expectCount(page.locator('#job-rows tr[data-state="succeeded"]'), 50, "a link's filter");
    await expectCount(page.locator('#job-rows tr:not([data-state="succeeded"])'), 0, "only succeeded rows");
    assert.equal(await page.locator("#state-filter").inputValue(), "succeeded", "the filter shows the link's state");
  },

  // MODULES: `sleeper` ran `0.3` three times (succeeded) and `x` once (failed: FAILED_ID);
  // `hello` is uploaded, never ran.
  async modules(page, ctx) {
    const { expectCount, expectText, shot } = ctx;
    await open(page, ctx, "modules");
    const { json: stats } = await api(page, "GET", "/v1/stats/modules");
    const sleeper = stats.modules.find((m) => m.name === "sleeper");
    assert.equal(sleeper.runs, 4);
    assert.ok(sleeper.p95_ms >= 300, `p95 ${sleeper.p95_ms} ms covers a 0.3 s sleep`);
    const row = page.locator(`#module-rows tr[data-module-hash="${sleeper.hash}"]`);
    await expectText(row.locator("td.runs"), "4", "sleeper's runs");
    await expectText(row.locator("td.success-rate"), "75.0%", "sleeper's success rate: 3 of 4");
    const p95 = sleeper.p95_ms < 1000 ? `${sleeper.p95_ms} ms` : `${(sleeper.p95_ms / 1000).toFixed(1)} s`;
    await expectText(row.locator("td.p95"), p95, "sleeper's p95 as the API computed it");
    const failure = row.locator("td.last-failure");
    await failure.filter({ hasText: `#${env.FAILED_ID}` }).waitFor(ctx.BOUND);
    assert.ok((await failure.textContent()).includes(sleeper.last_failure.error), "the last failure's reason");

    // A module that never ran: no runs, no rate.
    const hello = stats.modules.find((m) => m.name === "hello");
    const helloRow = page.locator(`#module-rows tr[data-module-hash="${hello.hash}"]`);
    await expectText(helloRow.locator("td.runs"), "0", "hello never ran");
    await expectText(helloRow.locator("td.success-rate"), "–", "no rate without runs");
    await shot(page, "dashboard-modules.png", "dashboard-modules.png");

    // The last failure opens the failed job.
    await failure.locator("a").click();
    await page.locator("#job-detail[open]").waitFor(ctx.BOUND);
    await page.locator("#detail-title", { hasText: `Job ${env.FAILED_ID}` }).waitFor(ctx.BOUND);
    await page.click("#job-detail button[value=close]");

    // Delete hello (asked first), then upload it again from this view.
    await helloRow.locator("button", { hasText: "Delete" }).click();
    await page.locator("#confirm[open]", { hasText: "Delete module hello?" }).waitFor(ctx.BOUND);
    await page.click("#confirm-yes");
    await expectCount(helloRow, 0, "hello's row is gone");
    await expectText(page.locator("#modules-message"), "deleted hello", "the view says so");
    await page.setInputFiles("#modules-file", env.HELLO_WASM);
    await page.locator("#modules-message", { hasText: "uploaded hello" }).waitFor(ctx.BOUND);
    await expectCount(page.locator(`#module-rows tr[data-module-hash="${hello.hash}"]`), 1, "hello is back");
  },

  // HISTORY: FAILED jobs failed and SUCCEEDED succeeded within the last few minutes.
  async history(page, ctx) {
    const { expectCount, shot } = ctx;
    await open(page, ctx, "history");
    const hour = page.locator("#history-hour");
    await expectCount(hour.locator('rect[data-kind="failed"]'), 60, "a bar per minute of the hour");
    await expectCount(page.locator('#history-day rect[data-kind="failed"]'), 96, "a bar per 15 minutes of the day");

    // The bar of each minute that had failures shows that many, and is drawn.
    const { json: failed } = await api(page, "GET", "/v1/jobs?state=failed&limit=1000");
    assert.equal(failed.jobs.length, Number(env.FAILED));
    const perMinute = new Map();
    for (const job of failed.jobs) perMinute.set(minuteOf(job.finished_at), (perMinute.get(minuteOf(job.finished_at)) ?? 0) + 1);
    const bars = await hour.locator('rect[data-kind="failed"]').evaluateAll((all) =>
      all.map((rect) => ({ start: Date.parse(rect.dataset.start), value: Number(rect.dataset.value), height: Number(rect.getAttribute("height")) })));
    for (const [minute, count] of perMinute) {
      const bar = bars.find((b) => b.start === minute);
      assert.ok(bar, `a bar for the minute ${new Date(minute).toISOString()}`);
      assert.equal(bar.value, count, `the bar of ${new Date(minute).toISOString()} shows its ${count} failures`);
      assert.ok(bar.height > 0, "and is drawn");
    }
    assert.equal(bars.reduce((sum, b) => sum + b.value, 0), Number(env.FAILED), "no other failures");
    const succeeded = await hour.locator('rect[data-kind="succeeded"]').evaluateAll((all) => all.reduce((sum, r) => sum + Number(r.dataset.value), 0));
    assert.equal(succeeded, Number(env.SUCCEEDED), "every success counted once");

    // Axes with their units, and time labels.
    assert.equal(await hour.locator(".y-label").textContent(), "jobs / min");
    assert.match(await hour.locator(".x-label").textContent(), /^time \(local\), one bar per 1 min$/);
    assert.equal(await page.locator("#history-day .y-label").textContent(), "jobs / 15 min");
    const yTicks = await hour.locator(".y-tick").allTextContents();
    assert.equal(yTicks[0], "0", "the y axis starts at 0");
    assert.ok(Number(yTicks.at(-1)) >= Math.max(...bars.map((b) => b.value)), "and reaches the tallest bar");
    await expectCount(hour.locator(".x-tick"), 6, "a time label every 10 minutes");
    await shot(page, "dashboard-history.png", "dashboard-history.png");
  },

  // WORKFLOWS: workflow WORKFLOW_ID, ended failed: `build` succeeded, `test` failed,
  // `deploy` cancelled below it, `notify` (on_parent_failure run) succeeded.
  async workflows(page, ctx) {
    const { expectCount, expectText, shot } = ctx;
    const id = env.WORKFLOW_ID;
    await open(page, ctx, "workflows");
    const listed = page.locator(`#workflow-rows tr[data-workflow="${id}"]`);
    await expectCount(listed, 1, "the workflow is listed");
    assert.equal(await listed.getAttribute("data-state"), "failed", "as failed");
    await listed.click();
    const nodes = page.locator(`#workflow-graph svg[data-workflow="${id}"] [data-job-id]`);
    await expectCount(nodes, 4, "a box per job");
    const { json: workflow } = await api(page, "GET", `/v1/workflows/${id}`);
    for (const job of workflow.jobs) {
      const node = page.locator(`#workflow-graph [data-job-id="${job.id}"]`);
      assert.equal(await node.getAttribute("data-state"), job.state, `${job.name} coloured by its state`);
    }
    await expectCount(page.locator("#workflow-graph line.edge"), workflow.edges.length, "a line per edge");
    // Parents are drawn above their children.
    const top = async (jobId) => Number(await page.locator(`#workflow-graph [data-job-id="${jobId}"] rect`).getAttribute("y"));
    for (const [parent, child] of workflow.edges) assert.ok(await top(parent) < await top(child), `${parent} above ${child}`);
    await expectText(page.locator("#workflow-title"), `Workflow #${id}: failed (4 jobs)`, "the workflow's title");
    await shot(page, "dashboard-workflows.png", "dashboard-workflows.png");
    // A click opens the job.
    const deploy = workflow.jobs.find((job) => job.name === "deploy");
    await page.locator(`#workflow-graph [data-job-id="${deploy.id}"]`).click();
    await page.locator("#job-detail[open]").waitFor(ctx.BOUND);
    await expectText(page.locator("#detail-title"), `Job ${deploy.id} · deploy: cancelled`, "the job's dialog");
  },

  // VIEWS: 2 workers, queue `inbox` with 2 items and `outbox` with 1 (put in that order).
  async views(page, ctx) {
    const { expectCount, expectText, shot } = ctx;
    await open(page, ctx, "queues");
    await expectText(page.locator('#queue-rows tr[data-queue="inbox"] td:nth-child(2)'), "2", "inbox's items");
    await expectText(page.locator('#queue-rows tr[data-queue="outbox"] td:nth-child(2)'), "1", "outbox's items");
    const ages = await page.locator("#queue-rows td.age").allTextContents();
    assert.ok(ages.every((age) => /^\d+(\.\d)? (ms|s|min)$/.test(age)), `ages shown: ${ages}`);
    await shot(page, "dashboard-queues.png");
    // Emptied, the queue leaves the view.
    await api(page, "POST", "/v1/queues/outbox/get");
    await expectCount(page.locator('#queue-rows tr[data-queue="outbox"]'), 0, "outbox is empty");
    // Peek shows inbox's items without taking them; Purge… empties it once confirmed.
    const inbox = page.locator('#queue-rows tr[data-queue="inbox"]');
    await inbox.locator("button", { hasText: "Peek" }).click();
    await expectText(page.locator("#queue-peek"), 'inbox: the oldest 2 of 2\n#1  1 B  "1"\n#2  1 B  "2"', "the two items");
    assert.equal((await api(page, "GET", "/v1/queues")).json[0].length, 2, "nothing taken");
    await inbox.locator("button", { hasText: "Purge" }).click();
    await answer(page, ctx, "Purge queue inbox?", true);
    await expectText(page.locator("#queues-message"), "inbox: 2 items removed", "the view says so");
    await expectCount(page.locator('#queue-rows tr[data-queue="inbox"]'), 0, "inbox is empty");
    assert.deepEqual((await api(page, "GET", "/v1/queues")).json, [], "as the API has it");

    await page.click('[data-tab="hosts"]');
    const { json: nodes } = await api(page, "GET", "/v1/nodes");
    await expectCount(page.locator('#host-rows tr[data-host-state="alive"]'), 1, "the one host, alive");
    await expectText(page.locator("#host-rows tr td:first-child"), nodes[0].name, "named");
    await expectText(page.locator("#host-rows tr td:nth-child(6)"), "2", "its two workers");

    await page.click('[data-tab="lanes"]');
    await expectText(page.locator('#lane-rows tr[data-lane="default"] td:nth-child(2)'), "2", "the default lane's workers");

    // The live view is where the page starts, and its tabs are links.
    await page.click('[data-tab="live"]');
    await expectCount(page.locator("#tiles [data-worker-pid]"), 2, "the live tiles");
    // The tiles are kept while another tab shows; the panels show once the router has run.
    await page.locator(".panel.queue").waitFor({ ...ctx.BOUND, state: "visible" });
    assert.equal(await page.locator("#queue-rows").isVisible(), false, "not the other views'");
  },

  // BULK (retry, cancel, then delete): lanes default=1 and slow=1, the pool paused; SLOW_IDS (`slow-hello`, succeeded, in
  // slow), FAILED_IDS (`nightly-fail`, failed, in default), NEEDLE_ID (`the-needle-job`).
  async bulk(page, ctx) {
    const { expectCount, expectText, shot } = ctx;
    const slowIds = env.SLOW_IDS.split(",");
    const failedIds = env.FAILED_IDS.split(",");
    await open(page, ctx, "jobs");
    const rows = page.locator("#job-rows tr");
    const ids = async () => (await rows.evaluateAll((all) => all.map((row) => row.dataset.jobId))).sort();
    await expectCount(rows, 6, "every job");

    // The lane filter (its lanes come from the pool) narrows the rows to one lane.
    await page.locator('#lane-filter option[value="slow"]').waitFor({ ...ctx.BOUND, state: "attached" });
    await page.selectOption("#lane-filter", "slow");
    await expectCount(rows, 2, "the slow lane's jobs");
    assert.deepEqual(await ids(), [...slowIds].sort(), "exactly the jobs submitted to slow");
    assert.deepEqual(await rows.locator("td.lane-col").allTextContents(), ["slow", "slow"], "each row says its lane");
    await page.selectOption("#lane-filter", "default");
    await expectCount(rows, 4, "the default lane's jobs");
    await page.click("#clear-filters");
    await expectCount(rows, 6, "every job again");

    // The search box: an id finds exactly that job, a word the jobs whose names contain it.
    await page.fill("#job-search", env.NEEDLE_ID);
    await expectCount(rows, 1, "the job with that id");
    assert.deepEqual(await ids(), [env.NEEDLE_ID], "the needle by its id");
    await page.fill("#job-search", "needle");
    await expectCount(page.locator(`#job-rows tr[data-job-id="${env.NEEDLE_ID}"]`), 1, "the needle by name");
    await expectCount(rows, 1, "only the needle's name contains `needle`");
    await page.fill("#job-search", "nightly");
    await expectCount(rows, 3, "the three `nightly-fail` jobs");
    assert.deepEqual(await ids(), [...failedIds].sort(), "found by a part of their name");
    await page.click("#clear-filters");
    await expectCount(rows, 6, "every job again");

    // Retry matching… over state=failed: asked first (No changes nothing), the question
    // names how many match; then the failed rows turn queued (the pool is paused).
    await page.selectOption("#state-filter", "failed");
    await expectCount(rows, 3, "the three failed jobs");
    await page.click("#bulk-retry");
    await answer(page, ctx, "Retry 3 of 3 matching jobs?", false);
    await expectCount(page.locator('#job-rows tr[data-state="failed"]'), 3, "No leaves them failed");
    await page.click("#bulk-retry");
    await page.locator("#confirm[open]", { hasText: "Retry 3 of 3 matching jobs?" }).waitFor(ctx.BOUND);
    await shot(page, "dashboard-jobs-bulk.png");
    await answer(page, ctx, "Retry 3 of 3 matching jobs?", true);
    await expectText(page.locator("#jobs-message"), "retried 3 of 3 matching jobs", "the view says what changed");
    await expectCount(rows, 0, "no failed jobs left");
    await page.selectOption("#state-filter", "queued");
    await expectCount(rows, 3, "the retried jobs, queued");
    assert.deepEqual(await ids(), [...failedIds].sort(), "the failed rows are now queued");
    for (const id of failedIds) {
      const { json: job } = await api(page, "GET", `/v1/jobs/${id}`);
      assert.equal(job.state, "queued", `job ${id} is queued as the API has it`);
    }

    // Cancel matching… over state=queued: the three, cancelled.
    await page.click("#bulk-cancel");
    await answer(page, ctx, "Cancel 3 of 3 matching jobs?", true);
    await expectText(page.locator("#jobs-message"), "cancelled 3 of 3 matching jobs", "the view says what changed");
    await expectCount(rows, 0, "no queued jobs left");
    await page.selectOption("#state-filter", "cancelled");
    await expectCount(rows, 3, "the three, cancelled");
    assert.deepEqual(await ids(), [...failedIds].sort(), "the same three jobs");
    for (const id of failedIds) {
      const { json: job } = await api(page, "GET", `/v1/jobs/${id}`);
      assert.equal(job.state, "cancelled", `job ${id} is cancelled as the API has it`);
    }

    // Delete matching… over state=cancelled: asked first, then the three are gone.
    await page.click("#bulk-delete");
    await answer(page, ctx, "Delete 3 matching jobs?", true);
    await expectText(page.locator("#jobs-message"), "deleted 3 of 3 matching jobs", "the view says what went");
    await expectCount(rows, 0, "no cancelled jobs left");
    // (Listed, not fetched one by one: a 404 would be logged as a page error.)
    const { json: left } = await api(page, "GET", "/v1/jobs?limit=1000");
    const leftIds = left.jobs.map((job) => String(job.id));
    assert.ok(failedIds.every((id) => !leftIds.includes(id)), "gone as the API has it");
  },

  // CAP: `hello` uploaded, no cap.
  async cap(page, ctx) {
    const { expectText, shot } = ctx;
    await open(page, ctx, "modules");
    const { json: hello } = await api(page, "GET", "/v1/modules/hello");
    assert.equal(hello.max_running, null, "no cap to begin with");
    const cap = page.locator(`#module-rows tr[data-module-hash="${hello.hash}"] td.cap`);
    const field = cap.locator("input");
    const capOf = async () => (await api(page, "GET", "/v1/modules/hello")).json.max_running;

    await field.fill("2");
    await cap.locator("button", { hasText: "Set" }).click();
    await expectText(page.locator("#modules-message"), "hello: at most 2 running at once", "the view says so");
    await until(page, ctx, "the cap is 2 as the API has it", async () => (await capOf()) === 2);
    const { json: stats } = await api(page, "GET", "/v1/stats/modules");
    assert.equal(stats.modules.find((m) => m.name === "hello").max_running, 2, "the stats the view reads carry the cap");
    // The table, refreshed from the server, shows the cap.
    await until(page, ctx, "the row shows the cap", async () => (await field.inputValue()) === "2");
    await shot(page, "dashboard-modules-cap.png");

    await field.fill("");
    await cap.locator("button", { hasText: "Set" }).click();
    await expectText(page.locator("#modules-message"), "hello: no cap", "the view says so");
    await until(page, ctx, "the cap is cleared as the API has it", async () => (await capOf()) === null);
    await until(page, ctx, "the row shows no cap", async () => (await field.inputValue()) === "");
  },

  // SCHEDULES: `tick` (every two seconds, UTC) and `nightly` (03:00 Europe/Paris), both `hello`.
  async schedules(page, ctx) {
    const { expectText, shot } = ctx;
    await open(page, ctx, "schedules");
    const row = (name) => page.locator(`#schedule-rows tr[data-schedule="${name}"]`);
    await expectText(row("tick").locator("td.cron"), "*/2 * * * * * (UTC)", "tick's cron");
    await expectText(row("nightly").locator("td.cron"), "0 3 * * * (Europe/Paris)", "nightly's cron");

    // The next run: the API's time, in the future, said as such.
    const { json: nightly } = await api(page, "GET", "/v1/schedules/nightly");
    const next = row("nightly").locator("td.next-run");
    assert.equal(await next.getAttribute("title"), nightly.next_run_at, "nightly's next run as the API has it");
    assert.ok(Date.parse(nightly.next_run_at) > Date.now(), "in the future");
    assert.match(await next.textContent(), /\(in \d+ (s|min|h)\)$/, "said to be ahead");
    // In the schedule's own zone, named: 03:00 Paris time, whatever the browser's zone.
    assert.match(await next.textContent(), /03:00 (GMT\+[12]|CES?T)/, "nightly's next run in Paris time");
    assert.match(await row("tick").locator("td.next-run").textContent(), / UTC /, "tick's in UTC, said so");
    assert.equal((await row("nightly").locator("td.last-run").textContent()).trim(), "–", "nightly never ran");

    // Once tick fired: its last run and the job it made, which the API says that schedule made.
    const lastJob = row("tick").locator("td.last-job a");
    await lastJob.waitFor(ctx.BOUND);
    const jobId = (await lastJob.textContent()).replace("#", "");
    const { json: job } = await api(page, "GET", `/v1/jobs/${jobId}`);
    assert.equal(job.schedule, "tick", "the last job was made by tick");
    const lastRun = await row("tick").locator("td.last-run").getAttribute("title");
    assert.ok(lastRun && Date.parse(lastRun) <= Date.now(), `tick's last run ${lastRun} is past`);
    assert.match(await row("tick").locator("td.last-run").textContent(), /ago\)$/, "said to be past");
    await shot(page, "dashboard-schedules.png", "dashboard-schedules.png");

    // Pause, then resume: the buttons flip `enabled`, as the API has it.
    const enabled = async () => (await api(page, "GET", "/v1/schedules/tick")).json.enabled;
    await row("tick").locator("button", { hasText: "Pause" }).click();
    await page.locator('#schedule-rows tr[data-schedule="tick"][data-enabled="false"]').waitFor(ctx.BOUND);
    assert.equal(await enabled(), false, "paused");
    await expectText(row("tick").locator("td.state"), "paused", "the row says paused");
    await expectText(row("tick").locator("td.next-run"), "–", "no next run while paused");
    await row("tick").locator("button", { hasText: "Resume" }).click();
    await page.locator('#schedule-rows tr[data-schedule="tick"][data-enabled="true"]').waitFor(ctx.BOUND);
    assert.equal(await enabled(), true, "resumed");
    await expectText(row("tick").locator("td.state"), "active", "the row says active");

    // A job delayed ten minutes: its dialog says when it is due, as the API has it.
    const { json: delayed } = await api(page, "GET", `/v1/jobs/${env.DELAYED_ID}`);
    assert.ok(delayed.run_at, `the API gives the due time: ${JSON.stringify(delayed)}`);
    await page.evaluate((id) => import("/jobs.js").then((jobs) => jobs.openJob(Number(id))), env.DELAYED_ID);
    const due = page.locator("#detail-fields", { hasText: delayed.run_at });
    await due.waitFor(ctx.BOUND);
    assert.match(await due.textContent(), /due.*\(in \d+ min\)/, "said to be ahead");
    await page.click("#job-detail button[value=close]");

    // Run now: nightly's job is submitted at once; its ticks are left as they were.
    await row("nightly").locator("button", { hasText: "Run now" }).click();
    const note = page.locator("#schedules-message", { hasText: "nightly: job #" });
    await note.waitFor(ctx.BOUND);
    const ranId = (await note.textContent()).match(/#(\d+)/)[1];
    const { status, json: ran } = await api(page, "GET", `/v1/jobs/${ranId}`);
    assert.equal(status, 200, "the job run now exists");
    assert.equal((await api(page, "GET", "/v1/schedules/nightly")).json.last_run_at, null, "not counted as a tick");
  },

  // LIMITS: rate limit `api` (1 a minute) and three `hello` jobs naming it (JOB_IDS), the
  // pool paused: none has started.
  async limits(page, ctx) {
    const { expectText, shot } = ctx;
    const ids = env.JOB_IDS.split(",");
    await open(page, ctx, "limits");
    const api_ = page.locator('#limit-rows tr[data-limit="api"]');
    await expectText(api_.locator("td:nth-child(2)"), "1 per 1 min", "its rate");
    await expectText(api_.locator("td.available"), "1", "one start allowed now");
    await expectText(api_.locator("td.waiting"), "3", "three jobs wait on it");
    await expectText(api_.locator("td.jobs"), ids.map((id) => `#${id}`).join(" "), "which ones");
    await shot(page, "dashboard-limits.png");
    // Resumed, the first takes the one token; the other two wait for the next minute.
    await api(page, "POST", "/v1/pool/resume");
    await expectText(api_.locator("td.waiting"), "2", "two still wait");
    await expectText(api_.locator("td.available"), "0", "no start allowed now");
  },
};
