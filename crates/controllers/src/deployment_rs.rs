//! The Deployment controller's ReplicaSet operations: claim, find or create the new one, scale, prune.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tracing::info;

use crate::deployment::DeploymentCtx;
use crate::error::{ControllerError, is_conflict, is_not_found};
use crate::podutil::{controller_ref, new_controller_ref, selector_is_empty, selector_matches};
use crate::rollout::{
    DESIRED_REPLICAS, MAX_REPLICAS, POD_TEMPLATE_HASH, REVISION, REVISION_HISTORY,
    pod_template_hash, strip_hash_label,
};

/// Deployment annotations never copied onto its ReplicaSets.
const SKIP_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// A ReplicaSet's revision annotation (0 if missing or unparsable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `spec.replicas` of a ReplicaSet.
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

/// `status.availableReplicas` of a ReplicaSet.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn template_json(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Value {
    t.and_then(|t| serde_json::to_value(t).ok())
        .unwrap_or(Value::Null)
}

/// Whether the ReplicaSet runs the Deployment's current template (ignoring the hash label).
pub fn is_current(rs: &ReplicaSet, d: &Deployment) -> bool {
    let a = strip_hash_label(template_json(
        rs.spec.as_ref().and_then(|s| s.template.as_ref()),
    ));
    let b = strip_hash_label(template_json(d.spec.as_ref().map(|s| &s.template)));
    a == b
}

/// The ReplicaSets this Deployment controls, adopting matching orphans and releasing
/// ones that no longer match; sorted oldest first.
pub async fn claim(
    ctx: &DeploymentCtx,
    d: &Deployment,
) -> Result<Vec<ReplicaSet>, ControllerError> {
    let ns = d.namespace().unwrap_or_default();
    let uid = d.uid().unwrap_or_default();
    let selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = d.metadata.deletion_timestamp.is_some();
    let mut out = Vec::new();
    for rs in ctx
        .rss
        .state_filter(|r| r.metadata.namespace.as_deref() == Some(ns.as_str()))
    {
        let matches = !selector_is_empty(&selector) && selector_matches(&selector, rs.labels());
        let refs = rs.metadata.owner_references.clone().unwrap_or_default();
        match controller_ref(&rs.metadata) {
            Some(r) if r.uid == uid => {
                if matches {
                    out.push(rs.as_ref().clone());
                } else if !deleting {
                    let kept: Vec<_> = refs.into_iter().filter(|r| r.uid != uid).collect();
                    let patch =
                        json!({"metadata": {"ownerReferences": kept, "uid": rs.metadata.uid}});
                    patch_rs(&api, &rs.name_any(), &patch).await?;
                }
            }
            Some(_) => {}
            None if matches && !deleting && rs.metadata.deletion_timestamp.is_none() => {
                let mut refs = refs;
                refs.push(new_controller_ref(
                    "apps/v1",
                    "Deployment",
                    &d.name_any(),
                    &uid,
                ));
                let patch = json!({"metadata": {"ownerReferences": refs, "uid": rs.metadata.uid}});
                info!(replicaset = %rs.name_any(), "adopting replica set");
                if let Some(r) = patch_rs(&api, &rs.name_any(), &patch).await? {
                    out.push(r);
                }
            }
            None => {}
        }
    }
    out.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        ta.cmp(&tb).then_with(|| a.name_any().cmp(&b.name_any()))
    });
    Ok(out)
}

async fn patch_rs(
    api: &Api<ReplicaSet>,
    name: &str,
    patch: &Value,
) -> Result<Option<ReplicaSet>, ControllerError> {
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(r) => Ok(Some(r)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(ControllerError::api(format!("patch replicaset {name}"))(e)),
    }
}

/// Annotations a ReplicaSet should carry: the Deployment's own (minus the skip list), and
/// desired/max replicas.
fn wanted_annotations(d: &Deployment, max_surge: i32) -> BTreeMap<String, String> {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let mut a: BTreeMap<String, String> = d
        .annotations()
        .iter()
        .filter(|(k, _)| !SKIP_ANNOTATIONS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    a.insert(DESIRED_REPLICAS.into(), desired.to_string());
    a.insert(MAX_REPLICAS.into(), (desired + max_surge).to_string());
    a
}

/// Sets `spec.replicas` (and the replica annotations) of `rs`, recording ScalingReplicaSet.
pub async fn scale(
    ctx: &DeploymentCtx,
    d: &Deployment,
    rs: &ReplicaSet,
    size: i32,
    max_surge: i32,
) -> Result<ReplicaSet, ControllerError> {
    let current = rs_replicas(rs);
    let wanted = wanted_annotations(d, max_surge);
    let annotations_ok = [DESIRED_REPLICAS, MAX_REPLICAS]
        .iter()
        .all(|k| rs.annotations().get(*k) == wanted.get(*k));
    if current == size && annotations_ok {
        return Ok(rs.clone());
    }
    let name = rs.name_any();
    let ns = rs.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "metadata": {"annotations": wanted, "resourceVersion": rs.metadata.resource_version},
        "spec": {"replicas": size},
    });
    let updated = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(ControllerError::api(format!(
            "scale replicaset {ns}/{name}"
        )))?;
    if current != size {
        let dir = if size > current { "up" } else { "down" };
        info!(replicaset = %name, from = current, to = size, "scaling replica set");
        ctx.recorder.record(
            d,
            "Normal",
            "ScalingReplicaSet",
            format!("Scaled {dir} replica set {name} from {current} to {size}"),
        );
    }
    Ok(updated)
}

