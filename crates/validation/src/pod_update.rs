//! Rules for updating a Pod: which spec fields may change, and status checks.

use serde_json::{Map, Value};

use crate::util::*;

const MAX_INT32: i64 = i32::MAX as i64;

/// Upstream's list of the pod spec fields an update may change.
pub const UPDATABLE_FIELDS: &str = "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Checks that a pod update changes only what may change.
pub fn validate_pod_update(new: &Value, old: &Value) -> Errs {
    let mut errs = Errs::new();
    let (ns, os) = (get(new, "spec"), get(old, "spec"));
    // activeDeadlineSeconds may only be set or decreased.
    match (
        int(ns, "activeDeadlineSeconds"),
        int(os, "activeDeadlineSeconds"),
    ) {
        (Some(n), _) if !(0..=MAX_INT32).contains(&n) => {
            errs.push(invalid_int(
                "spec.activeDeadlineSeconds",
                n,
                range_msg(0, MAX_INT32),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(invalid_int(
                "spec.activeDeadlineSeconds",
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(invalid_raw(
            "spec.activeDeadlineSeconds",
            "null",
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let new_tol = arr(ns, "tolerations");
    for t in arr(os, "tolerations") {
        let kept = new_tol.iter().any(|n| same_toleration(n, t));
        if !kept {
            errs.push(forbidden(
                "spec.tolerations",
                "existing toleration can not be modified except its tolerationSeconds",
            ));
            break;
        }
    }
    let new_gates = arr(ns, "schedulingGates");
    if new_gates
        .iter()
        .any(|g| !arr(os, "schedulingGates").contains(g))
    {
        errs.push(forbidden(
            "spec.schedulingGates",
            "only deletion is allowed, but found new scheduling gate",
        ));
    }
    let munged = munge(ns, os);
    if &munged != os {
        let mut diff = Vec::new();
        diff_values("spec", os, &munged, &mut diff);
        errs.push(forbidden(
            "spec",
            format!(
                "pod updates may not change fields other than {UPDATABLE_FIELDS}\n{}",
                diff.join("\n")
            ),
        ));
    }
    errs
}

fn same_toleration(a: &Value, b: &Value) -> bool {
    ["key", "operator", "value", "effect"]
        .iter()
        .all(|f| get(a, f) == get(b, f))
}

/// The new spec with every field that may change copied from the old one.
fn munge(new: &Value, old: &Value) -> Value {
    let mut m = new.as_object().cloned().unwrap_or_default();
    for list in ["containers", "initContainers"] {
        if let (Some(Value::Array(nc)), Some(oc)) =
            (m.get_mut(list), old.get(list).and_then(Value::as_array))
            && nc.len() == oc.len()
        {
            for (n, o) in nc.iter_mut().zip(oc) {
                if let (Some(n), Some(img)) = (n.as_object_mut(), o.get("image")) {
                    n.insert("image".into(), img.clone());
                }
            }
        }
    }
    copy_field(&mut m, old, "activeDeadlineSeconds");
    copy_field(&mut m, old, "tolerations");
    copy_field(&mut m, old, "schedulingGates");
    let tgps = |v: &Value| int(v, "terminationGracePeriodSeconds");
    if tgps(old).is_some_and(|o| o < 0) && tgps(new) == Some(1) {
        copy_field(&mut m, old, "terminationGracePeriodSeconds");
    }
    // Gated pods may gain node selectors and affinity terms; treat those as allowed.
    if !arr(old, "schedulingGates").is_empty() {
        copy_field(&mut m, old, "nodeSelector");
        copy_field(&mut m, old, "affinity");
    }
    Value::Object(m)
}

fn copy_field(m: &mut Map<String, Value>, old: &Value, name: &str) {
    match old.get(name) {
        Some(v) => {
            m.insert(name.into(), v.clone());
        }
        None => {
            m.remove(name);
        }
    }
}

/// Lists the paths where two values differ, upstream-diff style (`-` old, `+` new).
fn diff_values(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                diff_values(&at(path, k), get(old, k), get(new, k), out);
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (i, (a, b)) in o.iter().zip(n).enumerate() {
                diff_values(&idx(path, i), a, b, out);
            }
        }
        (a, b) if a != b => {
            out.push(format!("  - {path}: {a}"));
            out.push(format!("  + {path}: {b}"));
        }
        _ => {}
    }
}

/// Light checks of a pod status write: IPs parse and are not repeated.
pub fn validate_pod_status(new: &Value, _old: &Value) -> Errs {
    let mut errs = Errs::new();
    let status = get(new, "status");
    for (list, field) in [("podIPs", "ip"), ("hostIPs", "ip")] {
        let mut seen = Vec::new();
        for (i, entry) in arr(status, list).iter().enumerate() {
            let ip = se(entry, field);
            let p = at(&idx(&at("status", list), i), field);
            if ip.parse::<std::net::IpAddr>().is_err() {
                errs.push(invalid(&p, ip, "must be a valid IP address"));
            } else if seen.contains(&ip) {
                errs.push(duplicate(&p, ip));
            }
            seen.push(ip);
        }
    }
    for list in ["containerStatuses", "initContainerStatuses"] {
        for (i, cs) in arr(status, list).iter().enumerate() {
            nonneg(cs, "restartCount", &idx(&at("status", list), i), &mut errs);
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(image: &str, port: i64) -> Value {
        json!({"spec": {"containers": [{"name": "c", "image": image, "ports": [{"containerPort": port}]}],
            "tolerations": [{"key": "k", "operator": "Exists"}]}})
    }

    #[test]
    fn image_change_allowed() {
        assert!(validate_pod_update(&pod("b", 80), &pod("a", 80)).is_empty());
    }

    #[test]
    fn port_change_forbidden() {
        let e = validate_pod_update(&pod("a", 81), &pod("a", 80));
        assert_eq!(e.len(), 1);
        let msg = e[0].to_string();
        assert!(msg.starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"));
        assert!(msg.contains("spec.containers[0].ports[0].containerPort: 80"));
    }

    #[test]
    fn tolerations_and_deadline() {
        let mut new = pod("a", 80);
        new["spec"]["tolerations"] =
            json!([{"key": "k", "operator": "Exists"}, {"key": "x", "operator": "Exists"}]);
        assert!(validate_pod_update(&new, &pod("a", 80)).is_empty());
        new["spec"]["tolerations"] = json!([]);
        let e = validate_pod_update(&new, &pod("a", 80));
        assert_eq!(
            e[0].to_string(),
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        );
        let mut old = pod("a", 80);
        old["spec"]["activeDeadlineSeconds"] = json!(10);
        let mut new = old.clone();
        new["spec"]["activeDeadlineSeconds"] = json!(20);
        assert_eq!(
            validate_pod_update(&new, &old)[0].to_string(),
            "spec.activeDeadlineSeconds: Invalid value: 20: must be less than or equal to previous value"
        );
        new["spec"]["activeDeadlineSeconds"] = json!(5);
        assert!(validate_pod_update(&new, &old).is_empty());
    }
}
