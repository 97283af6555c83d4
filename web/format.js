// Small formatting helpers shared by the views.

/** The first 12 hex digits of a module hash. */
export function shortHash(hash) {
  return hash ? hash.slice(0, 12) : "";
}

/** `1.2 s`, `350 ms` or `2 min`. */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** How long a job ran (or has been running). */
export function jobDuration(job) {
  if (!job.started_at) return "";
  const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  return duration(end - Date.parse(job.started_at));
}

/** A local time of day for a timestamp. */
export function time(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleTimeString() : "";
}

/** Text of a job's stdout or stderr, decoding the base64 form when the text is absent. */
export function output(text, base64) {
  if (text !== null && text !== undefined) return text;
  if (!base64) return "";
  return `(binary, ${atob(base64).length} bytes)`;
}
