// What this server offers, read once from its OpenAPI document, so the page shows only the
// filters, actions and views the server has (an older or newer server differs).

import { call } from "./api.js";

let loading = null;
let paths = {};

/** Loads the document (once; again after a failure). */
export function loadFeatures() {
  if (!loading) {
    loading = call("GET", "/v1/openapi.json")
      .then((document) => { paths = document.paths ?? {}; })
      .catch((error) => { loading = null; throw error; });
  }
  return loading;
}

/** Whether the server has `method` on a path matching `pattern` (a path template or RegExp). */
export function has(method, pattern) {
  return Object.entries(paths).some(([path, operations]) =>
    (pattern instanceof RegExp ? pattern.test(path) : path === pattern) && method in operations);
}

/** The query parameters of an operation. */
export function queryParameters(method, path) {
  const parameters = paths[path]?.[method]?.parameters ?? [];
  return new Set(parameters.filter((p) => p.in === "query").map((p) => p.name));
}
