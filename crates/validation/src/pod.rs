//! Validation of Pods, pod specs and pod templates.

use std::collections::HashSet;

use serde_json::Value;

use crate::container::{ContainerKind, validate_containers};
use crate::meta::{validate_annotations, validate_labels};
use crate::names::{is_dns1123_label, is_dns1123_subdomain, is_qualified_name};
use crate::scheduling::{validate_affinity, validate_tolerations, validate_topology_spread};
use crate::util::*;
use crate::volume::validate_volumes;

const MAX_INT32: i64 = i32::MAX as i64;

/// Validates a `PodSpec` at `path`.
pub fn validate_pod_spec(spec: &Value, path: &str) -> Errs {
    let (mut errs, vols) = validate_volumes(arr(spec, "volumes"), &at(path, "volumes"));
    let mut seen = HashSet::new();
    errs.extend(validate_containers(
        arr(spec, "containers"),
        ContainerKind::Regular,
        &vols,
        &mut seen,
        &at(path, "containers"),
    ));
    errs.extend(validate_containers(
        arr(spec, "initContainers"),
        ContainerKind::Init,
        &vols,
        &mut seen,
        &at(path, "initContainers"),
    ));
    errs.extend(validate_host_network(spec, path));
    errs.extend(validate_host_port_conflicts(
        arr(spec, "containers"),
        &at(path, "containers"),
    ));
    match se(spec, "restartPolicy") {
        "" => errs.push(required(at(path, "restartPolicy"), "")),
        "Always" | "OnFailure" | "Never" => {}
        rp => errs.push(not_supported(
            at(path, "restartPolicy"),
            rp,
            &["Always", "OnFailure", "Never"],
        )),
    }
    errs.extend(validate_dns(spec, path));
    errs.extend(validate_labels(
        get(spec, "nodeSelector"),
        &at(path, "nodeSelector"),
    ));
    for (f, check) in [
        (
            "serviceAccountName",
            is_dns1123_subdomain as fn(&str) -> Vec<String>,
        ),
        ("nodeName", is_dns1123_subdomain),
        ("priorityClassName", is_dns1123_subdomain),
        ("runtimeClassName", is_dns1123_subdomain),
        ("hostname", is_dns1123_label),
        ("subdomain", is_dns1123_label),
    ] {
        let v = se(spec, f);
        if !v.is_empty() {
            errs.extend(each(&at(path, f), v, check(v)));
        }
    }
    if let Some(ads) = int(spec, "activeDeadlineSeconds")
        && !(1..=MAX_INT32).contains(&ads)
    {
        errs.push(invalid_int(
            at(path, "activeDeadlineSeconds"),
            ads,
            range_msg(1, MAX_INT32),
        ));
    }
    errs.extend(validate_tolerations(
        arr(spec, "tolerations"),
        &at(path, "tolerations"),
    ));
    if let Some(aff) = spec.get("affinity").filter(|v| !v.is_null()) {
        errs.extend(validate_affinity(aff, &at(path, "affinity")));
    }
    errs.extend(validate_topology_spread(
        arr(spec, "topologySpreadConstraints"),
        &at(path, "topologySpreadConstraints"),
    ));
    for (i, g) in arr(spec, "readinessGates").iter().enumerate() {
        let ct = se(g, "conditionType");
        errs.extend(each(
            &at(&idx(&at(path, "readinessGates"), i), "conditionType"),
            ct,
            is_qualified_name(ct),
        ));
    }
    for (i, g) in arr(spec, "schedulingGates").iter().enumerate() {
        let n = se(g, "name");
        errs.extend(each(
            &idx(&at(path, "schedulingGates"), i),
            n,
            is_qualified_name(n),
        ));
    }
    for (i, ps) in arr(spec, "imagePullSecrets").iter().enumerate() {
        if se(ps, "name").is_empty() {
            errs.push(required(
                at(&idx(&at(path, "imagePullSecrets"), i), "name"),
                "",
            ));
        }
    }
    for (i, alias) in arr(spec, "hostAliases").iter().enumerate() {
        let ip = se(alias, "ip");
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(invalid(
                at(&idx(&at(path, "hostAliases"), i), "ip"),
                ip,
                "must be a valid IP address",
            ));
        }
    }
    errs.extend(validate_security_context(
        get(spec, "securityContext"),
        &at(path, "securityContext"),
    ));
    errs
}

