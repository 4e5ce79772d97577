//! Validation of Namespaces, Nodes, Events and Leases.

use std::collections::HashSet;

use serde_json::Value;

use crate::names::{is_qualified_name, is_valid_label_value};
use crate::util::*;

/// Validates a Namespace (its finalizers).
pub fn validate_namespace(obj: &Value, _old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    for f in arr(get(obj, "spec"), "finalizers") {
        let f = f.as_str().unwrap_or("");
        let msgs = is_qualified_name(f);
        if !msgs.is_empty() {
            errs.extend(each("spec.finalizers", f, msgs));
        } else if !f.contains('/') && f != "kubernetes" {
            errs.push(invalid(
                "spec.finalizers",
                f,
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

fn is_cidr(s: &str) -> bool {
    s.split_once('/').is_some_and(|(ip, bits)| {
        let max = match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(_)) => 32,
            Ok(std::net::IpAddr::V6(_)) => 128,
            Err(_) => return false,
        };
        bits.parse::<u8>().is_ok_and(|b| b <= max)
    })
}

/// Validates a Node: pod CIDRs and taints.
pub fn validate_node(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    for (i, c) in arr(spec, "podCIDRs").iter().enumerate() {
        let c = c.as_str().unwrap_or("");
        if !is_cidr(c) {
            errs.push(invalid(idx("spec.podCIDRs", i), c, "must be a valid CIDR"));
        }
    }
    let mut seen = HashSet::new();
    for (i, t) in arr(spec, "taints").iter().enumerate() {
        let tp = idx("spec.taints", i);
        let k = se(t, "key");
        if k.is_empty() {
            errs.push(required(at(&tp, "key"), ""));
        } else {
            errs.extend(each(&at(&tp, "key"), k, is_qualified_name(k)));
        }
        let v = se(t, "value");
        errs.extend(each(&at(&tp, "value"), v, is_valid_label_value(v)));
        let effect = se(t, "effect");
        match effect {
            "" => errs.push(required(at(&tp, "effect"), "")),
            "NoSchedule" | "PreferNoSchedule" | "NoExecute" => {}
            other => errs.push(not_supported(
                at(&tp, "effect"),
                other,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            )),
        }
        if !seen.insert((k, effect)) {
            errs.push(duplicate_raw(
                "spec.taints",
                format!(
                    "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}",
                    quote(k),
                    quote(v),
                    quote(effect)
                ),
            ));
        }
    }
    if let Some(old) = old {
        let os = get(old, "spec");
        let old_cidrs = arr(os, "podCIDRs");
        if !old_cidrs.is_empty() && arr(spec, "podCIDRs") != old_cidrs {
            errs.push(forbidden(
                "spec.podCIDRs",
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        let old_pid = se(os, "providerID");
        if !old_pid.is_empty() && se(spec, "providerID") != old_pid {
            errs.push(forbidden(
                "spec.providerID",
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
    }
    errs
}

/// Validates an Event (core/v1 or events.k8s.io/v1; both shapes are accepted).
pub fn validate_event(obj: &Value, _old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    let ns = se(get(obj, "metadata"), "namespace");
    let (field, target) = if has(obj, "regarding") {
        ("regarding", get(obj, "regarding"))
    } else {
        ("involvedObject", get(obj, "involvedObject"))
    };
    let target_ns = se(target, "namespace");
    if !target_ns.is_empty() && target_ns != ns {
        errs.push(invalid(
            at(field, "namespace"),
            target_ns,
            "does not match event.namespace",
        ));
    }
    if let Some(t) = s(obj, "type")
        && !t.is_empty()
        && !matches!(t, "Normal" | "Warning")
    {
        errs.push(not_supported("type", t, &["Normal", "Warning"]));
    }
    for (f, max) in [("reason", 128), ("action", 128), ("note", 1024)] {
        let v = se(obj, f);
        if v.len() > max {
            errs.push(rkube_api::FieldError::too_long(f, max));
        }
    }
    errs
}

/// Validates a Lease.
pub fn validate_lease(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    if let Some(d) = int(spec, "leaseDurationSeconds")
        && d <= 0
    {
        errs.push(invalid_int(
            "spec.leaseDurationSeconds",
            d,
            "must be greater than 0",
        ));
    }
    nonneg(spec, "leaseTransitions", "spec", &mut errs);
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_taints() {
        let n = json!({"spec": {"taints": [{"key": "k", "effect": "Bad"}, {"key": "", "effect": "NoSchedule"}]}});
        let e: Vec<String> = validate_node(&n, None)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.taints[0].effect: Unsupported value: \"Bad\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                "spec.taints[1].key: Required value",
            ]
        );
    }

    #[test]
    fn events_and_leases() {
        let ev = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "b"}});
        assert_eq!(
            validate_event(&ev, None)[0].to_string(),
            "involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"
        );
        assert_eq!(
            validate_lease(&json!({"spec": {"leaseDurationSeconds": 0}}), None).len(),
            1
        );
        assert!(
            validate_namespace(&json!({"spec": {"finalizers": ["kubernetes"]}}), None).is_empty()
        );
    }
}
