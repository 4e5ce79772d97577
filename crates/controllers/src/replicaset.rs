//! The ReplicaSet and ReplicationController controllers: reconcile one owner, write its status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tracing::warn;

use crate::error::{ControllerError, is_not_found};
use crate::replicas::{Observed, OwnerView, ReplicasCtx, manage, replica_failure_conditions};

fn action(observed: &Observed) -> Action {
    match observed.requeue {
        Some(d) => Action::requeue(d.max(Duration::from_millis(200))),
        None => Action::await_change(),
    }
}

fn status_patch(
    observed: &Observed,
    generation: Option<i64>,
    current: Option<Value>,
) -> Option<Value> {
    let current = current.unwrap_or(Value::Null);
    let existing: Vec<Value> = current
        .get("conditions")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    let had_failure = existing
        .iter()
        .any(|c| c.get("type").and_then(Value::as_str) == Some("ReplicaFailure"));
    let conditions = if observed.failure.is_some() || had_failure {
        let c = replica_failure_conditions(existing.clone(), &observed.failure);
        if c.is_empty() {
            Value::Null
        } else {
            Value::Array(c)
        }
    } else if existing.is_empty() {
        Value::Null
    } else {
        Value::Array(existing)
    };
    let want = json!({
        "replicas": observed.replicas,
        "fullyLabeledReplicas": observed.fully_labeled,
        "readyReplicas": observed.ready,
        "availableReplicas": observed.available,
        "observedGeneration": generation,
        "conditions": conditions,
    });
    let field = |v: &Value, k: &str| -> Value {
        match v.get(k) {
            None | Some(Value::Null) => Value::Null,
            Some(Value::Number(n)) if n.as_i64() == Some(0) && k != "replicas" => Value::Null,
            Some(x) => x.clone(),
        }
    };
    let changed = [
        "replicas",
        "fullyLabeledReplicas",
        "readyReplicas",
        "availableReplicas",
        "observedGeneration",
    ]
    .iter()
    .any(|k| {
        let a = field(&want, k);
        let b = field(&current, k);
        a != b && !(k == &"replicas" && a == json!(0) && b.is_null())
    }) || (observed.failure.is_some() != had_failure);
    changed.then(|| json!({ "status": want }))
}

/// Reconciles one ReplicaSet.
pub async fn reconcile_rs(
    rs: Arc<ReplicaSet>,
    ctx: Arc<ReplicasCtx>,
) -> Result<Action, ControllerError> {
    let ns = rs.namespace().unwrap_or_default();
    let name = rs.name_any();
    let spec = rs.spec.clone().unwrap_or_default();
    let owner = OwnerView {
        api_version: "apps/v1",
        kind: "ReplicaSet",
        name: name.clone(),
        namespace: ns.clone(),
        uid: rs.uid().unwrap_or_default(),
        selector: spec.selector.clone(),
        template: spec.template.as_ref(),
        replicas: spec.replicas.unwrap_or(1),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        deleting: rs.metadata.deletion_timestamp.is_some(),
    };
    let observed = manage(&ctx, rs.as_ref(), &owner).await?;
    let current = rs
        .status
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ControllerError::json(format!("status of {ns}/{name}")))?;
    if let Some(patch) = status_patch(&observed, rs.metadata.generation, current) {
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &ns);
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(format!(
                    "status of replicaset {ns}/{name}"
                ))(e));
            }
        }
    }
    Ok(action(&observed))
}

/// Reconciles one ReplicationController (its map selector defaults to the template labels).
pub async fn reconcile_rc(
    rc: Arc<ReplicationController>,
    ctx: Arc<ReplicasCtx>,
) -> Result<Action, ControllerError> {
    let ns = rc.namespace().unwrap_or_default();
    let name = rc.name_any();
    let spec = rc.spec.clone().unwrap_or_default();
    let labels: BTreeMap<String, String> = match &spec.selector {
        Some(s) if !s.is_empty() => s.clone(),
        _ => spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default(),
    };
    let owner = OwnerView {
        api_version: "v1",
        kind: "ReplicationController",
        name: name.clone(),
        namespace: ns.clone(),
        uid: rc.uid().unwrap_or_default(),
        selector: LabelSelector {
            match_labels: Some(labels),
            match_expressions: None,
        },
        template: spec.template.as_ref(),
        replicas: spec.replicas.unwrap_or(1),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        deleting: rc.metadata.deletion_timestamp.is_some(),
    };
    let observed = manage(&ctx, rc.as_ref(), &owner).await?;
    let current = rc
        .status
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ControllerError::json(format!("status of {ns}/{name}")))?;
    if let Some(patch) = status_patch(&observed, rc.metadata.generation, current) {
        let api: Api<ReplicationController> = Api::namespaced(ctx.client.clone(), &ns);
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(format!(
                    "status of replicationcontroller {ns}/{name}"
                ))(e));
            }
        }
    }
    Ok(action(&observed))
}

/// Retries a failed reconcile after a short delay.
pub fn error_policy<K: ResourceExt, C>(
    obj: Arc<K>,
    error: &ControllerError,
    _ctx: Arc<C>,
) -> Action {
    warn!(object = %obj.name_any(), namespace = ?obj.namespace(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patch_only_when_changed() {
        let obs = Observed {
            replicas: 2,
            fully_labeled: 2,
            ready: 1,
            available: 1,
            ..Observed::default()
        };
        let cur = json!({"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 3});
        assert!(status_patch(&obs, Some(3), Some(cur.clone())).is_none());
        assert!(status_patch(&obs, Some(4), Some(cur)).is_some());
        let zero = Observed::default();
        assert!(status_patch(&zero, None, Some(json!({"replicas": 0}))).is_none());
        assert!(status_patch(&zero, None, None).is_none());
    }
}
