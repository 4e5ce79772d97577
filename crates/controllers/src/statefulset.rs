//! The StatefulSet controller: pods `<set>-<ordinal>` with stable identity (hostname,
//! subdomain, per-ordinal PVCs `<claim>-<set>-<ordinal>` from volumeClaimTemplates),
//! OrderedReady and Parallel pod management, ordered scale down (highest ordinal first),
//! RollingUpdate with partition (highest ordinal first, one at a time) and OnDelete,
//! ControllerRevisions, upstream's status fields and events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt, future};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodSpec, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::controller_revision::{RevisionOwner, ensure_revision};
use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::events::Recorder;
use crate::expectations::Expectations;
use crate::informer::Informers;
use crate::podutil::{controller_ref, is_pod_available, is_pod_ready, new_controller_ref};
use crate::rollout::pod_template_hash;

/// Label carrying the revision (ControllerRevision name) on pods and ControllerRevisions.
pub use crate::controller_revision::REVISION_HASH_LABEL;
/// Label carrying the pod's name.
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// Label carrying the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// The name of the pod at `ordinal`.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// The name of the PVC for claim template `claim` of the pod at `ordinal`.
pub fn pvc_name(claim: &str, set: &str, ordinal: i32) -> String {
    format!("{claim}-{set}-{ordinal}")
}

/// The ordinal of a pod of `set`, if its name is `<set>-<non-negative integer>`.
pub fn parse_ordinal(set: &str, pod: &str) -> Option<i32> {
    let rest = pod.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if rest.len() > 1 && rest.starts_with('0') {
        return None;
    }
    rest.parse::<i32>().ok()
}

/// What the planner knows about one existing pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The pod's ordinal.
    pub ordinal: i32,
    /// Running and Ready.
    pub ready: bool,
    /// Has a deletionTimestamp.
    pub terminating: bool,
    /// Phase Failed or Succeeded: must be replaced.
    pub finished: bool,
    /// The pod's revision label.
    pub revision: String,
}

/// One action of a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create the pod at this ordinal.
    Create(i32),
    /// Delete the pod at this ordinal.
    Delete(i32),
}

/// The inputs of [`plan`] besides the pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput<'a> {
    /// First ordinal (`spec.ordinals.start`).
    pub start: i32,
    /// Desired replicas.
    pub replicas: i32,
    /// `Parallel` pod management (otherwise OrderedReady).
    pub parallel: bool,
    /// The update revision's name.
    pub update_revision: &'a str,
    /// `Some(partition)` for RollingUpdate, `None` for OnDelete.
    pub partition: Option<i32>,
}

/// Upstream's `updateStatefulSet` as a pure function: what to create and delete now.
///
/// Replicas are ordinals `start..start+replicas`; the others are condemned. Finished pods are
/// deleted (to be recreated), missing ones created — in order and only after their
/// predecessors are Ready under OrderedReady, all at once under Parallel. Condemned pods go
/// highest ordinal first, one at a time and only while every other pod is healthy under
/// OrderedReady. Then RollingUpdate deletes the highest old-revision pod at or above the
/// partition, waiting for every pod above it to be Ready.
pub fn plan(slots: &[Slot], input: &PlanInput<'_>) -> Vec<Step> {
    let mut out = Vec::new();
    let end = input.start + input.replicas.max(0);
    let by_ord: BTreeMap<i32, &Slot> = slots.iter().map(|s| (s.ordinal, s)).collect();
    let monotonic = !input.parallel;
    // Replicas first, lowest ordinal first.
    for ord in input.start..end {
        match by_ord.get(&ord) {
            None => {
                out.push(Step::Create(ord));
                if monotonic {
                    return out;
                }
            }
            Some(s) if s.finished && !s.terminating => {
                out.push(Step::Delete(ord));
                if monotonic {
                    return out;
                }
            }
            Some(s) if monotonic && (s.terminating || !s.ready) => return out,
            Some(_) => {}
        }
    }
    if monotonic && !out.is_empty() {
        return out;
    }
    // Condemned pods, highest ordinal first.
    let condemned: Vec<&Slot> = by_ord
        .values()
        .rev()
        .copied()
        .filter(|s| s.ordinal < input.start || s.ordinal >= end)
        .collect();
    for s in &condemned {
        if s.terminating {
            if monotonic {
                return out;
            }
            continue;
        }
        if monotonic {
            // Wait until every other pod is healthy.
            let unhealthy = by_ord
                .values()
                .any(|o| o.ordinal != s.ordinal && (o.terminating || !o.ready));
            if unhealthy {
                return out;
            }
            out.push(Step::Delete(s.ordinal));
            return out;
        }
        out.push(Step::Delete(s.ordinal));
    }
    if !out.is_empty() {
        return out;
    }
    // RollingUpdate: highest ordinal first, down to the partition.
    let Some(partition) = input.partition else {
        return out;
    };
    let update_min = input.start + partition.max(0);
    for ord in (update_min.max(input.start)..end).rev() {
        let Some(s) = by_ord.get(&ord) else {
            return out;
        };
        if s.revision != input.update_revision && !s.terminating {
            out.push(Step::Delete(ord));
            return out;
        }
        if s.terminating || !s.ready {
            return out;
        }
    }
    out
}

