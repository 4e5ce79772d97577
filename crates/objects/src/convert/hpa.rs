//! autoscaling/v1 ⇄ autoscaling/v2 HorizontalPodAutoscaler conversion.
//!
//! As upstream, what v1 cannot express (metrics other than CPU utilization,
//! behavior, status conditions and other current metrics) travels in
//! `autoscaling.alpha.kubernetes.io/*` annotations. Unlike upstream, the metric
//! annotations hold v2-shaped metric specs (upstream uses the older v2beta1 shape).

use serde_json::{Map, Value, json};

use crate::error::DecodeError;

const METRICS: &str = "autoscaling.alpha.kubernetes.io/metrics";
const CURRENT_METRICS: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
const CONDITIONS: &str = "autoscaling.alpha.kubernetes.io/conditions";
const BEHAVIOR: &str = "autoscaling.alpha.kubernetes.io/behavior";

type Obj = Map<String, Value>;

/// Converts an autoscaling/v1 HPA into autoscaling/v2.
pub(crate) fn v1_to_v2(mut obj: Value) -> Result<Value, DecodeError> {
    let Some(o) = obj.as_object_mut() else {
        return Ok(obj);
    };
    let mut annotations = take_annotations(o);
    let mut spec = take_obj(o, "spec");
    let mut metrics = Vec::new();
    if let Some(cpu) = spec
        .remove("targetCPUUtilizationPercentage")
        .filter(|v| !v.is_null())
    {
        metrics.push(cpu_metric("target", cpu));
    }
    metrics.extend(annotation_list(&mut annotations, METRICS)?);
    if !metrics.is_empty() {
        spec.insert("metrics".into(), Value::Array(metrics));
    }
    if let Some(b) = annotations.remove(BEHAVIOR) {
        spec.insert("behavior".into(), parse_annotation(BEHAVIOR, &b)?);
    }
    o.insert("spec".into(), Value::Object(spec));
    if let Some(mut status) = o
        .get_mut("status")
        .and_then(Value::as_object_mut)
        .map(std::mem::take)
    {
        let mut current = Vec::new();
        if let Some(cpu) = status
            .remove("currentCPUUtilizationPercentage")
            .filter(|v| !v.is_null())
        {
            current.push(cpu_metric("current", cpu));
        }
        current.extend(annotation_list(&mut annotations, CURRENT_METRICS)?);
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        let conditions = annotation_list(&mut annotations, CONDITIONS)?;
        if !conditions.is_empty() {
            status.insert("conditions".into(), Value::Array(conditions));
        }
        o.insert("status".into(), Value::Object(status));
    } else {
        annotations.remove(CURRENT_METRICS);
        annotations.remove(CONDITIONS);
    }
    put_annotations(o, annotations);
    Ok(obj)
}

/// Converts an autoscaling/v2 HPA into autoscaling/v1.
pub(crate) fn v2_to_v1(mut obj: Value) -> Result<Value, DecodeError> {
    let Some(o) = obj.as_object_mut() else {
        return Ok(obj);
    };
    let mut annotations = take_annotations(o);
    for key in [METRICS, CURRENT_METRICS, CONDITIONS, BEHAVIOR] {
        annotations.remove(key);
    }
    let mut spec = take_obj(o, "spec");
    let mut others = Vec::new();
    for m in take_array(&mut spec, "metrics") {
        match cpu_utilization(&m, "target") {
            Some(pct) if !spec.contains_key("targetCPUUtilizationPercentage") => {
                spec.insert("targetCPUUtilizationPercentage".into(), pct);
            }
            _ => others.push(m),
        }
    }
    set_annotation(&mut annotations, METRICS, others);
    if let Some(b) = spec.remove("behavior").filter(|b| !b.is_null()) {
        annotations.insert(BEHAVIOR.into(), Value::String(b.to_string()));
    }
    o.insert("spec".into(), Value::Object(spec));
    if let Some(status) = o.get_mut("status").and_then(Value::as_object_mut) {
        let mut others = Vec::new();
        for m in take_array(status, "currentMetrics") {
            match cpu_utilization(&m, "current") {
                Some(pct) if !status.contains_key("currentCPUUtilizationPercentage") => {
                    status.insert("currentCPUUtilizationPercentage".into(), pct);
                }
                _ => others.push(m),
            }
        }
        set_annotation(&mut annotations, CURRENT_METRICS, others);
        let conditions = take_array(status, "conditions");
        set_annotation(&mut annotations, CONDITIONS, conditions);
        // v1 status requires these two fields.
        for key in ["currentReplicas", "desiredReplicas"] {
            if status.get(key).is_none_or(Value::is_null) {
                status.insert(key.into(), json!(0));
            }
        }
    }
    put_annotations(o, annotations);
    Ok(obj)
}

