//! Named rate limits (issue 23): their definitions and use, per tenant (stored as names
//! are: `TENANT:name` for a tenant other than the default one). The claim keeps them
//! (`buckets.rs`).

use std::time::SystemTime;

use super::backend::RateLimits;
use super::buckets::{Bucket, Buckets};
use super::rows::micros;
use super::tenants::{split_name, stored_name};
use super::{Engine, Result, Store};

/// A rate limit as a tenant sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitRecord {
    /// Its name, as its tenant gave it.
    pub name: String,
    pub per: u64,
    pub window_us: u64,
    pub burst: u64,
    /// Whole tokens in its bucket now.
    pub available: u64,
    /// Queued jobs that use it.
    pub waiting: u64,
    /// The first ten of them (oldest first).
    pub first_waiting: Vec<i64>,
}

/// A `rate_limits` row with its waiting jobs: stored name, per, window (µs), burst, tokens,
/// refilled at (µs), waiting, the first waiting jobs' ids (a JSON array).
pub type RateLimitRow = (String, i64, i64, i64, f64, i64, i64, String);

impl Store {
    /// Sets `tenant`'s limit `name` (made if new; a changed limit keeps the tokens it has, up
    /// to its new burst). Waiting dispatchers are woken.
    pub async fn set_rate_limit(
        &self,
        tenant: &str,
        name: &str,
        (per, window_us, burst): (u64, u64, u64),
    ) -> Result<()> {
        let stored = stored_name(tenant, name);
        let values = (per as i64, window_us as i64, burst as i64);
        each!(self, store => store.set_rate_limit(stored, values).await)
    }

    /// Deletes `tenant`'s limit `name`; whether there was one. Jobs that named it are no
    /// longer limited by it.
    pub async fn delete_rate_limit(&self, tenant: &str, name: &str) -> Result<bool> {
        let stored = stored_name(tenant, name);
        each!(self, store => store.delete_rate_limit(stored).await)
    }

    /// `tenant`'s limits, by name, with their use.
    pub async fn rate_limits(&self, tenant: &str) -> Result<Vec<RateLimitRecord>> {
        let rows = each!(self, store => store.rate_limits(tenant).await)?;
        let now = micros(SystemTime::now());
        let mut limits: Vec<RateLimitRecord> = rows
            .into_iter()
            .map(|(stored, per, window_us, burst, tokens, refilled_at, waiting, first)| {
                let bucket =
                    Bucket { name: stored.clone(), per, window_us, burst, tokens, refilled_at };
                RateLimitRecord {
                    name: split_name(&stored).1.to_string(),
                    per: per.max(0) as u64,
                    window_us: window_us.max(0) as u64,
                    burst: burst.max(0) as u64,
                    available: Buckets::new(vec![bucket], now).available(&stored),
                    waiting: waiting.max(0) as u64,
                    first_waiting: serde_json::from_str(&first).unwrap_or_default(),
                }
            })
            .collect();
        limits.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(limits)
    }

    /// Those of `names` that `tenant` has no limit of.
    pub async fn unknown_rate_limits(&self, tenant: &str, names: &[String]) -> Result<Vec<String>> {
        let stored: Vec<String> = names.iter().map(|name| stored_name(tenant, name)).collect();
        let known = each!(self, store => store.rate_limits_known(stored.clone()).await)?;
        Ok(names
            .iter()
            .zip(&stored)
            .filter(|(_, stored)| !known.contains(stored))
            .map(|(name, _)| name.clone())
            .collect())
    }
}
