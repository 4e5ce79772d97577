//! Deployment start-up: create a Deployment and time until every replica runs, repeated.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use crate::client::Api;
use crate::pods::now_nanos;
use crate::podwatch::{Seen, Tracker};
use crate::scheduling::deployment_body;
use crate::stats::{Summary, histogram, ms, record};

/// Repeated Deployment start-ups.
#[derive(Clone, Debug)]
pub struct RolloutPlan {
    pub namespace: String,
    pub runs: usize,
    pub replicas: usize,
    /// Longest wait for one run.
    pub max_run: Duration,
}

/// What the runs measured.
#[derive(Clone, Debug)]
pub struct RolloutResult {
    pub replicas: usize,
    /// Create sent → last replica seen Running, per completed run.
    pub runs: Vec<Duration>,
    /// Same, as percentiles.
    pub summary: Summary,
    pub failures: Vec<String>,
}

impl RolloutResult {
    /// One line for humans.
    pub fn line(&self) -> String {
        let mut s = format!(
            "Deployment of {} -> all Running: {} runs, p50 {} p90 {} p99 {} max {}",
            self.replicas,
            self.runs.len(),
            ms(self.summary.p50_us),
            ms(self.summary.p90_us),
            ms(self.summary.p99_us),
            ms(self.summary.max_us)
        );
        if let Some(f) = self.failures.first() {
            s.push_str(&format!(" ({} failed; first: {f})", self.failures.len()));
        }
        s
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "replicas": self.replicas,
            "runs_ms": self.runs.iter().map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>(),
            "summary": self.summary.json(),
            "failures": self.failures,
        })
    }
}

/// Pods stamped `sent`: (Running, deleted, last Running time).
fn of_run(seen: &Seen, sent: u64) -> (usize, usize, u64) {
    let (mut running, mut deleted, mut last) = (0, 0, 0);
    for t in seen.pods.values().filter(|t| t.sent == sent) {
        if t.running > 0 {
            running += 1;
            last = last.max(t.running);
        }
        if t.deleted > 0 {
            deleted += 1;
        }
    }
    (running, deleted, last)
}

/// Runs `plan.runs` start-ups one after another: create `d-<run>`, wait for every replica
/// Running, delete it and wait for its pods to go before the next.
pub async fn run(api: &Api, tracker: &mut Tracker, plan: &RolloutPlan) -> RolloutResult {
    let mut h = histogram();
    let mut runs = Vec::new();
    let mut failures = Vec::new();
    let base = format!("/apis/apps/v1/namespaces/{}/deployments", plan.namespace);
    let started = std::time::Instant::now();
    for run in 0..plan.runs {
        match one(api, tracker, plan, &base, run).await {
            Ok(d) => {
                record(&mut h, d);
                runs.push(d);
            }
            Err(e) => failures.push(format!("run {run}: {e:#}")),
        }
    }
    RolloutResult {
        replicas: plan.replicas,
        summary: Summary::from(&h, h.len(), failures.len() as u64, started.elapsed(), None),
        runs,
        failures,
    }
}

async fn one(
    api: &Api,
    tracker: &mut Tracker,
    plan: &RolloutPlan,
    base: &str,
    run: usize,
) -> Result<Duration> {
    let name = format!("d-{run}");
    let sent = now_nanos();
    let status = api
        .post_json(
            base,
            deployment_body(&plan.namespace, &name, plan.replicas, sent),
        )
        .await?;
    if !status.is_success() {
        bail!("creating deployment {name}: {status}");
    }
    let path = format!("{base}/{name}");
    let want = plan.replicas;
    let stall = plan.max_run;
    tracker
        .wait("replicas Running", stall, plan.max_run, |s| {
            of_run(s, sent).0 >= want
        })
        .await?;
    let last = tracker.with(|s| of_run(s, sent).2);
    let took = Duration::from_nanos(last.saturating_sub(sent));
    let status = api
        .delete(&format!("{path}?propagationPolicy=Background"))
        .await?;
    if !status.is_success() {
        bail!("deleting deployment {name}: {status}");
    }
    // The next run starts on a quiet cluster: wait for this one's pods to be gone.
    tracker
        .wait("replicas deleted", stall, plan.max_run, |s| {
            of_run(s, sent).1 >= want
        })
        .await?;
    Ok(took)
}
