//! Go's `time.RFC3339Nano` layout for a UTC instant given in nanoseconds
//! since the Unix epoch: `2006-01-02T15:04:05.999999999Z`, the fraction
//! printed with its trailing zeros trimmed and left out entirely when the
//! instant falls on a whole second. The Go plugin formats every event
//! `timestamp` this way; consumers parse it, some compare it as text.

/// Formats `nanos` (since 1970-01-01T00:00:00Z) as Go's RFC3339Nano in UTC.
pub fn format_nanos(nanos: i64) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        (of_day % 3600) / 60,
        of_day % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::format_nanos;

    // Expected strings computed by hand (and with `date -u -d @SECONDS`).
    #[test]
    fn layout_and_trimming() {
        assert_eq!(format_nanos(0), "1970-01-01T00:00:00Z");
        // 2021-06-15T10:30:00Z = 1623753000 s.
        assert_eq!(
            format_nanos(1_623_753_000_000_000_000),
            "2021-06-15T10:30:00Z"
        );
        assert_eq!(
            format_nanos(1_623_753_000_123_400_000),
            "2021-06-15T10:30:00.1234Z"
        );
        assert_eq!(
            format_nanos(1_623_753_000_000_000_001),
            "2021-06-15T10:30:00.000000001Z"
        );
        assert_eq!(
            format_nanos(1_623_753_000_999_999_999),
            "2021-06-15T10:30:00.999999999Z"
        );
        // A leap day, and the end of a year.
        assert_eq!(
            format_nanos(951_782_400_000_000_000),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            format_nanos(1_704_067_199_500_000_000),
            "2023-12-31T23:59:59.5Z"
        );
        // Before the epoch: Go's time.Unix(0, -1).
        assert_eq!(format_nanos(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_nanos(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_nanos(i64::MAX), "2262-04-11T23:47:16.854775807Z");
    }
}