/// The revision name (`<set>-<hash>`) of a StatefulSet's template.
pub fn revision_name(set: &StatefulSet) -> Result<String, ControllerError> {
    let spec = set.spec.as_ref();
    let template = serde_json::to_value(spec.map(|s| &s.template)).map_err(
        ControllerError::json(format!("template of {}", set.name_any())),
    )?;
    let hash = pod_template_hash(
        &template,
        set.status.as_ref().and_then(|s| s.collision_count),
    );
    Ok(format!("{}-{hash}", set.name_any()))
}

/// The pod at `ordinal`: template labels plus identity labels and the revision, hostname and
/// subdomain, a volume per claim template, owned by the set.
pub fn new_pod(set: &StatefulSet, ordinal: i32, revision: &str) -> Pod {
    let ns = set.namespace().unwrap_or_default();
    let set_name = set.name_any();
    let name = pod_name(&set_name, ordinal);
    let spec = set.spec.clone().unwrap_or_default();
    let tmeta = spec.template.metadata.clone().unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(REVISION_HASH_LABEL.into(), revision.to_owned());
    let mut pspec = spec.template.spec.clone().unwrap_or_default();
    pspec.hostname = Some(name.clone());
    if let Some(svc) = spec.service_name.as_ref().filter(|s| !s.is_empty()) {
        pspec.subdomain = Some(svc.clone());
    }
    add_claim_volumes(&mut pspec, set, ordinal);
    let owner = new_controller_ref(
        "apps/v1",
        "StatefulSet",
        &set_name,
        &set.uid().unwrap_or_default(),
    );
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(ns),
            labels: Some(labels),
            annotations: tmeta.annotations,
            finalizers: tmeta.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(pspec),
        status: None,
    }
}

fn claim_templates(set: &StatefulSet) -> Vec<PersistentVolumeClaim> {
    set.spec
        .as_ref()
        .and_then(|s| s.volume_claim_templates.clone())
        .unwrap_or_default()
}

/// Points (or adds) the volume named after each claim template at the ordinal's PVC.
fn add_claim_volumes(spec: &mut PodSpec, set: &StatefulSet, ordinal: i32) {
    let set_name = set.name_any();
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for t in claim_templates(set) {
        let claim = t.name_any();
        let source = PersistentVolumeClaimVolumeSource {
            claim_name: pvc_name(&claim, &set_name, ordinal),
            read_only: None,
        };
        if let Some(v) = volumes.iter_mut().find(|v| v.name == claim) {
            *v = Volume {
                name: claim,
                persistent_volume_claim: Some(source),
                ..Volume::default()
            };
        } else {
            volumes.push(Volume {
                name: claim,
                persistent_volume_claim: Some(source),
                ..Volume::default()
            });
        }
    }
    if volumes.is_empty() {
        spec.volumes = None;
    }
}

