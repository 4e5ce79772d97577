//! Pod defaults that upstream's admission plugins add on create
//! (ServiceAccount, Priority, DefaultTolerationSeconds).

use serde_json::{Value, json};

use super::util::{Obj, ensure_obj, set_if_nil, set_if_zero, str_of};

/// Taints every pod tolerates for five minutes unless it says otherwise.
const DEFAULT_TOLERATED: &[&str] = &[
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Seconds the default tolerations last (DefaultTolerationSeconds' flag default).
const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Adds what upstream's admission chain adds to a new pod: `serviceAccountName`
/// `default`, `priority` and `preemptionPolicy`, and the not-ready/unreachable
/// NoExecute tolerations of 300 s.
pub fn apply_pod_admission_defaults(obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    let spec = ensure_obj(o, "spec");
    service_account(spec);
    priority(spec);
    tolerations(spec);
}

fn service_account(spec: &mut Obj) {
    if str_of(spec, "serviceAccountName").is_empty() {
        let sa = match str_of(spec, "serviceAccount") {
            "" => "default".to_string(),
            s => s.to_string(),
        };
        spec.insert("serviceAccountName".into(), json!(sa));
        spec.insert("serviceAccount".into(), json!(sa));
    }
}

fn priority(spec: &mut Obj) {
    // The built-in system classes; any other class is resolved by the server.
    let value = match str_of(spec, "priorityClassName") {
        "system-node-critical" => 2_000_001_000,
        "system-cluster-critical" => 2_000_000_000,
        _ => 0,
    };
    set_if_nil(spec, "priority", json!(value));
    set_if_zero(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
}

fn tolerations(spec: &mut Obj) {
    let existing: Vec<Obj> = spec
        .get("tolerations")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.as_object().cloned()).collect())
        .unwrap_or_default();
    let mut added = Vec::new();
    for key in DEFAULT_TOLERATED {
        if !existing.iter().any(|t| tolerates_no_execute(t, key)) {
            added.push(json!({
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }));
        }
    }
    if added.is_empty() {
        return;
    }
    let slot = spec
        .entry("tolerations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    if let Value::Array(list) = slot {
        list.extend(added);
    }
}

/// Whether toleration `t` tolerates a NoExecute taint with `key` (any value).
fn tolerates_no_execute(t: &Obj, key: &str) -> bool {
    let effect = str_of(t, "effect");
    if !effect.is_empty() && effect != "NoExecute" {
        return false;
    }
    let t_key = str_of(t, "key");
    let operator = str_of(t, "operator");
    if t_key.is_empty() {
        return operator == "Exists";
    }
    t_key == key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_tolerations_are_respected() {
        let mut pod = json!({"spec": {"tolerations": [
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 6000}
        ]}});
        apply_pod_admission_defaults(&mut pod);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1]["key"], "node.kubernetes.io/not-ready");
        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        apply_pod_admission_defaults(&mut pod);
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn service_account_and_priority() {
        let mut pod = json!({"spec": {"priorityClassName": "system-node-critical"}});
        apply_pod_admission_defaults(&mut pod);
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["spec"]["serviceAccount"], "default");
        assert_eq!(pod["spec"]["priority"], 2_000_001_000);
        assert_eq!(pod["spec"]["preemptionPolicy"], "PreemptLowerPriority");
    }
}
