//! Pre-serialized pod JSON bodies, with the name and a send timestamp spliced in per request.

use std::time::{SystemTime, UNIX_EPOCH};

/// Annotation holding the send time (nanoseconds since the Unix epoch, 20 digits).
pub const SENT_ANNOTATION: &str = "bench.rkube.io/sent";

/// The marker searched for in watch events: `"bench.rkube.io/sent":"`.
pub const SENT_MARKER: &[u8] = b"\"bench.rkube.io/sent\":\"";

/// Width of the zero-padded timestamp.
pub const STAMP_WIDTH: usize = 20;

/// Now, in nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A small realistic pod (one nginx container, labels, env, resources) as static JSON pieces.
#[derive(Clone, Debug)]
pub struct PodTemplate {
    head: Vec<u8>,
    mid: Vec<u8>,
    tail: Vec<u8>,
}

impl PodTemplate {
    /// A template for pods in `namespace`.
    pub fn new(namespace: &str) -> PodTemplate {
        let head = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-"#.to_vec();
        let mid = format!(
            r#"","namespace":"{namespace}","labels":{{"app":"bench","tier":"web","bench.rkube.io/ns":"{namespace}"}},"annotations":{{"{SENT_ANNOTATION}":""#
        )
        .into_bytes();
        let tail = br#""}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}],"env":[{"name":"MODE","value":"bench"},{"name":"LOG_LEVEL","value":"info"}],"resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"memory":"64Mi"}}}],"restartPolicy":"Always","terminationGracePeriodSeconds":5}}"#.to_vec();
        PodTemplate { head, mid, tail }
    }

    /// The body for pod `p-<n>`, stamped with the current time.
    pub fn body(&self, n: usize) -> Vec<u8> {
        self.body_at(n, now_nanos())
    }

    /// The body for pod `p-<n>` stamped with `nanos`.
    pub fn body_at(&self, n: usize, nanos: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.head.len() + self.mid.len() + self.tail.len() + 48);
        v.extend_from_slice(&self.head);
        v.extend_from_slice(n.to_string().as_bytes());
        v.extend_from_slice(&self.mid);
        v.extend_from_slice(format!("{nanos:0STAMP_WIDTH$}").as_bytes());
        v.extend_from_slice(&self.tail);
        v
    }
}

/// The send stamp in an event line, if the line carries one.
pub fn find_stamp(line: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(line, SENT_MARKER)? + SENT_MARKER.len();
    let digits = line.get(at..at + STAMP_WIDTH)?;
    let mut v: u64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_valid_json_with_stamp() -> anyhow::Result<()> {
        let t = PodTemplate::new("bench-x");
        let b = t.body_at(42, 1_700_000_000_123_456_789);
        let v: serde_json::Value = serde_json::from_slice(&b)?;
        assert_eq!(v["metadata"]["name"], "p-42");
        assert_eq!(v["spec"]["containers"][0]["name"], "nginx");
        assert_eq!(find_stamp(&b), Some(1_700_000_000_123_456_789));
        Ok(())
    }
}
