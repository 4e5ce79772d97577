//! The Deployment controller's status: counts, Available and Progressing conditions, revision.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::deployment::{DeploymentCtx, Plan};
use crate::deployment_rs::rs_replicas;
use crate::error::{ControllerError, is_not_found};
use crate::rollout::REVISION;

pub(crate) fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
) -> DeploymentCondition {
    let now = Time(Timestamp::now());
    DeploymentCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Sets `c`, keeping the transition time when the status does not change and doing nothing
/// when status and reason are unchanged (upstream's `SetDeploymentCondition`).
fn set_condition(
    conds: &mut Vec<DeploymentCondition>,
    mut c: DeploymentCondition,
    force_update: bool,
) {
    if let Some(cur) = conds.iter().find(|x| x.type_ == c.type_) {
        if cur.status == c.status && cur.reason == c.reason && !force_update {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    conds.retain(|x| x.type_ != c.type_);
    conds.push(c);
}

pub(crate) fn get_condition<'a>(
    conds: &'a [DeploymentCondition],
    t: &str,
) -> Option<&'a DeploymentCondition> {
    conds.iter().find(|c| c.type_ == t)
}

/// Reconciles one Deployment.
fn normalized(s: &DeploymentStatus) -> DeploymentStatus {
    let z = |v: Option<i32>| v.filter(|x| *x != 0);
    DeploymentStatus {
        replicas: z(s.replicas),
        updated_replicas: z(s.updated_replicas),
        ready_replicas: z(s.ready_replicas),
        available_replicas: z(s.available_replicas),
        unavailable_replicas: z(s.unavailable_replicas),
        terminating_replicas: None,
        observed_generation: s.observed_generation,
        collision_count: s.collision_count,
        conditions: s.conditions.clone().filter(|c| !c.is_empty()),
    }
}

pub(crate) async fn write_status(
    ctx: &DeploymentCtx,
    d: &Deployment,
    p: &Plan,
    new: Option<&ReplicaSet>,
    rss: &[ReplicaSet],
    track_progress: bool,
    extra: Option<DeploymentCondition>,
) -> Result<Action, ControllerError> {
    let old = d.status.clone().unwrap_or_default();
    let st = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
    let available: i32 = rss
        .iter()
        .map(|r| st(r).available_replicas.unwrap_or(0))
        .sum();
    let total_spec: i32 = rss.iter().map(rs_replicas).sum();
    let mut s = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(rss.iter().map(|r| st(r).replicas).sum()),
        updated_replicas: Some(new.map(|n| st(n).replicas).unwrap_or(0)),
        ready_replicas: Some(rss.iter().map(|r| st(r).ready_replicas.unwrap_or(0)).sum()),
        available_replicas: Some(available),
        unavailable_replicas: Some((total_spec - available).max(0)),
        terminating_replicas: None,
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
    };
    let mut conds = s.conditions.take().unwrap_or_default();
    if available >= p.desired - p.max_unavailable {
        set_condition(
            &mut conds,
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".into(),
            ),
            false,
        );
    } else {
        set_condition(
            &mut conds,
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".into(),
            ),
            false,
        );
    }
    if let Some(c) = extra {
        set_condition(&mut conds, c, false);
    }
    let deadline = d
        .spec
        .as_ref()
        .and_then(|sp| sp.progress_deadline_seconds)
        .filter(|x| *x != i32::MAX);
    let mut requeue = None;
    if let (Some(deadline), true, Some(new)) = (deadline, track_progress && !p.paused, new) {
        let name = new.name_any();
        let cur = get_condition(&conds, "Progressing").cloned();
        let done_before = s.replicas == s.updated_replicas
            && cur.as_ref().and_then(|c| c.reason.as_deref()) == Some("NewReplicaSetAvailable");
        let is_complete = s.updated_replicas == Some(p.desired)
            && s.replicas == Some(p.desired)
            && s.available_replicas == Some(p.desired);
        let progressing = s.updated_replicas > old.updated_replicas
            || s.replicas.unwrap_or(0) - s.updated_replicas.unwrap_or(0)
                < old.replicas.unwrap_or(0) - old.updated_replicas.unwrap_or(0)
            || s.ready_replicas > old.ready_replicas
            || s.available_replicas > old.available_replicas;
        if !done_before {
            if is_complete {
                let msg = format!("ReplicaSet \"{name}\" has successfully progressed.");
                set_condition(
                    &mut conds,
                    condition("Progressing", "True", "NewReplicaSetAvailable", msg),
                    false,
                );
            } else if progressing {
                let msg = format!("ReplicaSet \"{name}\" is progressing.");
                set_condition(
                    &mut conds,
                    condition("Progressing", "True", "ReplicaSetUpdated", msg),
                    true,
                );
            } else if let Some(c) = get_condition(&conds, "Progressing").cloned() {
                let from = c
                    .last_update_time
                    .as_ref()
                    .map(|t| t.0.as_second())
                    .unwrap_or(0);
                let left = from + i64::from(deadline) - Timestamp::now().as_second();
                let timed_out = c.reason.as_deref() == Some("ProgressDeadlineExceeded");
                if !timed_out && c.reason.as_deref() != Some("NewReplicaSetAvailable") {
                    if left < 0 {
                        let msg = format!("ReplicaSet \"{name}\" has timed out progressing.");
                        set_condition(
                            &mut conds,
                            condition("Progressing", "False", "ProgressDeadlineExceeded", msg),
                            false,
                        );
                    } else {
                        requeue = Some(Duration::from_secs(left as u64 + 1));
                    }
                }
            }
            if !is_complete && requeue.is_none() {
                requeue = Some(Duration::from_secs(
                    u64::try_from(deadline).unwrap_or(600) + 1,
                ));
            }
        }
    }
    s.conditions = Some(conds);
    sync_revision_annotation(ctx, d, new).await?;
    if normalized(&s) != normalized(&old) {
        let ns = d.namespace().unwrap_or_default();
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
        let patch = json!({ "status": s });
        match api
            .patch_status(
                &d.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(format!(
                    "status of deployment {ns}/{}",
                    d.name_any()
                ))(e));
            }
        }
    }
    Ok(requeue
        .map(Action::requeue)
        .unwrap_or_else(Action::await_change))
}

/// Copies the new ReplicaSet's revision onto the Deployment's annotation.
async fn sync_revision_annotation(
    ctx: &DeploymentCtx,
    d: &Deployment,
    new: Option<&ReplicaSet>,
) -> Result<(), ControllerError> {
    let Some(rev) = new.and_then(|n| n.annotations().get(REVISION).cloned()) else {
        return Ok(());
    };
    if d.annotations().get(REVISION) == Some(&rev) {
        return Ok(());
    }
    let ns = d.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({"metadata": {"annotations": {REVISION: rev}}});
    match api
        .patch(
            &d.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!(
            "revision of deployment {ns}/{}",
            d.name_any()
        ))(e)),
    }
}
