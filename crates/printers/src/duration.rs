//! Upstream's `duration.HumanDuration` and the AGE-style "time since" cells built on it.

use jiff::{SignedDuration, Timestamp};

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Formats `d` the way upstream's `duration.HumanDuration` does: `5s`, `2m3s`, `10m`, `3h4m`, `5d`, `2y`.
pub fn human_duration(d: SignedDuration) -> String {
    let nanos = d.as_nanos();
    // Go's int(d.Seconds()) truncates toward zero.
    let seconds = nanos / NANOS_PER_SEC;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{}h", hours / 24, h);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{}d", hours / 24 / 365, dy);
    }
    format!("{}y", hours / 24 / 365)
}

/// Parses a `metav1.Time` / `MicroTime` string; `None` when absent or malformed (upstream's zero time).
pub fn parse_time(s: Option<&str>) -> Option<Timestamp> {
    s.filter(|s| !s.is_empty())?.parse().ok()
}

/// Upstream's `translateTimestampSince`: `<unknown>` for a zero time, else the human duration since it.
pub fn since(ts: Option<Timestamp>, now: Timestamp) -> String {
    match ts {
        None => "<unknown>".to_string(),
        Some(ts) => human_duration(now.duration_since(ts)),
    }
}

/// Formats a timestamp as Go's `time.RFC3339` in UTC (the default printer's CREATED AT).
pub fn rfc3339(ts: Option<Timestamp>) -> String {
    match ts {
        Some(ts) => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => "0001-01-01T00:00:00Z".to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hd(secs: i64) -> String {
        human_duration(SignedDuration::from_secs(secs))
    }

    #[test]
    fn matches_upstream_table() {
        let cases: &[(i64, &str)] = &[
            (-3, "<invalid>"),
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (123, "2m3s"),
            (599, "9m59s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 4 * 60, "3h4m"),
            (8 * 3600, "8h"),
            (47 * 3600 + 59 * 60, "47h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (8 * 24 * 3600, "8d"),
            (729 * 24 * 3600, "729d"),
            (730 * 24 * 3600, "2y"),
            (731 * 24 * 3600, "2y1d"),
            (8 * 365 * 24 * 3600, "8y"),
            (9 * 365 * 24 * 3600 + 86400, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(hd(*secs), *want, "{secs}s");
        }
    }

    #[test]
    fn fractional_negative_seconds_truncate() {
        assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s");
        assert_eq!(
            human_duration(SignedDuration::from_millis(-2500)),
            "<invalid>"
        );
        assert_eq!(human_duration(SignedDuration::from_millis(1999)), "1s");
    }

    #[test]
    fn since_and_rfc3339() {
        let now: Timestamp = "2024-05-01T12:00:00Z".parse().unwrap();
        assert_eq!(since(parse_time(Some("2024-05-01T11:55:00Z")), now), "5m");
        assert_eq!(since(parse_time(None), now), "<unknown>");
        assert_eq!(since(parse_time(Some("")), now), "<unknown>");
        assert_eq!(
            rfc3339(parse_time(Some("2024-05-01T11:55:00Z"))),
            "2024-05-01T11:55:00Z"
        );
        assert_eq!(
            rfc3339(parse_time(Some("2024-05-01T11:55:00.123456Z"))),
            "2024-05-01T11:55:00Z"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_always_has_a_unit(secs in -10_000_000_000i64..10_000_000_000i64, millis in 0i64..1000) {
            let out = human_duration(SignedDuration::from_secs(secs) + SignedDuration::from_millis(millis));
            proptest::prop_assert!(out == "<invalid>" || out.ends_with(['s', 'm', 'h', 'd', 'y']), "{}", out);
        }
    }
}
