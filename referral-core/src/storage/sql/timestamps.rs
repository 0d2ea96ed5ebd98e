//! Instants as the SQL backends store them: unix microseconds (UTC) in a BIGINT, and the
//! UTC day (days since the epoch) that buckets "joined since" counts.

use time::{Duration, OffsetDateTime};

use crate::storage::StorageError;

/// Microseconds in a UTC day.
pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `at` in unix microseconds, truncated (finer precision is not kept).
pub(crate) fn to_micros(at: OffsetDateTime) -> i64 {
    let micros = at.unix_timestamp_nanos().div_euclid(1_000);
    // `OffsetDateTime` spans ±9999 years, well inside i64 microseconds.
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// Reads a stored timestamp back.
pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime, StorageError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| StorageError::Corrupt(format!("timestamp {micros} µs is out of range")))
}

/// A window length in microseconds.
pub(crate) fn duration_micros(window: Duration) -> i64 {
    let micros = window.whole_microseconds();
    i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX })
}

/// Microseconds in an hour.
pub(crate) const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Hour buckets younger than this many hours are kept: "last 30 days" only ever reads the
/// hours of its boundary day, at most 31 days back.
pub(crate) const HOUR_BUCKETS_KEPT: i64 = 32 * 24;

/// The hour (hours since the epoch) holding `micros`.
pub(crate) fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_HOUR)
}

/// The first microsecond of the hour after `hour`.
pub(crate) fn start_of_next_hour(hour: i64) -> i64 {
    hour.saturating_add(1).saturating_mul(MICROS_PER_HOUR)
}

/// The UTC day holding `micros`.
pub(crate) fn day_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

/// The first microsecond of the day after `day`.
pub(crate) fn start_of_next_day(day: i64) -> i64 {
    day.saturating_add(1).saturating_mul(MICROS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn microseconds_round_trip_and_finer_precision_is_truncated() {
        let at = datetime!(2026-03-01 12:00:00.123456789 UTC);
        let micros = to_micros(at);
        assert_eq!(
            from_micros(micros).unwrap(),
            datetime!(2026-03-01 12:00:00.123456 UTC)
        );
        let before_epoch = datetime!(1969-12-31 23:59:59.9999995 UTC);
        assert_eq!(to_micros(before_epoch), -1);
    }

    #[test]
    fn days_split_at_utc_midnight() {
        let midnight = to_micros(datetime!(2026-03-01 0:00 UTC));
        assert_eq!(day_of(midnight), day_of(midnight + MICROS_PER_DAY - 1));
        assert_eq!(day_of(midnight) - 1, day_of(midnight - 1));
        assert_eq!(
            start_of_next_day(day_of(midnight)),
            midnight + MICROS_PER_DAY
        );
        assert_eq!(day_of(-1), -1);
    }

    #[test]
    fn hours_nest_in_days() {
        let midnight = to_micros(datetime!(2026-03-01 0:00 UTC));
        assert_eq!(hour_of(midnight) % 24, 0);
        assert_eq!(hour_of(midnight + MICROS_PER_HOUR - 1), hour_of(midnight));
        assert_eq!(
            start_of_next_hour(hour_of(midnight)),
            midnight + MICROS_PER_HOUR
        );
        assert_eq!(
            hour_of(start_of_next_day(day_of(midnight))),
            hour_of(midnight) + 24
        );
        assert_eq!(hour_of(-1), -1);
    }
}
