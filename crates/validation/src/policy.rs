//! Validation of PDBs, PriorityClasses, HPAs, LimitRanges and ResourceQuotas.

use serde_json::Value;

use crate::names::{is_qualified_name, is_valid_path_segment_name, is_valid_percent};
use crate::quantity;
use crate::resources::validate_quantity;
use crate::selector::validate_label_selector;
use crate::util::*;

/// Validates an int-or-percent that must be non-negative and at most 100%.
fn validate_int_or_percent(v: &Value, path: &str) -> Errs {
    match v {
        Value::Null => Vec::new(),
        Value::String(s) => {
            let msgs = is_valid_percent(s);
            if !msgs.is_empty() {
                return msgs
                    .into_iter()
                    .map(|m| invalid_raw(path, s.clone(), m))
                    .collect();
            }
            match s.trim_end_matches('%').parse::<i64>() {
                Ok(n) if n > 100 => vec![invalid_raw(
                    path,
                    s.clone(),
                    "must not be greater than 100%",
                )],
                _ => Vec::new(),
            }
        }
        Value::Number(n) => match n.as_i64() {
            Some(n) if n < 0 => vec![invalid_int(path, n, "must be greater than or equal to 0")],
            _ => Vec::new(),
        },
        other => vec![invalid_val(
            path,
            other,
            "must be an integer or percentage (e.g '5%')",
        )],
    }
}

/// Validates a PodDisruptionBudget.
pub fn validate_pdb(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    if has(spec, "minAvailable") && has(spec, "maxUnavailable") {
        errs.push(invalid_raw(
            "spec",
            spec.to_string(),
            "minAvailable and maxUnavailable cannot be both set",
        ));
    }
    errs.extend(validate_int_or_percent(
        get(spec, "minAvailable"),
        "spec.minAvailable",
    ));
    errs.extend(validate_int_or_percent(
        get(spec, "maxUnavailable"),
        "spec.maxUnavailable",
    ));
    if let Some(sel) = spec.get("selector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(sel, "spec.selector"));
    }
    if let Some(p) = s(spec, "unhealthyPodEvictionPolicy")
        && !matches!(p, "IfHealthyBudget" | "AlwaysAllow")
    {
        errs.push(not_supported(
            "spec.unhealthyPodEvictionPolicy",
            p,
            &["AlwaysAllow", "IfHealthyBudget"],
        ));
    }
    errs
}

const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

