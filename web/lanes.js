// The Lanes view: each lane's workers, busy workers, and its queued and running jobs, from the
// pool frames (`lanes` of a PoolView; a server without lanes has one, `default`).

import { fill, num, row } from "./rows.js";

let latest = null;

/** Remembers the latest pool frame and redraws. */
export function showLanes(pool) {
  latest = pool;
  refreshLanes();
}

/** The lanes' names, as last seen. */
export function laneNames() {
  return (latest?.lanes ?? []).map((lane) => lane.name);
}

/** Redraws the table from the latest pool frame. */
export function refreshLanes() {
  if (!latest) return;
  const lanes = latest.lanes ?? [{
    name: "default",
    workers: latest.workers.length,
    busy: latest.workers.filter((w) => w.state === "busy").length,
    queued: latest.counts.queued ?? 0,
    running: latest.counts.running ?? 0,
  }];
  fill("lane-rows", lanes.map((lane) => row({ lane: lane.name }, [
    lane.name, num(lane.workers), num(lane.busy), num(lane.queued), num(lane.running),
  ])));
  document.body.toggleAttribute("data-many-lanes", lanes.length > 1);
}
