//! The Deployment controller: rolling and recreate rollouts, proportional scaling, status.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};

use crate::deployment_rs::{
    NewRsOutcome, claim, cleanup, find_or_create_new, rs_available, rs_replicas, scale,
};
use crate::deployment_status::{condition, get_condition, write_status};
use crate::error::ControllerError;
use crate::events::Recorder;
use crate::podutil::{controller_ref, is_pod_active, selector_is_empty};
use crate::rollout::{
    DESIRED_REPLICAS, MAX_REPLICAS, RsCounts, ScaleInput, new_rs_replicas, proportional_scale,
    resolve_fenceposts, scale_down_old,
};

/// Shared state of the Deployment controller.
pub struct DeploymentCtx {
    pub client: Client,
    pub rss: Store<ReplicaSet>,
    pub pods: Store<Pod>,
    pub recorder: Recorder,
}

/// Everything one sync needs about the Deployment.
pub(crate) struct Plan {
    pub(crate) desired: i32,
    pub(crate) max_surge: i32,
    pub(crate) max_unavailable: i32,
    pub(crate) recreate: bool,
    pub(crate) paused: bool,
}

fn plan(d: &Deployment) -> Plan {
    let spec = d.spec.clone().unwrap_or_default();
    let desired = spec.replicas.unwrap_or(1);
    let strategy = spec.strategy.unwrap_or_default();
    let recreate = strategy.type_.as_deref() == Some("Recreate");
    let (max_surge, mut max_unavailable) = if recreate {
        (0, 0)
    } else {
        let ru = strategy.rolling_update.unwrap_or_default();
        resolve_fenceposts(ru.max_surge.as_ref(), ru.max_unavailable.as_ref(), desired)
    };
    if desired == 0 {
        max_unavailable = 0;
    }
    Plan {
        desired,
        max_surge,
        max_unavailable: max_unavailable.min(desired),
        recreate,
        paused: spec.paused.unwrap_or(false),
    }
}

pub async fn reconcile(
    d: Arc<Deployment>,
    ctx: Arc<DeploymentCtx>,
) -> Result<Action, ControllerError> {
    crate::informer::wait_ready(&ctx.rss)
        .await
        .map_err(|_| ControllerError::CacheStopped("replicasets"))?;
    crate::informer::wait_ready(&ctx.pods)
        .await
        .map_err(|_| ControllerError::CacheStopped("pods"))?;
    let d = d.as_ref();
    let p = plan(d);
    let selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    if selector_is_empty(&selector) {
        ctx.recorder.record(
            d,
            "Warning",
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        );
        return Ok(Action::await_change());
    }
    let mut rss = claim(&ctx, d).await?;
    if d.metadata.deletion_timestamp.is_some() {
        let new = rss
            .iter()
            .find(|rs| crate::deployment_rs::is_current(rs, d))
            .cloned();
        return write_status(&ctx, d, &p, new.as_ref(), &rss, false, None).await;
    }
    let paused_cond = paused_condition(d, p.paused);
    let scaling_event = rss.iter().any(|rs| {
        rs_replicas(rs) > 0
            && rs
                .annotations()
                .get(DESIRED_REPLICAS)
                .and_then(|v| v.parse::<i32>().ok())
                .is_some_and(|v| v != p.desired)
    });
    if p.paused || scaling_event {
        let (new, _) = find_or_create_new(&ctx, d, &rss, false, 0, p.max_surge).await?;
        scale_proportionally(&ctx, d, &p, new.as_ref(), &mut rss).await?;
        if p.paused {
            let olds: Vec<ReplicaSet> = rss
                .iter()
                .filter(|r| !is_new(r, new.as_ref()))
                .cloned()
                .collect();
            cleanup(&ctx, d, &olds).await?;
        }
        let new = rss.iter().find(|r| is_new(r, new.as_ref())).cloned();
        return write_status(&ctx, d, &p, new.as_ref(), &rss, false, paused_cond).await;
    }
    if p.recreate {
        rollout_recreate(&ctx, d, &p, rss, paused_cond).await
    } else {
        rollout_rolling(&ctx, d, &p, rss, paused_cond).await
    }
}

fn is_new(rs: &ReplicaSet, new: Option<&ReplicaSet>) -> bool {
    new.is_some_and(|n| n.metadata.uid == rs.metadata.uid)
}