/// Validates a PriorityClass.
pub fn validate_priority_class(obj: &Value, old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    let name = se(get(obj, "metadata"), "name");
    let value = int(obj, "value").unwrap_or(0);
    if name.starts_with("system-") {
        let known = match name {
            "system-node-critical" => Some(2_000_001_000),
            "system-cluster-critical" => Some(2_000_000_000),
            _ => None,
        };
        let problem = match known {
            None => Some(format!("{name} is not a known system priority class")),
            Some(v) if v != value => Some(format!("value of {name} PriorityClass must be {v}")),
            Some(_) if flag(obj, "globalDefault") => Some(format!(
                "globalDefault of {name} PriorityClass must be false"
            )),
            Some(_) => None,
        };
        if let Some(p) = problem {
            errs.push(forbidden(
                "metadata.name",
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {p}"),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        errs.push(forbidden(
            "value",
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    if let Some(p) = s(obj, "preemptionPolicy")
        && !matches!(p, "PreemptLowerPriority" | "Never")
    {
        errs.push(not_supported(
            "preemptionPolicy",
            p,
            &["Never", "PreemptLowerPriority"],
        ));
    }
    if let Some(old) = old {
        if int(old, "value") != int(obj, "value") {
            errs.push(forbidden("value", "may not be changed in an update."));
        }
        immutable(obj, old, "preemptionPolicy", "", &mut errs);
    }
    errs
}

/// Validates a HorizontalPodAutoscaler (autoscaling/v1 and v2 shapes).
pub fn validate_hpa(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    let min = int(spec, "minReplicas");
    let max = int(spec, "maxReplicas").unwrap_or(0);
    if let Some(m) = min
        && m < 1
    {
        errs.push(invalid_int(
            "spec.minReplicas",
            m,
            "must be greater than or equal to 1",
        ));
    }
    if max < 1 {
        errs.push(invalid_int(
            "spec.maxReplicas",
            max,
            "must be greater than 0",
        ));
    }
    if let Some(m) = min
        && max < m
    {
        errs.push(invalid_int(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    let target = get(spec, "scaleTargetRef");
    for f in ["kind", "name"] {
        let v = se(target, f);
        let p = at("spec.scaleTargetRef", f);
        if v.is_empty() {
            errs.push(required(p, ""));
        } else {
            errs.extend(each(&p, v, is_valid_path_segment_name(v)));
        }
    }
    if let Some(t) = int(spec, "targetCPUUtilizationPercentage")
        && t < 1
    {
        errs.push(invalid_int(
            "spec.targetCPUUtilizationPercentage",
            t,
            "must be greater than 0",
        ));
    }
    for (i, m) in arr(spec, "metrics").iter().enumerate() {
        let mp = idx("spec.metrics", i);
        let ty = se(m, "type");
        let key = match ty {
            "Object" => "object",
            "Pods" => "pods",
            "Resource" => "resource",
            "ContainerResource" => "containerResource",
            "External" => "external",
            "" => {
                errs.push(required(
                    at(&mp, "type"),
                    "must specify a metric source type",
                ));
                continue;
            }
            other => {
                errs.push(not_supported(
                    at(&mp, "type"),
                    other,
                    &[
                        "ContainerResource",
                        "External",
                        "Object",
                        "Pods",
                        "Resource",
                    ],
                ));
                continue;
            }
        };
        let src = get(m, key);
        let sp = at(&mp, key);
        if src.is_null() {
            errs.push(required(&sp, format!("must populate information for the given metric source (only allowed when type is {ty})")));
            continue;
        }
        if matches!(key, "resource" | "containerResource") && se(src, "name").is_empty() {
            errs.push(required(at(&sp, "name"), "must specify a resource name"));
        }
        let t = get(src, "target");
        let tp = at(&sp, "target");
        match se(t, "type") {
            "Utilization" => match int(t, "averageUtilization") {
                None => errs.push(required(
                    at(&tp, "averageUtilization"),
                    "must set either a target raw value or a target utilization",
                )),
                Some(u) if u < 1 => errs.push(invalid_int(
                    at(&tp, "averageUtilization"),
                    u,
                    "must be greater than 0",
                )),
                Some(_) => {}
            },
            "Value" | "AverageValue" => {}
            "" => errs.push(required(
                at(&tp, "type"),
                "must specify a metric target type",
            )),
            other => errs.push(not_supported(
                at(&tp, "type"),
                other,
                &["AverageValue", "Utilization", "Value"],
            )),
        }
    }
    errs
}

/// Validates a LimitRange: types, quantities and min ≤ default ≤ max.
pub fn validate_limit_range(lr: &Value, _old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    for (i, item) in arr(get(lr, "spec"), "limits").iter().enumerate() {
        let ip = idx("spec.limits", i);
        let ty = se(item, "type");
        if !matches!(ty, "Pod" | "Container" | "PersistentVolumeClaim") {
            errs.push(not_supported(
                at(&ip, "type"),
                ty,
                &["Container", "PersistentVolumeClaim", "Pod"],
            ));
        }
        if ty == "Pod" {
            for f in ["default", "defaultRequest"] {
                if has(item, f) {
                    errs.push(forbidden(
                        at(&ip, f),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        }
        let parse = |f: &str, errs: &mut Errs| -> Vec<(String, f64, String)> {
            map_of(item, f)
                .iter()
                .filter_map(|(k, q)| {
                    let kp = key(&at(&ip, f), k);
                    errs.extend(each(&kp, k, is_qualified_name(k)));
                    validate_quantity(k, q, &kp, errs).map(|v| (k.clone(), v, quantity::text(q)))
                })
                .collect()
        };
        let min = parse("min", &mut errs);
        let max = parse("max", &mut errs);
        let def = parse("default", &mut errs);
        let def_req = parse("defaultRequest", &mut errs);
        let find =
            |list: &[(String, f64, String)], k: &str| list.iter().find(|(n, _, _)| n == k).cloned();
        for (k, v, t) in &min {
            if let Some((_, mv, mt)) = find(&max, k)
                && *v > mv
            {
                errs.push(invalid(
                    key(&at(&ip, "min"), k),
                    t,
                    format!("min value {t} is greater than max value {mt}"),
                ));
            }
            if let Some((_, dv, dt)) = find(&def_req, k)
                && *v > dv
            {
                errs.push(invalid(
                    key(&at(&ip, "defaultRequest"), k),
                    &dt,
                    format!("min value {t} is greater than default request value {dt}"),
                ));
            }
            if let Some((_, dv, dt)) = find(&def, k)
                && *v > dv
            {
                errs.push(invalid(
                    key(&at(&ip, "default"), k),
                    &dt,
                    format!("min value {t} is greater than default value {dt}"),
                ));
            }
        }
        for (k, v, t) in &def_req {
            if let Some((_, mv, mt)) = find(&max, k)
                && *v > mv
            {
                errs.push(invalid(
                    key(&at(&ip, "defaultRequest"), k),
                    t,
                    format!("default request value {t} is greater than max value {mt}"),
                ));
            }
            if let Some((_, dv, dt)) = find(&def, k)
                && *v > dv
            {
                errs.push(invalid(
                    key(&at(&ip, "defaultRequest"), k),
                    t,
                    format!("default request value {t} is greater than default limit value {dt}"),
                ));
            }
        }
        for (k, v, t) in &def {
            if let Some((_, mv, mt)) = find(&max, k)
                && *v > mv
            {
                errs.push(invalid(
                    key(&at(&ip, "default"), k),
                    t,
                    format!("default value {t} is greater than max value {mt}"),
                ));
            }
        }
        for (k, r, t) in parse("maxLimitRequestRatio", &mut errs) {
            if r < 1.0 {
                errs.push(invalid(
                    key(&at(&ip, "maxLimitRequestRatio"), &k),
                    &t,
                    format!("ratio {t} is less than 1"),
                ));
            }
        }
    }
    errs
}

const QUOTA_SCOPES: &[&str] = &[
    "BestEffort",
    "CrossNamespacePodAffinity",
    "NotBestEffort",
    "NotTerminating",
    "PriorityClass",
    "Terminating",
    "VolumeAttributesClass",
];

/// Validates a ResourceQuota.
pub fn validate_resource_quota(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    for (base, m) in [
        ("spec.hard", map_of(spec, "hard")),
        ("status.hard", map_of(get(obj, "status"), "hard")),
        ("status.used", map_of(get(obj, "status"), "used")),
    ] {
        for (k, q) in m {
            let kp = key(base, k);
            errs.extend(each(&kp, k, is_qualified_name(k)));
            validate_quantity("", q, &kp, &mut errs);
        }
    }
    for (i, sc) in arr(spec, "scopes").iter().enumerate() {
        let sc = sc.as_str().unwrap_or("");
        if !QUOTA_SCOPES.contains(&sc) {
            errs.push(not_supported(idx("spec.scopes", i), sc, QUOTA_SCOPES));
        }
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

    #[test]
    fn pdb_and_priority() {
        let p = json!({"spec": {"minAvailable": 1, "maxUnavailable": "150%"}});
        let e = validate_pdb(&p, None);
        assert_eq!(
            e[0].detail,
            "minAvailable and maxUnavailable cannot be both set"
        );
        assert_eq!(
            e[1].to_string(),
            "spec.maxUnavailable: Invalid value: 150%: must not be greater than 100%"
        );
        let pc = json!({"metadata": {"name": "system-foo"}, "value": 5});
        assert_eq!(
            msgs(validate_priority_class(&pc, None)),
            vec![
                "metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-foo is not a known system priority class",
            ]
        );
        let pc = json!({"metadata": {"name": "high"}, "value": 2_000_000_000});
        assert_eq!(
            msgs(validate_priority_class(&pc, None)),
            vec![
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
            ]
        );
    }

    #[test]
    fn hpa() {
        let h = json!({"spec": {"minReplicas": 5, "maxReplicas": 2, "scaleTargetRef": {"kind": "Deployment"}}});
        assert_eq!(
            msgs(validate_hpa(&h, None)),
            vec![
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.scaleTargetRef.name: Required value",
            ]
        );
    }

    #[test]
    fn limit_range_and_quota() {
        let lr = json!({"spec": {"limits": [{"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}}]}});
        assert_eq!(
            msgs(validate_limit_range(&lr, None)),
            vec![
                "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1",
            ]
        );
        let rq = json!({"spec": {"hard": {"pods": "-1"}, "scopes": ["Bogus"]}});
        assert_eq!(validate_resource_quota(&rq, None).len(), 2);
    }
}
