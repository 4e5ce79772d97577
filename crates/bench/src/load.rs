//! Pod creates: closed loop with N clients (throughput) and paced open loop (latency at a rate).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use hdrhistogram::Histogram;

use crate::client::Api;
use crate::pods::PodTemplate;
use crate::stats::{Summary, histogram, record};

/// What to create: pods `p-<first>` .. `p-<first+count-1>` in `namespace`.
#[derive(Clone, Debug)]
pub struct CreatePlan {
    pub namespace: String,
    pub first: usize,
    pub count: usize,
    /// Give up (and report what was done) after this long.
    pub max_time: Duration,
}

/// Shared error bookkeeping.
#[derive(Default)]
struct Errors {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Errors {
    fn note(&self, e: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.first.lock() {
            f.get_or_insert(e);
        }
    }
    fn take(&self) -> (u64, Option<String>) {
        (
            self.count.load(Ordering::Relaxed),
            self.first.lock().ok().and_then(|mut f| f.take()),
        )
    }
}

/// One create; `Ok(())` on 201.
async fn create_one(api: &Api, path: &str, body: Vec<u8>) -> Result<(), String> {
    match api.post_json(path, body).await {
        Ok(s) if s.is_success() => Ok(()),
        Ok(s) => Err(format!("status {s}")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Makes the request body of object number `i`.
pub type BodyFn = Arc<dyn Fn(usize) -> Vec<u8> + Send + Sync>;

/// Closed loop: each client sends its next create as soon as the previous one answered.
pub async fn creates_closed(clients: &[Api], plan: &CreatePlan) -> Summary {
    let tpl = PodTemplate::new(&plan.namespace);
    let path = format!("/api/v1/namespaces/{}/pods", plan.namespace);
    let first = plan.first;
    let body: BodyFn = Arc::new(move |i| tpl.body(first + i));
    posts_closed(clients, &path, plan.count, plan.max_time, body).await
}

/// Closed loop of `count` POSTs to `path` (bodies from `body(0..count)`) over the clients.
pub async fn posts_closed(
    clients: &[Api],
    path: &str,
    count: usize,
    max_time: Duration,
    body: BodyFn,
) -> Summary {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Errors::default());
    let path: Arc<str> = path.into();
    let start = Instant::now();
    let deadline = start + max_time;
    let mut tasks = Vec::new();
    for api in clients {
        let api = api.clone();
        let (next, errors, body, path) = (next.clone(), errors.clone(), body.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let mut ok = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() > deadline {
                    break;
                }
                let body = body(i);
                let t0 = Instant::now();
                match create_one(&api, &path, body).await {
                    Ok(()) => {
                        record(&mut h, t0.elapsed());
                        ok += 1;
                    }
                    Err(e) => errors.note(e),
                }
            }
            (h, ok)
        }));
    }
    let (h, ok) = merge(tasks).await;
    let elapsed = start.elapsed();
    let (errs, first) = errors.take();
    Summary::from(&h, ok, errs, elapsed, first)
}

/// Open loop at `rate`/s: request i is due at start + i/rate whether or not earlier ones
/// answered; latency counts from the due time (no coordinated omission). Requests are spread
/// round-robin over the clients (each may open more connections when busy).
pub async fn creates_paced(clients: &[Api], plan: &CreatePlan, rate: f64) -> Summary {
    let errors = Arc::new(Errors::default());
    let tpl = PodTemplate::new(&plan.namespace);
    let path: Arc<str> = format!("/api/v1/namespaces/{}/pods", plan.namespace).into();
    let hist = Arc::new(Mutex::new(histogram()));
    let ok = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let deadline = start + plan.max_time;
    let mut tasks = Vec::with_capacity(plan.count);
    for i in 0..plan.count {
        let due = start + Duration::from_secs_f64(i as f64 / rate.max(0.001));
        if due > deadline {
            break;
        }
        tokio::time::sleep_until(due).await;
        let body = tpl.body(plan.first + i);
        let api = clients[i % clients.len().max(1)].clone();
        let (errors, path, hist, ok) = (errors.clone(), path.clone(), hist.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now())
                + Duration::from_secs(5);
            match tokio::time::timeout(remaining, create_one(&api, &path, body)).await {
                Ok(Ok(())) => {
                    if let Ok(mut h) = hist.lock() {
                        record(&mut h, due.elapsed());
                    }
                    ok.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => errors.note(e),
                Err(_) => errors.note("timed out".into()),
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    let (errs, first) = errors.take();
    let h = hist
        .lock()
        .map(|h| h.clone())
        .unwrap_or_else(|_| histogram());
    Summary::from(&h, ok.load(Ordering::Relaxed), errs, elapsed, first)
}

/// Joins tasks that each return a histogram and a count.
pub async fn merge(
    tasks: Vec<tokio::task::JoinHandle<(Histogram<u64>, u64)>>,
) -> (Histogram<u64>, u64) {
    let mut h = histogram();
    let mut ok = 0;
    for t in tasks {
        if let Ok((th, n)) = t.await {
            let _ = h.add(&th);
            ok += n;
        }
    }
    (h, ok)
}
