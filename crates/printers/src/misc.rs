//! Printers for autoscalers, leases, disruption budgets and priority classes.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::util::{Obj, int_or_string, n, quantity, s};
use crate::{AGE, Column, NAME, col};

pub(crate) static HPA_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Reference",
        "string",
        "scaleTargetRef points to the target resource to scale, and is used to the pods for which metrics should be collected, as well as to actually change the replica count.",
        0,
    ),
    col(
        "Targets",
        "string",
        "metrics contains the specifications for which to use to calculate the desired replica count (the maximum replica count across all metrics will be used).  The desired replica count is calculated multiplying the ratio between the target value and the current value by the current number of pods.  Ergo, metrics used must decrease as the pod count is increased, and vice-versa.  See the individual metric source types for more information about how each type of metric must respond. If not set, the default metric will be set to 80% average CPU utilization.",
        0,
    ),
    col(
        "MinPods",
        "string",
        "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.  It defaults to 1 pod.  minReplicas is allowed to be 0 if the alpha feature gate HPAScaleToZero is enabled and at least one Object or External metric is configured.  Scaling is active as long as at least one metric value is available.",
        0,
    ),
    col(
        "MaxPods",
        "string",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up. It cannot be less that minReplicas.",
        0,
    ),
    col(
        "Replicas",
        "string",
        "currentReplicas is current number of replicas of pods managed by this autoscaler, as last seen by the autoscaler.",
        0,
    ),
    AGE,
];

/// The v2 metric specs and statuses; an autoscaling/v1 object's CPU target is converted as upstream does.
fn hpa_metrics(hpa: Obj<'_>) -> (Vec<Value>, Vec<Value>) {
    if hpa.has(&["spec", "metrics"]) || !hpa.has(&["spec", "targetCPUUtilizationPercentage"]) {
        return (
            hpa.arr(&["spec", "metrics"]).to_vec(),
            hpa.arr(&["status", "currentMetrics"]).to_vec(),
        );
    }
    let target = hpa.int(&["spec", "targetCPUUtilizationPercentage"]);
    let specs = vec![
        json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}}),
    ];
    let statuses = match hpa.opt_int(&["status", "currentCPUUtilizationPercentage"]) {
        Some(cur) => vec![
            json!({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cur}}}),
        ],
        None => Vec::new(),
    };
    (specs, statuses)
}

/// One metric of upstream's `formatHPAMetrics`.
fn format_metric(spec: Obj<'_>, status: Option<Obj<'_>>) -> String {
    const UNKNOWN: &str = "<unknown>";
    let q = |o: Obj<'_>, path: &[&str]| quantity(o.get(path));
    let cur_of = |key: &str| {
        status
            .filter(|st| st.has(&[key]))
            .map(|st| st.at(&[key, "current"]))
    };
    match spec.str(&["type"]) {
        kind @ ("External" | "Object") => {
            let key = if kind == "External" {
                "external"
            } else {
                "object"
            };
            let target = spec.at(&[key, "target"]);
            let cur = cur_of(key);
            if target.has(&["averageValue"]) {
                let current = cur
                    .filter(|c| c.has(&["averageValue"]))
                    .map_or(UNKNOWN.to_string(), |c| q(c, &["averageValue"]));
                format!("{current}/{} (avg)", q(target, &["averageValue"]))
            } else {
                let current = cur.map_or(UNKNOWN.to_string(), |c| q(c, &["value"]));
                format!("{current}/{}", q(target, &["value"]))
            }
        }
        "Pods" => {
            let current = cur_of("pods").map_or(UNKNOWN.to_string(), |c| q(c, &["averageValue"]));
            format!(
                "{current}/{}",
                q(spec.at(&["pods", "target"]), &["averageValue"])
            )
        }
        kind @ ("Resource" | "ContainerResource") => {
            let key = if kind == "Resource" {
                "resource"
            } else {
                "containerResource"
            };
            let name = spec.str(&[key, "name"]);
            let target = spec.at(&[key, "target"]);
            let cur = cur_of(key);
            if target.has(&["averageValue"]) {
                let current = cur.map_or(UNKNOWN.to_string(), |c| q(c, &["averageValue"]));
                format!("{name}: {current}/{}", q(target, &["averageValue"]))
            } else {
                let current = cur
                    .and_then(|c| c.opt_int(&["averageUtilization"]))
                    .map_or(UNKNOWN.to_string(), |u| format!("{u}%"));
                let target = target
                    .opt_int(&["averageUtilization"])
                    .map_or("<auto>".to_string(), |u| format!("{u}%"));
                format!("{name}: {current}/{target}")
            }
        }
        _ => "<unknown type>".to_string(),
    }
}

/// Upstream's `formatHPAMetrics`: at most two metrics, then `+ N more...`.
fn format_hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    if specs.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 2;
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| format_metric(Obj(spec), statuses.get(i).map(Obj)))
        .collect();
    if list.len() > MAX {
        return format!("{} + {} more...", list[..MAX].join(", "), list.len() - MAX);
    }
    list.join(", ")
}

pub(crate) fn hpa_cells(hpa: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let (specs, statuses) = hpa_metrics(hpa);
    let reference = format!(
        "{}/{}",
        hpa.str(&["spec", "scaleTargetRef", "kind"]),
        hpa.str(&["spec", "scaleTargetRef", "name"])
    );
    let min = hpa
        .opt_int(&["spec", "minReplicas"])
        .map_or("<unset>".to_string(), |m| m.to_string());
    vec![
        s(hpa.name()),
        s(reference),
        s(format_hpa_metrics(&specs, &statuses)),
        s(min),
        n(hpa.int(&["spec", "maxReplicas"])),
        n(hpa.int(&["status", "currentReplicas"])),
        s(hpa.age(now)),
    ]
}

pub(crate) static LEASE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
        0,
    ),
    AGE,
];

pub(crate) fn lease_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    vec![
        s(obj.name()),
        s(obj.str(&["spec", "holderIdentity"])),
        s(obj.age(now)),
    ]
}

pub(crate) static PDB_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
        0,
    ),
    col(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
        0,
    ),
    col(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
        0,
    ),
    AGE,
];

pub(crate) fn pdb_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let or_na = |v: Option<&Value>| v.map_or("N/A".to_string(), int_or_string);
    vec![
        s(obj.name()),
        s(or_na(obj.get(&["spec", "minAvailable"]))),
        s(or_na(obj.get(&["spec", "maxUnavailable"]))),
        n(obj.int(&["status", "disruptionsAllowed"])),
        s(obj.age(now)),
    ]
}

pub(crate) static PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Value",
        "integer",
        "value represents the integer value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec.",
        0,
    ),
    col(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority.",
        0,
    ),
    AGE,
    col(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
        0,
    ),
];

pub(crate) fn priority_class_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    vec![
        s(obj.name()),
        n(obj.int(&["value"])),
        Value::Bool(obj.opt_bool(&["globalDefault"]).unwrap_or(false)),
        s(obj.age(now)),
        s(obj.str(&["preemptionPolicy"])),
    ]
}
