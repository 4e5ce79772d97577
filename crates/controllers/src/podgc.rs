//! PodGC: force-deletes pods bound to nodes that no longer exist (after a quarantine and a
//! confirming read), terminating pods that were never scheduled, and the oldest terminated
//! (Succeeded/Failed) pods beyond a threshold.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::is_not_found;
use crate::informer::Informers;

/// Upstream's default `--terminated-pod-gc-threshold`.
pub const DEFAULT_TERMINATED_THRESHOLD: usize = 12_500;

/// PodGC settings.
#[derive(Debug, Clone)]
pub struct PodGcConfig {
    /// How often to look (upstream: 20 s).
    pub period: Duration,
    /// How long a node must be missing before its pods go (upstream: 40 s).
    pub quarantine: Duration,
    /// Terminated pods kept before the oldest are deleted.
    pub terminated_threshold: usize,
}

impl Default for PodGcConfig {
    fn default() -> Self {
        PodGcConfig {
            period: Duration::from_secs(20),
            quarantine: Duration::from_secs(40),
            terminated_threshold: DEFAULT_TERMINATED_THRESHOLD,
        }
    }
}

fn is_terminated(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The terminated pods to delete: the oldest beyond `threshold` (upstream skips the check
/// entirely when the threshold is 0).
pub fn terminated_to_delete(pods: &[&Pod], threshold: usize) -> Vec<(String, String)> {
    if threshold == 0 {
        return Vec::new();
    }
    let mut terminated: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| is_terminated(p) && p.metadata.deletion_timestamp.is_none())
        .collect();
    if terminated.len() <= threshold {
        return Vec::new();
    }
    terminated.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.name_any(),
        )
    });
    let excess = terminated.len() - threshold;
    terminated
        .into_iter()
        .take(excess)
        .map(|p| (p.namespace().unwrap_or_default(), p.name_any()))
        .collect()
}

struct PodGc {
    client: Client,
    nodes: Store<Node>,
    pods: Store<Pod>,
    config: PodGcConfig,
    missing_since: HashMap<String, Instant>,
}

impl PodGc {
    async fn force_delete(&self, ns: &str, name: &str, why: &str) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        match api
            .delete(
                name,
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
            )
            .await
        {
            Ok(_) => info!(pod = %format!("{ns}/{name}"), why, "pod garbage collected"),
            Err(e) if is_not_found(&e) => {}
            Err(e) => warn!(pod = %format!("{ns}/{name}"), error = %e, "pod GC failed"),
        }
    }

    async fn gc(&mut self) {
        let pods = self.pods.state();
        let refs: Vec<&Pod> = pods.iter().map(AsRef::as_ref).collect();
        for (ns, name) in terminated_to_delete(&refs, self.config.terminated_threshold) {
            self.force_delete(&ns, &name, "terminated pods over threshold")
                .await;
        }

        // Orphaned pods: bound to a node that is missing for the quarantine and confirmed gone.
        let nodes: HashSet<String> = self.nodes.state().iter().map(|n| n.name_any()).collect();
        let now = Instant::now();
        let mut missing: HashSet<String> = HashSet::new();
        for p in &pods {
            if let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref())
                && !n.is_empty()
                && !nodes.contains(n)
            {
                missing.insert(n.to_owned());
            }
        }
        self.missing_since.retain(|n, _| missing.contains(n));
        let node_api: Api<Node> = Api::all(self.client.clone());
        let mut gone: HashSet<String> = HashSet::new();
        for n in missing {
            let since = *self.missing_since.entry(n.clone()).or_insert(now);
            if now.saturating_duration_since(since) < self.config.quarantine {
                continue;
            }
            match node_api.get_opt(&n).await {
                Ok(None) => {
                    gone.insert(n);
                }
                Ok(Some(_)) => {
                    self.missing_since.remove(&n);
                }
                Err(e) => warn!(node = %n, error = %e, "pod GC: reading node failed"),
            }
        }
        for p in &pods {
            let Some(n) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                continue;
            };
            if !gone.contains(n) {
                continue;
            }
            let (ns, name) = (p.namespace().unwrap_or_default(), p.name_any());
            if !is_terminated(p) {
                // Upstream marks the pod Failed with a DisruptionTarget condition first.
                let mut conds = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.clone())
                    .unwrap_or_default();
                conds.retain(|c| c.type_ != "DisruptionTarget");
                let mut conds = serde_json::to_value(conds).unwrap_or_else(|_| json!([]));
                if let Some(a) = conds.as_array_mut() {
                    a.push(json!({
                        "type": "DisruptionTarget",
                        "status": "True",
                        "reason": "DeletionByPodGC",
                        "message": "PodGC: node no longer exists",
                        "lastTransitionTime": Timestamp::now(),
                    }));
                }
                let patch = json!({"status": {"phase": "Failed", "conditions": conds}});
                let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
                if let Err(e) = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    && !is_not_found(&e)
                {
                    warn!(pod = %name, error = %e, "pod GC: marking pod failed");
                }
            }
            self.force_delete(&ns, &name, "node no longer exists").await;
        }

        // Terminating pods that were never scheduled.
        for p in &pods {
            let unbound = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .is_none_or(str::is_empty);
            if unbound && p.metadata.deletion_timestamp.is_some() {
                let (ns, name) = (p.namespace().unwrap_or_default(), p.name_any());
                self.force_delete(&ns, &name, "unscheduled and terminating")
                    .await;
            }
        }
    }
}

/// PodGC over the shared node and pod caches; runs until `stop` is cancelled.
pub fn run(
    client: Client,
    config: PodGcConfig,
    informers: &Informers,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    run_with(
        client,
        config,
        informers.nodes.store(),
        informers.pods.store(),
        stop,
    )
}

async fn run_with(
    client: Client,
    config: PodGcConfig,
    nodes: Store<Node>,
    pods: Store<Pod>,
    stop: CancellationToken,
) {
    let period = config.period.max(Duration::from_millis(100));
    let mut gc = PodGc {
        client,
        nodes: nodes.clone(),
        pods: pods.clone(),
        config,
        missing_since: HashMap::new(),
    };
    let main = async move {
        let _ = tokio::join!(
            crate::informer::wait_ready(&nodes),
            crate::informer::wait_ready(&pods)
        );
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            gc.gc().await;
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        () = main => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, phase: &str, created: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "d", "creationTimestamp": created},
            "status": {"phase": phase},
        }))
        .unwrap()
    }

    #[test]
    fn oldest_terminated_beyond_threshold() {
        let pods = [
            pod("c", "Succeeded", "2024-01-03T00:00:00Z"),
            pod("a", "Failed", "2024-01-01T00:00:00Z"),
            pod("r", "Running", "2023-01-01T00:00:00Z"),
            pod("b", "Succeeded", "2024-01-02T00:00:00Z"),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        assert_eq!(
            terminated_to_delete(&refs, 1),
            vec![
                ("d".to_owned(), "a".to_owned()),
                ("d".to_owned(), "b".to_owned())
            ]
        );
        assert!(terminated_to_delete(&refs, 3).is_empty());
        assert!(terminated_to_delete(&refs, 0).is_empty());
    }
}
