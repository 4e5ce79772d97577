//! Many watchers on one namespace; delivery lag of each event = receive time − send stamp.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use serde::Deserialize;

use crate::client::Api;
use crate::load::{CreatePlan, creates_closed, creates_paced};
use crate::pods::{find_stamp, now_nanos};
use crate::stats::{Summary, histogram, ms, record};

/// What a watch run measured.
#[derive(Clone, Debug)]
pub struct WatchResult {
    pub watchers: usize,
    pub events_per_watcher: usize,
    /// Events received with a stamp, over all watchers.
    pub received: u64,
    /// Watchers that got every event.
    pub complete: usize,
    /// Lag summary (ok = events received; elapsed = whole run).
    pub lag: Summary,
    /// The creates that produced the events.
    pub creates: Summary,
}

impl WatchResult {
    /// One line for humans.
    pub fn line(&self) -> String {
        format!(
            "{} watchers x {} events: {} delivered ({} watchers complete) in {:.2}s = {:.0} events/s; lag p50 {} p90 {} p99 {} max {}",
            self.watchers,
            self.events_per_watcher,
            self.received,
            self.complete,
            self.lag.elapsed.as_secs_f64(),
            self.lag.rate(),
            ms(self.lag.p50_us),
            ms(self.lag.p90_us),
            ms(self.lag.p99_us),
            ms(self.lag.max_us)
        )
    }
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "resourceVersion", default)]
    rv: String,
}

#[derive(Deserialize)]
struct ListHead {
    metadata: Meta,
}

/// Starts `watchers` watches on `plan.namespace`, then creates `plan.count` pods (closed loop
/// over `writers`, or paced at `rate`/s) and measures each ADDED event's lag at every watcher.
pub async fn watch_fanout(
    watch_clients: &[Api],
    writers: &[Api],
    plan: &CreatePlan,
    rate: Option<f64>,
) -> Result<WatchResult> {
    let ns = &plan.namespace;
    let head: ListHead = serde_json::from_slice(
        &writers[0]
            .get_ok(&format!("/api/v1/namespaces/{ns}/pods?limit=1"))
            .await?,
    )?;
    let timeout_s = plan.max_time.as_secs() + 30;
    let path = format!(
        "/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={}&allowWatchBookmarks=true&timeoutSeconds={timeout_s}",
        head.metadata.rv
    );
    let mut streams = Vec::new();
    for api in watch_clients {
        let resp = api
            .request(reqwest::Method::GET, &path)
            .send()
            .await
            .context("starting watch")?;
        if !resp.status().is_success() {
            bail!("watch: {}", resp.status());
        }
        streams.push(resp);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let deadline = start + plan.max_time + Duration::from_secs(10);
    let want = plan.count;
    let mut tasks = Vec::new();
    for resp in streams {
        tasks.push(tokio::spawn(receive(resp, want, deadline)));
    }
    let creates = match rate {
        Some(r) => creates_paced(writers, plan, r).await,
        None => creates_closed(writers, plan).await,
    };
    let mut h = histogram();
    let (mut received, mut complete) = (0u64, 0usize);
    for t in tasks {
        if let Ok((th, n)) = t.await {
            let _ = h.add(&th);
            received += n;
            if n as usize >= want {
                complete += 1;
            }
        }
    }
    let lag = Summary::from(&h, received, 0, start.elapsed(), None);
    Ok(WatchResult {
        watchers: watch_clients.len(),
        events_per_watcher: want,
        received,
        complete,
        lag,
        creates,
    })
}

/// Reads one watch stream until `want` stamped ADDED events or the deadline.
async fn receive(
    mut resp: reqwest::Response,
    want: usize,
    deadline: Instant,
) -> (Histogram<u64>, u64) {
    let mut h = histogram();
    let mut n = 0u64;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    while (n as usize) < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = match tokio::time::timeout(left, resp.chunk()).await {
            Ok(Ok(Some(c))) => c,
            _ => break,
        };
        let now = now_nanos();
        buf.extend_from_slice(&chunk);
        let mut from = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[from..]) {
            let line = &buf[from..from + nl];
            let head = &line[..line.len().min(48)];
            if memchr::memmem::find(head, b"\"ADDED\"").is_some()
                && let Some(sent) = find_stamp(line)
            {
                record(&mut h, Duration::from_nanos(now.saturating_sub(sent)));
                n += 1;
            }
            from += nl + 1;
        }
        buf.drain(..from);
    }
    (h, n)
}