fn paused_condition(d: &Deployment, paused: bool) -> Option<DeploymentCondition> {
    let conds = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let cur = get_condition(&conds, "Progressing").and_then(|c| c.reason.clone());
    if paused && cur.as_deref() != Some("DeploymentPaused") {
        Some(condition(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
        ))
    } else if !paused && cur.as_deref() == Some("DeploymentPaused") {
        Some(condition(
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed".into(),
        ))
    } else {
        None
    }
}

fn progress_condition(outcome: &NewRsOutcome, d: &Deployment) -> Option<DeploymentCondition> {
    let conds = d
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    match outcome {
        NewRsOutcome::Created(n) => Some(condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set \"{n}\""),
        )),
        NewRsOutcome::Found(n) if get_condition(&conds, "Progressing").is_none() => {
            Some(condition(
                "Progressing",
                "True",
                "FoundNewReplicaSet",
                format!("Found new replica set \"{n}\""),
            ))
        }
        _ => None,
    }
}

fn replace(rss: &mut [ReplicaSet], updated: ReplicaSet) {
    if let Some(slot) = rss
        .iter_mut()
        .find(|r| r.metadata.uid == updated.metadata.uid)
    {
        *slot = updated;
    }
}

async fn rollout_rolling(
    ctx: &DeploymentCtx,
    d: &Deployment,
    p: &Plan,
    mut rss: Vec<ReplicaSet>,
    extra: Option<DeploymentCondition>,
) -> Result<Action, ControllerError> {
    let total: i32 = rss.iter().map(rs_replicas).sum();
    let initial = new_rs_replicas(p.desired, p.max_surge, total, 0);
    let (new, outcome) = find_or_create_new(ctx, d, &rss, true, initial, p.max_surge).await?;
    let extra = extra.or_else(|| progress_condition(&outcome, d));
    let Some(mut new) = new else {
        return write_status(ctx, d, p, None, &rss, true, extra).await;
    };
    if !rss.iter().any(|r| r.metadata.uid == new.metadata.uid) {
        rss.push(new.clone());
    }
    // Scale the new ReplicaSet up (within maxSurge) or down (to desired).
    let current = rs_replicas(&new);
    let target = if current > p.desired {
        p.desired
    } else {
        new_rs_replicas(
            p.desired,
            p.max_surge,
            rss.iter().map(rs_replicas).sum(),
            current,
        )
    };
    new = scale(ctx, d, &new, target, p.max_surge).await?;
    replace(&mut rss, new.clone());
    if target != current {
        return write_status(ctx, d, p, Some(&new), &rss, true, extra).await;
    }
    // Scale old ReplicaSets down (within maxUnavailable).
    let olds: Vec<ReplicaSet> = rss
        .iter()
        .filter(|r| !is_new(r, Some(&new)))
        .cloned()
        .collect();
    let counts: Vec<RsCounts> = olds
        .iter()
        .map(|r| RsCounts {
            replicas: rs_replicas(r),
            available: rs_available(r),
        })
        .collect();
    let new_counts = RsCounts {
        replicas: rs_replicas(&new),
        available: rs_available(&new),
    };
    let sizes = scale_down_old(p.desired, p.max_unavailable, new_counts, &counts);
    let mut scaled = false;
    for (rs, size) in olds.iter().zip(sizes) {
        if size != rs_replicas(rs) {
            let updated = scale(ctx, d, rs, size, p.max_surge).await?;
            replace(&mut rss, updated);
            scaled = true;
        }
    }
    if !scaled && complete(d, p, &new, &rss) {
        let olds: Vec<ReplicaSet> = rss
            .iter()
            .filter(|r| !is_new(r, Some(&new)))
            .cloned()
            .collect();
        cleanup(ctx, d, &olds).await?;
    }
    write_status(ctx, d, p, Some(&new), &rss, true, extra).await
}

