//! Which jobs a request means: the list's query filters and a bulk action's body, checked
//! (bad state, bad time, bad name, ambiguous hash prefix: 400; unknown module: 404) and
//! turned into the store's [`JobFilter`].

use std::time::{Duration, SystemTime};

use super::auth::Caller;
use super::{ApiError, ApiResult, AppState, tenancy};
use crate::store::JobFilter;
use crate::wire::JobSelector;
use wasmpool_protocol::validate::{check_filter_text, check_name};

/// The store's filter for `selector` (paging fields left empty).
/// Only the caller's jobs are ever selected.
pub async fn filter(
    state: &AppState,
    caller: &Caller,
    selector: &JobSelector,
) -> ApiResult<JobFilter> {
    let JobSelector {
        state: job_state,
        module,
        lane,
        node,
        schedule,
        name,
        q,
        submitted_after,
        submitted_before,
        dry_run: _,
    } = selector;
    let module_hash = match module.as_deref() {
        Some(module) => Some(module_hash(state, caller, module).await?),
        None => None,
    };
    if let Some(schedule) = schedule {
        check_name("schedule", schedule)?;
    }
    if let Some(lane) = lane {
        check_name("lane", lane)?;
    }
    let submitted_after = submitted_after.as_deref().map(|t| time("submitted_after", t));
    let submitted_before = submitted_before.as_deref().map(|t| time("submitted_before", t));
    Ok(JobFilter {
        state: *job_state,
        module_hash,
        lane: lane.clone(),
        node: node.as_deref().map(|node| text("node", node)).transpose()?,
        schedule: schedule.as_deref().map(|name| caller.stored_name(name)),
        workflow: None,
        name: name.as_deref().map(|name| text("name", name)).transpose()?,
        search: q.as_deref().map(|q| text("q", q)).transpose()?,
        submitted_after: submitted_after.transpose()?,
        submitted_before: submitted_before.transpose()?,
        before: None,
        limit: 0,
        tenant: Some(caller.tenant.clone()),
    })
}

/// Shortest hash prefix a filter takes, as git's shortest abbreviation.
const MIN_PREFIX: usize = 4;

/// The module a filter names: by name, by hash, or by a prefix of its hash that only it has
/// (`jobs` prints 12 hex digits; git takes abbreviated commits alike). A prefix that several
/// hashes share is a 400 saying how many; one naming nothing is a 404.
async fn module_hash(state: &AppState, caller: &Caller, text: &str) -> ApiResult<String> {
    if let Some(module) = tenancy::find_module(state, caller, text).await? {
        return Ok(module.hash);
    }
    let prefix = text.to_ascii_lowercase();
    if (MIN_PREFIX..64).contains(&prefix.len()) && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        let modules = tenancy::modules(state, caller).await?.into_iter();
        let mut matching: Vec<String> =
            modules.map(|module| module.hash).filter(|hash| hash.starts_with(&prefix)).collect();
        match matching.len() {
            0 => {}
            1 => return Ok(matching.remove(0)),
            n => {
                return Err(ApiError::bad_request(format!(
                    "`module`: {n} modules' hashes start with `{text}`; give more of the hash"
                )));
            }
        }
    }
    Err(ApiError::not_found(format!(
        "no module matches `{text}` (a module's name, its hash, or a prefix of the hash)"
    )))
}

fn text(field: &str, value: &str) -> ApiResult<String> {
    check_filter_text(field, value)?;
    Ok(value.to_string())
}

/// An RFC 3339 time: `2025-01-02T03:04:05Z`, with a fraction and an offset (`+02:00`) if
/// wanted.
fn time(field: &str, text: &str) -> ApiResult<SystemTime> {
    parse_rfc3339(text).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{field}`: `{text}` is not an RFC 3339 time (e.g. 2025-01-02T03:04:05Z)"
        ))
    })
}

/// Any RFC 3339 date-time (the document's `format: date-time`): humantime reads the usual
/// ones; chrono the rest (years before 1970, long fractions, a leap second). A time before
/// 1970 selects as 1970 does: no job is older.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    humantime_rfc3339(text)
        .or_else(|| chrono::DateTime::parse_from_rfc3339(text.trim()).ok().map(SystemTime::from))
}

/// humantime reads RFC 3339 in UTC (`Z`) only; an offset is taken off first.
fn humantime_rfc3339(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    if text.len() < 20 || !text.is_ascii() {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    if upper.ends_with('Z') {
        return humantime::parse_rfc3339(&upper).ok();
    }
    let (local, offset) = upper.split_at(upper.len() - 6);
    let sign = match offset.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) {
        return None;
    }
    let (hours, minutes): (u64, u64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    let utc = humantime::parse_rfc3339(&format!("{local}Z")).ok()?;
    let offset = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset, so UTC = local - offset.
    if sign > 0 { utc.checked_sub(offset) } else { utc.checked_add(offset) }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn rfc3339_times_with_offsets() {
        let at = |secs| Some(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00Z"), at(3600));
        assert_eq!(parse_rfc3339("1970-01-01t01:00:00z"), at(3600));
        assert_eq!(parse_rfc3339("1970-01-01T03:00:00+02:00"), at(3600));
        assert_eq!(parse_rfc3339("1970-01-01T00:30:00-00:30"), at(3600));
        assert_eq!(
            parse_rfc3339("1970-01-01T01:00:00.25Z"),
            Some(UNIX_EPOCH + Duration::from_millis(3_600_250))
        );
        for bad in ["", "yesterday", "1970-01-01", "1970-01-01T01:00:00", "1970-01-01T01:00:00+2"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+24:00"), None);
        // What humantime does not read and the document allows.
        assert!(parse_rfc3339("0001-01-01T00:00:00+00:00").is_some());
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00.0000000001Z"), at(3600));
    }
}
