// The Hosts view: every host of the cluster (`GET /v1/nodes`: with SQLite, this one), its
// state, address, version, busy and all workers, start and last heartbeat.

import { call } from "./api.js";
import { time } from "./format.js";
import { fill, num, row } from "./rows.js";

/** Reloads the table. */
export async function refreshHostList() {
  let nodes;
  try {
    nodes = await call("GET", "/v1/nodes");
  } catch {
    return; // Shown by the connection status or the token prompt.
  }
  const rows = nodes.map((node) => row({ host: node.name, hostState: node.state }, [
    node.name, { text: node.state, className: `host-state-cell ${node.state}` }, node.address, node.version,
    num(node.busy), num(node.workers), time(node.started_at), time(node.heartbeat_at),
  ]));
  fill("host-rows", rows, "hosts-note", "no hosts yet");
}
