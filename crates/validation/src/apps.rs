//! Validation of workload controllers: Deployment, ReplicaSet, DaemonSet, StatefulSet, RC.

use serde_json::Value;

use crate::meta::validate_labels;
use crate::names::is_valid_percent;
use crate::pod::validate_pod_template_spec;
use crate::selector::{
    map_selector_matches, selector_is_empty, selector_matches, validate_label_selector,
};
use crate::util::*;
use rkube_api::{FieldError, field_error::FieldValue};

const NO_MATCH: &str = "`selector` does not match template `labels`";

/// Go's `%#v` of a label selector, as upstream prints it in messages.
pub fn render_selector(sel: &Value) -> String {
    let labels = match sel.get("matchLabels") {
        Some(m @ Value::Object(_)) => render(m),
        _ => "map[string]string(nil)".to_string(),
    };
    let exprs = arr(sel, "matchExpressions");
    let exprs = if exprs.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_string()
    } else {
        let items: Vec<String> = exprs
            .iter()
            .map(|e| {
                format!(
                    "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                    quote(se(e, "key")),
                    quote(se(e, "operator")),
                    render(get(e, "values"))
                )
            })
            .collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{exprs}}}")
}

/// Go's `%#v` of template labels (`map[string]string(nil)` when there are none).
fn render_labels(labels: &Value) -> String {
    match labels {
        Value::Object(_) => render(labels),
        _ => "map[string]string(nil)".to_string(),
    }
}

/// Selector checks shared by the apps kinds; `what` names the kind in messages.
fn validate_selector_and_template(spec: &Value, what: &str, kind_name: &str, path: &str) -> Errs {
    let mut errs = Errs::new();
    let sp = at(path, "selector");
    let tp = at(path, "template");
    let tpl = get(spec, "template");
    let labels = get(get(tpl, "metadata"), "labels");
    match spec.get("selector").filter(|v| !v.is_null()) {
        None => errs.push(required(&sp, "")),
        Some(sel) => {
            errs.extend(validate_label_selector(sel, &sp));
            if selector_is_empty(sel) {
                errs.push(invalid_raw(
                    &sp,
                    render_selector(sel),
                    format!("empty selector is invalid for {what}"),
                ));
            } else if !selector_matches(sel, labels) {
                errs.push(invalid_raw(
                    at(&at(&tp, "metadata"), "labels"),
                    render_labels(labels),
                    NO_MATCH,
                ));
            }
        }
    }
    errs.extend(validate_template_for_controller(tpl, kind_name, &tp));
    errs
}

/// Template checks for controllers: a valid pod template that always restarts.
fn validate_template_for_controller(tpl: &Value, kind_name: &str, tp: &str) -> Errs {
    if tpl.is_null() {
        return vec![required(tp, "")];
    }
    let mut errs = validate_pod_template_spec(tpl, tp);
    let spec = get(tpl, "spec");
    let rp = se(spec, "restartPolicy");
    if rp != "Always" && !rp.is_empty() {
        errs.push(not_supported(
            at(&at(tp, "spec"), "restartPolicy"),
            rp,
            &["Always"],
        ));
    }
    if has(spec, "activeDeadlineSeconds") {
        errs.push(forbidden(
            at(&at(tp, "spec"), "activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind_name} is not Supported"),
        ));
    }
    errs
}

fn int_or_percent(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::Number(n) => n.as_i64().map(|n| (n, false)),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|n| n.parse().ok())
            .map(|n| (n, true)),
        _ => None,
    }
}

fn raw_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Validates maxUnavailable / maxSurge style int-or-percent fields.
fn validate_int_or_percent(v: &Value, path: &str, max_100: bool) -> Errs {
    let mut errs = Errs::new();
    if v.is_null() {
        return errs;
    }
    if let Value::String(s) = v {
        let msgs = is_valid_percent(s);
        if !msgs.is_empty() {
            errs.extend(msgs.into_iter().map(|m| invalid_raw(path, s.clone(), m)));
            return errs;
        }
    }
    if let Some((n, pct)) = int_or_percent(v) {
        if n < 0 {
            errs.push(invalid_int(path, n, "must be greater than or equal to 0"));
        }
        if max_100 && pct && n > 100 {
            errs.push(invalid_raw(
                path,
                raw_text(v),
                "must not be greater than 100%",
            ));
        }
    }
    errs
}

