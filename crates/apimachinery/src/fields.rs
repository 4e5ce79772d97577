//! Which fields each resource supports in field selectors, and their values in an object.

use rkube_api::ResourceInfo;
use serde_json::Value;

use crate::selector::{FieldSelector, SelectorError};

const NAME_NS: &[&str] = &["metadata.name", "metadata.namespace"];
const POD: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
    "spec.host",
];
const NODE: &[&str] = &["metadata.name", "spec.unschedulable"];
const NAMESPACE: &[&str] = &["status.phase", "metadata.name"];
const SECRET: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
const REPLICAS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const JOB: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];
const EVENT: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const EVENTS_V1: &[&str] = &[
    "reason",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reportingController",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// Whether the resource has its own field label conversion upstream (else the default one).
fn custom_fields(info: &ResourceInfo) -> Option<&'static [&'static str]> {
    Some(match (info.group, info.kind) {
        ("", "Pod") => POD,
        ("", "Node") => NODE,
        ("", "Namespace") => NAMESPACE,
        ("", "Secret") => SECRET,
        ("", "Service") => SERVICE,
        ("", "ReplicationController") | ("apps", "ReplicaSet") => REPLICAS,
        ("batch", "Job") => JOB,
        ("", "Event") => EVENT,
        ("events.k8s.io", "Event") => EVENTS_V1,
        _ => return None,
    })
}

/// The field labels the resource accepts in field selectors, as upstream's conversion funcs.
pub fn supported_fields(info: &ResourceInfo) -> &'static [&'static str] {
    custom_fields(info).unwrap_or(NAME_NS)
}

/// Checks every field of the selector is supported, with upstream's 400 message otherwise.
pub fn check_supported(info: &ResourceInfo, selector: &FieldSelector) -> Result<(), SelectorError> {
    let fields = supported_fields(info);
    for r in selector.requirements() {
        if fields.contains(&r.field.as_str()) {
            continue;
        }
        return Err(SelectorError::new(if custom_fields(info).is_some() {
            format!("field label not supported: {}", r.field)
        } else {
            format!(
                "{:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                r.field
            )
        }));
    }
    Ok(())
}

/// Renders a JSON scalar as the string upstream's field sets hold.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Follows a dotted path through nested objects.
fn at<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(obj, |v, k| v.get(k))
}

fn string_at(obj: &Value, path: &str) -> Option<String> {
    at(obj, path).and_then(scalar)
}

/// The value of a selectable field of `obj`, or `None` where upstream's field set has none
/// (compared as the empty string).
pub fn field_value(info: &ResourceInfo, obj: &Value, field: &str) -> Option<String> {
    match field {
        "metadata.name" => return string_at(obj, field).or(Some(String::new())),
        "metadata.namespace" => {
            return if info.namespaced {
                string_at(obj, field).or(Some(String::new()))
            } else {
                None
            };
        }
        _ => {}
    }
    match (info.group, info.kind) {
        ("", "Pod") => pod_field(obj, field),
        ("", "Node") if field == "spec.unschedulable" => {
            Some(string_at(obj, field).unwrap_or_else(|| "false".to_string()))
        }
        ("", "Namespace") | ("", "Secret") | ("", "Service") => {
            Some(string_at(obj, field).unwrap_or_default())
        }
        ("", "ReplicationController") | ("apps", "ReplicaSet") if field == "status.replicas" => {
            Some(string_at(obj, field).unwrap_or_else(|| "0".to_string()))
        }
        ("batch", "Job") if field == "status.successful" => {
            Some(string_at(obj, "status.succeeded").unwrap_or_else(|| "0".to_string()))
        }
        ("", "Event") | ("events.k8s.io", "Event") => event_field(obj, field),
        _ => None,
    }
}

