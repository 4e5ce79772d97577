//! Validation of containers: names, images, ports, env, mounts, probes and resources.

use std::collections::HashSet;

use rkube_api::{ErrorType, FieldError};
use serde_json::Value;

use crate::names::{is_config_map_key, is_dns1123_label, is_env_var_name, is_valid_port_name};
use crate::resources::validate_resources;
use crate::util::*;

/// Which list a container belongs to; the rules differ slightly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Regular,
    Init,
}

/// Validates `containers` or `initContainers`; `seen` carries names across both lists.
pub fn validate_containers(
    list: &[Value],
    kind: ContainerKind,
    volumes: &HashSet<String>,
    seen: &mut HashSet<String>,
    path: &str,
) -> Errs {
    let mut errs = Errs::new();
    if list.is_empty() && kind == ContainerKind::Regular {
        errs.push(required(path, ""));
    }
    for (i, c) in list.iter().enumerate() {
        let p = idx(path, i);
        errs.extend(validate_container_common(c, volumes, &p));
        let name = se(c, "name");
        if !seen.insert(name.to_string()) {
            errs.push(duplicate(at(&p, "name"), name));
        }
        match kind {
            ContainerKind::Regular => {
                for probe in ["livenessProbe", "startupProbe"] {
                    if let Some(t) = c.get(probe).and_then(|p| int(p, "successThreshold"))
                        && t != 1
                    {
                        errs.push(invalid_int(
                            at(&at(&p, probe), "successThreshold"),
                            t,
                            "must be 1",
                        ));
                    }
                }
                if has(c, "restartPolicy") {
                    errs.push(forbidden(
                        at(&p, "restartPolicy"),
                        "may not be set for non-init containers",
                    ));
                }
            }
            ContainerKind::Init => {
                let sidecar = s(c, "restartPolicy") == Some("Always");
                if let Some(rp) = s(c, "restartPolicy")
                    && rp != "Always"
                {
                    errs.push(not_supported(at(&p, "restartPolicy"), rp, &["Always"]));
                }
                if !sidecar {
                    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                        if has(c, probe) {
                            errs.push(forbidden(
                                at(&p, probe),
                                "may not be set for init containers without restartPolicy=Always",
                            ));
                        }
                    }
                    if has(c, "lifecycle") {
                        errs.push(forbidden(
                            at(&p, "lifecycle"),
                            "may not be set for init containers without restartPolicy=Always",
                        ));
                    }
                }
            }
        }
    }
    errs
}

fn validate_container_common(c: &Value, volumes: &HashSet<String>, p: &str) -> Errs {
    let mut errs = Errs::new();
    let name = se(c, "name");
    if name.is_empty() {
        errs.push(required(at(p, "name"), ""));
    } else {
        errs.extend(each(&at(p, "name"), name, is_dns1123_label(name)));
    }
    let image = se(c, "image");
    if image.is_empty() {
        errs.push(required(at(p, "image"), ""));
    } else if image.trim() != image {
        errs.push(invalid(
            at(p, "image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    if let Some(tmp) = s(c, "terminationMessagePolicy")
        && !matches!(tmp, "File" | "FallbackToLogsOnError")
    {
        errs.push(not_supported(
            at(p, "terminationMessagePolicy"),
            tmp,
            &["File", "FallbackToLogsOnError"],
        ));
    }
    if let Some(pp) = s(c, "imagePullPolicy")
        && !matches!(pp, "Always" | "IfNotPresent" | "Never")
    {
        errs.push(not_supported(
            at(p, "imagePullPolicy"),
            pp,
            &["Always", "IfNotPresent", "Never"],
        ));
    }
    errs.extend(validate_ports(arr(c, "ports"), &at(p, "ports")));
    errs.extend(validate_env(arr(c, "env"), &at(p, "env")));
    errs.extend(validate_env_from(arr(c, "envFrom"), &at(p, "envFrom")));
    errs.extend(validate_volume_mounts(
        arr(c, "volumeMounts"),
        volumes,
        &at(p, "volumeMounts"),
    ));
    errs.extend(validate_resources(get(c, "resources"), &at(p, "resources")));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(pr) = c.get(probe).filter(|v| !v.is_null()) {
            errs.extend(validate_probe(pr, &at(p, probe)));
        }
    }
    if let Some(lc) = c.get("lifecycle").filter(|v| !v.is_null()) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lc.get(hook).filter(|v| !v.is_null()) {
                errs.extend(validate_handler(h, &at(&at(p, "lifecycle"), hook), true));
            }
        }
    }
    errs
}

/// Validates container ports: names, numbers, protocols.
pub fn validate_ports(ports: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    let mut names = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = idx(path, i);
        let name = se(port, "name");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(each(&at(&p, "name"), name, msgs));
            } else if !names.insert(name) {
                errs.push(duplicate(at(&p, "name"), name));
            }
        }
        match int(port, "containerPort").unwrap_or(0) {
            0 => errs.push(required(at(&p, "containerPort"), "")),
            n if !(1..=65535).contains(&n) => {
                errs.push(invalid_int(at(&p, "containerPort"), n, range_msg(1, 65535)));
            }
            _ => {}
        }
        if let Some(h) = int(port, "hostPort")
            && h != 0
            && !(1..=65535).contains(&h)
        {
            errs.push(invalid_int(at(&p, "hostPort"), h, range_msg(1, 65535)));
        }
        if let Some(ip) = s(port, "hostIP")
            && !ip.is_empty()
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            errs.push(invalid(at(&p, "hostIP"), ip, "must be a valid IP address"));
        }
        errs.extend(validate_protocol(port, &p));
    }
    errs
}