/// The PVCs the pod at `ordinal` needs: named `<claim>-<set>-<ordinal>`, labelled with the
/// set's selector, owned by the set only when `whenDeleted` is `Delete`.
pub fn new_claims(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let ns = set.namespace().unwrap_or_default();
    let set_name = set.name_any();
    let spec = set.spec.clone().unwrap_or_default();
    let when_deleted = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref())
        .unwrap_or("Retain");
    let owner: Option<OwnerReference> = (when_deleted == "Delete").then(|| {
        new_controller_ref(
            "apps/v1",
            "StatefulSet",
            &set_name,
            &set.uid().unwrap_or_default(),
        )
    });
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    claim_templates(set)
        .into_iter()
        .map(|t| {
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(pvc_name(&t.name_any(), &set_name, ordinal)),
                    namespace: Some(ns.clone()),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    owner_references: owner.clone().map(|o| vec![o]),
                    ..ObjectMeta::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// The status counts of a set from its live pods.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SetStatus {
    /// Pods that exist.
    pub replicas: i32,
    /// Pods Running and Ready.
    pub ready: i32,
    /// Ready pods available for minReadySeconds.
    pub available: i32,
    /// Pods of the current revision.
    pub current: i32,
    /// Pods of the update revision.
    pub updated: i32,
}

/// Counts upstream's status fields over the set's pods.
pub fn compute_status(
    pods: &[&Pod],
    current_revision: &str,
    update_revision: &str,
    min_ready_seconds: i32,
    now: Timestamp,
) -> SetStatus {
    let mut st = SetStatus::default();
    for p in pods {
        st.replicas += 1;
        if running_and_ready(p) {
            st.ready += 1;
            if is_pod_available(p, min_ready_seconds, now) {
                st.available += 1;
            }
        }
        let rev = p.labels().get(REVISION_HASH_LABEL).map(String::as_str);
        if rev == Some(current_revision) {
            st.current += 1;
        }
        if rev == Some(update_revision) {
            st.updated += 1;
        }
    }
    st
}

fn running_and_ready(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") && is_pod_ready(p)
}

/// What the StatefulSet reconciler needs.
pub struct StatefulSetCtx {
    /// The API client.
    pub client: Client,
    /// Pod cache.
    pub pods: Store<Pod>,
    /// Creations and deletions not yet seen in the pod cache.
    pub expectations: Expectations,
    /// Event recorder (`statefulset-controller`).
    pub recorder: Recorder,
}

async fn ensure_claims(
    ctx: &StatefulSetCtx,
    set: &StatefulSet,
    ordinal: i32,
) -> Result<(), ControllerError> {
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let pod = pod_name(&set.name_any(), ordinal);
    for claim in new_claims(set, ordinal) {
        let cname = claim.name_any();
        let found = api
            .get_opt(&cname)
            .await
            .map_err(ControllerError::api(format!("get pvc {ns}/{cname}")))?;
        if found.is_some() {
            continue;
        }
        match api.create(&PostParams::default(), &claim).await {
            Ok(_) => {
                ctx.recorder.record(
                    set,
                    "Normal",
                    "SuccessfulCreate",
                    format!(
                        "create Claim {cname} Pod {pod} in StatefulSet {} success",
                        set.name_any()
                    ),
                );
            }
            Err(e) if is_conflict(&e) => {}
            Err(e) => {
                ctx.recorder.record(
                    set,
                    "Warning",
                    "FailedCreate",
                    format!(
                        "create Claim {cname} for Pod {pod} in StatefulSet {} failed error: {e}",
                        set.name_any()
                    ),
                );
                return Err(ControllerError::api(format!("create pvc {ns}/{cname}"))(e));
            }
        }
    }
    Ok(())
}

/// With `whenScaled: Delete`, makes the condemned pod own its claims so they go with it.
async fn claims_follow_pod(
    ctx: &StatefulSetCtx,
    set: &StatefulSet,
    pod: &Pod,
    ordinal: i32,
) -> Result<(), ControllerError> {
    let when_scaled = set
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
        .and_then(|p| p.when_scaled.as_deref())
        .unwrap_or("Retain");
    if when_scaled != "Delete" {
        return Ok(());
    }
    let ns = set.namespace().unwrap_or_default();
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &ns);
    let owner = OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.name_any(),
        uid: pod.uid().unwrap_or_default(),
        controller: Some(false),
        block_owner_deletion: None,
    };
    for claim in new_claims(set, ordinal) {
        let cname = claim.name_any();
        let Some(cur) = api
            .get_opt(&cname)
            .await
            .map_err(ControllerError::api(format!("get pvc {ns}/{cname}")))?
        else {
            continue;
        };
        let mut refs = cur.metadata.owner_references.clone().unwrap_or_default();
        if refs.iter().any(|r| r.uid == owner.uid) {
            continue;
        }
        refs.push(owner.clone());
        let patch = json!({"metadata": {"ownerReferences": refs}});
        match api
            .patch(&cname, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(ControllerError::api(format!("patch pvc {ns}/{cname}"))(e)),
        }
    }
    Ok(())
}

