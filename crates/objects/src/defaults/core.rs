//! Defaults of the core/v1 types other than Pod: Service, Namespace, volumes and claims, ...

use serde_json::{Value, json};

use super::batch::copy_labels_if_empty;
use super::pod;
use super::util::{
    Obj, array_empty, each_obj, ensure_obj, get_obj, path_obj, requirements, resource_list,
    set_if_nil, set_if_zero, str_of, with_obj,
};

/// `SetObjectDefaults_Service`, plus the IP family fields the service REST storage fills in.
pub(crate) fn service(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_zero(spec, "sessionAffinity", json!("None"));
    match str_of(spec, "sessionAffinity") {
        "None" => {
            spec.remove("sessionAffinityConfig");
        }
        "ClientIP" => {
            let has_timeout = path_obj(spec, &["sessionAffinityConfig", "clientIP"])
                .is_some_and(|c| c.get("timeoutSeconds").is_some_and(|t| !t.is_null()));
            if !has_timeout {
                spec.insert(
                    "sessionAffinityConfig".into(),
                    json!({"clientIP": {"timeoutSeconds": 10800}}),
                );
            }
        }
        _ => {}
    }
    set_if_zero(spec, "type", json!("ClusterIP"));
    each_obj(spec, "ports", |p| {
        set_if_zero(p, "protocol", json!("TCP"));
        if p.get("targetPort").is_none_or(is_zero_target)
            && let Some(port) = p.get("port").cloned()
        {
            p.insert("targetPort".into(), port);
        }
    });
    let ty = str_of(spec, "type").to_string();
    let external_ips = ty == "ClusterIP" && !array_empty(spec, "externalIPs");
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") || external_ips {
        set_if_zero(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") {
        set_if_nil(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set_if_nil(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    if ty != "ExternalName" {
        set_if_nil(spec, "ipFamilyPolicy", json!("SingleStack"));
        set_if_zero(spec, "ipFamilies", json!(["IPv4"]));
    }
    let status = ensure_obj(o, "status");
    let lb = ensure_obj(status, "loadBalancer");
    if ty == "LoadBalancer" {
        each_obj(lb, "ingress", |i| {
            if !str_of(i, "ip").is_empty() {
                set_if_nil(i, "ipMode", json!("VIP"));
            }
        });
    }
}

fn is_zero_target(t: &Value) -> bool {
    match t {
        Value::Null => true,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `SetObjectDefaults_Secret`, and `stringData` folded into `data` (base64, overwriting
/// keys already there) as upstream's conversion does on every write.
pub(crate) fn secret(o: &mut Obj) {
    set_if_zero(o, "type", json!("Opaque"));
    if let Some(Value::Object(strings)) = o.remove("stringData") {
        use base64::Engine as _;
        let data = ensure_obj(o, "data");
        for (k, v) in strings {
            if let Value::String(v) = v {
                let encoded = base64::engine::general_purpose::STANDARD.encode(v.as_bytes());
                data.insert(k, Value::String(encoded));
            }
        }
    }
}

/// `SetObjectDefaults_Namespace`: the name label and the Active phase.
pub(crate) fn namespace(o: &mut Obj) {
    let meta = ensure_obj(o, "metadata");
    let name = str_of(meta, "name").to_string();
    if !name.is_empty() {
        ensure_obj(meta, "labels").insert("kubernetes.io/metadata.name".into(), json!(name));
    }
    set_if_nil(o, "spec", json!({}));
    set_if_zero(ensure_obj(o, "status"), "phase", json!("Active"));
}

/// `SetObjectDefaults_Node`: allocatable defaults to capacity.
pub(crate) fn node(o: &mut Obj) {
    set_if_nil(o, "spec", json!({}));
    let status = ensure_obj(o, "status");
    if status.get("allocatable").is_none_or(Value::is_null)
        && let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned()
    {
        status.insert("allocatable".into(), cap);
    }
    resource_list(status, "capacity");
    resource_list(status, "allocatable");
}

/// `SetObjectDefaults_PersistentVolume`.
pub(crate) fn persistent_volume(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_zero(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
    set_if_nil(spec, "volumeMode", json!("Filesystem"));
    resource_list(spec, "capacity");
    with_obj(spec, "hostPath", |h| set_if_nil(h, "type", json!("")));
    pod::legacy_sources(spec);
    set_if_zero(ensure_obj(o, "status"), "phase", json!("Pending"));
}

/// `SetObjectDefaults_PersistentVolumeClaim`.
pub(crate) fn persistent_volume_claim(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_nil(spec, "volumeMode", json!("Filesystem"));
    requirements(spec);
    let status = ensure_obj(o, "status");
    set_if_zero(status, "phase", json!("Pending"));
    resource_list(status, "capacity");
    resource_list(status, "allocatedResources");
}

/// `SetObjectDefaults_ResourceQuota`: canonical hard and used amounts.
pub(crate) fn resource_quota(o: &mut Obj) {
    with_obj(o, "spec", |s| resource_list(s, "hard"));
    with_obj(o, "status", |s| {
        resource_list(s, "hard");
        resource_list(s, "used");
    });
}

/// A claim embedded in a StatefulSet: claim defaults and a `null` creation time.
pub(crate) fn pvc_template(t: &mut Obj) {
    pod::template_metadata(t);
    persistent_volume_claim(t);
}

/// `SetObjectDefaults_Endpoints`.
pub(crate) fn endpoints(o: &mut Obj) {
    each_obj(o, "subsets", |s| {
        each_obj(s, "ports", |p| set_if_zero(p, "protocol", json!("TCP")))
    });
}

/// `SetObjectDefaults_ReplicationController`: selector and labels from the template.
pub(crate) fn replication_controller(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    set_if_nil(spec, "replicas", json!(1));
    let mut template_labels = None;
    if let Some(t) = get_obj(spec, "template") {
        pod::template(t);
        template_labels = path_obj(t, &["metadata"])
            .and_then(|m| m.get("labels"))
            .filter(|l| l.is_object())
            .cloned();
    }
    if let Some(labels) = template_labels {
        let empty_selector = spec
            .get("selector")
            .and_then(Value::as_object)
            .is_none_or(|m| m.is_empty());
        if empty_selector {
            spec.insert("selector".into(), labels.clone());
        }
        copy_labels_if_empty(o, Some(labels));
    }
    set_if_nil(o, "status", json!({"replicas": 0}));
}

/// `SetObjectDefaults_PodTemplate`.
pub(crate) fn pod_template(o: &mut Obj) {
    pod::template(ensure_obj(o, "template"));
}

/// `SetObjectDefaults_LimitRange`: container defaults from max, requests from defaults or min.
pub(crate) fn limit_range(o: &mut Obj) {
    let Some(spec) = get_obj(o, "spec") else {
        return;
    };
    each_obj(spec, "limits", |item| {
        if str_of(item, "type") != "Container" {
            return;
        }
        let max = item.get("max").and_then(Value::as_object).cloned();
        let min = item.get("min").and_then(Value::as_object).cloned();
        let default = ensure_obj(item, "default");
        for (k, v) in max.into_iter().flatten() {
            default.entry(k).or_insert(v);
        }
        let default = default.clone();
        let request = ensure_obj(item, "defaultRequest");
        for (k, v) in default.into_iter().chain(min.into_iter().flatten()) {
            request.entry(k).or_insert(v);
        }
        for key in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            resource_list(item, key);
        }
    });
}