fn validate_dns(spec: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    let policy = se(spec, "dnsPolicy");
    match policy {
        "" => errs.push(required(at(path, "dnsPolicy"), "")),
        "ClusterFirstWithHostNet" | "ClusterFirst" | "Default" | "None" => {}
        other => errs.push(not_supported(
            at(path, "dnsPolicy"),
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    let cfg = get(spec, "dnsConfig");
    let cp = at(path, "dnsConfig");
    if policy == "None" {
        if cfg.is_null() {
            errs.push(required(
                &cp,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
        } else if arr(cfg, "nameservers").is_empty() {
            errs.push(required(
                at(&cp, "nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
        }
    }
    let ns = arr(cfg, "nameservers");
    if ns.len() > 3 {
        errs.push(invalid_val(
            at(&cp, "nameservers"),
            get(cfg, "nameservers"),
            "must not have more than 3 nameservers",
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        let n = n.as_str().unwrap_or("");
        if n.parse::<std::net::IpAddr>().is_err() {
            errs.push(invalid(
                idx(&at(&cp, "nameservers"), i),
                n,
                "must be a valid IP address",
            ));
        }
    }
    if arr(cfg, "searches").len() > 32 {
        errs.push(invalid_val(
            at(&cp, "searches"),
            get(cfg, "searches"),
            "must not have more than 32 search paths",
        ));
    }
    errs
}

fn validate_host_network(spec: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    if !flag(spec, "hostNetwork") {
        return errs;
    }
    for list in ["containers", "initContainers"] {
        for (i, c) in arr(spec, list).iter().enumerate() {
            for (j, port) in arr(c, "ports").iter().enumerate() {
                let hp = int(port, "hostPort").unwrap_or(0);
                let cp = int(port, "containerPort").unwrap_or(0);
                if hp != 0 && hp != cp {
                    let p = idx(&at(&idx(&at(path, list), i), "ports"), j);
                    errs.push(invalid_int(
                        at(&p, "hostPort"),
                        hp,
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    errs
}

fn validate_host_port_conflicts(containers: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    let mut seen = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        for (j, port) in arr(c, "ports").iter().enumerate() {
            let hp = int(port, "hostPort").unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let k = format!("{}/{}/{hp}", se(port, "hostIP"), se(port, "protocol"));
            if !seen.insert(k.clone()) {
                let p = idx(&at(&idx(path, i), "ports"), j);
                errs.push(duplicate(at(&p, "hostPort"), &k));
            }
        }
    }
    errs
}

fn validate_security_context(sc: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    for f in ["runAsUser", "runAsGroup", "fsGroup"] {
        if let Some(id) = int(sc, f)
            && !(0..=MAX_INT32).contains(&id)
        {
            errs.push(invalid_int(at(path, f), id, range_msg(0, MAX_INT32)));
        }
    }
    errs
}

/// Validates a `PodTemplateSpec` at `path` (labels are checked at `path.labels`, as upstream).
pub fn validate_pod_template_spec(tpl: &Value, path: &str) -> Errs {
    let meta = get(tpl, "metadata");
    let mut errs = validate_labels(get(meta, "labels"), &at(path, "labels"));
    errs.extend(validate_annotations(
        get(meta, "annotations"),
        &at(path, "annotations"),
    ));
    let spec = get(tpl, "spec");
    errs.extend(validate_pod_spec(spec, &at(path, "spec")));
    if !arr(spec, "ephemeralContainers").is_empty() {
        errs.push(forbidden(
            at(&at(path, "spec"), "ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Validates a Pod; on update also the rules of what may change.
pub fn validate_pod(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = validate_pod_spec(spec, "spec");
    match old {
        None => {
            if !arr(spec, "ephemeralContainers").is_empty() {
                errs.push(forbidden(
                    "spec.ephemeralContainers",
                    "cannot be set on create",
                ));
            }
        }
        Some(old) => errs.extend(crate::pod_update::validate_pod_update(obj, old)),
    }
    errs
}

/// Validates a PodTemplate object.
pub fn validate_pod_template(obj: &Value, _old: Option<&Value>) -> Errs {
    validate_pod_template_spec(get(obj, "template"), "template")
}

/// Validates a Binding (the pods/binding subresource body).
pub fn validate_binding(obj: &Value) -> Errs {
    let mut errs = Errs::new();
    let target = get(obj, "target");
    let kind = se(target, "kind");
    if !kind.is_empty() && kind != "Node" {
        errs.push(not_supported("target.kind", kind, &["Node", "<empty>"]));
    }
    if se(target, "name").is_empty() {
        errs.push(required("target.name", ""));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(e: Errs) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn valid_pod() {
        let p = pod(
            json!({"containers": [{"name": "web", "image": "nginx", "terminationMessagePolicy": "File",
            "imagePullPolicy": "Always", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
            "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}),
        );
        assert_eq!(msgs(validate_pod(&p, None)), Vec::<String>::new());
    }

    #[test]
    fn duplicate_names_and_policies() {
        let p = pod(
            json!({"containers": [{"name": "web", "image": "a"}, {"name": "web", "image": "b"}],
            "initContainers": [{"name": "web", "image": "c"}],
            "restartPolicy": "Sometimes", "dnsPolicy": "ClusterFirst"}),
        );
        assert_eq!(
            msgs(validate_pod(&p, None)),
            vec![
                "spec.containers[1].name: Duplicate value: \"web\"",
                "spec.initContainers[0].name: Duplicate value: \"web\"",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ]
        );
    }

    #[test]
    fn no_containers_and_host_network() {
        let p = pod(json!({"restartPolicy": "Always", "dnsPolicy": "ClusterFirst"}));
        assert_eq!(
            msgs(validate_pod(&p, None)),
            vec!["spec.containers: Required value"]
        );
        let p = pod(
            json!({"hostNetwork": true, "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "containers": [{"name": "a", "image": "a", "ports": [{"containerPort": 80, "hostPort": 81, "protocol": "TCP"}]}]}),
        );
        assert_eq!(
            msgs(validate_pod(&p, None)),
            vec![
                "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
            ]
        );
    }

    #[test]
    fn template_labels_path() {
        let t = json!({"metadata": {"labels": {"a": "-"}}, "spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "containers": [{"name": "a", "image": "a"}]}});
        let e = validate_pod_template_spec(&t, "spec.template");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "spec.template.labels");
    }
}
