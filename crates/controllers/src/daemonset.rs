//! The DaemonSet controller: one pod on every node that fits (nodeSelector, required node
//! affinity, taints against the template's tolerations plus upstream's default daemon
//! tolerations), pinned to its node by node affinity for the scheduler to bind; RollingUpdate
//! by maxUnavailable; ControllerRevisions; upstream's status fields and events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, future};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
    PodSpec, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::controller_revision::{RevisionOwner, ensure_revision};
use crate::error::{ControllerError, is_not_found};
use crate::events::Recorder;
use crate::expectations::Expectations;
use crate::informer::Informers;
use crate::podutil::{
    controller_ref, is_pod_available, is_pod_ready, new_controller_ref, pod_from_template,
};
use crate::rollout::{pod_template_hash, scaled_value};

/// Label carrying the template revision hash on daemon pods and ControllerRevisions.
pub use crate::controller_revision::REVISION_HASH_LABEL;

fn toleration(key: &str, effect: &str) -> Toleration {
    Toleration {
        key: Some(key.into()),
        operator: Some("Exists".into()),
        effect: Some(effect.into()),
        ..Toleration::default()
    }
}

/// The tolerations upstream adds to every daemon pod (`network-unavailable` only with
/// `hostNetwork`): not-ready/unreachable NoExecute without tolerationSeconds, the node
/// pressure conditions and unschedulable NoSchedule.
pub fn default_tolerations(host_network: bool) -> Vec<Toleration> {
    let mut out = vec![
        toleration("node.kubernetes.io/not-ready", "NoExecute"),
        toleration("node.kubernetes.io/unreachable", "NoExecute"),
        toleration("node.kubernetes.io/disk-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/memory-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/pid-pressure", "NoSchedule"),
        toleration("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        out.push(toleration(
            "node.kubernetes.io/network-unavailable",
            "NoSchedule",
        ));
    }
    out
}

/// Adds the default daemon tolerations a pod spec lacks (same key and effect).
pub fn add_default_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network.unwrap_or(false);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for t in default_tolerations(host_network) {
        if !tolerations
            .iter()
            .any(|x| x.key == t.key && x.effect == t.effect)
        {
            tolerations.push(t);
        }
    }
}

/// Whether `t` tolerates `taint` (upstream's `ToleratesTaint`).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty())
        && e != taint.effect
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

fn requirement_matches(req: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = req.values.as_deref().unwrap_or_default();
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        op @ ("Gt" | "Lt") => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if op == "Gt" { v > bound } else { v < bound }
        }
        _ => false,
    }
}

/// Whether a node selector term matches a node (all expressions and fields; an empty term
/// matches nothing).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.labels();
    let name = node.name_any();
    exprs
        .iter()
        .all(|r| requirement_matches(r, labels.get(&r.key).map(String::as_str)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(name.as_str())))
}

/// Whether a pod spec's nodeSelector and required node affinity admit `node`.
pub fn node_matches(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.labels();
    if let Some(sel) = &spec.node_selector
        && !sel.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| {
            na.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        Some(r) => r.node_selector_terms.iter().any(|t| term_matches(t, node)),
        None => true,
    }
}

/// Upstream's `NodeShouldRunDaemonPod`: `(should_run, should_continue_running)`. A node that
/// does not match, or has an untolerated NoSchedule/NoExecute taint, should not get a new pod;
/// an existing pod keeps running unless the node does not match or a NoExecute taint is
/// untolerated.
pub fn node_should_run(template_spec: &PodSpec, node: &Node) -> (bool, bool) {
    let mut spec = template_spec.clone();
    add_default_tolerations(&mut spec);
    if !node_matches(&spec, node) {
        return (false, false);
    }
    let tolerations = spec.tolerations.unwrap_or_default();
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let untolerated = |effect: &str| {
        taints
            .iter()
            .filter(|t| t.effect == effect)
            .any(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
    };
    if untolerated("NoExecute") {
        return (false, false);
    }
    if untolerated("NoSchedule") {
        return (false, true);
    }
    (true, true)
}

/// Replaces the required node affinity with one term selecting `node` by `metadata.name`.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_owned()]),
        }]),
        match_expressions: None,
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let na = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    na.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
}

/// The node a daemon pod is for: its `nodeName`, else the node its affinity pins it to.
pub fn pod_node(pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    if let Some(n) = spec.node_name.as_ref().filter(|n| !n.is_empty()) {
        return Some(n.clone());
    }
    let terms = &spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    terms.iter().find_map(|t| {
        t.match_fields.iter().flatten().find_map(|r| {
            (r.key == "metadata.name" && r.operator == "In")
                .then(|| r.values.as_ref().filter(|v| v.len() == 1)?.first().cloned())
                .flatten()
        })
    })
}

