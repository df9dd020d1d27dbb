//! Opening hours of a destination or an action (`hours:`): deliveries due outside them wait for
//! the next opening, retries too. Pure: the instant is passed in (unix ms), and the time zone rules
//! (IANA, DST included) come from `jiff`, so an injected clock tests every case.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// When deliveries may be sent.
#[derive(Debug, Clone, Default)]
pub enum Hours {
    /// At any time (`hours: always`, and the default).
    #[default]
    Always,
    Open(OpenHours),
}

/// `days`, `from`–`to` local time (`to` excluded), in `timezone`.
#[derive(Debug, Clone)]
pub struct OpenHours {
    /// Monday first.
    pub days: [bool; 7],
    pub from: Time,
    pub to: Time,
    pub timezone: TimeZone,
}

impl Hours {
    /// The first instant at or after `at` (unix ms) inside the hours: `at` itself when open.
    pub fn next_open(&self, at: i64) -> i64 {
        match self {
            Hours::Always => at,
            Hours::Open(h) => h.next_open(at).unwrap_or(at),
        }
    }
}

impl OpenHours {
    /// `None` only for instants outside jiff's range (then the caller keeps `at`).
    fn next_open(&self, at: i64) -> Option<i64> {
        let now = Timestamp::from_millisecond(at).ok()?;
        let today = now.to_zoned(self.timezone.clone()).date();
        for offset in 0..=7 {
            let date = today.checked_add(offset.days()).ok()?;
            if !self.days[weekday_index(date.weekday())] {
                continue;
            }
            let (open, close) = (self.instant(date, self.from)?, self.instant(date, self.to)?);
            if now < open {
                return Some(open.as_millisecond());
            }
            if now < close {
                return Some(at);
            }
        }
        None
    }

    /// `date` at local `time`; a time skipped by a DST change counts as the first instant after
    /// the gap, a repeated one as its first occurrence (jiff's "compatible" rule).
    fn instant(&self, date: Date, time: Time) -> Option<Timestamp> {
        date.to_datetime(time).to_zoned(self.timezone.clone()).ok().map(|z| z.timestamp())
    }
}

fn weekday_index(w: Weekday) -> usize {
    usize::from(w.to_monday_zero_offset().unsigned_abs())
}

/// A day name as written in the rules file (`mon` … `sun`), Monday = 0.
pub fn day_index(name: &str) -> Option<usize> {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].iter().position(|d| *d == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn office(tz: &str) -> Hours {
        Hours::Open(OpenHours {
            days: [true, true, true, true, true, false, false],
            from: Time::constant(8, 0, 0, 0),
            to: Time::constant(18, 0, 0, 0),
            timezone: TimeZone::get(tz).expect("tz"),
        })
    }

    /// `local` (in `tz`) → the next opening, as local time text.
    fn check(tz: &str, local: &str, expected: &str) {
        let zone = TimeZone::get(tz).expect("tz");
        let at: jiff::civil::DateTime = local.parse().expect("datetime");
        let at = at.to_zoned(zone.clone()).expect("zoned").timestamp().as_millisecond();
        let next = office(tz).next_open(at);
        let shown = Timestamp::from_millisecond(next).expect("ts").to_zoned(zone).datetime().to_string();
        assert_eq!(shown, expected, "{local} in {tz}");
    }

    #[test]
    fn next_openings() {
        let ams = "Europe/Amsterdam";
        check(ams, "2026-12-04T22:00", "2026-12-07T08:00:00"); // Friday night → Monday 08:00
        check(ams, "2026-12-07T10:30", "2026-12-07T10:30:00"); // open: at once
        check(ams, "2026-12-07T07:59", "2026-12-07T08:00:00");
        check(ams, "2026-12-07T18:00", "2026-12-08T08:00:00"); // `to` is excluded
        check(ams, "2026-12-05T12:00", "2026-12-07T08:00:00"); // Saturday
        // DST weeks: Amsterdam goes to summer time on Sunday 29 March 2026 and back on 25 October.
        check(ams, "2026-03-27T20:00", "2026-03-30T08:00:00");
        check(ams, "2026-10-23T20:00", "2026-10-26T08:00:00");
        check("America/New_York", "2026-03-06T23:00", "2026-03-09T08:00:00");
    }

    #[test]
    fn dst_weeks_keep_local_opening_times_in_utc_terms() {
        let zone = TimeZone::get("Europe/Amsterdam").expect("tz");
        let utc = |local: &str| {
            let dt: jiff::civil::DateTime = local.parse().expect("dt");
            dt.to_zoned(zone.clone()).expect("z").timestamp().as_millisecond()
        };
        let friday_night = utc("2026-03-27T22:00");
        let monday = office("Europe/Amsterdam").next_open(friday_night);
        // Monday 08:00 CEST is 06:00 UTC (winter time would be 07:00 UTC).
        assert_eq!(Timestamp::from_millisecond(monday).expect("ts").to_string(), "2026-03-30T06:00:00Z");
        // A window opening in the skipped hour (02:30 on 29 March) opens right after the gap.
        let night = Hours::Open(OpenHours {
            days: [true; 7],
            from: Time::constant(2, 30, 0, 0),
            to: Time::constant(4, 0, 0, 0),
            timezone: zone.clone(),
        });
        let before = utc("2026-03-29T01:00");
        let open = Timestamp::from_millisecond(night.next_open(before)).expect("ts");
        assert_eq!(open.to_string(), "2026-03-29T01:30:00Z", "03:30 CEST, after the gap");
        assert_eq!(Hours::Always.next_open(before), before);
    }
}
