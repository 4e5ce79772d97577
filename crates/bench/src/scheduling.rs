//! Scheduling throughput: create pods (bare, anti-affine groups, or Deployments) and time each bind.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::client::Api;
use crate::load::{BodyFn, posts_closed};
use crate::pods::{SENT_ANNOTATION, STAMP_WIDTH, now_nanos};
use crate::podwatch::{Seen, Tracker};
use crate::stats::{Summary, histogram, ms, record};

/// What the created pods look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Bare pods (no owner): nothing but resources constrains them.
    Pods,
    /// Bare pods in groups of `group`, each with required anti-affinity to its own group
    /// on `kubernetes.io/hostname`, so every group spreads one pod per node.
    AntiAffinity { group: usize },
    /// Deployments of `replicas` pods each (pods made by the controllers).
    Deployments { replicas: usize },
}

/// One scheduling run.
#[derive(Clone, Debug)]
pub struct SchedPlan {
    pub namespace: String,
    /// Pods in all (for Deployments: rounded down to whole Deployments).
    pub pods: usize,
    pub workload: Workload,
    /// Concurrent creating clients (closed loop).
    pub clients: usize,
    /// Give up after this long.
    pub max_time: Duration,
    /// Give up when no pod is bound for this long.
    pub stall: Duration,
}

/// What a scheduling run measured.
#[derive(Clone, Debug)]
pub struct SchedResult {
    /// The create requests (pods or Deployments).
    pub creates: Summary,
    /// Pods expected and pods seen bound.
    pub pods: usize,
    pub bound: usize,
    /// First create sent → last pod bound.
    pub elapsed: Duration,
    /// Per pod: create sent (for Deployments: the Deployment's) → seen bound.
    pub latency: Summary,
    /// Why the run ended early, if it did.
    pub incomplete: Option<String>,
}

impl SchedResult {
    /// Pods bound per second over the run.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 { self.bound as f64 / s } else { 0.0 }
    }

    /// One line for humans.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{}/{} pods bound in {:.2}s = {:.0} pods/s; create->bound p50 {} p90 {} p99 {} max {}; creates {:.0}/s ({} errors)",
            self.bound,
            self.pods,
            self.elapsed.as_secs_f64(),
            self.rate(),
            ms(self.latency.p50_us),
            ms(self.latency.p90_us),
            ms(self.latency.p99_us),
            ms(self.latency.max_us),
            self.creates.rate(),
            self.creates.errors,
        );
        if let Some(why) = &self.incomplete {
            s.push_str(&format!(" (incomplete: {why})"));
        }
        s
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "pods": self.pods, "bound": self.bound, "seconds": self.elapsed.as_secs_f64(),
            "pods_per_second": self.rate(), "latency": self.latency.json(),
            "creates": self.creates.json(), "incomplete": self.incomplete,
        })
    }
}

fn stamp(nanos: u64) -> String {
    format!("{nanos:0STAMP_WIDTH$}")
}

fn container() -> Value {
    json!([{"name": "c", "image": "registry.k8s.io/pause:3.10",
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}])
}

/// The body of pod `i` of a run (named `s-<i>`), stamped now.
pub fn pod_body(namespace: &str, i: usize, workload: Workload) -> Vec<u8> {
    let group = match workload {
        Workload::AntiAffinity { group } => format!("g{}", i / group.max(1)),
        _ => "g0".to_string(),
    };
    let mut spec = json!({"containers": container(), "terminationGracePeriodSeconds": 0});
    if matches!(workload, Workload::AntiAffinity { .. }) {
        spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"group": group}}, "topologyKey": "kubernetes.io/hostname"}
        ]}});
    }
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("s-{i}"), "namespace": namespace,
                     "labels": {"app": "sched", "group": group},
                     "annotations": {SENT_ANNOTATION: stamp(now_nanos())}},
        "spec": spec,
    });
    pod.to_string().into_bytes()
}

/// The body of Deployment `name` with `replicas` pods; its pod template carries the send
/// stamp `sent` (nanoseconds since the Unix epoch).
pub fn deployment_body(namespace: &str, name: &str, replicas: usize, sent: u64) -> Vec<u8> {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {SENT_ANNOTATION: stamp(sent)}},
                "spec": {"containers": container(), "terminationGracePeriodSeconds": 0},
            },
        },
    })
    .to_string()
    .into_bytes()
}

