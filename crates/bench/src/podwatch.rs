//! Follows the bound pods of one namespace through a watch: when each was sent, bound, Running, deleted.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Deserialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::Api;
use crate::pods::now_nanos;

/// What the watch saw of one pod (nanoseconds since the Unix epoch; 0 = not yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    /// The send stamp of the object that made the pod (its `bench.rkube.io/sent` annotation).
    pub sent: u64,
    /// First seen with `spec.nodeName` set.
    pub bound: u64,
    /// First seen with phase Running.
    pub running: u64,
    /// Seen deleted.
    pub deleted: u64,
}

/// Everything seen so far.
#[derive(Debug, Default)]
pub struct Seen {
    pub pods: HashMap<String, Times>,
    pub bound: usize,
    pub running: usize,
    pub deleted: usize,
    /// Events parsed (for the bench's own cost).
    pub events: u64,
    /// Why the watch stopped for good, if it did.
    pub error: Option<String>,
}

/// A watch of `spec.nodeName!=` pods in one namespace, in the background.
pub struct Tracker {
    seen: Arc<Mutex<Seen>>,
    changed: watch::Receiver<u64>,
    task: JoinHandle<()>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    object: Object<'a>,
}

#[derive(Deserialize)]
struct Object<'a> {
    #[serde(default, borrow)]
    metadata: Meta<'a>,
    #[serde(default, borrow)]
    spec: Option<Spec<'a>>,
    #[serde(default, borrow)]
    status: Option<Status<'a>>,
}

#[derive(Deserialize, Default)]
struct Meta<'a> {
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "resourceVersion", default, borrow)]
    resource_version: Cow<'a, str>,
    #[serde(default, borrow)]
    annotations: Option<Annotations<'a>>,
}

#[derive(Deserialize)]
struct Annotations<'a> {
    #[serde(rename = "bench.rkube.io/sent", default, borrow)]
    sent: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Spec<'a> {
    #[serde(rename = "nodeName", default, borrow)]
    node_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Status<'a> {
    #[serde(default, borrow)]
    phase: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ListHead {
    metadata: ListMeta,
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "resourceVersion", default)]
    resource_version: String,
}

/// Applies one watch event line at time `now`; returns the resourceVersion it carried.
fn apply(seen: &mut Seen, line: &[u8], now: u64) -> Result<Option<String>> {
    let ev: Event<'_> = serde_json::from_slice(line)?;
    let rv = ev.object.metadata.resource_version.to_string();
    match ev.kind.as_ref() {
        "BOOKMARK" => return Ok(Some(rv)),
        "ERROR" => bail!("watch error: {}", String::from_utf8_lossy(line)),
        _ => {}
    }
    seen.events += 1;
    let m = &ev.object.metadata;
    let t = seen.pods.entry(m.name.to_string()).or_default();
    if t.sent == 0
        && let Some(s) = m.annotations.as_ref().and_then(|a| a.sent.as_deref())
    {
        t.sent = s.parse().unwrap_or(0);
    }
    let bound = ev
        .object
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    if bound && t.bound == 0 {
        t.bound = now;
        seen.bound += 1;
    }
    let running = ev.object.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    if running && t.running == 0 {
        t.running = now;
        seen.running += 1;
    }
    if ev.kind == "DELETED" && t.deleted == 0 {
        t.deleted = now;
        seen.deleted += 1;
    }
    Ok(Some(rv))
}

