//! Which jobs a request means: the list's query filters and a bulk action's body, checked
//! (bad state, bad time, bad name: 400; unknown module: 404) and turned into the store's
//! [`JobFilter`].

use std::time::{Duration, SystemTime};

use super::{ApiError, ApiResult, AppState};
use crate::store::JobFilter;
use crate::wire::JobSelector;

/// Longest text a `name`, `q` or `node` filter may be.
const MAX_TEXT: usize = 1024;

/// The store's filter for `selector` (paging fields left empty).
pub async fn filter(state: &AppState, selector: &JobSelector) -> ApiResult<JobFilter> {
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
        Some(module) => Some(super::jobs::resolve_module(state, module).await?),
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
        schedule: schedule.clone(),
        name: name.as_deref().map(|name| text("name", name)).transpose()?,
        search: q.as_deref().map(|q| text("q", q)).transpose()?,
        submitted_after: submitted_after.transpose()?,
        submitted_before: submitted_before.transpose()?,
        before: None,
        limit: 0,
    })
}

/// A text filter: not empty (it would select everything with a name, which nobody means),
/// not huge.
fn text(field: &str, value: &str) -> ApiResult<String> {
    if value.is_empty() || value.len() > MAX_TEXT {
        return Err(ApiError::bad_request(format!(
            "`{field}` must be 1 to {MAX_TEXT} bytes of text"
        )));
    }
    Ok(value.to_string())
}

/// A lane's or schedule's name: 1–64 of `A-Z a-z 0-9 _ . -`, starting with a letter or digit.
fn check_name(field: &str, name: &str) -> ApiResult<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(allowed);
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{field}`: `{name}` is not a name (1 to 64 of A-Z, a-z, 0-9, `_`, `.`, `-`, \
             starting with a letter or digit)"
        )))
    }
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

/// humantime reads RFC 3339 in UTC (`Z`) only; an offset is taken off first.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
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
    }

    #[test]
    fn names() {
        assert!(check_name("lane", "slow").is_ok());
        assert!(check_name("lane", "a.b-c_9").is_ok());
        for bad in ["", "-x", "a b", "ä", &"x".repeat(65)] {
            assert!(check_name("lane", bad).is_err(), "{bad}");
        }
    }
}
