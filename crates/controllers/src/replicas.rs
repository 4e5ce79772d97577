//! Keeps the pods of one ReplicaSet or ReplicationController: claim, create, delete, count.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info};

use crate::error::{ControllerError, is_not_found};
use crate::events::Recorder;
use crate::expectations::Expectations;
use crate::informer::PodsByController;
use crate::podutil::{
    controller_ref, is_pod_active, is_pod_available, is_pod_ready, new_controller_ref,
    next_available_in, pod_from_template, rank_for_deletion, selector_is_empty, selector_matches,
    slow_start_batches,
};

/// Upstream's cap on creations or deletions per sync.
pub const BURST_REPLICAS: usize = 500;

/// What the pod-managing core needs to know about its owner, whatever its kind.
pub struct OwnerView<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub selector: LabelSelector,
    pub template: Option<&'a PodTemplateSpec>,
    pub replicas: i32,
    pub min_ready_seconds: i32,
    pub deleting: bool,
}

/// The counts that go into the owner's status, and when to look again.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Observed {
    pub replicas: i32,
    pub fully_labeled: i32,
    pub ready: i32,
    pub available: i32,
    /// `(reason, message)` of a ReplicaFailure condition, if creating or deleting failed.
    pub failure: Option<(&'static str, String)>,
    pub requeue: Option<Duration>,
}

/// Shared state of the ReplicaSet and ReplicationController controllers.
pub struct ReplicasCtx {
    pub client: Client,
    pub pods: Store<Pod>,
    /// The same pods by controller: an owner's sync reads its own and the orphans only.
    pub pods_by_controller: Arc<PodsByController>,
    pub expectations: Expectations,
    pub recorder: Recorder,
}

/// How many pods to create (negative) or delete (positive), capped at the burst size.
pub fn replica_diff(active: usize, desired: i32) -> i64 {
    let d = active as i64 - i64::from(desired.max(0));
    d.clamp(-(BURST_REPLICAS as i64), BURST_REPLICAS as i64)
}

/// Claims, creates and deletes pods for `owner` and returns what it observed.
pub async fn manage<K>(
    ctx: &ReplicasCtx,
    obj: &K,
    owner: &OwnerView<'_>,
) -> Result<Observed, ControllerError>
where
    K: Resource<DynamicType = ()>,
{
    crate::informer::wait_ready(&ctx.pods)
        .await
        .map_err(|_| ControllerError::CacheStopped("pods"))?;
    let key = format!("{}/{}/{}", owner.kind, owner.namespace, owner.name);
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &owner.namespace);
    // Its own pods and the namespace's orphans: the claim below looks at no others.
    let all: Vec<Arc<Pod>> =
        ctx.pods_by_controller
            .owned_and_orphans(&ctx.pods, &owner.namespace, &owner.uid);

    let live_uids: std::collections::HashSet<String> = all
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.uid.clone())
        .collect();
    // Claim: keep ours that still match, adopt matching orphans, release the rest.
    let mut owned: Vec<Arc<Pod>> = Vec::new();
    for pod in all {
        let labels = pod.labels();
        let matches =
            !selector_is_empty(&owner.selector) && selector_matches(&owner.selector, labels);
        match controller_ref(&pod.metadata) {
            Some(r) if r.uid == owner.uid => {
                if matches {
                    owned.push(pod);
                } else if !owner.deleting {
                    release(&pods_api, &pod, &owner.uid).await?;
                }
            }
            Some(_) => {}
            None => {
                if matches && !owner.deleting && pod.metadata.deletion_timestamp.is_none() {
                    adopt(&pods_api, &pod, owner).await?;
                    owned.push(pod);
                }
            }
        }
    }
    let active: Vec<&Pod> = owned
        .iter()
        .map(AsRef::as_ref)
        .filter(|p| is_pod_active(p))
        .collect();

    let mut failure = None;
    let caught_up = ctx.expectations.satisfied(
        &key,
        |name| {
            ctx.pods
                .get(&ObjectRef::new(name).within(&owner.namespace))
                .is_some()
        },
        |uid| !live_uids.contains(uid),
    );
    if caught_up && !owner.deleting {
        let diff = replica_diff(active.len(), owner.replicas);
        if diff < 0 {
            failure = create_pods(ctx, obj, owner, &pods_api, &key, (-diff) as usize).await?;
        } else if diff > 0 {
            failure = delete_pods(ctx, obj, &pods_api, &key, &active, diff as usize).await;
        }
    } else if !caught_up {
        debug!(owner = %key, "expectations pending, not managing pods yet");
    }

    let now = Timestamp::now();
    let template_labels = owner
        .template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let l = p.labels();
            template_labels.iter().all(|(k, v)| l.get(k) == Some(v))
        })
        .count();
    let requeue = if caught_up {
        next_available_in(&active, owner.min_ready_seconds, now)
            .map(|s| Duration::from_secs(s as u64))
    } else {
        Some(Duration::from_secs(1))
    };
    Ok(Observed {
        replicas: active.len() as i32,
        fully_labeled: fully_labeled as i32,
        ready: active.iter().filter(|p| is_pod_ready(p)).count() as i32,
        available: active
            .iter()
            .filter(|p| is_pod_available(p, owner.min_ready_seconds, now))
            .count() as i32,
        failure,
        requeue,
    })
}