/// DaemonSets need exactly one of maxSurge and maxUnavailable to be non-zero.
fn validate_daemon_set_rolling_update(ru: &Value, path: &str) -> Errs {
    let mu = get(ru, "maxUnavailable");
    let ms = get(ru, "maxSurge");
    let mut errs = validate_int_or_percent(mu, &at(path, "maxUnavailable"), true);
    errs.extend(validate_int_or_percent(ms, &at(path, "maxSurge"), true));
    let nonzero = |v: &Value| int_or_percent(v).is_some_and(|(n, _)| n != 0);
    match (nonzero(mu), nonzero(ms)) {
        (true, true) => errs.push(invalid_raw(
            at(path, "maxSurge"),
            raw_text(ms),
            "may not be set when maxUnavailable is non-zero",
        )),
        (false, false) => errs.push(required(
            at(path, "maxUnavailable"),
            "cannot be 0 when maxSurge is 0",
        )),
        _ => {}
    }
    errs
}

fn validate_rolling_update(ru: &Value, path: &str) -> Errs {
    let mu = get(ru, "maxUnavailable");
    let ms = get(ru, "maxSurge");
    let mut errs = validate_int_or_percent(mu, &at(path, "maxUnavailable"), true);
    errs.extend(validate_int_or_percent(ms, &at(path, "maxSurge"), false));
    let zero = |v: &Value| int_or_percent(v).is_none_or(|(n, _)| n == 0);
    if zero(mu) && zero(ms) {
        errs.push(invalid_raw(
            at(path, "maxUnavailable"),
            raw_text(mu),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs
}

/// Validates a Deployment.
pub fn validate_deployment(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    nonneg(spec, "replicas", "spec", &mut errs);
    errs.extend(validate_selector_and_template(
        spec,
        "deployment",
        "ReplicaSet",
        "spec",
    ));
    let strategy = get(spec, "strategy");
    let sp = "spec.strategy";
    match se(strategy, "type") {
        "Recreate" => {
            if has(strategy, "rollingUpdate") {
                errs.push(forbidden(
                    at(sp, "rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match strategy.get("rollingUpdate").filter(|v| !v.is_null()) {
            None => errs.push(required(
                at(sp, "rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => errs.extend(validate_rolling_update(ru, &at(sp, "rollingUpdate"))),
        },
        other => errs.push(FieldError::not_supported(
            sp,
            FieldValue::raw(format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}}",
                quote(other)
            )),
            &["Recreate", "RollingUpdate"],
        )),
    }
    for f in [
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
    ] {
        nonneg(spec, f, "spec", &mut errs);
    }
    if let (Some(pds), Some(mrs)) = (
        int(spec, "progressDeadlineSeconds"),
        int(spec, "minReadySeconds"),
    ) && pds <= mrs
    {
        errs.push(invalid_int(
            "spec.progressDeadlineSeconds",
            pds,
            "must be greater than minReadySeconds",
        ));
    }
    if let Some(old) = old {
        errs.extend(selector_immutable(spec, get(old, "spec")));
    }
    errs
}

fn selector_immutable(new: &Value, old: &Value) -> Errs {
    let (n, o) = (get(new, "selector"), get(old, "selector"));
    if n == o {
        Vec::new()
    } else {
        vec![invalid_raw("spec.selector", render_selector(n), IMMUTABLE)]
    }
}

/// Validates a ReplicaSet.
pub fn validate_replica_set(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    nonneg(spec, "replicas", "spec", &mut errs);
    nonneg(spec, "minReadySeconds", "spec", &mut errs);
    errs.extend(validate_selector_and_template(
        spec,
        "deployment",
        "ReplicaSet",
        "spec",
    ));
    if let Some(old) = old {
        errs.extend(selector_immutable(spec, get(old, "spec")));
    }
    errs
}

/// Validates a DaemonSet.
pub fn validate_daemon_set(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    errs.extend(validate_selector_and_template(
        spec,
        "daemonset",
        "DaemonSet",
        "spec",
    ));
    nonneg(spec, "minReadySeconds", "spec", &mut errs);
    nonneg(spec, "templateGeneration", "spec", &mut errs);
    let us = get(spec, "updateStrategy");
    let up = "spec.updateStrategy";
    match se(us, "type") {
        "OnDelete" => {}
        "RollingUpdate" => match us.get("rollingUpdate").filter(|v| !v.is_null()) {
            None => errs.push(required(at(up, "rollingUpdate"), "")),
            Some(ru) => errs.extend(validate_daemon_set_rolling_update(
                ru,
                &at(up, "rollingUpdate"),
            )),
        },
        other => errs.push(FieldError::not_supported(
            up,
            FieldValue::raw(format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}",
                quote(other)
            )),
            &["RollingUpdate", "OnDelete"],
        )),
    }
    nonneg(spec, "revisionHistoryLimit", "spec", &mut errs);
    if let Some(old) = old {
        errs.extend(selector_immutable(spec, get(old, "spec")));
    }
    errs
}

/// The StatefulSet spec with its template's volumes as the pods will have them: one
/// `persistentVolumeClaim` volume per claim template (replacing a template volume of the same
/// name), so volume mounts may name claim templates. Upstream skips pod-spec validation of
/// StatefulSet templates for this reason ("the union of the given volumes and volumeClaims
/// match volume mounts").
fn with_claim_volumes(spec: &Value) -> Value {
    let claims: Vec<String> = arr(spec, "volumeClaimTemplates")
        .iter()
        .map(|c| se(get(c, "metadata"), "name").to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if claims.is_empty() {
        return spec.clone();
    }
    let mut spec = spec.clone();
    let Some(pod) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    else {
        return spec;
    };
    let mut volumes: Vec<Value> = pod
        .get("volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for claim in claims {
        volumes.retain(|v| se(v, "name") != claim);
        volumes.push(serde_json::json!({
            "name": claim,
            "persistentVolumeClaim": {"claimName": claim},
        }));
    }
    pod.insert("volumes".into(), Value::Array(volumes));
    spec
}

/// Validates a StatefulSet.
pub fn validate_stateful_set(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    match se(spec, "podManagementPolicy") {
        "" => errs.push(required("spec.podManagementPolicy", "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(invalid(
            "spec.podManagementPolicy",
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = get(spec, "updateStrategy");
    match se(us, "type") {
        "" => errs.push(required("spec.updateStrategy", "")),
        "OnDelete" => {
            if has(us, "rollingUpdate") {
                errs.push(invalid_raw(
                    "spec.updateStrategy.rollingUpdate",
                    us["rollingUpdate"].to_string(),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            let ru = get(us, "rollingUpdate");
            nonneg(
                ru,
                "partition",
                "spec.updateStrategy.rollingUpdate",
                &mut errs,
            );
            if let Some(mu) = ru.get("maxUnavailable").filter(|v| !v.is_null()) {
                let p = "spec.updateStrategy.rollingUpdate.maxUnavailable";
                errs.extend(validate_int_or_percent(mu, p, true));
                if int_or_percent(mu).is_some_and(|(n, _)| n == 0) {
                    errs.push(invalid_raw(p, raw_text(mu), "cannot be 0"));
                }
            }
        }
        other => errs.push(invalid_raw(
            "spec.updateStrategy",
            format!(
                "apps.StatefulSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}}",
                quote(other)
            ),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    let pol = get(spec, "persistentVolumeClaimRetentionPolicy");
    for f in ["whenDeleted", "whenScaled"] {
        if let Some(v) = s(pol, f)
            && !matches!(v, "Retain" | "Delete")
        {
            errs.push(not_supported(
                at("spec.persistentVolumeClaimRetentionPolicy", f),
                v,
                &["Retain", "Delete"],
            ));
        }
    }
    nonneg(spec, "replicas", "spec", &mut errs);
    nonneg(spec, "minReadySeconds", "spec", &mut errs);
    nonneg(get(spec, "ordinals"), "start", "spec.ordinals", &mut errs);
    errs.extend(validate_selector_and_template(
        &with_claim_volumes(spec),
        "statefulset",
        "StatefulSet",
        "spec",
    ));
    for (i, pvc) in arr(spec, "volumeClaimTemplates").iter().enumerate() {
        let p = idx("spec.volumeClaimTemplates", i);
        errs.extend(crate::storage::validate_pvc_spec(
            get(pvc, "spec"),
            &at(&p, "spec"),
        ));
    }
    if let Some(old) = old {
        let allowed = [
            "replicas",
            "ordinals",
            "template",
            "updateStrategy",
            "persistentVolumeClaimRetentionPolicy",
            "minReadySeconds",
        ];
        let strip = |v: &Value| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            for f in allowed {
                m.remove(f);
            }
            m
        };
        if strip(spec) != strip(get(old, "spec")) {
            errs.push(forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    errs
}

/// Validates a ReplicationController (map selector).
pub fn validate_replication_controller(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = Errs::new();
    nonneg(spec, "replicas", "spec", &mut errs);
    nonneg(spec, "minReadySeconds", "spec", &mut errs);
    let sel = get(spec, "selector");
    if sel.as_object().is_none_or(|m| m.is_empty()) {
        errs.push(required("spec.selector", ""));
    } else {
        errs.extend(validate_labels(sel, "spec.selector"));
    }
    let tpl = get(spec, "template");
    let labels = get(get(tpl, "metadata"), "labels");
    if !tpl.is_null()
        && sel.as_object().is_some_and(|m| !m.is_empty())
        && !map_selector_matches(sel, labels)
    {
        errs.push(invalid_raw(
            "spec.template.metadata.labels",
            render_labels(labels),
            NO_MATCH,
        ));
    }
    errs.extend(validate_template_for_controller(
        tpl,
        "ReplicationController",
        "spec.template",
    ));
    errs
}

/// Validates a ControllerRevision.
pub fn validate_controller_revision(obj: &Value, old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    if !has(obj, "data") {
        errs.push(required("data", "data is mandatory"));
    }
    nonneg(obj, "revision", "", &mut errs);
    if let Some(old) = old
        && get(obj, "data") != get(old, "data")
    {
        errs.push(invalid_raw("data", get(obj, "data").to_string(), IMMUTABLE));
    }
    errs
}

/// Light status checks shared by the workload kinds.
pub fn validate_workload_status(obj: &Value) -> Errs {
    let status = get(obj, "status");
    let mut errs = Errs::new();
    for f in [
        "replicas",
        "readyReplicas",
        "availableReplicas",
        "updatedReplicas",
        "fullyLabeledReplicas",
        "currentReplicas",
        "observedGeneration",
        "currentNumberScheduled",
        "numberMisscheduled",
        "desiredNumberScheduled",
        "numberReady",
    ] {
        nonneg(status, f, "status", &mut errs);
    }
    if let (Some(r), Some(ready)) = (int(status, "replicas"), int(status, "readyReplicas"))
        && ready > r
    {
        errs.push(invalid_int(
            "status.readyReplicas",
            ready,
            "cannot be greater than status.replicas",
        ));
    }
    if let (Some(ready), Some(avail)) = (
        int(status, "readyReplicas"),
        int(status, "availableReplicas"),
    ) && avail > ready
    {
        errs.push(invalid_int(
            "status.availableReplicas",
            avail,
            "cannot be greater than readyReplicas",
        ));
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

    fn deploy(sel: Value, labels: Value) -> Value {
        json!({"spec": {"replicas": 1, "selector": sel, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": labels}, "spec": {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
                "containers": [{"name": "c", "image": "nginx"}]}}}})
    }

    #[test]
    fn valid_and_mismatch() {
        assert!(
            validate_deployment(
                &deploy(json!({"matchLabels": {"app": "x"}}), json!({"app": "x"})),
                None
            )
            .is_empty()
        );
        let e = msgs(validate_deployment(
            &deploy(json!({"matchLabels": {"app": "y"}}), json!({"app": "x"})),
            None,
        ));
        assert_eq!(
            e,
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
            ]
        );
        let e = msgs(validate_deployment(
            &deploy(json!({}), json!({"app": "x"})),
            None,
        ));
        assert_eq!(
            e,
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
    }

    #[test]
    fn statefulset_mounts_may_name_claim_templates() {
        let sts = |mount: &str| {
            json!({"spec": {"replicas": 1, "podManagementPolicy": "OrderedReady",
                "updateStrategy": {"type": "RollingUpdate"},
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst", "containers": [{"name": "c", "image": "nginx",
                        "volumeMounts": [{"name": mount, "mountPath": "/d"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}})
        };
        assert_eq!(
            msgs(validate_stateful_set(&sts("www"), None)),
            Vec::<String>::new()
        );
        let e = msgs(validate_stateful_set(&sts("nope"), None));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("spec.template.spec.containers[0].volumeMounts[0].name: Not found"),
            "{e:?}"
        );
    }

    #[test]
    fn strategy_and_immutable_selector() {
        let mut d = deploy(json!({"matchLabels": {"app": "x"}}), json!({"app": "x"}));
        d["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 0, "maxUnavailable": 0});
        d["spec"]["replicas"] = json!(-1);
        assert_eq!(
            msgs(validate_deployment(&d, None)),
            vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            ]
        );
        let old = deploy(
            json!({"matchLabels": {"app": "x"}}),
            json!({"app": "x", "b": "c"}),
        );
        let new = deploy(
            json!({"matchLabels": {"app": "x", "b": "c"}}),
            json!({"app": "x", "b": "c"}),
        );
        assert_eq!(
            msgs(validate_deployment(&new, Some(&old))),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"x\", \"b\":\"c\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable",
            ]
        );
    }

    #[test]
    fn rc_restart_policy() {
        let rc = json!({"spec": {"replicas": 1, "selector": {"app": "x"}, "template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"restartPolicy": "Never", "dnsPolicy": "ClusterFirst", "containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            msgs(validate_replication_controller(&rc, None)),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
            ]
        );
    }
}
