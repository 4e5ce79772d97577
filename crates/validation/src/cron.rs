//! A parser of standard cron schedules (5 fields or `@daily`-style), with robfig/cron's errors.

/// Why a schedule does not parse; the text is what upstream reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// Checks a schedule; a `TZ=`/`CRON_TZ=` prefix must name a known zone.
pub fn parse_standard(spec: &str) -> Result<(), CronError> {
    if spec.is_empty() {
        return Err(CronError("empty spec string".into()));
    }
    let mut rest = spec;
    if rest.starts_with("TZ=") || rest.starts_with("CRON_TZ=") {
        let (tz_part, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        let tz = tz_part.split_once('=').map_or("", |(_, z)| z);
        check_time_zone(tz).map_err(|e| CronError(format!("provided bad location {tz}: {e}")))?;
        rest = tail.trim();
    }
    if rest.starts_with('@') {
        return parse_descriptor(rest);
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(CronError(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        )));
    }
    for (field, bounds) in fields.iter().zip([MINUTE, HOUR, DOM, MONTH, DOW]) {
        for part in field.split(',') {
            parse_range(part, &bounds)?;
        }
    }
    Ok(())
}

fn parse_descriptor(d: &str) -> Result<(), CronError> {
    match d {
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => {
            Ok(())
        }
        _ => match d.strip_prefix("@every ") {
            Some(dur) if valid_duration(dur) => Ok(()),
            Some(dur) => Err(CronError(format!(
                "failed to parse duration {d}: time: invalid duration \"{dur}\""
            ))),
            None => Err(CronError(format!("unrecognized descriptor: {d}"))),
        },
    }
}

/// Go's `time.ParseDuration` grammar: `[-+]?(\d+(\.\d*)?(ns|us|µs|ms|s|m|h))+` or `0`.
fn valid_duration(s: &str) -> bool {
    let s = s.trim_start_matches(['-', '+']);
    if s == "0" {
        return true;
    }
    let mut rest = s;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        let unit = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .iter()
            .find(|u| rest.starts_with(**u) && !(**u == "m" && rest.starts_with("ms")));
        match unit {
            Some(u) => rest = &rest[u.len()..],
            None => return false,
        }
    }
    true
}

fn must_parse_int(expr: &str) -> Result<u32, CronError> {
    let n: i64 = expr.parse().map_err(|_| {
        let why = if expr
            .trim_start_matches(['-', '+'])
            .bytes()
            .all(|c| c.is_ascii_digit())
            && !expr.trim_start_matches(['-', '+']).is_empty()
        {
            "value out of range"
        } else {
            "invalid syntax"
        };
        CronError(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: {why}"
        ))
    })?;
    if n < 0 {
        return Err(CronError(format!(
            "negative number ({n}) not allowed: {expr}"
        )));
    }
    u32::try_from(n).map_err(|_| CronError(format!("end of range ({n}) above maximum: {expr}")))
}

fn parse_int_or_name(expr: &str, names: &[&str]) -> Result<u32, CronError> {
    let lower = expr.to_lowercase();
    match names.iter().position(|n| !n.is_empty() && *n == lower) {
        Some(i) => Ok(i as u32),
        None => must_parse_int(expr),
    }
}

fn parse_range(expr: &str, b: &Bounds) -> Result<(), CronError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end) = if low_high[0] == "*" || low_high[0] == "?" {
        (b.min, b.max)
    } else {
        let start = parse_int_or_name(low_high[0], b.names)?;
        let end = match low_high.len() {
            1 => start,
            2 => parse_int_or_name(low_high[1], b.names)?,
            _ => return Err(CronError(format!("too many hyphens: {expr}"))),
        };
        (start, end)
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            step
        }
        _ => return Err(CronError(format!("too many slashes: {expr}"))),
    };
    if start < b.min {
        return Err(CronError(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        )));
    }
    if end > b.max {
        return Err(CronError(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        )));
    }
    if start > end {
        return Err(CronError(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        )));
    }
    if step == 0 {
        return Err(CronError(format!(
            "step of range should be a positive number: {expr}"
        )));
    }
    Ok(())
}

/// Checks an IANA time zone name, with Go's `LoadLocation` error text.
pub fn check_time_zone(tz: &str) -> Result<(), String> {
    if tz.is_empty() || tz == "UTC" || tz == "Local" {
        return Ok(());
    }
    jiff::tz::db()
        .get(tz)
        .map(|_| ())
        .map_err(|_| format!("unknown time zone {tz}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn standard() {
        for ok in [
            "*/5 * * * *",
            "0 0 * * 0",
            "0 12 1-15 jan,Feb mon-fri",
            "@hourly",
            "@every 1h30m",
            "0 0 ? * *",
        ] {
            assert_eq!(parse_standard(ok), Ok(()), "{ok}");
        }
        let err = |s: &str| parse_standard(s).map_err(|e| e.to_string()).err();
        assert_eq!(
            err("foo").as_deref(),
            Some("expected exactly 5 fields, found 1: [foo]")
        );
        assert_eq!(
            err("60 * * * *").as_deref(),
            Some("end of range (60) above maximum (59): 60")
        );
        assert_eq!(
            err("@often").as_deref(),
            Some("unrecognized descriptor: @often")
        );
        assert_eq!(
            err("5-3 * * * *").as_deref(),
            Some("beginning of range (5) beyond end of range (3): 5-3")
        );
        assert_eq!(
            err("x * * * *").as_deref(),
            Some("failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax")
        );
        assert_eq!(
            err("* * 0 * *").as_deref(),
            Some("beginning of range (0) below minimum (1): 0")
        );
        assert_eq!(
            err("*/0 * * * *").as_deref(),
            Some("step of range should be a positive number: */0")
        );
    }

    proptest! {
        #[test]
        fn minutes_in_range(m in 0u32..60, h in 0u32..24) {
            let spec = format!("{m} {h} * * *");
            prop_assert_eq!(parse_standard(&spec), Ok(()));
        }

        #[test]
        fn never_panics(s in "[0-9*/,a-z@ -]{0,20}") {
            let _ = parse_standard(&s);
        }
    }
}
