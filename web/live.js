// GET /v1/events read with fetch (so the token can go in a header), parsed as Server-Sent
// Events, reconnecting with backoff whenever the stream ends: a restarted server is picked
// up again without a reload.

import { askForToken, authHeaders, onTokenChange } from "./api.js";

const MAX_BACKOFF_MS = 5000;

/**
 * Streams events forever. `onEvent(type, data)` gets each parsed event; `onStatus(s)` gets
 * "live", "reconnecting" or "unauthorized".
 */
export function follow(onEvent, onStatus) {
  let wake = null;
  onTokenChange(() => wake?.());
  (async () => {
    let backoff = 250;
    for (;;) {
      try {
        const response = await fetch("/v1/events", { headers: authHeaders({ Accept: "text/event-stream" }) });
        if (response.status === 401) {
          onStatus("unauthorized");
          askForToken(sessionStorage.getItem("wasmpool-token") ? "That token was refused. Enter the right one." : "");
          await new Promise((resolve) => { wake = resolve; });
          continue;
        }
        if (!response.ok) throw new Error(`events: HTTP ${response.status}`);
        onStatus("live");
        backoff = 250;
        await read(response.body, onEvent);
      } catch {
        // The server is gone or restarting: try again below.
      }
      onStatus("reconnecting");
      await new Promise((resolve) => { wake = resolve; setTimeout(resolve, backoff); });
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  })();
}

async function read(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end + 2);
    }
  }
}

function dispatch(block, onEvent) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length === 0) return; // a keep-alive comment
  onEvent(type, JSON.parse(data.join("\n")));
}