/// The revision hash of a DaemonSet's template.
pub fn template_hash(ds: &DaemonSet) -> Result<String, ControllerError> {
    let spec = ds.spec.as_ref();
    let template = serde_json::to_value(spec.map(|s| &s.template)).map_err(
        ControllerError::json(format!("template of {}", ds.name_any())),
    )?;
    Ok(pod_template_hash(
        &template,
        ds.status.as_ref().and_then(|s| s.collision_count),
    ))
}

/// The daemon pod for `node`: template labels plus the revision hash, default tolerations,
/// pinned by node affinity, owned by the DaemonSet.
pub fn new_daemon_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let owner = new_controller_ref("apps/v1", "DaemonSet", &name, &ds.uid().unwrap_or_default());
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut pod = pod_from_template(&template, &ns, &name, owner);
    pod.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(REVISION_HASH_LABEL.into(), hash.to_owned());
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    add_default_tolerations(spec);
    pin_to_node(spec, node);
    pod
}

/// The status a DaemonSet should report, from its nodes and pods.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DsStatus {
    /// Nodes that should run the pod.
    pub desired: i32,
    /// Nodes that should run the pod and do.
    pub current: i32,
    /// Nodes running the pod that should not.
    pub misscheduled: i32,
    /// Scheduled daemon pods that are Ready.
    pub ready: i32,
    /// Scheduled daemon pods available for minReadySeconds.
    pub available: i32,
    /// Scheduled daemon pods of the current revision.
    pub updated: i32,
}

/// Counts upstream's status fields: `node_pods` maps each node to its live daemon pods.
pub fn compute_status(
    template_spec: &PodSpec,
    nodes: &[&Node],
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    min_ready_seconds: i32,
    now: Timestamp,
) -> DsStatus {
    let mut st = DsStatus::default();
    for node in nodes {
        let (should_run, _) = node_should_run(template_spec, node);
        let pods = node_pods
            .get(&node.name_any())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let scheduled: Vec<&&Pod> = pods
            .iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some())
            .collect();
        if should_run {
            st.desired += 1;
            if let Some(p) = scheduled.first() {
                st.current += 1;
                if is_pod_ready(p) {
                    st.ready += 1;
                    if is_pod_available(p, min_ready_seconds, now) {
                        st.available += 1;
                    }
                }
                if p.labels().get(REVISION_HASH_LABEL).map(String::as_str) == Some(hash) {
                    st.updated += 1;
                }
            }
        } else if !scheduled.is_empty() {
            st.misscheduled += 1;
        }
    }
    st
}

/// What a reconcile should do on the nodes: pods to create (node names) and to delete.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NodePlan {
    /// Nodes that need a daemon pod.
    pub create: Vec<String>,
    /// Names of pods to delete.
    pub delete: Vec<String>,
}

