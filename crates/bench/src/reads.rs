//! GET of single pods and LIST of a namespace, whole and paged.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::client::Api;
use crate::load::merge;
use crate::stats::{Summary, histogram, ms, record};

/// `count` GETs of pods `p-<k>` (k spread over `0..pods`), split over the clients.
pub async fn gets(
    clients: &[Api],
    namespace: &str,
    pods: usize,
    count: usize,
    max_time: Duration,
) -> Summary {
    let per = count.div_ceil(clients.len().max(1));
    let start = Instant::now();
    let deadline = start + max_time;
    let mut tasks = Vec::new();
    for (c, api) in clients.iter().cloned().enumerate() {
        let ns = namespace.to_string();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let mut ok = 0;
            for i in 0..per {
                if Instant::now() > deadline {
                    break;
                }
                let k = (c * per + i).wrapping_mul(7919) % pods.max(1);
                let t0 = Instant::now();
                if let Ok((s, _)) = api
                    .get(&format!("/api/v1/namespaces/{ns}/pods/p-{k}"))
                    .await
                    && s.is_success()
                {
                    record(&mut h, t0.elapsed());
                    ok += 1;
                }
            }
            (h, ok)
        }));
    }
    let (h, ok) = merge(tasks).await;
    let attempted = (per * clients.len()) as u64;
    Summary::from(&h, ok, attempted.saturating_sub(ok), start.elapsed(), None)
}

#[derive(Deserialize)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    cont: Option<String>,
}

#[derive(Deserialize)]
struct List {
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<IgnoredAny>,
}

/// One whole LIST.
#[derive(Clone, Debug)]
pub struct WholeList {
    pub items: usize,
    pub bytes: usize,
    pub elapsed: Duration,
}

/// LISTs the namespace's pods in one request, `reps` times (`rv0`: from the watch cache with
/// `resourceVersion=0`).
pub async fn list_whole(
    api: &Api,
    namespace: &str,
    reps: usize,
    rv0: bool,
) -> Result<Vec<WholeList>> {
    let q = if rv0 { "?resourceVersion=0" } else { "" };
    let path = format!("/api/v1/namespaces/{namespace}/pods{q}");
    let mut out = Vec::new();
    for _ in 0..reps {
        let t0 = Instant::now();
        let body = api.get_ok(&path).await?;
        let elapsed = t0.elapsed();
        let list: List = serde_json::from_slice(&body)?;
        out.push(WholeList {
            items: list.items.len(),
            bytes: body.len(),
            elapsed,
        });
    }
    Ok(out)
}

/// A full paged walk.
#[derive(Clone, Debug)]
pub struct PagedWalk {
    pub items: usize,
    pub pages: usize,
    pub elapsed: Duration,
    pub page: Summary,
}

/// Walks the namespace's pods `page` at a time following `continue`.
pub async fn list_paged(
    api: &Api,
    namespace: &str,
    page: usize,
    max_time: Duration,
) -> Result<PagedWalk> {
    let mut h = histogram();
    let start = Instant::now();
    let mut cont: Option<String> = None;
    let (mut items, mut pages) = (0, 0);
    loop {
        if start.elapsed() > max_time {
            bail!("paged walk exceeded {max_time:?} after {pages} pages");
        }
        let mut path = format!("/api/v1/namespaces/{namespace}/pods?limit={page}");
        if let Some(c) = &cont {
            path.push_str("&continue=");
            path.push_str(&percent(c));
        }
        let t0 = Instant::now();
        let body = api.get_ok(&path).await?;
        record(&mut h, t0.elapsed());
        let list: List = serde_json::from_slice(&body)?;
        items += list.items.len();
        pages += 1;
        cont = list.metadata.cont.filter(|c| !c.is_empty());
        if cont.is_none() {
            break;
        }
    }
    let elapsed = start.elapsed();
    Ok(PagedWalk {
        items,
        pages,
        elapsed,
        page: Summary::from(&h, pages as u64, 0, elapsed, None),
    })
}

impl PagedWalk {
    /// One line for humans.
    pub fn line(&self) -> String {
        format!(
            "{} items in {} pages in {:.2}s; per page p50 {} p99 {} max {}",
            self.items,
            self.pages,
            self.elapsed.as_secs_f64(),
            ms(self.page.p50_us),
            ms(self.page.p99_us),
            ms(self.page.max_us)
        )
    }
}

/// Percent-encodes a continue token for a query string.
fn percent(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}
