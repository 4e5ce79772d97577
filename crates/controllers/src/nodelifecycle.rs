//! The node lifecycle controller and taint-based eviction.
//!
//! Node health comes from the node's Lease in `kube-node-lease` and the Ready condition's
//! heartbeat, observed on the controller's own clock (as upstream does, to be immune to clock
//! skew). A node silent for longer than the grace period gets its Ready, MemoryPressure,
//! DiskPressure and PIDPressure conditions set to Unknown, its pods marked not ready, and the
//! `node.kubernetes.io/unreachable` NoExecute and NoSchedule taints; a Ready=False node gets the
//! `node.kubernetes.io/not-ready` ones; a Ready=True node loses both. Taint eviction then
//! deletes pods on nodes with NoExecute taints they do not tolerate at once, and those that
//! tolerate them with `tolerationSeconds` that many seconds after the taint's `timeAdded`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::daemonset::tolerates;
use crate::events::Recorder;
use crate::informer::Informers;

/// Namespace of the node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// Taint of a node whose Ready condition is Unknown.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The conditions set to Unknown when the kubelet goes silent.
pub const MONITORED_CONDITIONS: [&str; 4] =
    ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

const STOPPED_POSTING: &str = "Kubelet stopped posting node status.";
const NEVER_POSTED: &str = "Kubelet never posted node status.";

/// Last observed health signal per node, timed on the local clock.
#[derive(Debug, Default)]
pub struct HealthTracker {
    probes: HashMap<String, (String, Instant)>,
}

impl HealthTracker {
    /// Records the node's current signal (`key` changes whenever the lease is renewed or the
    /// status heartbeat moves) and says whether it has been unchanged for longer than `grace`.
    pub fn observe(&mut self, node: &str, key: String, now: Instant, grace: Duration) -> bool {
        let entry = self
            .probes
            .entry(node.to_owned())
            .or_insert_with(|| (key.clone(), now));
        if entry.0 != key {
            *entry = (key, now);
        }
        now.saturating_duration_since(entry.1) > grace
    }

    /// Forgets nodes that no longer exist.
    pub fn retain(&mut self, live: &HashSet<String>) {
        self.probes.retain(|k, _| live.contains(k));
    }
}