/// Upstream's `podsShouldBeOnNode` over every node, plus RollingUpdate deletions when
/// nothing else is pending: old-revision pods, unavailable ones first, while at most
/// `max_unavailable` nodes are unavailable.
pub fn plan(
    template_spec: &PodSpec,
    nodes: &[&Node],
    node_pods: &BTreeMap<String, Vec<&Pod>>,
    hash: &str,
    rolling_max_unavailable: Option<i32>,
    min_ready_seconds: i32,
    now: Timestamp,
) -> NodePlan {
    let mut out = NodePlan::default();
    for node in nodes {
        let name = node.name_any();
        let (should_run, should_continue) = node_should_run(template_spec, node);
        let pods = node_pods.get(&name).cloned().unwrap_or_default();
        let (failed, mut running): (Vec<&Pod>, Vec<&Pod>) = pods
            .into_iter()
            .partition(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"));
        if should_run {
            out.delete.extend(failed.iter().map(|p| p.name_any()));
            if running.is_empty() {
                out.create.push(name);
            } else if running.len() > 1 {
                running.sort_by_key(|p| {
                    (
                        p.metadata.creation_timestamp.clone().map(|t| t.0),
                        p.name_any(),
                    )
                });
                out.delete.extend(running[1..].iter().map(|p| p.name_any()));
            }
        } else if !should_continue {
            out.delete
                .extend(running.iter().chain(&failed).map(|p| p.name_any()));
        }
    }
    let Some(max_unavailable) = rolling_max_unavailable else {
        return out;
    };
    if !out.create.is_empty() || !out.delete.is_empty() {
        return out;
    }
    let mut unavailable = 0;
    let mut old_available = Vec::new();
    for node in nodes {
        if !node_should_run(template_spec, node).0 {
            continue;
        }
        let Some(p) = node_pods.get(&node.name_any()).and_then(|v| v.first()) else {
            unavailable += 1;
            continue;
        };
        let available = is_pod_available(p, min_ready_seconds, now);
        let old = p.labels().get(REVISION_HASH_LABEL).map(String::as_str) != Some(hash);
        if !available {
            unavailable += 1;
            if old {
                out.delete.push(p.name_any());
            }
        } else if old {
            old_available.push(p.name_any());
        }
    }
    let budget = usize::try_from(max_unavailable.max(1) - unavailable).unwrap_or(0);
    out.delete.extend(old_available.into_iter().take(budget));
    out
}

/// What the DaemonSet reconciler needs.
pub struct DaemonSetCtx {
    /// The API client.
    pub client: Client,
    /// Pod cache.
    pub pods: Store<Pod>,
    /// Node cache.
    pub nodes: Store<Node>,
    /// Creations and deletions not yet seen in the pod cache.
    pub expectations: Expectations,
    /// Event recorder (`daemonset-controller`).
    pub recorder: Recorder,
}

/// Reconciles one DaemonSet.
pub async fn reconcile(
    ds: Arc<DaemonSet>,
    ctx: Arc<DaemonSetCtx>,
) -> Result<Action, ControllerError> {
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = ds.namespace().unwrap_or_default();
    let name = ds.name_any();
    let key = format!("{ns}/{name}");
    let _uid = ds.uid().unwrap_or_default();
    let spec = ds.spec.clone().unwrap_or_default();
    let template_spec = spec.template.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let hash = template_hash(&ds)?;
    let uid = ds.uid().unwrap_or_default();
    let owner = RevisionOwner {
        kind: "DaemonSet",
        name: &name,
        namespace: &ns,
        uid: &uid,
        template: ds.spec.as_ref().map(|s| &s.template),
    };
    ensure_revision(&ctx.client, &owner, &format!("{name}-{hash}"), &hash).await?;

    let all_pods = ctx.pods.state();
    let owned: Vec<&Pod> = all_pods
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .filter(|p| controller_ref(&p.metadata).is_some_and(|o| o.uid == uid))
        .collect();
    let mut node_pods: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in owned
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        if let Some(n) = pod_node(p) {
            node_pods.entry(n).or_default().push(p);
        }
    }
    let all_nodes = ctx.nodes.state();
    let nodes: Vec<&Node> = all_nodes.iter().map(AsRef::as_ref).collect();
    let now = Timestamp::now();

    let satisfied = ctx.expectations.satisfied(
        &key,
        |n| owned.iter().any(|p| p.name_any() == n),
        |u| {
            !owned
                .iter()
                .any(|p| p.uid().as_deref() == Some(u) && p.metadata.deletion_timestamp.is_none())
        },
    );
    if satisfied {
        let rolling = match &spec.update_strategy {
            Some(s) if s.type_.as_deref() == Some("OnDelete") => None,
            s => {
                let mu = s
                    .as_ref()
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.max_unavailable.clone())
                    .unwrap_or(IntOrString::Int(1));
                let desired = nodes
                    .iter()
                    .filter(|n| node_should_run(&template_spec, n).0)
                    .count();
                Some(
                    scaled_value(&mu, i32::try_from(desired).unwrap_or(i32::MAX), true)
                        .unwrap_or(1),
                )
            }
        };
        let todo = plan(
            &template_spec,
            &nodes,
            &node_pods,
            &hash,
            rolling,
            min_ready,
            now,
        );
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        for node in &todo.create {
            let pod = new_daemon_pod(&ds, node, &hash);
            match api.create(&PostParams::default(), &pod).await {
                Ok(created) => {
                    let pname = created.name_any();
                    ctx.expectations.expect_creates(&key, [pname.clone()]);
                    ctx.recorder.record(
                        ds.as_ref(),
                        "Normal",
                        "SuccessfulCreate",
                        format!("Created pod: {pname}"),
                    );
                }
                Err(e) => {
                    ctx.recorder.record(
                        ds.as_ref(),
                        "Warning",
                        "FailedCreate",
                        format!("Error creating: {e}"),
                    );
                    return Err(ControllerError::api(format!(
                        "create pod for {key} on {node}"
                    ))(e));
                }
            }
        }
        for pname in &todo.delete {
            let puid = owned
                .iter()
                .find(|p| &p.name_any() == pname)
                .and_then(|p| p.uid());
            match api.delete(pname, &DeleteParams::default()).await {
                Ok(_) => {
                    ctx.expectations.expect_deletes(&key, puid);
                    ctx.recorder.record(
                        ds.as_ref(),
                        "Normal",
                        "SuccessfulDelete",
                        format!("Deleted pod: {pname}"),
                    );
                }
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(ControllerError::api(format!("delete pod {ns}/{pname}"))(e)),
            }
        }
    }

    let st = compute_status(&template_spec, &nodes, &node_pods, &hash, min_ready, now);
    let cur = ds.status.clone().unwrap_or_default();
    let want = json!({
        "desiredNumberScheduled": st.desired,
        "currentNumberScheduled": st.current,
        "numberMisscheduled": st.misscheduled,
        "numberReady": st.ready,
        "numberAvailable": st.available,
        "numberUnavailable": (st.desired - st.available).max(0),
        "updatedNumberScheduled": st.updated,
        "observedGeneration": ds.metadata.generation,
    });
    let changed = cur.desired_number_scheduled != st.desired
        || cur.current_number_scheduled != st.current
        || cur.number_misscheduled != st.misscheduled
        || cur.number_ready != st.ready
        || cur.number_available.unwrap_or(0) != st.available
        || cur.number_unavailable.unwrap_or(0) != (st.desired - st.available).max(0)
        || cur.updated_number_scheduled.unwrap_or(0) != st.updated
        || cur.observed_generation != ds.metadata.generation;
    if changed {
        let dapi: Api<DaemonSet> = Api::namespaced(ctx.client.clone(), &ns);
        match dapi
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": want})),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(format!("status of daemonset {key}"))(
                    e,
                ));
            }
        }
    }
    if st.ready > st.available {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    if !satisfied {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Requeues after a failed reconcile.
pub fn error_policy(
    ds: Arc<DaemonSet>,
    error: &ControllerError,
    _ctx: Arc<DaemonSetCtx>,
) -> Action {
    warn!(daemonset = %ds.name_any(), %error, "daemonset reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// The DaemonSet controller over the shared pod and node informers; runs until `stop` is
/// cancelled.
pub fn run(
    client: Client,
    config: Config,
    informers: &Informers,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    let pods = (informers.pods.store(), informers.pods.subscribe());
    let nodes = (informers.nodes.store(), informers.nodes.subscribe());
    run_with(client, config, pods, nodes, stop)
}

async fn run_with(
    client: Client,
    config: Config,
    (pods, pod_stream): (Store<Pod>, impl Stream<Item = Arc<Pod>> + Send + 'static),
    (nodes, node_stream): (Store<Node>, impl Stream<Item = Arc<Node>> + Send + 'static),
    stop: CancellationToken,
) {
    let (dss, ds_stream) = crate::informer::informer::<DaemonSet>(&client);
    let ctx = Arc::new(DaemonSetCtx {
        client: client.clone(),
        pods,
        nodes,
        expectations: Expectations::default(),
        recorder: Recorder::new(client.clone(), "daemonset-controller"),
    });
    let dss_for_nodes = dss.clone();
    Controller::for_stream(ds_stream, dss)
        .with_config(config)
        .watches_shared_stream(pod_stream, |pod| {
            let ns = pod.namespace()?;
            controller_ref(&pod.metadata)
                .filter(|r| r.kind == "DaemonSet")
                .map(|r| ObjectRef::new(&r.name).within(&ns))
        })
        .watches_shared_stream(node_stream, move |_node| {
            dss_for_nodes
                .state()
                .into_iter()
                .map(|d| ObjectRef::from_obj(d.as_ref()))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value) -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}}),
        )
        .unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut base = json!({"containers": [{"name": "c"}]});
        if let (Some(b), Some(v)) = (base.as_object_mut(), v.as_object()) {
            b.extend(v.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn node_selector_and_affinity() {
        let ssd = node("a", json!({"disk": "ssd", "rank": "5"}), json!(null));
        let hdd = node("b", json!({"disk": "hdd"}), json!(null));
        let s = spec(json!({"nodeSelector": {"disk": "ssd"}}));
        assert_eq!(node_should_run(&s, &ssd), (true, true));
        assert_eq!(node_should_run(&s, &hdd), (false, false));
        let aff = spec(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "rank", "operator": "Gt", "values": ["3"]}]},
                                  {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}}),
        );
        assert!(node_should_run(&aff, &ssd).0);
        assert!(node_should_run(&aff, &hdd).0);
        let c = node("c", json!({}), json!(null));
        assert!(!node_should_run(&aff, &c).0);
    }

    #[test]
    fn taints_and_tolerations() {
        let s = spec(json!({}));
        let nosched = node(
            "a",
            json!({}),
            json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
        );
        assert_eq!(node_should_run(&s, &nosched), (false, true));
        let noexec = node(
            "a",
            json!({}),
            json!([{"key": "dedicated", "effect": "NoExecute"}]),
        );
        assert_eq!(node_should_run(&s, &noexec), (false, false));
        let tol =
            spec(json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "x"}]}));
        assert_eq!(node_should_run(&tol, &nosched), (true, true));
        // Default daemon tolerations.
        for (key, effect) in [
            ("node.kubernetes.io/not-ready", "NoExecute"),
            ("node.kubernetes.io/unreachable", "NoExecute"),
            ("node.kubernetes.io/disk-pressure", "NoSchedule"),
            ("node.kubernetes.io/memory-pressure", "NoSchedule"),
            ("node.kubernetes.io/pid-pressure", "NoSchedule"),
            ("node.kubernetes.io/unschedulable", "NoSchedule"),
        ] {
            let n = node("a", json!({}), json!([{"key": key, "effect": effect}]));
            assert_eq!(node_should_run(&s, &n), (true, true), "{key}");
        }
        let netun = node(
            "a",
            json!({}),
            json!([{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]),
        );
        assert!(!node_should_run(&s, &netun).0);
        assert!(node_should_run(&spec(json!({"hostNetwork": true})), &netun).0);
        let defaults = default_tolerations(false);
        assert!(defaults.iter().all(|t| t.toleration_seconds.is_none()));
    }

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c"}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn daemon_pod_is_pinned_and_labelled() {
        let p = new_daemon_pod(&ds(), "n1", "abc");
        assert_eq!(p.metadata.generate_name.as_deref(), Some("agent-"));
        assert_eq!(p.labels()[REVISION_HASH_LABEL], "abc");
        assert_eq!(pod_node(&p).as_deref(), Some("n1"));
        assert_eq!(p.owner_references()[0].kind, "DaemonSet");
        assert!(p.spec.as_ref().unwrap().node_name.is_none());
    }

    #[test]
    fn plan_creates_deletes_and_rolls() {
        let d = ds();
        let s = d.spec.as_ref().unwrap().template.spec.clone().unwrap();
        let n1 = node("n1", json!({}), json!(null));
        let n2 = node("n2", json!({}), json!(null));
        let bad = node(
            "bad",
            json!({}),
            json!([{"key": "k", "effect": "NoExecute"}]),
        );
        let mut on_bad = new_daemon_pod(&d, "bad", "h");
        on_bad.metadata.name = Some("on-bad".into());
        let mut old = new_daemon_pod(&d, "n1", "old");
        old.metadata.name = Some("old".into());
        old.spec.as_mut().unwrap().node_name = Some("n1".into());
        old.status = serde_json::from_value(
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
        )
        .unwrap();
        let nodes = [&n1, &n2, &bad];
        let mut map: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
        map.insert("bad".into(), vec![&on_bad]);
        map.insert("n1".into(), vec![&old]);
        let now = Timestamp::now();
        let p = plan(&s, &nodes, &map, "h", Some(1), 0, now);
        assert_eq!(p.create, ["n2"]);
        assert_eq!(p.delete, ["on-bad"]);
        // Once only the old revision is left and every node runs a pod, it is replaced.
        let mut new2 = new_daemon_pod(&d, "n2", "h");
        new2.metadata.name = Some("new2".into());
        new2.status = old.status.clone();
        map.remove("bad");
        map.insert("n2".into(), vec![&new2]);
        let p = plan(&s, &[&n1, &n2], &map, "h", Some(1), 0, now);
        assert_eq!(
            p,
            NodePlan {
                create: vec![],
                delete: vec!["old".into()]
            }
        );
        // OnDelete leaves it alone.
        assert_eq!(
            plan(&s, &[&n1, &n2], &map, "h", None, 0, now),
            NodePlan::default()
        );
        let st = compute_status(&s, &[&n1, &n2], &map, "h", 0, now);
        assert_eq!((st.desired, st.current, st.ready, st.updated), (2, 1, 1, 0));
    }
}