/// Validates `protocol` of a port: required, one of SCTP, TCP, UDP.
pub fn validate_protocol(port: &Value, p: &str) -> Errs {
    match s(port, "protocol").unwrap_or("") {
        "" => vec![required(at(p, "protocol"), "")],
        "TCP" | "UDP" | "SCTP" => Vec::new(),
        other => vec![not_supported(
            at(p, "protocol"),
            other,
            &["SCTP", "TCP", "UDP"],
        )],
    }
}

fn validate_env(env: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    for (i, ev) in env.iter().enumerate() {
        let p = idx(path, i);
        let name = se(ev, "name");
        if name.is_empty() {
            errs.push(required(at(&p, "name"), ""));
        } else {
            errs.extend(each(&at(&p, "name"), name, is_env_var_name(name)));
        }
        let Some(from) = ev.get("valueFrom").filter(|v| !v.is_null()) else {
            continue;
        };
        let fp = at(&p, "valueFrom");
        let sources = [
            "fieldRef",
            "resourceFieldRef",
            "configMapKeyRef",
            "secretKeyRef",
        ];
        let n = sources.iter().filter(|k| has(from, k)).count();
        if n == 0 {
            errs.push(invalid(&fp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
        } else if !se(ev, "value").is_empty() {
            errs.push(invalid(
                &fp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(invalid(
                &fp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        for refkind in ["configMapKeyRef", "secretKeyRef"] {
            if let Some(r) = from.get(refkind).filter(|v| !v.is_null()) {
                let rp = at(&fp, refkind);
                let k = se(r, "key");
                if k.is_empty() {
                    errs.push(required(at(&rp, "key"), ""));
                } else {
                    errs.extend(each(&at(&rp, "key"), k, is_config_map_key(k)));
                }
                if se(r, "name").is_empty() {
                    errs.push(required(at(&rp, "name"), ""));
                }
            }
        }
        if let Some(r) = from.get("fieldRef").filter(|v| !v.is_null())
            && se(r, "fieldPath").is_empty()
        {
            errs.push(required(at(&at(&fp, "fieldRef"), "fieldPath"), ""));
        }
        if let Some(r) = from.get("resourceFieldRef").filter(|v| !v.is_null())
            && se(r, "resource").is_empty()
        {
            errs.push(required(at(&at(&fp, "resourceFieldRef"), "resource"), ""));
        }
    }
    errs
}

fn validate_env_from(list: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    for (i, ef) in list.iter().enumerate() {
        let p = idx(path, i);
        let n = ["configMapRef", "secretRef"]
            .iter()
            .filter(|k| has(ef, k))
            .count();
        if n == 0 {
            errs.push(invalid_raw(
                &p,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(invalid_raw(
                &p,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        for r in ["configMapRef", "secretRef"] {
            if let Some(v) = ef.get(r).filter(|v| !v.is_null())
                && se(v, "name").is_empty()
            {
                errs.push(required(at(&at(&p, r), "name"), ""));
            }
        }
    }
    errs
}

fn validate_volume_mounts(mounts: &[Value], volumes: &HashSet<String>, path: &str) -> Errs {
    let mut errs = Errs::new();
    let mut points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = idx(path, i);
        let name = se(m, "name");
        if name.is_empty() {
            errs.push(required(at(&p, "name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError {
                kind: ErrorType::NotFound,
                field: at(&p, "name"),
                value: Some(name.into()),
                detail: String::new(),
            });
        }
        let mp = se(m, "mountPath");
        if mp.is_empty() {
            errs.push(required(at(&p, "mountPath"), ""));
        }
        if !points.insert(mp) {
            errs.push(invalid(at(&p, "mountPath"), mp, "must be unique"));
        }
        let sub = se(m, "subPath");
        if !sub.is_empty() {
            errs.extend(validate_local_descending_path(sub, &at(&p, "subPath")));
        }
        if !se(m, "subPathExpr").is_empty() && !sub.is_empty() {
            errs.push(invalid(
                at(&p, "subPathExpr"),
                se(m, "subPathExpr"),
                "subPathExpr and subPath are mutually exclusive",
            ));
        }
        if let Some(mprop) = s(m, "mountPropagation")
            && !matches!(mprop, "None" | "HostToContainer" | "Bidirectional")
        {
            errs.push(not_supported(
                at(&p, "mountPropagation"),
                mprop,
                &["Bidirectional", "HostToContainer", "None"],
            ));
        }
    }
    errs
}

/// A relative path that does not climb out (`..`) of its root.
pub fn validate_local_descending_path(v: &str, path: &str) -> Errs {
    let mut errs = Errs::new();
    if v.starts_with('/') {
        errs.push(invalid(path, v, "must be a relative path"));
    }
    if v.split('/').any(|seg| seg == "..") {
        errs.push(invalid(path, v, "must not contain '..'"));
    }
    errs
}

fn validate_probe(probe: &Value, path: &str) -> Errs {
    let mut errs = validate_handler(probe, path, false);
    for f in [
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ] {
        nonneg(probe, f, path, &mut errs);
    }
    if let Some(t) = int(probe, "terminationGracePeriodSeconds")
        && t <= 0
    {
        errs.push(invalid_int(
            at(path, "terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    errs
}

/// Validates a probe or lifecycle handler: exactly one handler type.
fn validate_handler(h: &Value, path: &str, lifecycle: bool) -> Errs {
    let mut errs = Errs::new();
    let kinds: &[&str] = if lifecycle {
        &["exec", "httpGet", "tcpSocket", "sleep"]
    } else {
        &["exec", "httpGet", "tcpSocket", "grpc"]
    };
    let mut n = 0;
    for k in kinds {
        let Some(v) = h.get(*k).filter(|v| !v.is_null()) else {
            continue;
        };
        let p = at(path, k);
        if n > 0 {
            errs.push(forbidden(p, "may not specify more than 1 handler type"));
            continue;
        }
        n += 1;
        match *k {
            "exec" if arr(v, "command").is_empty() => errs.push(required(at(&p, "command"), "")),
            "httpGet" => {
                if se(v, "path").is_empty() {
                    errs.push(required(at(&p, "path"), ""));
                }
                errs.extend(validate_port_num_or_name(get(v, "port"), &at(&p, "port")));
                if let Some(sch) = s(v, "scheme")
                    && !matches!(sch, "HTTP" | "HTTPS")
                {
                    errs.push(not_supported(at(&p, "scheme"), sch, &["HTTP", "HTTPS"]));
                }
            }
            "tcpSocket" => errs.extend(validate_port_num_or_name(get(v, "port"), &at(&p, "port"))),
            "grpc" => {
                let port = int(v, "port").unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    errs.push(invalid_int(at(&p, "port"), port, range_msg(1, 65535)));
                }
            }
            "sleep" => {
                if let Some(sec) = int(v, "seconds")
                    && sec < 0
                {
                    errs.push(invalid_int(
                        at(&p, "seconds"),
                        sec,
                        "must be non-negative integer",
                    ));
                }
            }
            _ => {}
        }
    }
    if n == 0 {
        errs.push(required(path, "must specify a handler type"));
    }
    errs
}

/// Validates an int-or-string port: a number in range, or an IANA service name.
pub fn validate_port_num_or_name(port: &Value, path: &str) -> Errs {
    match port {
        Value::Number(n) => {
            let n = n.as_i64().unwrap_or(0);
            if (1..=65535).contains(&n) {
                Vec::new()
            } else {
                vec![invalid_int(path, n, range_msg(1, 65535))]
            }
        }
        Value::String(s) => each(path, s, is_valid_port_name(s)),
        _ => vec![invalid_raw(path, "0", range_msg(1, 65535))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(c: Value) -> Vec<String> {
        let vols = HashSet::from(["data".to_string()]);
        let mut seen = HashSet::new();
        validate_containers(
            &[c],
            ContainerKind::Regular,
            &vols,
            &mut seen,
            "spec.containers",
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn image_required_and_ports() {
        let e = run(
            json!({"name": "web", "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"},
            {"containerPort": 81, "protocol": "XTP", "name": "http"}]}),
        );
        assert_eq!(
            e,
            vec![
                "spec.containers[0].image: Required value",
                "spec.containers[0].ports[1].name: Duplicate value: \"http\"",
                "spec.containers[0].ports[1].protocol: Unsupported value: \"XTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
            ]
        );
    }

    #[test]
    fn resources_and_probes() {
        let e = run(json!({"name": "web", "image": "nginx",
            "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2", "memory": "abc"}},
            "readinessProbe": {"failureThreshold": -1},
            "volumeMounts": [{"name": "data", "mountPath": "/d"}]}));
        assert_eq!(
            e,
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
                "spec.containers[0].resources.requests[memory]: Invalid value: \"abc\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
                "spec.containers[0].readinessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
            ]
        );
    }

    #[test]
    fn env_and_mounts() {
        let e = run(
            json!({"name": "web", "image": "nginx", "env": [{"name": ""}, {"name": "A", "valueFrom": {}}],
            "volumeMounts": [{"name": "nope", "mountPath": "/d"}]}),
        );
        let fields: Vec<&str> = e
            .iter()
            .map(|s| s.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            fields,
            vec![
                "spec.containers[0].env[0].name",
                "spec.containers[0].env[1].valueFrom",
                "spec.containers[0].volumeMounts[0].name",
            ]
        );
    }
}