fn condition<'a>(node: &'a Node, type_: &str) -> Option<&'a NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// The node's conditions after the kubelet went silent, or `None` when they already say so.
pub fn unknown_conditions(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut conds = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let mut changed = false;
    for type_ in MONITORED_CONDITIONS {
        match conds.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some(STOPPED_POSTING.into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                conds.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some(NEVER_POSTED.into()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(conds)
}

/// The node's taints reconciled against its Ready status: unreachable taints for Unknown,
/// not-ready taints for False, neither for True. `None` when nothing changes (also when the
/// node has no Ready condition yet).
pub fn reconcile_taints(
    taints: &[Taint],
    ready: Option<&str>,
    now: Timestamp,
) -> Option<Vec<Taint>> {
    let desired: &[&str] = match ready? {
        "True" => &[],
        "False" => &[TAINT_NOT_READY],
        _ => &[TAINT_UNREACHABLE],
    };
    let managed = |k: &str| k == TAINT_UNREACHABLE || k == TAINT_NOT_READY;
    let mut out: Vec<Taint> = taints
        .iter()
        .filter(|t| !managed(&t.key) || desired.contains(&t.key.as_str()))
        .cloned()
        .collect();
    for key in desired {
        for effect in ["NoExecute", "NoSchedule"] {
            if !out.iter().any(|t| t.key == *key && t.effect == effect) {
                out.push(Taint {
                    key: (*key).into(),
                    effect: effect.into(),
                    value: None,
                    time_added: Some(Time(now)),
                });
            }
        }
    }
    (out != taints).then_some(out)
}

/// What taint eviction does with a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eviction {
    /// Every NoExecute taint is tolerated forever (or there is none).
    Keep,
    /// A NoExecute taint is not tolerated: delete now.
    Now,
    /// Delete at this time (the earliest taint's `timeAdded` plus the smallest
    /// `tolerationSeconds` of the tolerations used).
    At(Timestamp),
}

/// Upstream's taint-manager decision for a pod's tolerations against a node's taints.
pub fn eviction(taints: &[Taint], tolerations: &[Toleration], now: Timestamp) -> Eviction {
    let no_exec: Vec<&Taint> = taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_exec.is_empty() {
        return Eviction::Keep;
    }
    let mut used: Vec<&Toleration> = Vec::new();
    for taint in &no_exec {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Eviction::Now;
        }
        used.extend(matching);
    }
    let Some(secs) = used.iter().filter_map(|t| t.toleration_seconds).min() else {
        return Eviction::Keep;
    };
    if secs <= 0 {
        return Eviction::Now;
    }
    let start = no_exec
        .iter()
        .filter_map(|t| t.time_added.as_ref().map(|t| t.0))
        .min()
        .unwrap_or(now);
    let at = start
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or(Timestamp::MAX);
    if at <= now {
        Eviction::Now
    } else {
        Eviction::At(at)
    }
}

struct Lifecycle {
    client: Client,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    grace: Duration,
    health: HealthTracker,
    recorder: Recorder,
    /// Pods (by uid) already deleted by taint eviction.
    evicted: HashSet<String>,
}

impl Lifecycle {
    fn probe_key(&self, node: &Node) -> String {
        let name = node.name_any();
        let lease = self
            .leases
            .get(&ObjectRef::new(&name).within(LEASE_NAMESPACE))
            .and_then(|l| {
                l.spec
                    .as_ref()?
                    .renew_time
                    .as_ref()
                    .map(|t| t.0.to_string())
            })
            .unwrap_or_default();
        let heartbeat = condition(node, "Ready")
            .and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0.to_string()))
            .unwrap_or_default();
        format!("{lease}|{heartbeat}")
    }

    async fn monitor(&mut self) {
        let nodes = self.nodes.state();
        let live: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
        self.health.retain(&live);
        let now = Instant::now();
        for node in nodes {
            let name = node.name_any();
            let key = self.probe_key(&node);
            let stale = self.health.observe(&name, key, now, self.grace);
            let mut node: Arc<Node> = node;
            if stale && let Some(conds) = unknown_conditions(&node, Timestamp::now()) {
                match self.mark_unknown(&node, conds).await {
                    Some(n) => node = Arc::new(n),
                    None => continue,
                }
            }
            let ready = condition(&node, "Ready").map(|c| c.status.clone());
            let taints = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            if let Some(new) = reconcile_taints(&taints, ready.as_deref(), Timestamp::now()) {
                let patch = json!({
                    "metadata": {"resourceVersion": node.resource_version()},
                    "spec": {"taints": new},
                });
                let api: Api<Node> = Api::all(self.client.clone());
                if let Err(e) = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    warn!(node = %name, error = %e, "updating node taints failed");
                }
            }
        }
    }

    /// Writes the Unknown conditions, records the event and marks the node's pods not ready.
    async fn mark_unknown(&self, node: &Node, conds: Vec<NodeCondition>) -> Option<Node> {
        let name = node.name_any();
        let was_ready = condition(node, "Ready").is_some_and(|c| c.status == "True");
        let mut updated = node.clone();
        updated
            .status
            .get_or_insert_with(Default::default)
            .conditions = Some(conds);
        let api: Api<Node> = Api::all(self.client.clone());
        let result = match api
            .replace_status(&name, &PostParams::default(), &updated)
            .await
        {
            Ok(n) => n,
            Err(e) => {
                warn!(node = %name, error = %e, "marking node status unknown failed");
                return None;
            }
        };
        info!(node = %name, "node stopped posting status");
        if was_ready {
            self.recorder.record(
                &result,
                "Normal",
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
        }
        self.mark_pods_not_ready(&name).await;
        Some(result)
    }

    async fn mark_pods_not_ready(&self, node: &str) {
        let now = Timestamp::now();
        for pod in self.pods.state() {
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
                continue;
            }
            let Some(mut conds) = pod.status.as_ref().and_then(|s| s.conditions.clone()) else {
                continue;
            };
            let Some(c) = conds
                .iter_mut()
                .find(|c| c.type_ == "Ready" && c.status != "False")
            else {
                continue;
            };
            c.status = "False".into();
            c.last_transition_time = Some(Time(now));
            let patch = json!({
                "metadata": {"resourceVersion": pod.resource_version()},
                "status": {"conditions": conds},
            });
            let api: Api<Pod> =
                Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
            match api
                .patch_status(
                    &pod.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                // As upstream, the event follows the update so the pod is known to exist.
                Ok(_) => {
                    self.recorder.record(
                        pod.as_ref(),
                        "Warning",
                        "NodeNotReady",
                        "Node is not ready",
                    );
                }
                Err(e) if crate::error::is_not_found(&e) => {}
                Err(e) => {
                    warn!(pod = %pod.name_any(), error = %e, "marking pod not ready failed");
                }
            }
        }
    }

    async fn evict(&mut self) {
        let now = Timestamp::now();
        let taints: HashMap<String, Vec<Taint>> = self
            .nodes
            .state()
            .iter()
            .filter_map(|n| {
                let t = n.spec.as_ref()?.taints.as_ref()?;
                // Only NoExecute taints evict (see `eviction`).
                t.iter()
                    .any(|t| t.effect == "NoExecute")
                    .then(|| (n.name_any(), t.clone()))
            })
            .collect();
        if taints.is_empty() && self.evicted.is_empty() {
            // No node evicts: skip the walk over every pod.
            return;
        }
        let live: HashSet<String> = self
            .pods
            .state()
            .iter()
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        self.evicted.retain(|u| live.contains(u));
        for pod in self.pods.state() {
            if pod.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if self.evicted.contains(&uid) {
                continue;
            }
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                continue;
            };
            let Some(node_taints) = taints.get(node) else {
                continue;
            };
            let tolerations = pod
                .spec
                .as_ref()
                .and_then(|s| s.tolerations.clone())
                .unwrap_or_default();
            if eviction(node_taints, &tolerations, now) != Eviction::Now {
                continue;
            }
            let ns = pod.namespace().unwrap_or_default();
            let name = pod.name_any();
            self.recorder.record(
                pod.as_ref(),
                "Normal",
                "TaintManagerEviction",
                format!("Marking for deletion Pod {ns}/{name}"),
            );
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            // As upstream: a DisruptionTarget condition first, then the deletion.
            let condition = json!({"status": {"conditions": [{
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": Time(now),
            }]}});
            if let Err(e) = api
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Strategic(&condition),
                )
                .await
            {
                warn!(pod = %name, error = %e, "adding DisruptionTarget condition failed");
            }
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {
                    info!(pod = %format!("{ns}/{name}"), node, "evicted by taint manager");
                    self.evicted.insert(uid);
                }
                Err(e) => warn!(pod = %name, error = %e, "taint eviction failed"),
            }
        }
    }
}