impl Tracker {
    /// Lists the namespace's bound pods (for a resourceVersion) and watches from there.
    pub async fn start(api: &Api, namespace: &str) -> Result<Tracker> {
        let base = format!("/api/v1/namespaces/{namespace}/pods");
        let head: ListHead =
            serde_json::from_slice(&api.get_ok(&format!("{base}?limit=1")).await?)?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tx, changed) = watch::channel(0u64);
        let task = tokio::spawn(follow(
            api.clone(),
            base,
            head.metadata.resource_version,
            seen.clone(),
            tx,
        ));
        Ok(Tracker {
            seen,
            changed,
            task,
        })
    }

    /// Reads what was seen.
    pub fn with<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        match self.seen.lock() {
            Ok(s) => f(&s),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// Waits until `done(seen)`; fails when nothing changes for `stall` or after `max`.
    pub async fn wait(
        &mut self,
        what: &str,
        stall: Duration,
        max: Duration,
        done: impl Fn(&Seen) -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Some(e) = self.with(|s| s.error.clone()) {
                bail!("{what}: pod watch failed: {e}");
            }
            if self.with(&done) {
                return Ok(());
            }
            if start.elapsed() > max {
                bail!("{what}: not done after {max:?}");
            }
            match tokio::time::timeout(stall, self.changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => bail!("{what}: pod watch ended"),
                Err(_) => bail!("{what}: no progress for {stall:?}"),
            }
        }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The watch loop: reconnects from the last resourceVersion when the server ends a watch.
async fn follow(
    api: Api,
    base: String,
    mut rv: String,
    seen: Arc<Mutex<Seen>>,
    tx: watch::Sender<u64>,
) {
    let mut failures = 0;
    loop {
        let path = format!(
            "{base}?watch=1&fieldSelector=spec.nodeName%21%3D&allowWatchBookmarks=true&timeoutSeconds=3600&resourceVersion={rv}"
        );
        let resp = match api.request(reqwest::Method::GET, &path).send().await {
            Ok(r) if r.status().is_success() => r,
            other => {
                failures += 1;
                if failures > 5 {
                    let msg = match other {
                        Ok(r) => format!("status {}", r.status()),
                        Err(e) => format!("{e:#}"),
                    };
                    if let Ok(mut s) = seen.lock() {
                        s.error = Some(msg);
                    }
                    tx.send_modify(|n| *n += 1);
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        failures = 0;
        if let Err(e) = read(resp, &mut rv, &seen, &tx).await {
            if let Ok(mut s) = seen.lock() {
                s.error = Some(format!("{e:#}"));
            }
            tx.send_modify(|n| *n += 1);
            return;
        }
    }
}

/// Reads one watch response to its end.
async fn read(
    mut resp: reqwest::Response,
    rv: &mut String,
    seen: &Mutex<Seen>,
    tx: &watch::Sender<u64>,
) -> Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    while let Ok(Some(chunk)) = resp.chunk().await {
        let now = now_nanos();
        buf.extend_from_slice(&chunk);
        let mut from = 0;
        let mut any = false;
        {
            let mut s = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            while let Some(nl) = memchr::memchr(b'\n', &buf[from..]) {
                let line = &buf[from..from + nl];
                from += nl + 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Some(v) = apply(&mut s, line, now)? {
                    *rv = v;
                    any = true;
                }
            }
        }
        buf.drain(..from);
        if any {
            tx.send_modify(|n| *n += 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_record_first_bind_and_running() -> Result<()> {
        let mut s = Seen::default();
        let added = br#"{"type":"ADDED","object":{"kind":"Pod","metadata":{"annotations":{"bench.rkube.io/sent":"00000000000000000100","x":"y"},"name":"p-1","resourceVersion":"7"},"spec":{"containers":[{"name":"c"}],"nodeName":"sim-0001"},"status":{"phase":"Pending"}}}"#;
        assert_eq!(apply(&mut s, added, 150)?, Some("7".into()));
        let running = br#"{"type":"MODIFIED","object":{"metadata":{"name":"p-1","resourceVersion":"9"},"spec":{"nodeName":"sim-0001"},"status":{"phase":"Running"}}}"#;
        apply(&mut s, running, 170)?;
        apply(&mut s, running, 180)?;
        let t = s.pods["p-1"];
        assert_eq!((t.sent, t.bound, t.running, t.deleted), (100, 150, 170, 0));
        assert_eq!((s.bound, s.running, s.events), (1, 1, 3));
        let deleted = br#"{"type":"DELETED","object":{"metadata":{"name":"p-1","resourceVersion":"12"},"spec":{"nodeName":"sim-0001"}}}"#;
        apply(&mut s, deleted, 200)?;
        assert_eq!(s.deleted, 1);
        let bookmark =
            br#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"20"}}}"#;
        assert_eq!(apply(&mut s, bookmark, 210)?, Some("20".into()));
        assert_eq!(s.events, 4);
        assert!(apply(&mut s, br#"{"type":"ERROR","object":{"metadata":{}}}"#, 1).is_err());
        Ok(())
    }
}
