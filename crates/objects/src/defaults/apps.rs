//! Defaults of the apps/v1 workloads: Deployment, ReplicaSet, StatefulSet, DaemonSet.

use serde_json::json;

use super::core::pvc_template;
use super::pod;
use super::util::{Obj, each_obj, ensure_obj, get_obj, set_if_nil, set_if_zero, str_of};

/// Applies the pod template defaults to `spec.template`.
pub(crate) fn spec_template(spec: &mut Obj) {
    pod::template(ensure_obj(spec, "template"));
}

/// `SetObjectDefaults_Deployment`.
pub(crate) fn deployment(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_nil(spec, "replicas", json!(1));
    let strategy = ensure_obj(spec, "strategy");
    set_if_zero(strategy, "type", json!("RollingUpdate"));
    if str_of(strategy, "type") == "RollingUpdate" {
        let ru = ensure_obj(strategy, "rollingUpdate");
        set_if_nil(ru, "maxUnavailable", json!("25%"));
        set_if_nil(ru, "maxSurge", json!("25%"));
    }
    set_if_nil(spec, "revisionHistoryLimit", json!(10));
    set_if_nil(spec, "progressDeadlineSeconds", json!(600));
    spec_template(spec);
    set_if_nil(o, "status", json!({}));
}

/// `SetObjectDefaults_ReplicaSet`.
pub(crate) fn replica_set(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_nil(spec, "replicas", json!(1));
    spec_template(spec);
    set_if_nil(o, "status", json!({"replicas": 0}));
}

/// `SetObjectDefaults_StatefulSet`.
pub(crate) fn stateful_set(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_zero(spec, "podManagementPolicy", json!("OrderedReady"));
    let strategy = ensure_obj(spec, "updateStrategy");
    if str_of(strategy, "type").is_empty() {
        strategy.insert("type".into(), json!("RollingUpdate"));
        set_if_nil(strategy, "rollingUpdate", json!({}));
    }
    if str_of(strategy, "type") == "RollingUpdate"
        && let Some(ru) = get_obj(strategy, "rollingUpdate")
    {
        set_if_nil(ru, "partition", json!(0));
    }
    let policy = ensure_obj(spec, "persistentVolumeClaimRetentionPolicy");
    set_if_zero(policy, "whenDeleted", json!("Retain"));
    set_if_zero(policy, "whenScaled", json!("Retain"));
    set_if_nil(spec, "replicas", json!(1));
    set_if_nil(spec, "revisionHistoryLimit", json!(10));
    spec_template(spec);
    each_obj(spec, "volumeClaimTemplates", |t| {
        // apps/v1 conversion gives each claim template its type meta.
        set_if_zero(t, "apiVersion", json!("v1"));
        set_if_zero(t, "kind", json!("PersistentVolumeClaim"));
        pvc_template(t);
    });
    set_if_nil(o, "status", json!({"availableReplicas": 0, "replicas": 0}));
}

/// `SetObjectDefaults_DaemonSet`.
pub(crate) fn daemon_set(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    let strategy = ensure_obj(spec, "updateStrategy");
    set_if_zero(strategy, "type", json!("RollingUpdate"));
    if str_of(strategy, "type") == "RollingUpdate" {
        let ru = ensure_obj(strategy, "rollingUpdate");
        set_if_nil(ru, "maxUnavailable", json!(1));
        set_if_nil(ru, "maxSurge", json!(0));
    }
    set_if_nil(spec, "revisionHistoryLimit", json!(10));
    spec_template(spec);
    set_if_nil(
        o,
        "status",
        json!({
            "currentNumberScheduled": 0,
            "desiredNumberScheduled": 0,
            "numberMisscheduled": 0,
            "numberReady": 0,
        }),
    );
}
