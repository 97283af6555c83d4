//! A submission's flow control (issue 23): its concurrency key and the limit that goes with
//! it, and the rate limits it names (whether they exist is the service's to say).

use super::{Refused, check_name};
use crate::wire::JobRequest;

/// Most jobs of one concurrency key a job may let run at once.
pub const MAX_CONCURRENCY_LIMIT: u32 = 10_000;

/// The job's concurrency key and limit (1 when it gives none), checked: a key named as lanes
/// are, a limit from 1 to [`MAX_CONCURRENCY_LIMIT`] and only with a key.
pub fn concurrency(request: &JobRequest) -> Result<Option<(String, u32)>, Refused> {
    let Some(key) = &request.concurrency_key else {
        if request.concurrency_limit.is_some() {
            return Err(Refused("concurrency_limit needs a concurrency_key".into()));
        }
        return Ok(None);
    };
    check_name("concurrency key", key)?;
    let limit = request.concurrency_limit.unwrap_or(1);
    if !(1..=MAX_CONCURRENCY_LIMIT).contains(&limit) {
        return Err(Refused(format!(
            "concurrency_limit {limit} is out of range 1..={MAX_CONCURRENCY_LIMIT}"
        )));
    }
    Ok(Some((key.clone(), limit)))
}

/// Most rate limits one job may name.
pub const MAX_JOB_RATE_LIMITS: usize = 8;

/// The rate limits a job names: at most [`MAX_JOB_RATE_LIMITS`], named as lanes are, each
/// once.
pub fn rate_limits(request: &JobRequest) -> Result<Vec<String>, Refused> {
    let names = &request.rate_limits;
    if names.len() > MAX_JOB_RATE_LIMITS {
        return Err(Refused(format!(
            "{} rate_limits is more than the maximum of {MAX_JOB_RATE_LIMITS}",
            names.len()
        )));
    }
    for (index, name) in names.iter().enumerate() {
        check_name("rate limit", name)?;
        if names[..index].contains(name) {
            return Err(Refused(format!("rate limit `{name}` is named twice")));
        }
    }
    Ok(names.clone())
}