/// Reconciles one StatefulSet.
pub async fn reconcile(
    set: Arc<StatefulSet>,
    ctx: Arc<StatefulSetCtx>,
) -> Result<Action, ControllerError> {
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = set.namespace().unwrap_or_default();
    let name = set.name_any();
    let key = format!("{ns}/{name}");
    let spec = set.spec.clone().unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let update_revision = revision_name(&set)?;
    let uid = set.uid().unwrap_or_default();
    let owner = RevisionOwner {
        kind: "StatefulSet",
        name: &name,
        namespace: &ns,
        uid: &uid,
        template: set.spec.as_ref().map(|s| &s.template),
    };
    ensure_revision(&ctx.client, &owner, &update_revision, &update_revision).await?;
    let cur_status = set.status.clone().unwrap_or_default();
    let mut current_revision = cur_status
        .current_revision
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| update_revision.clone());

    let all_pods = ctx.pods.state();
    let owned: Vec<&Pod> = all_pods
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| p.namespace().as_deref() == Some(ns.as_str()))
        .filter(|p| controller_ref(&p.metadata).is_some_and(|o| o.uid == uid))
        .filter(|p| parse_ordinal(&name, &p.name_any()).is_some())
        .collect();

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
        let slots: Vec<Slot> = owned
            .iter()
            .filter_map(|p| {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                Some(Slot {
                    ordinal: parse_ordinal(&name, &p.name_any())?,
                    ready: running_and_ready(p),
                    terminating: p.metadata.deletion_timestamp.is_some(),
                    finished: matches!(phase, Some("Failed" | "Succeeded")),
                    revision: p
                        .labels()
                        .get(REVISION_HASH_LABEL)
                        .cloned()
                        .unwrap_or_default(),
                })
            })
            .collect();
        let partition = match &spec.update_strategy {
            Some(s) if s.type_.as_deref() == Some("OnDelete") => None,
            s => Some(
                s.as_ref()
                    .and_then(|s| s.rolling_update.as_ref())
                    .and_then(|r| r.partition)
                    .unwrap_or(0),
            ),
        };
        let input = PlanInput {
            start: spec
                .ordinals
                .as_ref()
                .and_then(|o| o.start)
                .unwrap_or(0)
                .max(0),
            replicas: spec.replicas.unwrap_or(1),
            parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
            update_revision: &update_revision,
            partition,
        };
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        for step in plan(&slots, &input) {
            match step {
                Step::Create(ord) => {
                    ensure_claims(&ctx, &set, ord).await?;
                    let pod = new_pod(&set, ord, &update_revision);
                    let pname = pod.name_any();
                    match api.create(&PostParams::default(), &pod).await {
                        Ok(_) => {
                            ctx.expectations.expect_creates(&key, [pname.clone()]);
                            ctx.recorder.record(
                                set.as_ref(),
                                "Normal",
                                "SuccessfulCreate",
                                format!("create Pod {pname} in StatefulSet {name} successful"),
                            );
                        }
                        Err(e) if is_conflict(&e) => {}
                        Err(e) => {
                            ctx.recorder.record(
                                set.as_ref(),
                                "Warning",
                                "FailedCreate",
                                format!(
                                    "create Pod {pname} in StatefulSet {name} failed error: {e}"
                                ),
                            );
                            return Err(ControllerError::api(format!("create pod {ns}/{pname}"))(
                                e,
                            ));
                        }
                    }
                }
                Step::Delete(ord) => {
                    let pname = pod_name(&name, ord);
                    let Some(pod) = owned.iter().find(|p| p.name_any() == pname) else {
                        continue;
                    };
                    let end = input.start + input.replicas.max(0);
                    if ord >= end || ord < input.start {
                        claims_follow_pod(&ctx, &set, pod, ord).await?;
                    }
                    match api.delete(&pname, &DeleteParams::default()).await {
                        Ok(_) => {
                            ctx.expectations.expect_deletes(&key, pod.uid());
                            ctx.recorder.record(
                                set.as_ref(),
                                "Normal",
                                "SuccessfulDelete",
                                format!("delete Pod {pname} in StatefulSet {name} successful"),
                            );
                        }
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            return Err(ControllerError::api(format!("delete pod {ns}/{pname}"))(
                                e,
                            ));
                        }
                    }
                }
            }
        }
    }

    let live: Vec<&Pod> = owned
        .iter()
        .copied()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let now = Timestamp::now();
    let mut st = compute_status(&live, &current_revision, &update_revision, min_ready, now);
    let rolling =
        !matches!(&spec.update_strategy, Some(s) if s.type_.as_deref() == Some("OnDelete"));
    let replicas = spec.replicas.unwrap_or(1);
    if current_revision != update_revision
        && ((rolling && st.updated == replicas && st.ready == replicas && st.replicas == replicas)
            || st.current == 0)
    {
        current_revision = update_revision.clone();
        st.current = st.updated;
    }
    let changed = cur_status.replicas != st.replicas
        || cur_status.ready_replicas.unwrap_or(0) != st.ready
        || cur_status.available_replicas.unwrap_or(0) != st.available
        || cur_status.current_replicas.unwrap_or(0) != st.current
        || cur_status.updated_replicas.unwrap_or(0) != st.updated
        || cur_status.current_revision.as_deref() != Some(current_revision.as_str())
        || cur_status.update_revision.as_deref() != Some(update_revision.as_str())
        || cur_status.observed_generation != set.metadata.generation;
    if changed {
        let want = json!({
            "replicas": st.replicas,
            "readyReplicas": st.ready,
            "availableReplicas": st.available,
            "currentReplicas": st.current,
            "updatedReplicas": st.updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "observedGeneration": set.metadata.generation,
        });
        let sapi: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
        match sapi
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
                return Err(ControllerError::api(format!("status of statefulset {key}"))(e));
            }
        }
    }
    if !satisfied || st.ready > st.available {
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    Ok(Action::requeue(Duration::from_secs(300)))
}