/// The node lifecycle controller and taint eviction over the shared node and pod caches;
/// runs until `stop` is cancelled.
pub fn run(
    client: Client,
    grace: Duration,
    informers: &Informers,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    run_with(
        client,
        grace,
        informers.nodes.store(),
        informers.pods.store(),
        stop,
    )
}

async fn run_with(
    client: Client,
    grace: Duration,
    nodes: Store<Node>,
    pods: Store<Pod>,
    stop: CancellationToken,
) {
    let wc = watcher::Config::default();
    let (leases, lease_writer) = reflector::store::<Lease>();
    let lease_stream = watcher(
        Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE),
        wc.clone(),
    )
    .default_backoff()
    .reflect(lease_writer)
    .for_each(|_| futures::future::ready(()));
    let mut lc = Lifecycle {
        client: client.clone(),
        nodes: nodes.clone(),
        leases: leases.clone(),
        pods: pods.clone(),
        grace,
        health: HealthTracker::default(),
        recorder: Recorder::new(client, "node-controller"),
        evicted: HashSet::new(),
    };
    let period = (grace / 8).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let main = async move {
        let _ = tokio::join!(
            crate::informer::wait_ready(&nodes),
            crate::informer::wait_ready(&leases)
        );
        let _ = crate::informer::wait_ready(&pods).await;
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            lc.monitor().await;
            lc.evict().await;
        }
    };
    tokio::select! {
        () = stop.cancelled() => {}
        _ = lease_stream => {}
        () = main => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, effect: &str, added: Option<Timestamp>) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: added.map(Time),
        }
    }

    fn tol(key: &str, secs: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: secs,
            ..Toleration::default()
        }
    }

    #[test]
    fn lease_staleness() {
        let grace = Duration::from_secs(40);
        let mut h = HealthTracker::default();
        let t0 = Instant::now();
        assert!(!h.observe("n", "a".into(), t0, grace));
        assert!(!h.observe("n", "a".into(), t0 + Duration::from_secs(40), grace));
        assert!(h.observe("n", "a".into(), t0 + Duration::from_secs(41), grace));
        // A renewal resets the clock.
        assert!(!h.observe("n", "b".into(), t0 + Duration::from_secs(42), grace));
        assert!(!h.observe("n", "b".into(), t0 + Duration::from_secs(80), grace));
        assert!(h.observe("n", "b".into(), t0 + Duration::from_secs(83), grace));
        h.retain(&HashSet::new());
        assert!(!h.observe("n", "b".into(), t0 + Duration::from_secs(200), grace));
    }

    #[test]
    fn conditions_go_unknown() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n"},
            "status": {"conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
                {"type": "MemoryPressure", "status": "False"},
            ]},
        }))
        .unwrap();
        let conds = unknown_conditions(&node, Timestamp::now()).unwrap();
        assert_eq!(conds.len(), 4);
        assert!(conds.iter().all(|c| c.status == "Unknown"));
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(ready.message.as_deref(), Some(STOPPED_POSTING));
        let disk = conds.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!(disk.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        let mut node = node;
        node.status.as_mut().unwrap().conditions = Some(conds);
        assert!(unknown_conditions(&node, Timestamp::now()).is_none());
    }

    #[test]
    fn taints_follow_ready() {
        let now = Timestamp::now();
        let other = taint("x", "NoSchedule", None);
        let t = reconcile_taints(std::slice::from_ref(&other), Some("Unknown"), now).unwrap();
        assert_eq!(t.len(), 3);
        assert!(
            t.iter()
                .any(|t| t.key == TAINT_UNREACHABLE && t.effect == "NoExecute")
        );
        assert!(reconcile_taints(&t, Some("Unknown"), now).is_none());
        let f = reconcile_taints(&t, Some("False"), now).unwrap();
        assert!(f.iter().all(|t| t.key != TAINT_UNREACHABLE));
        assert_eq!(f.iter().filter(|t| t.key == TAINT_NOT_READY).count(), 2);
        assert_eq!(
            reconcile_taints(&t, Some("True"), now).unwrap(),
            vec![other.clone()]
        );
        assert!(reconcile_taints(&t, None, now).is_none());
    }

    #[test]
    fn eviction_timing() {
        let now = Timestamp::now();
        let added = now - jiff::SignedDuration::from_secs(10);
        let taints = vec![
            taint(TAINT_UNREACHABLE, "NoExecute", Some(added)),
            taint(TAINT_UNREACHABLE, "NoSchedule", Some(added)),
        ];
        assert_eq!(eviction(&taints, &[], now), Eviction::Now);
        assert_eq!(
            eviction(&taints, &[tol(TAINT_UNREACHABLE, None)], now),
            Eviction::Keep
        );
        assert_eq!(
            eviction(&taints, &[tol(TAINT_UNREACHABLE, Some(5))], now),
            Eviction::Now
        );
        assert_eq!(
            eviction(&taints, &[tol(TAINT_UNREACHABLE, Some(300))], now),
            Eviction::At(added + jiff::SignedDuration::from_secs(300))
        );
        // The smallest tolerationSeconds of the used tolerations wins.
        assert_eq!(
            eviction(
                &taints,
                &[
                    tol(TAINT_UNREACHABLE, Some(300)),
                    tol(TAINT_UNREACHABLE, Some(20))
                ],
                now
            ),
            Eviction::At(added + jiff::SignedDuration::from_secs(20))
        );
        // A toleration for another key does not help.
        assert_eq!(
            eviction(&taints, &[tol(TAINT_NOT_READY, None)], now),
            Eviction::Now
        );
        assert_eq!(eviction(&taints[1..], &[], now), Eviction::Keep);
        assert_eq!(eviction(&[], &[], now), Eviction::Keep);
    }
}