async fn rollout_recreate(
    ctx: &DeploymentCtx,
    d: &Deployment,
    p: &Plan,
    mut rss: Vec<ReplicaSet>,
    extra: Option<DeploymentCondition>,
) -> Result<Action, ControllerError> {
    let (new, outcome) = find_or_create_new(ctx, d, &rss, false, 0, p.max_surge).await?;
    let mut extra = extra.or_else(|| progress_condition(&outcome, d));
    let olds: Vec<ReplicaSet> = rss
        .iter()
        .filter(|r| !is_new(r, new.as_ref()))
        .cloned()
        .collect();
    let mut scaled = false;
    for rs in &olds {
        if rs_replicas(rs) > 0 {
            let updated = scale(ctx, d, rs, 0, p.max_surge).await?;
            replace(&mut rss, updated);
            scaled = true;
        }
    }
    let old_uids: Vec<&str> = olds
        .iter()
        .filter_map(|r| r.metadata.uid.as_deref())
        .collect();
    let old_running = olds
        .iter()
        .any(|r| r.status.as_ref().is_some_and(|s| s.replicas > 0))
        || !ctx
            .pods
            .state_filter(|pod| {
                pod.metadata.namespace == d.metadata.namespace
                    && controller_ref(&pod.metadata)
                        .is_some_and(|r| old_uids.contains(&r.uid.as_str()))
                    && (is_pod_active(pod) || pod.metadata.deletion_timestamp.is_some())
            })
            .is_empty();
    if scaled || old_running {
        let action = write_status(ctx, d, p, new.as_ref(), &rss, true, extra).await?;
        return Ok(if old_running {
            Action::requeue(Duration::from_secs(1))
        } else {
            action
        });
    }
    let new = match new {
        Some(n) => n,
        None => {
            let (n, outcome) =
                find_or_create_new(ctx, d, &rss, true, p.desired, p.max_surge).await?;
            extra = extra.or_else(|| progress_condition(&outcome, d));
            match n {
                Some(n) => {
                    rss.push(n.clone());
                    n
                }
                None => return write_status(ctx, d, p, None, &rss, true, extra).await,
            }
        }
    };
    let new = scale(ctx, d, &new, p.desired, p.max_surge).await?;
    replace(&mut rss, new.clone());
    if complete(d, p, &new, &rss) {
        cleanup(ctx, d, &olds).await?;
    }
    write_status(ctx, d, p, Some(&new), &rss, true, extra).await
}

async fn scale_proportionally(
    ctx: &DeploymentCtx,
    d: &Deployment,
    p: &Plan,
    new: Option<&ReplicaSet>,
    rss: &mut [ReplicaSet],
) -> Result<(), ControllerError> {
    let active: Vec<usize> = (0..rss.len())
        .filter(|i| rs_replicas(&rss[*i]) > 0)
        .collect();
    // One active (or none): it (or the newest) simply takes the desired size.
    let single = match active.len() {
        0 => new.cloned().or_else(|| rss.last().cloned()),
        1 => Some(rss[active[0]].clone()),
        _ => None,
    };
    if let Some(rs) = single {
        let updated = scale(ctx, d, &rs, p.desired, p.max_surge).await?;
        replace(rss, updated);
        return Ok(());
    }
    // Newest first for the proportional split.
    let mut order: Vec<usize> = active;
    order.reverse();
    let inputs: Vec<ScaleInput> = order
        .iter()
        .map(|i| ScaleInput {
            replicas: rs_replicas(&rss[*i]),
            annotated_max: rss[*i]
                .annotations()
                .get(MAX_REPLICAS)
                .and_then(|v| v.parse().ok()),
        })
        .collect();
    let status_replicas = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let max_surge = if p.recreate { 0 } else { p.max_surge };
    let sizes = proportional_scale(p.desired, max_surge, status_replicas, &inputs);
    for (i, size) in order.into_iter().zip(sizes) {
        let rs = rss[i].clone();
        let updated = scale(ctx, d, &rs, size, p.max_surge).await?;
        rss[i] = updated;
    }
    Ok(())
}

fn complete(d: &Deployment, p: &Plan, new: &ReplicaSet, rss: &[ReplicaSet]) -> bool {
    let s = |r: &ReplicaSet| r.status.clone().unwrap_or_default();
    let replicas: i32 = rss.iter().map(|r| s(r).replicas).sum();
    let available: i32 = rss
        .iter()
        .map(|r| s(r).available_replicas.unwrap_or(0))
        .sum();
    let _ = d;
    s(new).replicas == p.desired && replicas == p.desired && available == p.desired
}
