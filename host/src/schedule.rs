//! What a schedule says, checked: its cron expression read in its time zone (by
//! `croner`, five fields or six with seconds first), and the ticks that follow from them.
//! Pure: no I/O; the scheduler and the API both use it.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Longest cron expression, in bytes: the longest useful one (every value of every field
/// listed) is well under it, and a schedule is parsed by every host.
pub const MAX_CRON: usize = 1024;
/// Largest job request of a schedule, as stored (JSON), in bytes: every host reads every
/// schedule at every round, and every listing carries them.
pub const MAX_JOB: usize = 8 * 1024;

/// A cron expression read in a time zone.
#[derive(Clone, Debug)]
pub struct Timetable {
    cron: Cron,
    zone: Tz,
}

impl Timetable {
    /// Parses `cron` (five fields, or six with seconds first; names like `MON` and `@daily`
    /// allowed) and `timezone` (an IANA name such as `UTC` or `Europe/Paris`); the error is
    /// the parser's message, naming which of the two is wrong.
    pub fn parse(cron: &str, timezone: &str) -> Result<Timetable, String> {
        if cron.len() > MAX_CRON {
            return Err(format!(
                "cron expression is {} bytes; at most {MAX_CRON} are allowed",
                cron.len()
            ));
        }
        let parser =
            CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(cron).map_err(|e| format!("cron expression `{cron}`: {e}"))?;
        let zone: Tz = timezone.parse().map_err(|e| {
            format!("timezone `{timezone}`: {e} (give an IANA name such as UTC or Europe/Paris)")
        })?;
        // An expression no date satisfies (`0 0 30 2 *`) would never tick: refuse it now.
        let timetable = Timetable { cron, zone };
        if timetable.next_after(SystemTime::now()).is_none() {
            return Err(format!("cron expression `{}` never matches a date", timetable.cron));
        }
        Ok(timetable)
    }

    fn zoned(&self, time: SystemTime) -> DateTime<Tz> {
        DateTime::<Utc>::from(time).with_timezone(&self.zone)
    }

    /// The first tick strictly after `time`; `None` if there is none (within the parser's
    /// search limit).
    pub fn next_after(&self, time: SystemTime) -> Option<SystemTime> {
        let tick = self.cron.find_next_occurrence(&self.zoned(time), false).ok()?;
        Some(tick.into())
    }

    /// The latest tick at or before `time`.
    pub fn latest_until(&self, time: SystemTime) -> Option<SystemTime> {
        let tick = self.cron.find_previous_occurrence(&self.zoned(time), true).ok()?;
        Some(tick.into())
    }

    /// The latest tick strictly before `time`.
    pub fn previous_before(&self, time: SystemTime) -> Option<SystemTime> {
        let tick = self.cron.find_previous_occurrence(&self.zoned(time), false).ok()?;
        Some(tick.into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn five_and_six_fields_are_accepted_and_tick_where_they_say() {
        // 2025-01-01T00:00:00Z.
        let new_year = 1_735_689_600;
        let every_ten_seconds = Timetable::parse("*/10 * * * * *", "UTC").unwrap();
        let later = at(new_year) + Duration::from_millis(1500);
        assert_eq!(every_ten_seconds.next_after(later), Some(at(new_year + 10)));
        assert_eq!(every_ten_seconds.latest_until(later), Some(at(new_year)));
        assert_eq!(every_ten_seconds.latest_until(at(new_year)), Some(at(new_year)));
        assert_eq!(every_ten_seconds.previous_before(at(new_year)), Some(at(new_year - 10)));
        let every_five_minutes = Timetable::parse("*/5 * * * *", "UTC").unwrap();
        assert_eq!(every_five_minutes.next_after(at(new_year)), Some(at(new_year + 300)));
    }

    #[test]
    fn the_time_zone_moves_the_ticks() {
        // Midnight in Paris is 23:00 UTC in winter.
        let paris = Timetable::parse("0 0 * * *", "Europe/Paris").unwrap();
        let new_year = 1_735_689_600;
        assert_eq!(paris.next_after(at(new_year)), Some(at(new_year + 23 * 3600)));
    }

    #[test]
    fn bad_expressions_zones_and_names_are_refused_with_the_reason() {
        for (cron, zone, says) in [
            ("", "UTC", "cron expression"),
            ("* * *", "UTC", "cron expression"),
            ("61 * * * *", "UTC", "cron expression"),
            ("* * * * * * 2030", "UTC", "cron expression"),
            ("0 0 30 2 *", "UTC", "never matches"),
            ("* * * * *", "Mars/Olympus", "timezone `Mars/Olympus`"),
            (&format!("0 0 * * *{}", " ".repeat(MAX_CRON)), "UTC", "at most 1024"),
        ] {
            let refused = Timetable::parse(cron, zone).unwrap_err();
            assert!(refused.contains(says), "{cron} {zone}: {refused}");
        }
    }
}