/// What finding the new ReplicaSet did, for the Progressing condition.
pub enum NewRsOutcome {
    Created(String),
    Found(String),
    None,
}

/// Finds the ReplicaSet running the current template and syncs its revision; creates it
/// (with `initial` replicas) when `create` is set. Returns it and the revision to record.
pub async fn find_or_create_new(
    ctx: &DeploymentCtx,
    d: &Deployment,
    rss: &[ReplicaSet],
    create: bool,
    initial: i32,
    max_surge: i32,
) -> Result<(Option<ReplicaSet>, NewRsOutcome), ControllerError> {
    let ns = d.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
    let existing = rss.iter().find(|rs| is_current(rs, d));
    let max_old = rss
        .iter()
        .filter(|rs| !is_current(rs, d))
        .map(revision)
        .max()
        .unwrap_or(0);
    let new_revision = max_old + 1;
    if let Some(rs) = existing {
        let old_rev = revision(rs);
        let mut annotations = wanted_annotations(d, max_surge);
        annotations.remove(DESIRED_REPLICAS);
        annotations.remove(MAX_REPLICAS);
        if old_rev < new_revision {
            annotations.insert(REVISION.into(), new_revision.to_string());
            if old_rev > 0 {
                let mut hist: Vec<String> = rs
                    .annotations()
                    .get(REVISION_HISTORY)
                    .map(|h| h.split(',').map(str::to_owned).collect())
                    .unwrap_or_default();
                hist.push(old_rev.to_string());
                annotations.insert(REVISION_HISTORY.into(), hist.join(","));
            }
        }
        let stale = annotations
            .iter()
            .any(|(k, v)| rs.annotations().get(k) != Some(v));
        let rs = if stale {
            let patch = json!({"metadata": {"annotations": annotations}});
            patch_rs(&api, &rs.name_any(), &patch)
                .await?
                .unwrap_or_else(|| rs.clone())
        } else {
            rs.clone()
        };
        let name = rs.name_any();
        return Ok((Some(rs), NewRsOutcome::Found(name)));
    }
    if !create {
        return Ok((None, NewRsOutcome::None));
    }
    let spec = d.spec.clone().unwrap_or_default();
    let collision = d.status.as_ref().and_then(|s| s.collision_count);
    let template_value = strip_hash_label(template_json(Some(&spec.template)));
    let hash = pod_template_hash(&template_value, collision);
    let mut template = spec.template.clone();
    let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
    tmeta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let labels = tmeta.labels.clone();
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut annotations = wanted_annotations(d, max_surge);
    annotations.insert(REVISION.into(), new_revision.to_string());
    let name = format!("{}-{}", d.name_any(), hash);
    let rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.clone()),
            labels,
            annotations: Some(annotations),
            owner_references: Some(vec![new_controller_ref(
                "apps/v1",
                "Deployment",
                &d.name_any(),
                &d.uid().unwrap_or_default(),
            )]),
            ..ObjectMeta::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(initial),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        }),
        status: None,
    };
    match api.create(&PostParams::default(), &rs).await {
        Ok(created) => {
            info!(replicaset = %name, replicas = initial, "created new replica set");
            if initial > 0 {
                ctx.recorder.record(
                    d,
                    "Normal",
                    "ScalingReplicaSet",
                    format!("Scaled up replica set {name} from 0 to {initial}"),
                );
            }
            Ok((Some(created), NewRsOutcome::Created(name)))
        }
        Err(e) if is_conflict(&e) => {
            let found = api
                .get(&name)
                .await
                .map_err(ControllerError::api(format!("get replicaset {ns}/{name}")))?;
            let ours = controller_ref(&found.metadata)
                .is_some_and(|r| Some(&r.uid) == d.metadata.uid.as_ref());
            if ours && is_current(&found, d) {
                return Ok((Some(found), NewRsOutcome::Found(name)));
            }
            let next = collision.unwrap_or(0).saturating_add(1);
            let dapi: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
            let patch = json!({"status": {"collisionCount": next}});
            dapi.patch_status(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(ControllerError::api(format!(
                "collisionCount of {ns}/{}",
                d.name_any()
            )))?;
            Err(ControllerError::HashCollision(name))
        }
        Err(e) => Err(ControllerError::api(format!(
            "create replicaset {ns}/{name}"
        ))(e)),
    }
}

/// Deletes the oldest fully scaled-down ReplicaSets beyond `revisionHistoryLimit`.
pub async fn cleanup(
    ctx: &DeploymentCtx,
    d: &Deployment,
    olds: &[ReplicaSet],
) -> Result<(), ControllerError> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Ok(());
    };
    let mut alive: Vec<&ReplicaSet> = olds
        .iter()
        .filter(|r| r.metadata.deletion_timestamp.is_none())
        .collect();
    let excess = alive.len() as i64 - i64::from(limit.max(0));
    if excess <= 0 {
        return Ok(());
    }
    alive.sort_by_key(|r| revision(r));
    for rs in alive.into_iter().take(excess as usize) {
        let status_replicas = rs.status.as_ref().map(|s| s.replicas).unwrap_or(0);
        let observed = rs
            .status
            .as_ref()
            .and_then(|s| s.observed_generation)
            .unwrap_or(0);
        if rs_replicas(rs) != 0
            || status_replicas != 0
            || rs.metadata.generation.unwrap_or(0) > observed
        {
            continue;
        }
        let name = rs.name_any();
        info!(replicaset = %name, "deleting old replica set beyond revisionHistoryLimit");
        let api: Api<ReplicaSet> =
            Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(ControllerError::api(format!("delete replicaset {name}"))(e)),
        }
    }
    Ok(())
}
