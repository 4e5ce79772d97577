//! The write pipeline shared by create, update and patch: decode, convert, default,
//! prepare per type, validate, and admission checks.

use std::sync::OnceLock;

use rkube_api::{FieldError, ResourceInfo, registry};
use rkube_store::Store;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::meta;
use crate::request::{FieldValidation, WriteOptions};
use crate::state::AppState;

/// Kinds whose strategies keep `metadata.generation`.
fn tracks_generation(info: &ResourceInfo) -> bool {
    matches!(
        info.kind,
        "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicationController"
            | "Job"
            | "CronJob"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "NetworkPolicy"
            | "Ingress"
            | "IngressClass"
    )
}

/// Decodes a body object for `info`, reports unknown fields per `opts`, converts it to
/// the storage version and applies defaults. Returns the object and any warnings.
pub fn decode(
    info: &'static ResourceInfo,
    obj: Value,
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>), ApiError> {
    let decoded =
        rkube_objects::decode_owned(info, obj).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let mut warnings = Vec::new();
    if !decoded.unknown_fields.is_empty() {
        let msgs: Vec<String> = decoded
            .unknown_fields
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        match opts.field_validation {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    msgs.join(", ")
                )));
            }
            FieldValidation::Warn => warnings = msgs,
            FieldValidation::Ignore => {}
        }
    }
    let storage = registry::storage_of(info);
    let mut value = rkube_objects::to_storage(info, decoded.value)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    rkube_objects::apply_defaults(storage, &mut value);
    Ok((value, warnings))
}

/// For a write through `/status` of a kind served as stored: decodes only the new
/// object's status (in a shell carrying its type and name, so defaulting and unknown-field
/// checks see the status where they expect it) and sets it on a copy of `old`. This is the
/// object [`decode`] followed by [`prepare_for_update`] would give, since nothing but the
/// status changes through `/status`, without decoding and merging the rest again.
pub fn decode_status(
    info: &'static ResourceInfo,
    mut new: Value,
    old: &Value,
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>), ApiError> {
    let mut shell = serde_json::Map::new();
    if let Some(map) = new.as_object_mut() {
        for k in ["apiVersion", "kind", "status"] {
            if let Some(v) = map.remove(k) {
                shell.insert(k.into(), v);
            }
        }
    }
    let mut shell_meta = serde_json::Map::new();
    for k in ["name", "namespace"] {
        if let Some(v) = meta::meta_str(&new, k) {
            shell_meta.insert(k.into(), Value::String(v.to_string()));
        }
    }
    shell.insert("metadata".into(), Value::Object(shell_meta));
    let (mut decoded, warnings) = decode(info, Value::Object(shell), opts)?;
    let status = decoded.as_object_mut().and_then(|m| m.remove("status"));
    Ok((with_status(old, status), warnings))
}

/// A copy of `old` with `status` in place of its own (none: without one).
fn with_status(old: &Value, status: Option<Value>) -> Value {
    let mut next = old.clone();
    if let Some(map) = next.as_object_mut() {
        match status {
            Some(s) => map.insert("status".into(), s),
            None => map.remove("status"),
        };
    }
    next
}

/// Whether `info` serves its objects in the version they are stored in (so stored bytes
/// can be answered as they are).
pub fn served_as_stored(info: &'static ResourceInfo) -> bool {
    std::ptr::eq(registry::storage_of(info), info)
}

/// Converts a stored object to the version `info` serves.
pub fn to_served(info: &'static ResourceInfo, obj: Value) -> Result<Value, ApiError> {
    if served_as_stored(info) {
        return Ok(obj);
    }
    rkube_objects::from_storage(info, obj).map_err(ApiError::internal)
}