/// A v2 `Resource` metric for CPU utilization; `field` is `target` or `current`.
fn cpu_metric(field: &str, pct: Value) -> Value {
    let mut inner = json!({"averageUtilization": pct});
    if field == "target"
        && let Some(m) = inner.as_object_mut()
    {
        m.insert("type".into(), json!("Utilization"));
    }
    json!({"type": "Resource", "resource": {"name": "cpu", field: inner}})
}

/// The CPU utilization of a v2 metric, if it is a CPU utilization resource metric.
fn cpu_utilization(m: &Value, field: &str) -> Option<Value> {
    if m.get("type")?.as_str()? != "Resource" {
        return None;
    }
    let r = m.get("resource")?;
    if r.get("name")?.as_str()? != "cpu" {
        return None;
    }
    let inner = r.get(field)?;
    if field == "target" && inner.get("type").and_then(Value::as_str) != Some("Utilization") {
        return None;
    }
    inner
        .get("averageUtilization")
        .filter(|v| !v.is_null())
        .cloned()
}

fn take_obj(o: &mut Obj, key: &str) -> Obj {
    match o.remove(key) {
        Some(Value::Object(m)) => m,
        _ => Obj::new(),
    }
}

fn take_array(o: &mut Obj, key: &str) -> Vec<Value> {
    match o.remove(key) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

fn take_annotations(o: &mut Obj) -> Obj {
    o.get_mut("metadata")
        .and_then(Value::as_object_mut)
        .map(|m| take_obj(m, "annotations"))
        .unwrap_or_default()
}

fn put_annotations(o: &mut Obj, annotations: Obj) {
    if annotations.is_empty() {
        return;
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("annotations".into(), Value::Object(annotations));
    } else {
        o.insert("metadata".into(), json!({"annotations": annotations}));
    }
}

fn set_annotation(annotations: &mut Obj, key: &str, items: Vec<Value>) {
    if !items.is_empty() {
        annotations.insert(key.into(), Value::String(Value::Array(items).to_string()));
    }
}

fn annotation_list(annotations: &mut Obj, key: &str) -> Result<Vec<Value>, DecodeError> {
    match annotations.remove(key) {
        Some(v) => match parse_annotation(key, &v)? {
            Value::Array(a) => Ok(a),
            _ => Err(bad_annotation(key, "expected a JSON array")),
        },
        None => Ok(Vec::new()),
    }
}

fn parse_annotation(key: &str, v: &Value) -> Result<Value, DecodeError> {
    let s = v.as_str().unwrap_or_default();
    serde_json::from_str(s).map_err(|e| bad_annotation(key, &e.to_string()))
}

fn bad_annotation(key: &str, msg: &str) -> DecodeError {
    DecodeError::invalid(
        "HorizontalPodAutoscaler",
        "v1",
        &format!("metadata.annotations[{key}]"),
        msg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_target_maps_to_a_resource_metric_and_back() {
        let v1 = json!({
            "apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"},
                     "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
            "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 30},
        });
        let v2 = v1_to_v2(v1.clone()).unwrap();
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            50
        );
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"]["type"],
            "Utilization"
        );
        assert_eq!(
            v2["status"]["currentMetrics"][0]["resource"]["current"]["averageUtilization"],
            30
        );
        assert_eq!(v2_to_v1(v2).unwrap(), v1);
    }

    #[test]
    fn v2_only_fields_survive_a_trip_through_v1() {
        let v2 = json!({
            "metadata": {"name": "h", "annotations": {"a": "b"}},
            "spec": {"maxReplicas": 5, "metrics": [
                {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}}}
            ], "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}},
            "status": {"currentReplicas": 1, "desiredReplicas": 1, "conditions": [
                {"type": "AbleToScale", "status": "True"}
            ]},
        });
        let v1 = v2_to_v1(v2.clone()).unwrap();
        assert!(v1["spec"].get("metrics").is_none());
        assert!(v1["metadata"]["annotations"][METRICS].is_string());
        assert!(v1["metadata"]["annotations"][BEHAVIOR].is_string());
        assert!(v1["metadata"]["annotations"][CONDITIONS].is_string());
        assert_eq!(v1_to_v2(v1).unwrap(), v2);
    }
}
