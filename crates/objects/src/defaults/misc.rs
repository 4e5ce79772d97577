//! Defaults of the smaller groups: autoscaling, discovery, networking, rbac, scheduling, storage.

use serde_json::{Value, json};

use super::util::{
    Obj, array_empty, each_obj, ensure_obj, get_obj, set_if_nil, set_if_zero, str_of,
};

/// autoscaling/v1 `SetDefaults_HorizontalPodAutoscaler`.
pub(crate) fn hpa_v1(o: &mut Obj) {
    set_if_nil(ensure_obj(o, "spec"), "minReplicas", json!(1));
}

/// autoscaling/v2 `SetDefaults_HorizontalPodAutoscaler`: min replicas, the 80% CPU
/// metric, and fully spelled-out scaling rules when a behavior is given.
pub(crate) fn hpa_v2(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_nil(spec, "minReplicas", json!(1));
    if array_empty(spec, "metrics") {
        spec.insert(
            "metrics".into(),
            json!([{
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }]),
        );
    }
    if let Some(behavior) = get_obj(spec, "behavior") {
        let up = json!({
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        });
        let down = json!({
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
        });
        scaling_rules(behavior, "scaleUp", up);
        scaling_rules(behavior, "scaleDown", down);
    }
}

/// Fills the unset fields of `behavior[key]` from `defaults`.
fn scaling_rules(behavior: &mut Obj, key: &str, defaults: Value) {
    let Value::Object(defaults) = defaults else {
        return;
    };
    let rules = ensure_obj(behavior, key);
    for (k, v) in defaults {
        set_if_nil(rules, &k, v);
    }
}

/// discovery/v1 `SetObjectDefaults_EndpointSlice`: port names `""` and protocol TCP.
pub(crate) fn endpoint_slice(o: &mut Obj) {
    each_obj(o, "ports", |p| {
        set_if_nil(p, "name", json!(""));
        set_if_nil(p, "protocol", json!("TCP"));
    });
}

/// networking/v1 `SetObjectDefaults_NetworkPolicy`.
pub(crate) fn network_policy(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    for key in ["ingress", "egress"] {
        each_obj(spec, key, |rule| {
            each_obj(rule, "ports", |p| set_if_nil(p, "protocol", json!("TCP")))
        });
    }
    if array_empty(spec, "policyTypes") {
        let mut types = vec![json!("Ingress")];
        if !array_empty(spec, "egress") {
            types.push(json!("Egress"));
        }
        spec.insert("policyTypes".into(), Value::Array(types));
    }
}

/// networking/v1 `SetObjectDefaults_IngressClass`: parameters are cluster-scoped by default.
pub(crate) fn ingress_class(o: &mut Obj) {
    if let Some(p) = get_obj(ensure_obj(o, "spec"), "parameters") {
        set_if_nil(p, "scope", json!("Cluster"));
    }
}

/// An Ingress always shows its (struct) load balancer status.
pub(crate) fn ingress(o: &mut Obj) {
    ensure_obj(ensure_obj(o, "status"), "loadBalancer");
}

/// scheduling/v1 `SetDefaults_PriorityClass`.
pub(crate) fn priority_class(o: &mut Obj) {
    set_if_nil(o, "preemptionPolicy", json!("PreemptLowerPriority"));
}

/// storage/v1 `SetDefaults_StorageClass`.
pub(crate) fn storage_class(o: &mut Obj) {
    set_if_nil(o, "reclaimPolicy", json!("Delete"));
    set_if_nil(o, "volumeBindingMode", json!("Immediate"));
}

/// rbac/v1 defaults of (Cluster)RoleBindings: roleRef and subject API groups.
pub(crate) fn role_binding(o: &mut Obj) {
    set_if_zero(
        ensure_obj(o, "roleRef"),
        "apiGroup",
        json!("rbac.authorization.k8s.io"),
    );
    each_obj(o, "subjects", |s| {
        // ServiceAccount subjects keep the (omitted) empty core group.
        if str_of(s, "apiGroup").is_empty() && matches!(str_of(s, "kind"), "User" | "Group") {
            s.insert("apiGroup".into(), json!("rbac.authorization.k8s.io"));
        }
    });
}

/// A core v1 Event shows its zero struct and time fields as Go serializes them.
pub(crate) fn core_event(o: &mut Obj) {
    for key in ["eventTime", "firstTimestamp", "lastTimestamp"] {
        if !o.contains_key(key) {
            o.insert(key.into(), Value::Null);
        }
    }
    set_if_nil(o, "involvedObject", json!({}));
    set_if_nil(o, "source", json!({}));
    set_if_nil(o, "reportingComponent", json!(""));
    set_if_nil(o, "reportingInstance", json!(""));
}

/// An events.k8s.io/v1 Event shows its zero struct and time fields as Go serializes them.
pub(crate) fn events_event(o: &mut Obj) {
    for key in [
        "eventTime",
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
    ] {
        if !o.contains_key(key) {
            o.insert(key.into(), Value::Null);
        }
    }
    set_if_nil(o, "regarding", json!({}));
    set_if_nil(o, "deprecatedSource", json!({}));
}