fn pod_field(obj: &Value, field: &str) -> Option<String> {
    let value = match field {
        "spec.nodeName" | "spec.host" => string_at(obj, "spec.nodeName"),
        "spec.restartPolicy"
        | "spec.schedulerName"
        | "spec.serviceAccountName"
        | "status.phase"
        | "status.nominatedNodeName" => string_at(obj, field),
        "spec.hostNetwork" => Some(string_at(obj, field).unwrap_or_else(|| "false".to_string())),
        "status.podIP" => at(obj, "status.podIPs")
            .and_then(|ips| ips.get(0))
            .and_then(|ip| string_at(ip, "ip"))
            .or_else(|| string_at(obj, "status.podIP")),
        _ => return None,
    };
    Some(value.unwrap_or_default())
}

/// Event fields; objects may be stored in the core shape or the events.k8s.io shape.
fn event_field(obj: &Value, field: &str) -> Option<String> {
    let core = match field {
        "regarding.kind"
        | "regarding.namespace"
        | "regarding.name"
        | "regarding.uid"
        | "regarding.apiVersion"
        | "regarding.resourceVersion"
        | "regarding.fieldPath" => {
            format!("involvedObject.{}", &field["regarding.".len()..])
        }
        "reportingController" => "reportingComponent".to_string(),
        other => other.to_string(),
    };
    let value = match core.as_str() {
        "source" => string_at(obj, "source.component")
            .or_else(|| string_at(obj, "deprecatedSource.component")),
        "reportingComponent" => {
            string_at(obj, "reportingComponent").or_else(|| string_at(obj, "reportingController"))
        }
        "reason" | "type" => string_at(obj, &core),
        f if f.starts_with("involvedObject.") => string_at(obj, f)
            .or_else(|| string_at(obj, &format!("regarding.{}", &f["involvedObject.".len()..]))),
        _ => return None,
    };
    Some(value.unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rkube_api::registry::find;
    use serde_json::json;

    use super::*;

    #[test]
    fn supported_lists() {
        let pods = find("", "v1", "pods").unwrap();
        assert!(supported_fields(pods).contains(&"spec.nodeName"));
        let sel = FieldSelector::parse("spec.foo=bar").unwrap();
        assert_eq!(
            check_supported(pods, &sel).unwrap_err().message(),
            "field label not supported: spec.foo"
        );
        let cms = find("", "v1", "configmaps").unwrap();
        assert_eq!(
            check_supported(cms, &sel).unwrap_err().message(),
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        assert!(check_supported(cms, &FieldSelector::parse("metadata.name=a").unwrap()).is_ok());
        for r in rkube_api::RESOURCES {
            assert!(supported_fields(r).contains(&"metadata.name"));
        }
    }

    #[test]
    fn values() {
        let pods = find("", "v1", "pods").unwrap();
        let pod = json!({"metadata": {"name": "p", "namespace": "ns"},
                         "spec": {"nodeName": "n1"},
                         "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
        assert_eq!(
            field_value(pods, &pod, "metadata.name").as_deref(),
            Some("p")
        );
        assert_eq!(
            field_value(pods, &pod, "spec.nodeName").as_deref(),
            Some("n1")
        );
        assert_eq!(
            field_value(pods, &pod, "spec.hostNetwork").as_deref(),
            Some("false")
        );
        assert_eq!(
            field_value(pods, &pod, "status.podIP").as_deref(),
            Some("10.0.0.1")
        );
        let sel = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending").unwrap();
        assert!(sel.matches(|f| field_value(pods, &pod, f)));
        let nodes = find("", "v1", "nodes").unwrap();
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value(nodes, &node, "spec.unschedulable").as_deref(),
            Some("true")
        );
        let events = find("", "v1", "events").unwrap();
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "p"}, "source": {"component": "kubelet"}});
        assert_eq!(
            field_value(events, &ev, "involvedObject.kind").as_deref(),
            Some("Pod")
        );
        assert_eq!(
            field_value(events, &ev, "source").as_deref(),
            Some("kubelet")
        );
        let rs = find("apps", "v1", "replicasets").unwrap();
        assert_eq!(
            field_value(rs, &json!({"status": {"replicas": 3}}), "status.replicas").as_deref(),
            Some("3")
        );
    }
}
