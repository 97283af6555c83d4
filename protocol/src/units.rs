//! Human-readable durations (`500ms`, `1s`, `2m`) and sizes (`64MiB`, `1GB`, `4096`)
//! for the command line. Only parsing lives here; nothing else.

use std::time::Duration;

/// Parses a duration such as `500ms`, `1s`, `1.5s`, `2m` or `1h`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a duration (try 500ms, 1s, 2m)"))?;
    let Some((_, length)) = duration_unit(unit.trim()) else {
        let unit = unit.trim();
        return Err(format!("unknown duration unit `{unit}` in `{text}` (use ms, s, m, h)"));
    };
    let seconds = value * length.as_secs_f64();
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("duration `{text}` is out of range"))
}

/// Parses a size such as `64MiB`, `1GiB`, `512KB` or `4096` (bytes). Both the binary
/// (`KiB`, `MiB`, `GiB`) and the short (`K`, `M`, `G`) units mean powers of 1024;
/// the decimal ones (`KB`, `MB`, `GB`) mean powers of 1000.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a size (try 64MiB, 1GiB, 4096)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("unknown size unit in `{text}` (use KiB, MiB, GiB)")),
    };
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("size `{text}` is out of range"));
    }
    Ok(bytes as u64)
}

/// Formats a byte count the way [`parse_size`] reads it back (`64 MiB`).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Formats a duration compactly for messages (`1.5s`, `250ms`).
pub fn format_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = format!("{:.3}", duration.as_secs_f64());
    format!("{}s", seconds.trim_end_matches('0').trim_end_matches('.'))
}

/// A duration unit as [`parse_duration`] reads it (no unit is seconds): its usual name and
/// its length.
fn duration_unit(unit: &str) -> Option<(&'static str, Duration)> {
    let name = match unit {
        "" | "s" | "sec" | "secs" => "s",
        "us" | "µs" => "us",
        "m" | "min" | "mins" => "m",
        other => other,
    };
    DURATION_UNITS.iter().find(|(known, _)| *known == name).copied()
}

/// The duration units, largest first, with their length.
const DURATION_UNITS: [(&str, Duration); 6] = [
    ("d", Duration::from_secs(86400)),
    ("h", Duration::from_secs(3600)),
    ("m", Duration::from_secs(60)),
    ("s", Duration::from_secs(1)),
    ("ms", Duration::from_millis(1)),
    ("us", Duration::from_micros(1)),
];

/// Formats a duration in the largest unit that holds it a whole number of times (`1h`,
/// `90m`, `1500ms`), for limits people set in round figures.
pub fn format_duration_whole(duration: Duration) -> String {
    DURATION_UNITS
        .iter()
        .find(|(_, unit)| duration >= *unit && duration.as_nanos().is_multiple_of(unit.as_nanos()))
        .map_or_else(
            || format_duration(duration),
            |(name, unit)| format!("{}{name}", duration.as_nanos() / unit.as_nanos()),
        )
}

/// Formats `duration` in the unit `example` is written in (`2h` → `1h`, `90` → `3600s`:
/// a bare number is seconds), so a message answers in the user's own terms.
pub fn format_duration_like(duration: Duration, example: &str) -> String {
    let unit = example.trim().trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    let Some((name, length)) = duration_unit(unit.trim()) else {
        return format_duration_whole(duration);
    };
    let value = format!("{:.3}", duration.as_secs_f64() / length.as_secs_f64());
    format!("{}{name}", value.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("1e999s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(1536), "1.5 KiB");
    }

    #[test]
    fn formatted_durations() {
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration_whole(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration_whole(Duration::from_secs(5400)), "90m");
        assert_eq!(format_duration_whole(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration_whole(Duration::ZERO), "0ms");
        let hour = Duration::from_secs(3600);
        assert_eq!(format_duration_like(hour, "2h"), "1h");
        assert_eq!(format_duration_like(hour, "90m"), "60m");
        assert_eq!(format_duration_like(hour, "7200"), "3600s");
        assert_eq!(format_duration_like(Duration::from_secs(5400), "2h"), "1.5h");
        assert_eq!(format_duration_like(hour, "1 fortnight"), "1h");
    }
}
