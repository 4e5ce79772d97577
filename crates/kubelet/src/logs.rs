//! Container logs as `kubectl logs` shows them: CRI log files rendered with
//! `tailLines`, `sinceSeconds`/`sinceTime`, `timestamps` and `limitBytes`,
//! and followed (`follow`) until the container stops.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use jiff::Timestamp;
use rkube_cri::log::parse_line;

/// The query of a log request (`/containerLogs/...?follow=true&tailLines=5`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming while the container runs.
    pub follow: bool,
    /// The previous instance of the container.
    pub previous: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<Timestamp>,
    /// Prefix each line with its RFC 3339 timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<usize>,
    /// The runtime id of the instance to read (the API server resolves it
    /// from the pod's status); else the newest (or, with `previous`, the one
    /// before).
    pub container_id: Option<String>,
}

fn flag(v: &str) -> bool {
    matches!(v, "true" | "1" | "True" | "")
}

impl LogOptions {
    /// Parses a query string at `now` (for `sinceSeconds`).
    pub fn parse(query: &str, now: Timestamp) -> Result<Self, String> {
        let mut o = LogOptions::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            let number = || v.parse::<i64>().map_err(|_| format!("invalid {k}: {v:?}"));
            match k {
                "follow" => o.follow = flag(&v),
                "previous" => o.previous = flag(&v),
                "timestamps" => o.timestamps = flag(&v),
                "containerID" => o.container_id = Some(v.clone()).filter(|v| !v.is_empty()),
                "tailLines" => {
                    o.tail_lines = Some(usize::try_from(number()?.max(0)).unwrap_or(0));
                }
                "limitBytes" => {
                    let n = number()?;
                    if n < 1 {
                        return Err("limitBytes must be greater than zero".into());
                    }
                    o.limit_bytes = usize::try_from(n).ok();
                }
                "sinceSeconds" => {
                    let n = number()?;
                    if n < 1 {
                        return Err("sinceSeconds must be greater than zero".into());
                    }
                    o.since = Some(now - jiff::SignedDuration::from_secs(n));
                }
                "sinceTime" => {
                    o.since = Some(
                        v.parse::<Timestamp>()
                            .map_err(|e| format!("invalid sinceTime {v:?}: {e}"))?,
                    );
                }
                _ => {}
            }
        }
        Ok(o)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Renders the complete CRI log lines in `data` (a partial last line is left
/// for later); returns the output and how many bytes of `data` were used.
/// `at_line_start` carries whether the previous output ended a line (for
/// timestamps of continued partial lines).
pub fn render(data: &[u8], opts: &LogOptions, at_line_start: &mut bool) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(data.len());
    let mut used = 0;
    let mut lines: Vec<&[u8]> = vec![];
    for line in data.split_inclusive(|&b| b == b'\n') {
        if !line.ends_with(b"\n") {
            break;
        }
        used += line.len();
        lines.push(line);
    }
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    for line in lines {
        let Some(l) = parse_line(line) else { continue };
        if let Some(since) = opts.since
            && l.timestamp.parse::<Timestamp>().is_ok_and(|t| t < since)
        {
            continue;
        }
        if opts.timestamps && *at_line_start {
            out.extend_from_slice(l.timestamp.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(l.message);
        if l.partial {
            *at_line_start = false;
        } else {
            out.push(b'\n');
            *at_line_start = true;
        }
    }
    (out, used)
}

/// Reads `path` from `offset` to its end.
pub fn read_from(path: &Path, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![];
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &[u8] = b"2026-01-01T00:00:01.000000001Z stdout F one\n\
2026-01-01T00:00:02.000000002Z stderr F two\n\
2026-01-01T00:00:03.000000003Z stdout P thr\n\
2026-01-01T00:00:03.100000000Z stdout F ee\n\
2026-01-01T00:00:04.000000000Z stdout F fo";

    fn now() -> Timestamp {
        "2026-01-01T00:00:05Z".parse().unwrap()
    }

    #[test]
    fn renders_like_kubectl_logs() {
        let mut start = true;
        let (out, used) = render(LOG, &LogOptions::default(), &mut start);
        assert_eq!(out, b"one\ntwo\nthree\n");
        assert_eq!(
            used,
            LOG.len() - b"2026-01-01T00:00:04.000000000Z stdout F fo".len()
        );

        let opts = LogOptions::parse("timestamps=true&tailLines=3", now()).unwrap();
        let (out, _) = render(LOG, &opts, &mut true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-01-01T00:00:02.000000002Z two\n2026-01-01T00:00:03.000000003Z three\n"
        );

        let opts = LogOptions::parse("sinceSeconds=3", now()).unwrap();
        let (out, _) = render(LOG, &opts, &mut true);
        assert_eq!(out, b"two\nthree\n");
        let opts = LogOptions::parse("sinceTime=2026-01-01T00%3A00%3A03Z", now()).unwrap();
        assert_eq!(render(LOG, &opts, &mut true).0, b"three\n");
    }

    #[test]
    fn parses_queries() {
        let o = LogOptions::parse("follow=true&previous=true&limitBytes=10", now()).unwrap();
        assert!(o.follow && o.previous);
        assert_eq!(o.limit_bytes, Some(10));
        assert!(LogOptions::parse("limitBytes=0", now()).is_err());
        assert!(LogOptions::parse("tailLines=x", now()).is_err());
    }
}