/// Computes a pod's QoS class from its containers' resources.
fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|k| pod.pointer(&format!("/spec/{k}")).and_then(Value::as_array))
        .flatten()
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in &containers {
        let req = c.pointer("/resources/requests").and_then(Value::as_object);
        let lim = c.pointer("/resources/limits").and_then(Value::as_object);
        for r in ["cpu", "memory"] {
            let rq = req.and_then(|m| m.get(r));
            let lm = lim.and_then(|m| m.get(r));
            if rq.is_some() || lm.is_some() {
                any = true;
            }
            match (rq, lm) {
                (_, None) => guaranteed = false,
                (Some(a), Some(b)) if a != b => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Type-specific preparation of a new object (upstream's `PrepareForCreate` plus
/// the defaulting admission plugins).
pub fn prepare_for_create(info: &ResourceInfo, obj: &mut Value, uid: &str) {
    let now = meta::now_rfc3339();
    {
        let m = meta::meta_mut(obj);
        m.insert("uid".into(), json!(uid));
        m.insert("creationTimestamp".into(), json!(now));
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        m.remove("resourceVersion");
        m.remove("selfLink");
        if tracks_generation(info) {
            m.insert("generation".into(), json!(1));
        } else {
            m.remove("generation");
        }
    }
    rkube_objects::apply_create_defaults(info, obj);
    match (info.group, info.kind) {
        ("", "Pod") => {
            let qos = qos_class(obj);
            let mut status = json!({"phase": "Pending", "qosClass": qos});
            // A pod created already bound (nodeName set) keeps no PodScheduled condition; the
            // scheduler or binding adds it.
            if let Some(map) = obj.as_object_mut() {
                if let Some(old) = map.get("status")
                    && let Some(nominated) = old.get("nominatedNodeName")
                {
                    status["nominatedNodeName"] = nominated.clone();
                }
                map.insert("status".into(), status);
            }
        }
        ("", "Namespace") => {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        ("", "Service") => {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({"loadBalancer": {}}));
            }
        }
        ("", "PersistentVolumeClaim") => {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Pending"}));
            }
        }
        ("", "PersistentVolume") => {
            if let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Pending"}));
            }
        }
        ("", "Node") => {}
        ("batch", "Job") => {
            rkube_objects::apply_job_create_defaults(obj, uid);
            rkube_objects::apply_defaults(info, obj);
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
        _ if info.has_status() => {
            if let Some(map) = obj.as_object_mut() {
                map.remove("status");
            }
        }
        _ => {}
    }
}

/// Carries over what an update may not change and decides the generation.
/// `subresource` is `Some("status")` for status updates.
pub fn prepare_for_update(
    info: &ResourceInfo,
    new: &mut Value,
    old: &Value,
    subresource: Option<&str>,
) {
    if subresource == Some("status") {
        // Only status changes through /status.
        let status = new.as_object_mut().and_then(|m| m.remove("status"));
        // Keep labels/annotations edits out; the resourceVersion precondition came from `new`.
        *new = with_status(old, status);
    } else if info.has_status() && info.kind != "Node" {
        if let (Some(map), Some(s)) = (new.as_object_mut(), old.get("status")) {
            map.insert("status".into(), s.clone());
        } else if let Some(map) = new.as_object_mut() {
            map.remove("status");
        }
    }
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let spec_changed = meta::spec_changed(old, new);
    let m = meta::meta_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "name",
        "namespace",
    ] {
        match old_meta.get(k) {
            Some(v) => m.insert(k.into(), v.clone()),
            None => m.remove(k),
        };
    }
    m.remove("selfLink");
    if tracks_generation(info) {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        m.insert(
            "generation".into(),
            json!(if spec_changed { g + 1 } else { g }),
        );
    } else {
        match old_meta.get("generation") {
            Some(v) => m.insert("generation".into(), v.clone()),
            None => m.remove("generation"),
        };
    }
}

/// Validation of a new object; 422 with every field error.
pub fn validate_create(info: &'static ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    let storage = registry::storage_of(info);
    let errs = rkube_validation::validate_create(storage, obj);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(info, meta::name(obj), errs))
    }
}

/// Validation of an update; 422 with every field error.
pub fn validate_update(
    info: &'static ResourceInfo,
    new: &Value,
    old: &Value,
    subresource: Option<&str>,
) -> Result<(), ApiError> {
    let storage = registry::storage_of(info);
    let errs = if subresource == Some("status") {
        rkube_validation::validate_status_update(storage, new, old)
    } else {
        rkube_validation::validate_update(storage, new, old)
    };
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(info, meta::name(new), errs))
    }
}