async fn adopt(api: &Api<Pod>, pod: &Pod, owner: &OwnerView<'_>) -> Result<(), ControllerError> {
    let mut refs = pod.metadata.owner_references.clone().unwrap_or_default();
    refs.push(new_controller_ref(
        owner.api_version,
        owner.kind,
        &owner.name,
        &owner.uid,
    ));
    let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
    let name = pod.name_any();
    info!(pod = %name, owner = %owner.name, "adopting pod");
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!("adopt pod {name}"))(e)),
    }
}

async fn release(api: &Api<Pod>, pod: &Pod, owner_uid: &str) -> Result<(), ControllerError> {
    let refs: Vec<_> = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|r| r.uid != owner_uid)
        .cloned()
        .collect();
    let patch = json!({"metadata": {"ownerReferences": refs, "uid": pod.metadata.uid}});
    let name = pod.name_any();
    info!(pod = %name, "releasing pod that no longer matches");
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!("release pod {name}"))(e)),
    }
}

async fn create_pods<K>(
    ctx: &ReplicasCtx,
    obj: &K,
    owner: &OwnerView<'_>,
    api: &Api<Pod>,
    key: &str,
    count: usize,
) -> Result<Option<(&'static str, String)>, ControllerError>
where
    K: Resource<DynamicType = ()>,
{
    let template = owner.template.ok_or_else(|| ControllerError::Missing {
        object: key.to_owned(),
        field: "spec.template",
    })?;
    let oref = new_controller_ref(owner.api_version, owner.kind, &owner.name, &owner.uid);
    let pod = pod_from_template(template, &owner.namespace, &owner.name, oref);
    for batch in slow_start_batches(count, 1) {
        let pp = PostParams::default();
        let results = join_all((0..batch).map(|_| api.create(&pp, &pod))).await;
        let mut created = Vec::new();
        let mut error = None;
        for r in results {
            match r {
                Ok(p) => created.push(p.name_any()),
                Err(e) => error = Some(e),
            }
        }
        ctx.expectations
            .expect_creates(key, created.iter().cloned());
        for name in &created {
            ctx.recorder.record(
                obj,
                "Normal",
                "SuccessfulCreate",
                format!("Created pod: {name}"),
            );
        }
        if let Some(e) = error {
            let msg = e.to_string();
            ctx.recorder.record(
                obj,
                "Warning",
                "FailedCreate",
                format!("Error creating: {msg}"),
            );
            return Ok(Some(("FailedCreate", msg)));
        }
    }
    Ok(None)
}

async fn delete_pods<K>(
    ctx: &ReplicasCtx,
    obj: &K,
    api: &Api<Pod>,
    key: &str,
    active: &[&Pod],
    count: usize,
) -> Option<(&'static str, String)>
where
    K: Resource<DynamicType = ()>,
{
    let victims: Vec<&Pod> = rank_for_deletion(active).into_iter().take(count).collect();
    ctx.expectations
        .expect_deletes(key, victims.iter().filter_map(|p| p.metadata.uid.clone()));
    let results = join_all(victims.iter().map(|p| {
        let name = p.name_any();
        async move {
            (
                name.clone(),
                api.delete(&name, &DeleteParams::default()).await,
            )
        }
    }))
    .await;
    let mut failure = None;
    for (name, r) in results {
        match r {
            Ok(_) => {
                ctx.recorder.record(
                    obj,
                    "Normal",
                    "SuccessfulDelete",
                    format!("Deleted pod: {name}"),
                );
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                let msg = e.to_string();
                ctx.recorder.record(
                    obj,
                    "Warning",
                    "FailedDelete",
                    format!("Error deleting: {msg}"),
                );
                failure = Some(("FailedDelete", msg));
            }
        }
    }
    failure
}

/// The status conditions after a sync: keep others, set or clear ReplicaFailure.
pub fn replica_failure_conditions(
    existing: Vec<serde_json::Value>,
    failure: &Option<(&'static str, String)>,
) -> Vec<serde_json::Value> {
    let mut out: Vec<serde_json::Value> = existing
        .into_iter()
        .filter(|c| c.get("type").and_then(|t| t.as_str()) != Some("ReplicaFailure"))
        .collect();
    if let Some((reason, message)) = failure {
        out.push(json!({
            "type": "ReplicaFailure",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": Timestamp::now().to_string(),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_capped_by_burst() {
        assert_eq!(replica_diff(0, 3), -3);
        assert_eq!(replica_diff(5, 3), 2);
        assert_eq!(replica_diff(0, 10_000), -(BURST_REPLICAS as i64));
        assert_eq!(replica_diff(2, 2), 0);
    }

    #[test]
    fn failure_condition_set_and_cleared() {
        let set = replica_failure_conditions(vec![], &Some(("FailedCreate", "quota".into())));
        assert_eq!(set.len(), 1);
        assert_eq!(set[0]["reason"], "FailedCreate");
        assert!(replica_failure_conditions(set, &None).is_empty());
    }
}
