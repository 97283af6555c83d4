//! Named rate limits (issue 23): `PUT /v1/rate-limits/{name}` sets one of the caller's
//! tenant's, `GET /v1/rate-limits` lists them with their use, `DELETE` removes one. A job
//! names the limits it uses (`"rate_limits": ["openai"]`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Longest window a limit may have: a day.
pub const MAX_LIMIT_WINDOW_MS: u64 = 86_400_000;
/// Most starts per window, and the largest burst.
pub const MAX_LIMIT_RATE: u64 = 1_000_000;

/// `PUT /v1/rate-limits/{name}`: at most `per` starts every `window_ms`, with up to `burst`
/// saved up (a token bucket of `burst` tokens refilled at `per` per `window_ms`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSet {
    /// Starts per window.
    #[schema(minimum = 1, maximum = 1000000)]
    pub per: u64,
    /// The window, in milliseconds.
    #[schema(minimum = 1, maximum = 86400000)]
    pub window_ms: u64,
    /// Starts that may go at once after a quiet while (default 1: evenly spread).
    #[serde(default, deserialize_with = "super::integral::option")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub burst: Option<u64>,
}

/// A rate limit and its use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimitView {
    /// Its name (the tenant's own).
    pub name: String,
    /// Starts per window.
    pub per: u64,
    /// The window, in milliseconds.
    pub window_ms: u64,
    /// Starts that may go at once after a quiet while.
    pub burst: u64,
    /// Starts it would allow right now (whole tokens in its bucket).
    pub available: u64,
    /// Queued jobs that use it (waiting on it, or on their turn).
    pub waiting: u64,
    /// The ids of the first ten of them, oldest first.
    #[serde(default)]
    pub first_waiting: Vec<i64>,
}
