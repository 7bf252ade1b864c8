//! When temporary credentials expire and when to replace them: the
//! `Expiration` timestamps of STS, the container and instance metadata
//! endpoints and `credential_process` (RFC 3339, as Go's `time.Time`
//! writes them), and the refresh point five minutes before expiry, as the
//! SDK's credentials cache uses it.

use std::time::{Duration, SystemTime};

/// Credentials are replaced this long before they expire.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// An RFC 3339 timestamp (`2026-01-02T03:04:05Z`, fractions and offsets
/// allowed) as an instant; `None` when it is not one.
pub fn parse(timestamp: &str) -> Option<SystemTime> {
    let parsed = time::OffsetDateTime::parse(
        timestamp.trim(),
        &time::format_description::well_known::Rfc3339,
    )
    .ok()?;
    let nanos = parsed.unix_timestamp_nanos();
    let nanos = u64::try_from(nanos).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Whether credentials expiring at `expires` should be replaced at `now`.
pub fn needs_refresh(expires: Option<SystemTime>, now: SystemTime) -> bool {
    match expires {
        None => false,
        Some(expires) => now + REFRESH_BEFORE >= expires,
    }
}

/// Whether credentials expiring at `expires` still work at `now`.
pub fn still_valid(expires: Option<SystemTime>, now: SystemTime) -> bool {
    expires.is_none_or(|expires| now < expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_323_045);
        assert_eq!(parse("2026-01-02T03:04:05Z"), Some(base));
        assert_eq!(
            parse("2026-01-02T03:04:05.250Z"),
            Some(base + Duration::from_millis(250))
        );
        assert_eq!(parse("2026-01-02T04:04:05+01:00"), Some(base));
        assert_eq!(parse(" 2026-01-02T03:04:05Z\n"), Some(base));
        assert_eq!(parse("2026-01-02"), None);
        assert_eq!(parse("tomorrow"), None);
    }

    #[test]
    fn refresh_five_minutes_before() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(!needs_refresh(None, now));
        assert!(!needs_refresh(Some(now + Duration::from_secs(301)), now));
        assert!(needs_refresh(Some(now + Duration::from_secs(300)), now));
        assert!(needs_refresh(Some(now - Duration::from_secs(1)), now));
        assert!(still_valid(Some(now + Duration::from_secs(1)), now));
        assert!(!still_valid(Some(now), now));
        assert!(still_valid(None, now));
    }
}