/// Create → bind latencies and the first-send → last-bind span of what the tracker saw.
fn latencies(seen: &Seen) -> (Histogram<u64>, Duration) {
    let mut h = histogram();
    let (mut first, mut last) = (u64::MAX, 0u64);
    for t in seen.pods.values() {
        if t.sent > 0 {
            first = first.min(t.sent);
        }
        if t.bound > 0 && t.sent > 0 {
            last = last.max(t.bound);
            record(&mut h, Duration::from_nanos(t.bound.saturating_sub(t.sent)));
        }
    }
    let span = Duration::from_nanos(last.saturating_sub(first.min(last)));
    (h, span)
}

/// Creates the plan's pods (or Deployments) over `clients` while `tracker` (started on the
/// plan's namespace beforehand) sees them bound; returns when all are bound or it stalls.
pub async fn run(clients: &[Api], tracker: &mut Tracker, plan: &SchedPlan) -> Result<SchedResult> {
    let ns = plan.namespace.clone();
    let (path, count, pods, body): (String, usize, usize, BodyFn) = match plan.workload {
        Workload::Deployments { replicas } => {
            let replicas = replicas.max(1);
            let count = (plan.pods / replicas).max(1);
            let body: BodyFn =
                Arc::new(move |i| deployment_body(&ns, &format!("d-{i}"), replicas, now_nanos()));
            (
                format!("/apis/apps/v1/namespaces/{}/deployments", plan.namespace),
                count,
                count * replicas,
                body,
            )
        }
        w => {
            let body: BodyFn = Arc::new(move |i| pod_body(&ns, i, w));
            (
                format!("/api/v1/namespaces/{}/pods", plan.namespace),
                plan.pods,
                plan.pods,
                body,
            )
        }
    };
    let creating = posts_closed(clients, &path, count, plan.max_time, body);
    let waiting = tracker.wait("pods bound", plan.stall, plan.max_time, |s| s.bound >= pods);
    let (creates, waited) = tokio::join!(creating, waiting);
    let (h, elapsed, bound) = tracker.with(|s| {
        let (h, span) = latencies(s);
        (h, span, s.bound)
    });
    Ok(SchedResult {
        latency: Summary::from(&h, h.len(), 0, elapsed, None),
        creates,
        pods,
        bound,
        elapsed,
        incomplete: waited.err().map(|e| format!("{e:#}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podwatch::Times;

    #[test]
    fn bodies_are_valid_objects() -> Result<()> {
        let v: Value =
            serde_json::from_slice(&pod_body("ns", 250, Workload::AntiAffinity { group: 100 }))?;
        assert_eq!(v["metadata"]["name"], "s-250");
        assert_eq!(v["metadata"]["labels"]["group"], "g2");
        let term = &v["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            [0];
        assert_eq!(term["labelSelector"]["matchLabels"]["group"], "g2");
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        let v: Value = serde_json::from_slice(&pod_body("ns", 3, Workload::Pods))?;
        assert!(v["spec"].get("affinity").is_none());
        let d: Value = serde_json::from_slice(&deployment_body("ns", "d-1", 100, 42))?;
        assert_eq!(d["spec"]["replicas"], 100);
        assert_eq!(d["spec"]["selector"]["matchLabels"]["app"], "d-1");
        let sent = d["spec"]["template"]["metadata"]["annotations"][SENT_ANNOTATION]
            .as_str()
            .unwrap_or_default();
        assert_eq!(sent, format!("{:020}", 42));
        Ok(())
    }

    #[test]
    fn latency_spans_first_send_to_last_bind() {
        let mut s = Seen::default();
        let t = |sent, bound| Times {
            sent,
            bound,
            ..Times::default()
        };
        s.pods.insert("a".into(), t(1_000_000, 3_000_000));
        s.pods.insert("b".into(), t(2_000_000, 9_000_000));
        s.pods.insert("c".into(), t(2_500_000, 0));
        let (h, span) = latencies(&s);
        assert_eq!(h.len(), 2);
        assert_eq!(span, Duration::from_millis(8));
        assert_eq!(latencies(&Seen::default()).1, Duration::ZERO);
    }
}
