//! Where a pod's start-up time goes, from the agent's log: when its worker logged the sandbox
//! started and the container started (tracing's RFC 3339 timestamps, pod span `pod{pod=ns/name …}`).

use std::collections::HashMap;

/// What the agent's log says of one pod (nanoseconds since the Unix epoch; 0 = not seen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    pub sandbox_started: u64,
    pub container_started: u64,
}

/// Nanoseconds since the epoch of `2026-12-05T10:25:44.123456Z` (UTC only).
pub fn parse_utc(ts: &str) -> Option<u64> {
    let ts = ts.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + s;
    let mut nanos: u64 = 0;
    for (i, c) in frac.bytes().take(9).enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        nanos += u64::from(c - b'0') * 10u64.pow(8 - i as u32);
    }
    Some(u64::try_from(secs).ok()? * 1_000_000_000 + nanos)
}

/// The marks of every pod of `namespace` in the log text, by pod name (first occurrence wins).
pub fn marks(log: &str, namespace: &str) -> HashMap<String, Marks> {
    let key = format!("pod{{pod={namespace}/");
    let mut out: HashMap<String, Marks> = HashMap::new();
    for line in log.lines() {
        let Some(at) = line.find(&key) else { continue };
        let rest = &line[at + key.len()..];
        let name = rest.split([' ', '}']).next().unwrap_or_default();
        let Some(ts) = line.split_whitespace().next().and_then(parse_utc) else {
            continue;
        };
        let m = out.entry(name.to_string()).or_default();
        if line.contains(": pod sandbox started") && m.sandbox_started == 0 {
            m.sandbox_started = ts;
        } else if line.contains(": container started") && m.container_started == 0 {
            m.container_started = ts;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_timestamps_and_pod_marks() {
        assert_eq!(parse_utc("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            parse_utc("2023-11-14T22:13:20.000001Z"),
            Some(1_700_000_000_000_001_000)
        );
        assert_eq!(parse_utc("2023-11-14 22:13:20Z"), None);
        let log = "\
2023-11-14T22:13:20.000100Z  INFO pods:pod{pod=ns1/p-1 uid=u1}: pod sandbox started sandbox=abc attempt=0
2023-11-14T22:13:20.000200Z  INFO pods:pod{pod=ns2/p-1 uid=u9}: pod sandbox started sandbox=zzz attempt=0
2023-11-14T22:13:20.000300Z  INFO pods:pod{pod=ns1/p-1 uid=u1}: container started container=\"c\" id=def
2023-11-14T22:13:20.000400Z  INFO pods:pod{pod=ns1/p-1 uid=u1}: container started container=\"d\" id=ghi
";
        let m = marks(log, "ns1");
        assert_eq!(m.len(), 1);
        let base = 1_700_000_000_000_000_000;
        assert_eq!(m["p-1"].sandbox_started, base + 100_000);
        assert_eq!(m["p-1"].container_started, base + 300_000);
    }
}
