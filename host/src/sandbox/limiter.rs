//! The per-job resource limiter: caps a job's total linear memory, records the peak, and
//! turns a refused growth into an error that names the memory limit.

use wasmtime::ResourceLimiter;

/// Raised (as a trap) when a guest grows its memory beyond the job's cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded (wanted {wanted})")]
pub struct MemoryLimitExceeded {
    /// The cap in bytes.
    pub limit: u64,
    /// The total the guest asked for.
    pub wanted: u64,
}

/// Tracks memory across all of a job's linear memories (a component may have several).
#[derive(Debug)]
pub struct JobLimiter {
    limit: u64,
    current: u64,
    peak: u64,
}

/// Tables above this many elements are refused: no real program needs more.
const MAX_TABLE_ELEMENTS: usize = 10_000_000;

impl JobLimiter {
    /// A limiter allowing at most `limit` bytes of linear memory in total.
    pub fn new(limit: u64) -> Self {
        JobLimiter { limit, current: 0, peak: 0 }
    }

    /// The largest total linear memory the job reached.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for JobLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let wanted = self.current.saturating_sub(current as u64) + desired as u64;
        if wanted > self.limit {
            return Err(MemoryLimitExceeded { limit: self.limit, wanted }.into());
        }
        self.current = wanted;
        self.peak = self.peak.max(wanted);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= maximum.unwrap_or(usize::MAX).min(MAX_TABLE_ELEMENTS))
    }
}
