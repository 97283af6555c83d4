//! HTTP client for a running wasmpool service (filled in by the client verbs work).
