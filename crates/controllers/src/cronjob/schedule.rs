//! Standard 5-field cron schedules (and `@hourly`-style macros), evaluated in a time zone.
//!
//! Semantics follow robfig/cron as upstream uses it: when both day-of-month and day-of-week
//! are restricted (neither starts with `*` or `?`), a day matches if either does.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    dom: u64,
    months: u64,
    dow: u64,
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == lower) {
        return Ok(u32::try_from(i).unwrap_or(0) + name_base);
    }
    let v: u32 = s
        .parse()
        .map_err(|_| format!("failed to parse int from {s}"))?;
    if v < min || v > max {
        return Err(format!("value {v} out of range [{min}, {max}]"));
    }
    Ok(v)
}

/// Parses one field into a bit set; returns the bits and whether it started with `*`/`?`.
fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let star = text.starts_with('*') || text.starts_with('?');
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("failed to parse int from {s}"))?;
                if step == 0 {
                    return Err(format!("step of range should be a positive number: {part}"));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, min, max, names, name_base)?,
                value(b, min, max, names, name_base)?,
            )
        } else {
            let v = value(range, min, max, names, name_base)?;
            // `N/step` means N through max.
            (v, if step.is_some() { max } else { v })
        };
        if lo > hi {
            return Err(format!(
                "beginning of range ({lo}) beyond end of range ({hi}): {part}"
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

impl Schedule {
    /// Parses `m h dom mon dow` or a macro (`@hourly`, `@daily`/`@midnight`, `@weekly`,
    /// `@monthly`, `@yearly`/`@annually`).
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        let expanded = match spec {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s if s.starts_with('@') => return Err(format!("unrecognized descriptor: {s}")),
            s => s,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            ));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[], 0)?;
        let (hours, _) = field(fields[1], 0, 23, &[], 0)?;
        let (dom, dom_star) = field(fields[2], 1, 31, &[], 0)?;
        let (months, _) = field(fields[3], 1, 12, MONTHS, 1)?;
        let (mut dow, dow_star) = field(fields[4], 0, 7, DAYS, 0)?;
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & 0x7f; // 7 is Sunday too
        }
        Ok(Schedule {
            minutes,
            hours,
            dom,
            months,
            dow,
            dom_star,
            dow_star,
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.dom & (1 << d.day()) != 0;
        let dow = self.dow & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first scheduled instant strictly after `after`, in zone `tz`; `None` if there is
    /// none within five years (e.g. `0 0 30 2 *`).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let zoned = after.to_zoned(tz.clone());
        let start = zoned.datetime();
        // Truncate to the minute, then step one minute forward.
        let mut dt = start
            .with()
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()?
            .checked_add(1.minute())
            .ok()?;
        let limit = start.year() + 5;
        while dt.year() <= limit {
            if self.months & (1 << dt.month()) == 0 {
                let first = Date::new(dt.year(), dt.month(), 1).ok()?;
                dt = first
                    .checked_add(1.month())
                    .ok()?
                    .to_datetime(Time::midnight());
                continue;
            }
            if !self.day_matches(dt.date()) {
                dt = dt.date().tomorrow().ok()?.to_datetime(Time::midnight());
                continue;
            }
            if self.hours & (1 << dt.hour()) == 0 {
                dt = dt
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if self.minutes & (1 << dt.minute()) == 0 {
                dt = dt.checked_add(1.minute()).ok()?;
                continue;
            }
            let ts = civil_to_ts(dt, tz)?;
            if ts > after {
                return Some(ts);
            }
            dt = dt.checked_add(1.minute()).ok()?;
        }
        None
    }
}

fn civil_to_ts(dt: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    let z: Zoned = dt.to_zoned(tz.clone()).ok()?;
    Some(z.timestamp())
}

/// The zone of `spec.timeZone` (UTC when unset); `None` for an unknown name.
pub fn zone(name: Option<&str>) -> Option<TimeZone> {
    match name {
        None | Some("") => Some(TimeZone::UTC),
        Some(n) => TimeZone::get(n).ok(),
    }
}

/// The outcome of looking for the schedule time to run at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The most recent scheduled time in `(earliest, now]`, if any.
    pub most_recent: Option<Timestamp>,
    /// How many scheduled times were passed (upstream warns past 100).
    pub missed: u32,
    /// The next scheduled time after `now`.
    pub next: Option<Timestamp>,
}

/// Upstream's `mostRecentScheduleTime`: scans from the last schedule time (or creation),
/// but never further back than `startingDeadlineSeconds` before `now`.
pub fn most_recent(
    sched: &Schedule,
    tz: &TimeZone,
    last_schedule: Option<Timestamp>,
    created: Timestamp,
    deadline_secs: Option<i64>,
    now: Timestamp,
) -> Due {
    let mut earliest = last_schedule.unwrap_or(created);
    if let Some(d) = deadline_secs
        && let Ok(floor) = now.checked_sub(jiff::SignedDuration::from_secs(d))
        && floor > earliest
    {
        earliest = floor;
    }
    let mut most_recent = None;
    let mut missed = 0u32;
    let mut t = earliest;
    loop {
        match sched.next(t, tz) {
            Some(n) if n <= now => {
                missed += 1;
                most_recent = Some(n);
                t = n;
                if missed > 100_000 {
                    break;
                }
            }
            other => {
                return Due {
                    most_recent,
                    missed,
                    next: other,
                };
            }
        }
    }
    Due {
        most_recent,
        missed,
        next: sched.next(now, tz),
    }
}

/// Whether `scheduled` is too late to start at `now` given `startingDeadlineSeconds`.
pub fn missed_deadline(scheduled: Timestamp, deadline_secs: Option<i64>, now: Timestamp) -> bool {
    deadline_secs.is_some_and(|d| now.as_second() - scheduled.as_second() > d)
}

/// The name of the Job for a scheduled time: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn every_minute_and_steps() {
        let s = Schedule::parse("*/1 * * * *").unwrap();
        let n = s.next(ts("2024-01-01T10:00:30Z"), &TimeZone::UTC).unwrap();
        assert_eq!(n, ts("2024-01-01T10:01:00Z"));
        let s = Schedule::parse("*/15 9-17 * * mon-fri").unwrap();
        // 2024-01-06 is a Saturday.
        let n = s.next(ts("2024-01-05T17:50:00Z"), &TimeZone::UTC).unwrap();
        assert_eq!(n, ts("2024-01-08T09:00:00Z"));
        let n = s.next(ts("2024-01-08T09:00:00Z"), &TimeZone::UTC).unwrap();
        assert_eq!(n, ts("2024-01-08T09:15:00Z"));
    }

    #[test]
    fn macros() {
        let at = ts("2024-03-15T12:34:00Z");
        let utc = TimeZone::UTC;
        let next = |m: &str| Schedule::parse(m).unwrap().next(at, &utc).unwrap();
        assert_eq!(next("@hourly"), ts("2024-03-15T13:00:00Z"));
        assert_eq!(next("@daily"), ts("2024-03-16T00:00:00Z"));
        assert_eq!(next("@midnight"), ts("2024-03-16T00:00:00Z"));
        assert_eq!(next("@weekly"), ts("2024-03-17T00:00:00Z"));
        assert_eq!(next("@monthly"), ts("2024-04-01T00:00:00Z"));
        assert_eq!(next("@yearly"), ts("2025-01-01T00:00:00Z"));
        assert_eq!(next("@annually"), ts("2025-01-01T00:00:00Z"));
        assert!(Schedule::parse("@often").is_err());
        assert!(Schedule::parse("* * * *").is_err());
        assert!(Schedule::parse("60 * * * *").is_err());
        assert!(Schedule::parse("*/0 * * * *").is_err());
    }

    #[test]
    fn dom_or_dow_when_both_restricted() {
        // The 13th or any Friday.
        let s = Schedule::parse("0 0 13 * 5").unwrap();
        // 2024-09-06 is a Friday.
        let n = s.next(ts("2024-09-01T00:00:00Z"), &TimeZone::UTC).unwrap();
        assert_eq!(n, ts("2024-09-06T00:00:00Z"));
        let s = Schedule::parse("0 0 13 * *").unwrap();
        let n = s.next(ts("2024-09-01T00:00:00Z"), &TimeZone::UTC).unwrap();
        assert_eq!(n, ts("2024-09-13T00:00:00Z"));
        assert!(
            Schedule::parse("0 0 30 2 *")
                .unwrap()
                .next(ts("2024-01-01T00:00:00Z"), &TimeZone::UTC)
                .is_none()
        );
    }

    #[test]
    fn time_zone() {
        let ny = zone(Some("America/New_York")).unwrap();
        let s = Schedule::parse("0 9 * * *").unwrap();
        // January: EST, UTC-5.
        let n = s.next(ts("2024-01-10T00:00:00Z"), &ny).unwrap();
        assert_eq!(n, ts("2024-01-10T14:00:00Z"));
        // July: EDT, UTC-4.
        let n = s.next(ts("2024-07-10T00:00:00Z"), &ny).unwrap();
        assert_eq!(n, ts("2024-07-10T13:00:00Z"));
        assert!(zone(Some("Mars/Olympus")).is_none());
        assert_eq!(zone(None), Some(TimeZone::UTC));
    }

    #[test]
    fn job_names_are_minutes_since_epoch() {
        assert_eq!(
            job_name("hello", ts("2024-01-01T00:01:00Z")),
            "hello-28401121"
        );
        assert_eq!(job_name("x", Timestamp::UNIX_EPOCH), "x-0");
    }

    #[test]
    fn missed_schedules_and_deadline() {
        let s = Schedule::parse("*/1 * * * *").unwrap();
        let utc = TimeZone::UTC;
        let created = ts("2024-01-01T10:00:10Z");
        let now = ts("2024-01-01T10:05:30Z");
        let due = most_recent(&s, &utc, None, created, None, now);
        assert_eq!(due.most_recent, Some(ts("2024-01-01T10:05:00Z")));
        assert_eq!(due.missed, 5);
        assert_eq!(due.next, Some(ts("2024-01-01T10:06:00Z")));
        // Already ran at 10:05: nothing due.
        let due = most_recent(
            &s,
            &utc,
            Some(ts("2024-01-01T10:05:00Z")),
            created,
            None,
            now,
        );
        assert_eq!(due.most_recent, None);
        // A deadline of 60 s bounds the scan.
        let due = most_recent(&s, &utc, None, created, Some(60), now);
        assert_eq!(due.missed, 1);
        assert!(!missed_deadline(ts("2024-01-01T10:05:00Z"), Some(60), now));
        assert!(missed_deadline(ts("2024-01-01T10:05:00Z"), Some(10), now));
        assert!(!missed_deadline(ts("2024-01-01T10:05:00Z"), None, now));
    }
}