/// The namespace of a namespaced write must exist and not be terminating.
pub async fn check_namespace(
    state: &AppState,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    if !info.namespaced {
        return Ok(());
    }
    static NAMESPACES: OnceLock<Option<&'static ResourceInfo>> = OnceLock::new();
    let Some(ns_info) = *NAMESPACES.get_or_init(|| registry::find("", "v1", "namespaces")) else {
        return Ok(());
    };
    let key = meta::key(ns_info, "", namespace);
    let cached = state.caches.for_resource(ns_info).and_then(|c| c.get(&key));
    // A namespace created a moment ago may not be in the cache yet: ask the store.
    let terminating = match cached {
        Some(entry) => Some(terminating(&entry.json)?),
        None => match state.store.get(&key).await? {
            Some(kv) => Some(terminating(&kv.value)?),
            None => None,
        },
    };
    match terminating {
        None => Err(ApiError::not_found(ns_info, namespace)),
        Some(true) => Err(ApiError::Forbidden {
            message: format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                crate::error::qualified_resource(info),
            ),
            details: None,
        }),
        Some(false) => Ok(()),
    }
}

/// Whether a stored namespace is being deleted (deletionTimestamp set or phase
/// Terminating), reading only those two fields of its JSON.
fn terminating(json: &[u8]) -> Result<bool, ApiError> {
    #[derive(Deserialize)]
    struct Namespace {
        metadata: Option<Metadata>,
        status: Option<Status>,
    }
    #[derive(Deserialize)]
    struct Metadata {
        #[serde(rename = "deletionTimestamp")]
        deletion_timestamp: Option<IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct Status {
        phase: Option<String>,
    }
    let ns: Namespace = serde_json::from_slice(json).map_err(ApiError::internal)?;
    let deleting = ns.metadata.is_some_and(|m| m.deletion_timestamp.is_some());
    let phase = ns.status.and_then(|s| s.phase);
    Ok(deleting || phase.as_deref() == Some("Terminating"))
}

/// Field errors as a 422 for the object `name`.
pub fn invalid(info: &ResourceInfo, name: &str, errs: Vec<FieldError>) -> ApiError {
    ApiError::invalid(info, name, errs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&json!({"spec": {"containers": [{"name": "a"}]}})),
            "BestEffort"
        );
        let g = json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }

    #[test]
    fn update_keeps_identity_and_bumps_generation_on_spec_change() {
        let info = registry::find("apps", "v1", "deployments").unwrap();
        let old = json!({"metadata": {"name": "d", "uid": "u1", "generation": 3, "creationTimestamp": "t"}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        let mut new = json!({"metadata": {"name": "d", "uid": "other"}, "spec": {"replicas": 2}, "status": {"replicas": 9}});
        prepare_for_update(info, &mut new, &old, None);
        assert_eq!(new["metadata"]["uid"], "u1");
        assert_eq!(new["metadata"]["generation"], 4);
        assert_eq!(new["status"]["replicas"], 1);
        let mut same = old.clone();
        prepare_for_update(info, &mut same, &old, None);
        assert_eq!(same["metadata"]["generation"], 3);
    }

    #[test]
    fn a_status_write_decodes_only_the_status_and_matches_the_whole_object_path() {
        let info = registry::find("", "v1", "pods").unwrap();
        let old = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending"}});
        let mut new = old.clone();
        new["metadata"]["labels"]["a"] = json!("changed");
        new["spec"]["containers"][0]["image"] = json!("changed");
        new["status"] = json!({"phase": "Running", "podIP": "10.42.0.5", "unknownField": 1,
            "conditions": [{"type": "Ready", "status": "True"}]});
        let opts = WriteOptions {
            dry_run: false,
            field_validation: FieldValidation::Warn,
        };
        let (fast, fast_warnings) = decode_status(info, new.clone(), &old, &opts).unwrap();
        let (mut whole, whole_warnings) = decode(info, new, &opts).unwrap();
        prepare_for_update(info, &mut whole, &old, Some("status"));
        assert_eq!(fast, whole);
        assert_eq!(fast_warnings, whole_warnings);
        assert_eq!(fast["status"]["phase"], "Running");
        assert_eq!(fast["metadata"]["labels"]["a"], "b");
        assert_eq!(fast["spec"]["containers"][0]["image"], "i");
        let strict = WriteOptions {
            dry_run: false,
            field_validation: FieldValidation::Strict,
        };
        let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "status": {"phase": "Running", "unknownField": 1}});
        assert!(decode_status(info, bad, &old, &strict).is_err());
    }
}