/// Requeues after a failed reconcile.
pub fn error_policy(
    set: Arc<StatefulSet>,
    error: &ControllerError,
    _ctx: Arc<StatefulSetCtx>,
) -> Action {
    warn!(statefulset = %set.name_any(), %error, "statefulset reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// The StatefulSet controller over the shared pod informer; runs until `stop` is cancelled.
pub fn run(
    client: Client,
    config: Config,
    informers: &Informers,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static + use<> {
    let pods = informers.pods.store();
    let pod_stream = informers.pods.subscribe();
    run_with(client, config, pods, pod_stream, stop)
}

async fn run_with(
    client: Client,
    config: Config,
    pods: Store<Pod>,
    pod_stream: impl Stream<Item = Arc<Pod>> + Send + 'static,
    stop: CancellationToken,
) {
    let (sets, set_stream) = crate::informer::informer::<StatefulSet>(&client);
    let ctx = Arc::new(StatefulSetCtx {
        client: client.clone(),
        pods,
        expectations: Expectations::default(),
        recorder: Recorder::new(client.clone(), "statefulset-controller"),
    });
    Controller::for_stream(set_stream, sets)
        .with_config(config)
        .watches_shared_stream(pod_stream, |pod| {
            let ns = pod.namespace()?;
            controller_ref(&pod.metadata)
                .filter(|r| r.kind == "StatefulSet")
                .map(|r| ObjectRef::new(&r.name).within(&ns))
        })
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(ordinal: i32, ready: bool, revision: &str) -> Slot {
        Slot {
            ordinal,
            ready,
            terminating: false,
            finished: false,
            revision: revision.into(),
        }
    }

    fn input(replicas: i32, parallel: bool, partition: Option<i32>) -> PlanInput<'static> {
        PlanInput {
            start: 0,
            replicas,
            parallel,
            update_revision: "new",
            partition,
        }
    }

    #[test]
    fn names_and_ordinals() {
        assert_eq!(pod_name("web", 2), "web-2");
        assert_eq!(pvc_name("data", "web", 0), "data-web-0");
        assert_eq!(parse_ordinal("web", "web-12"), Some(12));
        assert_eq!(parse_ordinal("web", "web-"), None);
        assert_eq!(parse_ordinal("web", "web-01"), None);
        assert_eq!(parse_ordinal("web", "web-x"), None);
        assert_eq!(parse_ordinal("web", "webx-1"), None);
        assert_eq!(parse_ordinal("web-1", "web-1-0"), Some(0));
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time() {
        let i = input(3, false, Some(0));
        assert_eq!(plan(&[], &i), [Step::Create(0)]);
        // web-0 exists but is not Ready: wait.
        assert_eq!(plan(&[slot(0, false, "new")], &i), []);
        assert_eq!(plan(&[slot(0, true, "new")], &i), [Step::Create(1)]);
        // A gap is filled first.
        assert_eq!(plan(&[slot(1, true, "new")], &i), [Step::Create(0)]);
    }

    #[test]
    fn parallel_creates_all() {
        let i = input(3, true, Some(0));
        assert_eq!(
            plan(&[slot(0, false, "new")], &i),
            [Step::Create(1), Step::Create(2)]
        );
        // Parallel deletes all condemned at once.
        let i = input(1, true, Some(0));
        let pods = [
            slot(0, true, "new"),
            slot(1, false, "new"),
            slot(2, true, "new"),
        ];
        assert_eq!(plan(&pods, &i), [Step::Delete(2), Step::Delete(1)]);
    }

    #[test]
    fn ordered_scale_down_highest_first() {
        let i = input(1, false, Some(0));
        let mut pods = vec![
            slot(0, true, "new"),
            slot(1, true, "new"),
            slot(2, true, "new"),
        ];
        assert_eq!(plan(&pods, &i), [Step::Delete(2)]);
        // While web-2 terminates, nothing else happens.
        pods[2].terminating = true;
        assert_eq!(plan(&pods, &i), []);
        pods.pop();
        assert_eq!(plan(&pods, &i), [Step::Delete(1)]);
        // An unhealthy pod blocks scale down.
        pods[0].ready = false;
        assert_eq!(plan(&pods, &i), []);
    }

    #[test]
    fn finished_pods_are_replaced() {
        let i = input(2, false, Some(0));
        let mut failed = slot(0, false, "new");
        failed.finished = true;
        assert_eq!(plan(&[failed], &i), [Step::Delete(0)]);
    }

    #[test]
    fn rolling_update_highest_first_with_partition() {
        let pods = vec![
            slot(0, true, "old"),
            slot(1, true, "old"),
            slot(2, true, "old"),
        ];
        assert_eq!(plan(&pods, &input(3, false, Some(0))), [Step::Delete(2)]);
        // web-2 was recreated at the new revision but is not Ready yet: wait.
        let mut p = pods.clone();
        p[2] = slot(2, false, "new");
        assert_eq!(plan(&p, &input(3, false, Some(0))), []);
        p[2].ready = true;
        assert_eq!(plan(&p, &input(3, false, Some(0))), [Step::Delete(1)]);
        // Partition 2 stops below ordinal 2.
        assert_eq!(plan(&p, &input(3, false, Some(2))), []);
        assert_eq!(plan(&pods, &input(3, false, Some(2))), [Step::Delete(2)]);
        // OnDelete never deletes for an update.
        assert_eq!(plan(&pods, &input(3, false, None)), []);
    }

    fn set(policy: serde_json::Value) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "serviceName": "nginx",
                     "persistentVolumeClaimRetentionPolicy": policy,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c"}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": "1Gi"}}}}]}
        }))
        .unwrap()
    }

    #[test]
    fn pod_identity_and_claims() {
        let s = set(json!(null));
        let p = new_pod(&s, 1, "web-abc");
        assert_eq!(p.name_any(), "web-1");
        assert_eq!(p.labels()[POD_NAME_LABEL], "web-1");
        assert_eq!(p.labels()[POD_INDEX_LABEL], "1");
        assert_eq!(p.labels()[REVISION_HASH_LABEL], "web-abc");
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.hostname.as_deref(), Some("web-1"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let vol = &spec.volumes.as_ref().unwrap()[0];
        assert_eq!(
            vol.persistent_volume_claim.as_ref().unwrap().claim_name,
            "data-web-1"
        );
        assert_eq!(p.owner_references()[0].kind, "StatefulSet");
        let c = new_claims(&s, 1);
        assert_eq!(c[0].name_any(), "data-web-1");
        assert!(c[0].metadata.owner_references.is_none());
        let c = new_claims(&set(json!({"whenDeleted": "Delete"})), 0);
        assert_eq!(c[0].owner_references()[0].kind, "StatefulSet");
    }
}
