//! Validation of scheduling constraints: tolerations, affinity and topology spread.

use serde_json::Value;

use crate::names::{is_qualified_name, is_valid_label_value};
use crate::selector::validate_label_selector;
use crate::util::*;

/// Validates `tolerations`.
pub fn validate_tolerations(list: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    for (i, t) in list.iter().enumerate() {
        let p = idx(path, i);
        let k = se(t, "key");
        let op = se(t, "operator");
        let effect = se(t, "effect");
        if !k.is_empty() {
            errs.extend(each(&at(&p, "key"), k, is_qualified_name(k)));
        }
        if k.is_empty() && op != "Exists" {
            errs.push(invalid(
                at(&p, "operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if has(t, "tolerationSeconds") && effect != "NoExecute" {
            errs.push(invalid(
                at(&p, "effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = se(t, "value");
        match op {
            "" | "Equal" => {
                let msgs = is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(invalid(at(&p, "operator"), value, msgs.join(";")));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(invalid_val(
                        at(&p, "operator"),
                        t,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(not_supported(
                at(&p, "operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(not_supported(
                at(&p, "effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

/// Validates `affinity` (node, pod and pod anti-affinity).
pub fn validate_affinity(aff: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    if let Some(na) = aff.get("nodeAffinity").filter(|v| !v.is_null()) {
        let np = at(path, "nodeAffinity");
        if let Some(req) = na
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .filter(|v| !v.is_null())
        {
            let rp = at(&np, "requiredDuringSchedulingIgnoredDuringExecution");
            errs.extend(validate_node_selector(req, &rp));
        }
        for (i, term) in arr(na, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let tp = idx(
                &at(&np, "preferredDuringSchedulingIgnoredDuringExecution"),
                i,
            );
            errs.extend(validate_weight(term, &tp));
            errs.extend(validate_node_selector_term(
                get(term, "preference"),
                &at(&tp, "preference"),
            ));
        }
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        let Some(pa) = aff.get(kind).filter(|v| !v.is_null()) else {
            continue;
        };
        let kp = at(path, kind);
        for (i, term) in arr(pa, "requiredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let tp = idx(
                &at(&kp, "requiredDuringSchedulingIgnoredDuringExecution"),
                i,
            );
            errs.extend(validate_pod_affinity_term(term, &tp));
        }
        for (i, term) in arr(pa, "preferredDuringSchedulingIgnoredDuringExecution")
            .iter()
            .enumerate()
        {
            let tp = idx(
                &at(&kp, "preferredDuringSchedulingIgnoredDuringExecution"),
                i,
            );
            errs.extend(validate_weight(term, &tp));
            errs.extend(validate_pod_affinity_term(
                get(term, "podAffinityTerm"),
                &at(&tp, "podAffinityTerm"),
            ));
        }
    }
    errs
}

fn validate_weight(term: &Value, tp: &str) -> Errs {
    let w = int(term, "weight").unwrap_or(0);
    if (1..=100).contains(&w) {
        Vec::new()
    } else {
        vec![invalid_int(
            at(tp, "weight"),
            w,
            "must be in the range 1-100",
        )]
    }
}

fn validate_pod_affinity_term(term: &Value, tp: &str) -> Errs {
    let mut errs = Errs::new();
    if let Some(sel) = term.get("labelSelector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(sel, &at(tp, "labelSelector")));
    }
    if let Some(sel) = term.get("namespaceSelector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(sel, &at(tp, "namespaceSelector")));
    }
    let topo = se(term, "topologyKey");
    if topo.is_empty() {
        errs.push(required(at(tp, "topologyKey"), "can not be empty"));
    } else {
        errs.extend(each(&at(tp, "topologyKey"), topo, is_qualified_name(topo)));
    }
    errs
}

/// Validates a `NodeSelector` (at least one term).
pub fn validate_node_selector(sel: &Value, path: &str) -> Errs {
    let terms = arr(sel, "nodeSelectorTerms");
    let tp = at(path, "nodeSelectorTerms");
    if terms.is_empty() {
        return vec![required(tp, "must have at least one node selector term")];
    }
    terms
        .iter()
        .enumerate()
        .flat_map(|(i, t)| validate_node_selector_term(t, &idx(&tp, i)))
        .collect()
}

fn validate_node_selector_term(term: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    for (field, is_label) in [("matchExpressions", true), ("matchFields", false)] {
        for (i, req) in arr(term, field).iter().enumerate() {
            let p = idx(&at(path, field), i);
            let values = arr(req, "values");
            let op = se(req, "operator");
            match op {
                "In" | "NotIn" if values.is_empty() => errs.push(required(
                    at(&p, "values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                )),
                "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(forbidden(
                    at(&p, "values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                )),
                "Gt" | "Lt" if values.len() != 1 => errs.push(required(
                    at(&p, "values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                )),
                "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
                _ => errs.push(invalid(
                    at(&p, "operator"),
                    op,
                    "not a valid selector operator",
                )),
            }
            let k = se(req, "key");
            if is_label {
                errs.extend(each(&at(&p, "key"), k, is_qualified_name(k)));
            } else if k != "metadata.name" {
                errs.push(invalid(at(&p, "key"), k, "not a valid field selector key"));
            }
        }
    }
    errs
}

/// Validates `topologySpreadConstraints`.
pub fn validate_topology_spread(list: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    for (i, c) in list.iter().enumerate() {
        let p = idx(path, i);
        let skew = int(c, "maxSkew").unwrap_or(0);
        if skew <= 0 {
            errs.push(invalid_int(
                at(&p, "maxSkew"),
                skew,
                "must be greater than zero",
            ));
        }
        let topo = se(c, "topologyKey");
        if topo.is_empty() {
            errs.push(required(at(&p, "topologyKey"), "can not be empty"));
        } else {
            errs.extend(each(&at(&p, "topologyKey"), topo, is_qualified_name(topo)));
        }
        let w = se(c, "whenUnsatisfiable");
        if !matches!(w, "DoNotSchedule" | "ScheduleAnyway") {
            errs.push(not_supported(
                at(&p, "whenUnsatisfiable"),
                w,
                &["DoNotSchedule", "ScheduleAnyway"],
            ));
        }
        if let Some(sel) = c.get("labelSelector").filter(|v| !v.is_null()) {
            errs.extend(validate_label_selector(sel, &at(&p, "labelSelector")));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerations() {
        let t = json!([{"key": "", "operator": "Equal"}, {"key": "k", "operator": "Foo", "effect": "Bad"},
            {"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 5}]);
        let e: Vec<String> = validate_tolerations(t.as_array().unwrap(), "spec.tolerations")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].operator: Unsupported value: \"Foo\": supported values: \"Equal\", \"Exists\"",
                "spec.tolerations[1].effect: Unsupported value: \"Bad\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
                "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
            ]
        );
    }

    #[test]
    fn affinity() {
        let a = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}},
            "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 0, "podAffinityTerm": {}}]}});
        let e: Vec<String> = validate_affinity(&a, "spec.affinity")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value: must have at least one node selector term",
                "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0: must be in the range 1-100",
                "spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey: Required value: can not be empty",
            ]
        );
    }
}
