//! Points in time as update manifests write them (TOML offset date-times, i.e. RFC 3339:
//! `2026-03-01T08:00:00Z`, `2026-03-01T16:00:00+08:00`) and as the checks compare them
//! (whole seconds since the Unix epoch, UTC). The two calendar conversions are written
//! out here rather than taken from a date crate: they are all the updater needs.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use toml::value::{Date, Datetime, Offset, Time};

use crate::error::LibraryError;

/// Seconds since 1970-01-01T00:00:00Z; fractions of a second are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

const SECONDS_PER_DAY: i64 = 86_400;

impl Timestamp {
    pub fn from_unix(seconds: i64) -> Timestamp {
        Timestamp(seconds)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    /// This computer's clock. The checks take `now` as a parameter instead of reading it,
    /// so that callers (and tests) decide what "now" is.
    pub fn now() -> Timestamp {
        Timestamp::from(SystemTime::now())
    }

    /// A TOML date-time with an offset. Local date-times (no `Z` or `±hh:mm`) are
    /// refused: an expiry must mean the same instant on every computer.
    pub(crate) fn from_toml(value: &Datetime) -> Result<Timestamp, String> {
        let (Some(date), Some(time), Some(offset)) = (value.date, value.time, value.offset) else {
            return Err(format!("{value} is not a full date and time with an offset (write it like 2026-03-01T08:00:00Z)"));
        };
        let offset_minutes = match offset {
            Offset::Z => 0,
            Offset::Custom { minutes } => i64::from(minutes),
        };
        let days = days_since_epoch(i64::from(date.year), date.month, date.day);
        let seconds_of_day = i64::from(time.hour) * 3600 + i64::from(time.minute) * 60 + i64::from(time.second);
        Ok(Timestamp(days * SECONDS_PER_DAY + seconds_of_day - offset_minutes * 60))
    }

    pub(crate) fn to_toml(self) -> Datetime {
        let days = self.0.div_euclid(SECONDS_PER_DAY);
        let seconds_of_day = self.0.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_date(days);
        Datetime {
            // TOML years have four digits; the clamp only matters for absurd clocks.
            date: Some(Date { year: year.clamp(0, 9999) as u16, month, day }),
            time: Some(Time {
                hour: (seconds_of_day / 3600) as u8,
                minute: (seconds_of_day / 60 % 60) as u8,
                second: (seconds_of_day % 60) as u8,
                nanosecond: 0,
            }),
            offset: Some(Offset::Z),
        }
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Timestamp {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Timestamp(after.as_secs() as i64),
            Err(before) => Timestamp(-(before.duration().as_secs() as i64)),
        }
    }
}

/// RFC 3339 text, as in a manifest: `"2026-03-01T08:00:00Z".parse()`.
impl FromStr for Timestamp {
    type Err = LibraryError;

    fn from_str(text: &str) -> Result<Timestamp, LibraryError> {
        let bad = |problem: String| LibraryError::UpdateTimestamp { text: text.to_string(), problem };
        let value = Datetime::from_str(text).map_err(|e| bad(e.to_string()))?;
        Timestamp::from_toml(&value).map_err(bad)
    }
}

/// RFC 3339 in UTC, the way a manifest would write it.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_toml())
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_year(year: i64) -> i64 {
    if is_leap(year) { 366 } else { 365 }
}

fn days_in_month(year: i64, month: u8) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (negative before it). Counting year by year is
/// plenty fast for four-digit years and easy to check by eye.
fn days_since_epoch(year: i64, month: u8, day: u8) -> i64 {
    let mut days = 0;
    if year >= 1970 {
        for y in 1970..year {
            days += days_in_year(y);
        }
    } else {
        for y in year..1970 {
            days -= days_in_year(y);
        }
    }
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days + i64::from(day) - 1
}

/// The inverse of [`days_since_epoch`].
fn civil_date(mut days: i64) -> (i64, u8, u8) {
    let mut year = 1970;
    while days < 0 {
        year -= 1;
        days += days_in_year(year);
    }
    while days >= days_in_year(year) {
        days -= days_in_year(year);
        year += 1;
    }
    let mut month = 1;
    while days >= days_in_month(year, month) {
        days -= days_in_month(year, month);
        month += 1;
    }
    (year, month, days as u8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("2000-03-01T00:00:00Z", 951_868_800),
            ("2026-03-01T08:00:00Z", 1_772_352_000),
            ("2026-03-01T16:00:00+08:00", 1_772_352_000),
            ("1969-12-31T23:59:59Z", -1),
        ];
        for (text, unix) in cases {
            let t: Timestamp = text.parse().unwrap();
            assert_eq!(t.unix(), unix, "{text}");
        }
        assert_eq!(Timestamp::from_unix(1_772_352_000).to_string(), "2026-03-01T08:00:00Z");
    }

    #[test]
    fn round_trips_through_the_calendar() {
        for unix in [-86_400 * 400, -1, 0, 59, 951_782_399, 951_868_800, 1_709_164_800, 4_102_444_799] {
            let t = Timestamp::from_unix(unix);
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t, "{t}");
        }
    }

    #[test]
    fn local_times_are_refused() {
        assert!("2026-03-01T08:00:00".parse::<Timestamp>().is_err());
        assert!("2026-03-01".parse::<Timestamp>().is_err());
    }
}
